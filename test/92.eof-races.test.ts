// The ends of files: reads across the end of file and across holes, a read
// racing a write that extends the file, and reads racing a truncate. The
// rule in every case: a read returns a count, and the bytes up to that count
// are bytes the file held (never zeros for data, never data for a hole,
// never another round's data); what the count may be follows from the sizes
// the file had while the read was in flight.
import { expect } from 'chai';
import fs = require('fs');
import { allocAligned, open, DirectFile } from 'odirect';
import { checkPattern, cleanup, DISK_DIR, fillPattern, forEachEngine, SHM_DIR, tempPath } from './helpers';
import { Random, runSync } from './reliability-helpers';

const BLOCK = 4096;
const POISON = 0xa5;

/** The first index in [from, to) of `buffer` whose byte is not `value`, or -1. */
function firstNot(buffer: Buffer, value: number, from = 0, to = buffer.length): number {
  for (let i = from; i < to; i++) if (buffer[i] !== value) return i;
  return -1;
}

/** The first index where `a` and `b` differ within `length` bytes, or -1. */
function firstDifference(a: Buffer, b: Buffer, length: number): number {
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

const haveFallocate = runSync('fallocate', ['--help'], { timeoutMs: 30_000 }).status === 0;

/** fallocate(1): punches a hole (`punch`) or preallocates unwritten blocks. */
function fallocate(path: string, offset: number, length: number, punch: boolean): void {
  const args = [...(punch ? ['--punch-hole'] : []), '--offset', String(offset), '--length', String(length), path];
  const result = runSync('fallocate', args, { timeoutMs: 30_000 });
  expect(result.status, `fallocate ${args.join(' ')}: ${result.stderr}`).to.equal(0);
}

forEachEngine('end of file, holes and races', ({ ring }) => {
  after(() => cleanup());

  for (const [label, dir] of [['ext4', DISK_DIR], ['tmpfs', SHM_DIR]]) {
    describe(`on ${label} (${dir})`, () => {
      const opened: DirectFile[] = [];
      afterEach(async () => {
        await Promise.all(opened.splice(0).map((file) => file.close()));
      });
      async function openOnRing(path: string, flags: string): Promise<DirectFile> {
        const file = await open(path, flags, { ring: ring() });
        opened.push(file);
        return file;
      }

      it('a read across the end of file returns the bytes up to it and a short count; past it, 0', async () => {
        const sizes = [0, 1, 7, 512 * 7, BLOCK, BLOCK + 1, 10_000, 3 * BLOCK - 8, 16 * BLOCK + 100];
        let checked = 0;
        for (const size of sizes) {
          const path = tempPath(dir, `eof-${size}`);
          const content = fillPattern(Buffer.alloc(size + 8), 0).subarray(0, size);
          fs.writeFileSync(path, content);
          const file = await openOnRing(path, 'r');
          for (const position of [0, BLOCK, 2 * BLOCK, 16 * BLOCK, 64 * BLOCK, 2 ** 40, 2n ** 62n]) {
            for (const length of [BLOCK, 2 * BLOCK, 17 * BLOCK]) {
              const buffer = allocAligned(length).fill(POISON);
              const at = Number(position);
              const expected = Math.max(0, Math.min(length, size - at));
              const what = `read of ${length} at ${position} in a file of ${size}`;
              expect(await file.readAt(buffer, position), what).to.equal(expected);
              // The bytes past the count are not the file's: the kernel may zero them (ext4 does).
              expect(buffer.subarray(0, expected).equals(content.subarray(at, at + expected)), what).to.equal(true);
              checked++;
            }
          }
        }
        expect(checked).to.equal(9 * 7 * 3);
      });

      it('reads across holes, punched holes and unwritten extents return zeros there and data elsewhere', async function () {
        const blocks = 64;
        const size = blocks * BLOCK + 100;   // the file ends 100 bytes into a hole
        const path = tempPath(dir, 'holes');
        const file = await openOnRing(path, 'w+');
        const seed = 0x401e5n << 40n;
        // The model: the bytes the file must hold, zeros where nothing was written.
        const model = Buffer.alloc(size);
        const dataBlocks = [0, 3, 4, 5, 10, 31, 32, 47, 63];
        for (const b of dataBlocks) {
          const block = fillPattern(allocAligned(BLOCK), b * BLOCK, seed);
          expect(await file.writeAt(block, b * BLOCK)).to.equal(BLOCK);
          block.copy(model, b * BLOCK);
        }
        fs.truncateSync(path, size);
        if (haveFallocate) {
          // Block 4 punched out again; blocks 40 to 45 allocated but never written.
          fallocate(path, 4 * BLOCK, BLOCK, true);
          model.fill(0, 4 * BLOCK, 5 * BLOCK);
          fallocate(path, 40 * BLOCK, 6 * BLOCK, false);
        }
        expect((await file.stat()).size).to.equal(size);

        const random = new Random(0x401e5);
        let zerosSeen = 0;
        let dataSeen = 0;
        const reads: Promise<void>[] = [];
        for (let i = 0; i < 300; i++) {
          const first = random.below(blocks + 2);
          const count = 1 + random.below(16);
          const buffer = allocAligned(count * BLOCK).fill(POISON);
          reads.push(file.readAt(buffer, first * BLOCK).then((bytes) => {
            const at = first * BLOCK;
            const expected = Math.max(0, Math.min(count * BLOCK, size - at));
            const what = `read of ${count} blocks at block ${first}`;
            expect(bytes, what).to.equal(expected);
            expect(firstDifference(buffer, model.subarray(at), bytes), `${what}: first byte that differs from the model`)
              .to.equal(-1);
            for (let k = 0; k < bytes; k += BLOCK) {
              if (model.subarray(at + k, at + k + BLOCK).every((byte) => byte === 0)) zerosSeen++;
              else dataSeen++;
            }
          }));
        }
        await Promise.all(reads);
        // The reads did cover both.
        expect(zerosSeen).to.be.above(0);
        expect(dataSeen).to.be.above(0);
        // Node's buffered read agrees with the model.
        expect(fs.readFileSync(path).equals(model)).to.equal(true);
      });

      it('a read racing a write that extends the file sees the old end or the new data, never anything else', async () => {
        const path = tempPath(dir, 'extend');
        const file = await openOnRing(path, 'w+');
        const oldBlocks = 8;
        const newBlocks = 8;
        const oldEnd = oldBlocks * BLOCK;
        const random = new Random(0xe0f);
        const outcomes = { nothing: 0, part: 0, all: 0 };
        const rounds = 60;
        for (let round = 0; round < rounds; round++) {
          // Each round has its own seed: a read that saw an earlier round's bytes would show it.
          const seed = BigInt(round + 1) << 40n;
          fs.truncateSync(path, 0);
          expect(await file.writeAt(fillPattern(allocAligned(oldEnd), 0, seed), 0)).to.equal(oldEnd);
          const extension = fillPattern(allocAligned(newBlocks * BLOCK), oldEnd, seed);
          const what = `round ${round}`;
          const checks: Promise<void>[] = [];
          /** A read into the new part: 0 (the old size) up to all of it, and only the new bytes. */
          const readNew = (): void => {
            const buffer = allocAligned(newBlocks * BLOCK).fill(POISON);
            checks.push(file.readAt(buffer, oldEnd).then((bytes) => {
              expect(bytes, what).to.be.within(0, newBlocks * BLOCK);
              expect(checkPattern(buffer, oldEnd, seed, bytes), `${what}: read into the new part`).to.equal(-1);
              if (bytes === 0) outcomes.nothing++;
              else if (bytes === newBlocks * BLOCK) outcomes.all++;
              else outcomes.part++;
            }));
          };
          /** A read across the old end: the old last block at least, then only new bytes. */
          const readAcross = (): void => {
            const buffer = allocAligned((newBlocks + 1) * BLOCK).fill(POISON);
            checks.push(file.readAt(buffer, oldEnd - BLOCK).then((bytes) => {
              expect(bytes, what).to.be.within(BLOCK, (newBlocks + 1) * BLOCK);
              expect(checkPattern(buffer, oldEnd - BLOCK, seed, bytes), `${what}: read across the old end`).to.equal(-1);
            }));
          };
          const write = (): void => {
            checks.push(file.writeAt(extension, oldEnd).then((bytes) => { expect(bytes, what).to.equal(newBlocks * BLOCK); }));
          };
          // The write and the reads queued in the same tick, in a random order, and more reads
          // queued a turn of the event loop later, while the write may still be in the kernel.
          const order = [write, readNew, readNew, readAcross];
          while (order.length > 0) order.splice(random.below(order.length), 1)[0]();
          await new Promise(setImmediate);
          readNew();
          readAcross();
          await Promise.all(checks);
          // Once the write has completed, every reader sees all of it.
          const after = allocAligned((oldBlocks + newBlocks) * BLOCK);
          expect(await file.readAt(after, 0)).to.equal((oldBlocks + newBlocks) * BLOCK);
          expect(checkPattern(after, 0, seed), `${what}: the file after the write`).to.equal(-1);
        }
        console.log(`        reads of the new part racing the write saw nothing ${outcomes.nothing}, part ${outcomes.part}, ` +
          `all ${outcomes.all} times`);
        expect(outcomes.nothing + outcomes.part + outcomes.all).to.equal(3 * rounds);
      });

      it('reads racing a truncate return the old bytes, a short count or 0, never garbage', async () => {
        const path = tempPath(dir, 'truncate');
        const file = await openOnRing(path, 'w+');
        const blocks = 64;
        const random = new Random(0x7a0c);
        const outcomes = { full: 0, short: 0, none: 0 };
        for (let round = 0; round < 40; round++) {
          const seed = BigInt(round + 1) << 40n;
          fs.truncateSync(path, 0);
          expect(await file.writeAt(fillPattern(allocAligned(blocks * BLOCK), 0, seed), 0)).to.equal(blocks * BLOCK);
          // Whole blocks: a truncate to the middle of a block zeroes its tail, and on tmpfs a read
          // copying that page at the same moment may legitimately see part of the zeroing.
          const newSize = random.pick([0, 1, 5, 17, 40, 63]) * BLOCK;
          const reads: Promise<void>[] = [];
          const read = (): void => {
            const first = random.below(blocks);
            const count = 1 + random.below(4);
            const length = count * BLOCK;
            const at = first * BLOCK;
            const buffer = allocAligned(length).fill(POISON);
            // Bytes below the new size are never lost; nothing past the old size exists.
            const least = Math.max(0, Math.min(length, newSize - at));
            const most = Math.min(length, blocks * BLOCK - at);
            reads.push(file.readAt(buffer, at).then((bytes) => {
              const what = `round ${round}: read of ${length} at ${at}, truncating to ${newSize}`;
              expect(bytes, what).to.be.within(least, most);
              expect(checkPattern(buffer, at, seed, bytes), what).to.equal(-1);
              if (bytes === most) outcomes.full++;
              else if (bytes === 0) outcomes.none++;
              else outcomes.short++;
            }));
          };
          // The truncate runs on libuv's pool, started among a first wave of reads; a
          // second wave follows a few turns of the event loop later, as it may be running.
          const truncateAfter = random.below(40);
          let truncated: Promise<void> | undefined;
          for (let i = 0; i < 40; i++) {
            read();
            if (i === truncateAfter) truncated = fs.promises.truncate(path, newSize);
          }
          for (let turns = random.below(4); turns > 0; turns--) await new Promise(setImmediate);
          for (let i = 0; i < 40; i++) read();
          await Promise.all([...reads, truncated]);
          expect((await file.stat()).size).to.equal(newSize);
        }
        console.log(`        reads racing a truncate: full ${outcomes.full}, short ${outcomes.short}, none ${outcomes.none}`);
        expect(outcomes.full + outcomes.short + outcomes.none).to.equal(40 * 80);
      });

      it('after a truncate to the middle of a block, a read returns exactly the bytes left', async () => {
        const path = tempPath(dir, 'truncate-partial');
        const file = await openOnRing(path, 'w+');
        const seed = 0x7a11n << 40n;
        expect(await file.writeAt(fillPattern(allocAligned(16 * BLOCK), 0, seed), 0)).to.equal(16 * BLOCK);
        const newSize = 5 * BLOCK + 100;
        fs.truncateSync(path, newSize);
        const buffer = allocAligned(8 * BLOCK).fill(POISON);
        expect(await file.readAt(buffer, 4 * BLOCK)).to.equal(BLOCK + 100);
        expect(checkPattern(buffer, 4 * BLOCK, seed, BLOCK + 96)).to.equal(-1);
        expect(buffer.subarray(BLOCK + 96, BLOCK + 100).equals(fillPattern(Buffer.alloc(8), 5 * BLOCK + 96, seed).subarray(0, 4)))
          .to.equal(true);
        expect(await file.readAt(buffer, 6 * BLOCK)).to.equal(0);
        // Growing it again shows zeros where the old bytes were, not the old bytes.
        fs.truncateSync(path, 8 * BLOCK);
        buffer.fill(POISON);
        expect(await file.readAt(buffer, 4 * BLOCK)).to.equal(4 * BLOCK);
        expect(checkPattern(buffer, 4 * BLOCK, seed, BLOCK + 96)).to.equal(-1);
        expect(firstNot(buffer, 0, BLOCK + 100, 4 * BLOCK)).to.equal(-1);
      });
    });
  }
});
