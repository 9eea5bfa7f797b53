// fio as an outside judge of the bytes: fio verifies files that odirect
// wrote in fio's own layout, and copies that odirect made of files fio wrote
// with checksums. A corrupted copy must fail the same verification, so the
// check is shown able to fail.
//
// fio's layouts, as fio 3.33 writes them (read back from small files):
// - verify=pattern with verify_pattern=%o: every 8 bytes of a block of `bs`
//   bytes hold the block's file offset as a little-endian 64-bit integer.
// - verify=crc32c: each block of `bs` bytes starts with a header (magic,
//   length, seed, the block's offset, ...) and its CRC32C; the rest is data.
import { expect } from 'chai';
import fs = require('fs');
import { allocAligned, open, Ring } from 'odirect';
import { cleanup, forEachEngine, tempPath } from './helpers';
import { describeChild, runSync } from './reliability-helpers';

const FILE_BYTES = 4 * 1024 * 1024;
const FIO_BS = 16 * 1024;
const CHUNK = 48 * 1024;   // odirect's ops: three fio blocks each, so op and block boundaries differ

const fioVersion = runSync('fio', ['--version'], { timeoutMs: 30_000 });
const haveFio = fioVersion.status === 0;

interface FioRun {
  status: number | null;
  /** fio's error for the job (0 when it verified every block), or null when it printed no report. */
  error: number | null;
  /** Bytes fio read (verify_only reads every block). */
  readBytes: number | null;
  text: string;
}

/** Runs fio with one job; the timeout is a hang guard only. */
function fio(args: string[]): FioRun {
  const result = runSync('fio', [...args, '--output-format=json'], { timeoutMs: 120_000 });
  let error: number | null = null;
  let readBytes: number | null = null;
  try {
    const job = (JSON.parse(result.stdout) as { jobs: { error: number; read: { io_bytes: number } }[] }).jobs[0];
    error = job.error;
    readBytes = job.read.io_bytes;
  } catch {
    // No report: the status and stderr say why.
  }
  return { status: result.status, error, readBytes, text: describeChild(result) };
}

/** The %o pattern job, reading `path` and verifying every block. */
function verifyPattern(path: string): FioRun {
  return fio(['--name=odirect-pattern', `--filename=${path}`, `--size=${FILE_BYTES}`, `--bs=${FIO_BS}`, '--rw=read',
    '--verify=pattern', '--verify_pattern=%o', '--verify_only', '--ioengine=psync', '--direct=1']);
}

/**
 * The crc32c job's options; written with --do_verify=0, checked with
 * --verify_only. No verify state file: fio would leave one in the working
 * directory.
 */
const CRC_JOB = (path: string): string[] => ['--name=odirect-crc', `--filename=${path}`, `--size=${FILE_BYTES}`,
  `--bs=${FIO_BS}`, '--rw=write', '--verify=crc32c', '--verify_state_save=0', '--ioengine=psync', '--direct=1'];

function expectAccepted(run: FioRun): void {
  expect(run.status, run.text).to.equal(0);
  expect(run.error, run.text).to.equal(0);
  expect(run.readBytes, run.text).to.equal(FILE_BYTES);
}

function expectRejected(run: FioRun, offset: number): void {
  expect(run.status, run.text).to.not.equal(0);
  expect(run.error, run.text).to.not.equal(0);
  // fio names the block that failed ("verify failed at file F offset N", or for
  // a header naming another block "bad header offset M, wanted N at file F offset N").
  expect(run.text).to.match(new RegExp(`at file \\S+ offset ${offset}\\b`));
}

/** A copy of `path` with `change` applied to its bytes. */
function corruptedCopy(path: string, label: string, change: (bytes: Buffer) => void): string {
  const copy = tempPath(undefined, label);
  const bytes = fs.readFileSync(path);
  change(bytes);
  fs.writeFileSync(copy, bytes);
  return copy;
}

if (!haveFio) {
  describe('fio cross-check', () => {
    it(`skipped: fio is not installed (${fioVersion.error?.message ?? fioVersion.stderr.trim()}; CI installs it)`);
  });
} else {
  describe(`fio cross-check (${fioVersion.stdout.trim()})`, function () {
    this.timeout(300_000);
    after(() => cleanup());

    forEachEngine('fio verifies what odirect wrote', ({ ring }) => {
      it('a file written by odirect in fio\'s %o layout passes fio --verify=pattern, and a corrupted copy fails', async () => {
        const path = tempPath(undefined, 'fio-pattern');
        const file = await open(path, 'w+', { ring: ring() });
        try {
          const source = allocAligned(FILE_BYTES);
          // Each 8 bytes: the offset of the fio block they lie in.
          for (let at = 0; at < FILE_BYTES; at += 8) source.writeBigUInt64LE(BigInt(at - (at % FIO_BS)), at);
          const writes: Promise<number>[] = [];
          for (let at = 0; at < FILE_BYTES; at += CHUNK) {
            const end = Math.min(at + CHUNK, FILE_BYTES);
            writes.push(file.writeAt(source.subarray(at, end), at));
          }
          const written = await Promise.all(writes);
          expect(written.reduce((sum, n) => sum + n, 0)).to.equal(FILE_BYTES);
          await file.datasync();
        } finally {
          await file.close();
        }
        expectAccepted(verifyPattern(path));

        // One word of block 37 holding block 38's offset, as a misplaced write would leave it.
        const block = 37;
        const copy = corruptedCopy(path, 'fio-pattern-corrupt', (bytes) => {
          bytes.writeBigUInt64LE(BigInt((block + 1) * FIO_BS), block * FIO_BS + 4096);
        });
        expectRejected(verifyPattern(copy), block * FIO_BS);
      });
    });

    forEachEngine('odirect copies what fio wrote', ({ ring }) => {
      /** Copies `from` to a new file with odirect's readAt/writeAt, a chunk per op, all at once. */
      async function copyWithOdirect(from: string, label: string, onRing: Ring): Promise<string> {
        const to = tempPath(undefined, label);
        const source = await open(from, 'r', { ring: onRing });
        const target = await open(to, 'w', { ring: onRing });
        try {
          const copies: Promise<number>[] = [];
          for (let at = 0; at < FILE_BYTES; at += CHUNK) {
            const buffer = allocAligned(Math.min(CHUNK, FILE_BYTES - at));
            copies.push(source.readAt(buffer, at).then((bytes) => {
              expect(bytes, `read at ${at}`).to.equal(buffer.length);
              return target.writeAt(buffer, at);
            }));
          }
          expect((await Promise.all(copies)).reduce((sum, n) => sum + n, 0)).to.equal(FILE_BYTES);
          await target.datasync();
        } finally {
          await source.close();
          await target.close();
        }
        return to;
      }

      it('fio --verify=crc32c accepts odirect\'s copy of a file fio wrote, and rejects corrupted copies', async () => {
        const original = tempPath(undefined, 'fio-crc');
        const write = fio([...CRC_JOB(original), '--do_verify=0']);
        expect(write.status, write.text).to.equal(0);
        expect(write.error, write.text).to.equal(0);
        expect(fs.statSync(original).size).to.equal(FILE_BYTES);

        const copy = await copyWithOdirect(original, 'fio-crc-copy', ring());
        expect(fs.readFileSync(copy).equals(fs.readFileSync(original))).to.equal(true);
        expectAccepted(fio([...CRC_JOB(copy), '--verify_only']));

        // A flipped bit in the data of block 5: its checksum no longer matches.
        const flipped = corruptedCopy(copy, 'fio-crc-flipped', (bytes) => { bytes[5 * FIO_BS + 1000] ^= 0x10; });
        expectRejected(fio([...CRC_JOB(flipped), '--verify_only']), 5 * FIO_BS);
        // Blocks 9 and 10 swapped, each intact: the offset in the header gives it away.
        const swapped = corruptedCopy(copy, 'fio-crc-swapped', (bytes) => {
          const nine = Buffer.from(bytes.subarray(9 * FIO_BS, 10 * FIO_BS));
          bytes.copy(bytes, 9 * FIO_BS, 10 * FIO_BS, 11 * FIO_BS);
          nine.copy(bytes, 10 * FIO_BS);
        });
        expectRejected(fio([...CRC_JOB(swapped), '--verify_only']), 9 * FIO_BS);
      });
    });
  });
}
