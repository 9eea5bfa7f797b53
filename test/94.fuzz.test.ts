// Bad input, at random: thousands of calls of every export with wrong types,
// out-of-range and non-finite numbers, bigints, closed files and rings,
// empty, detached and lying views, symbols, objects whose getters throw and
// abort signals (test/fixtures/fuzz.ts). Each engine's run is a child process, so that a
// crash fails the test and names the seed that reproduces it:
//
//   ODIRECT_ENGINE=aio node build/test/fixtures/fuzz.js SEED CALLS DISK_DIR SHM_DIR
//
// ODIRECT_FUZZ_SEED and ODIRECT_FUZZ_CALLS (per engine) change the run.
import { expect } from 'chai';
import fs = require('fs');
import path = require('path');
import { createReadStream, createWriteStream, open } from 'odirect';
import { cleanup, DISK_DIR, forEachEngine, rejectionOf, SHM_DIR, tempPath } from './helpers';
import { CRASH_SIGNALS, describeChild, runSync, seedFrom } from './reliability-helpers';

const BASE_SEED = seedFrom('ODIRECT_FUZZ_SEED', 94_000);
const CALLS = Number(process.env.ODIRECT_FUZZ_CALLS ?? 10_000);
const FUZZ = path.join(__dirname, 'fixtures', 'fuzz.js');

/** Every function and method the fuzz calls: each must have been called at least once. */
const SUBJECTS = ['open', 'file.readAt', 'file.writeAt', 'file.readvAt', 'file.writevAt', 'file.datasync', 'file.sync',
  'file.close', 'file.allocate', 'file.punchHole', 'file.zeroRange', 'file.read', 'file.readMany', 'file.truncate', 'file.stat', 'file[Symbol.asyncDispose]',
  'createReadStream', 'createWriteStream', 'abort', 'readAt', 'writeAt', 'alignmentOf', 'atomicWriteOf', 'allocAligned', 'isAligned', 'new Ring',
  'ring.stats', 'ring.close', 'ring getters', 'defaultRing', 'new BufferPool', 'pool.acquire', 'pool.release',
  'pool.close', 'probe'];

interface FuzzReport {
  seed: number;
  calls: number;
  counts: Record<string, number>;
  violations: string[];
}

describe('bad input fuzz', function () {
  // A hang guard: the child has its own for each batch of calls.
  this.timeout(240_000);

  let engineIndex = 0;
  forEachEngine(`${CALLS} random calls of every export`, ({ engine }) => {
    const seed = BASE_SEED + engineIndex++;
    it(`each returns, resolves, or fails with a TypeError/RangeError with a code or an errno error; no crash (seed ${seed})`, () => {
      const scratch = fs.mkdtempSync(path.join(DISK_DIR, `odirect-test-${process.pid}-fuzz-`));
      const shmScratch = fs.mkdtempSync(path.join(SHM_DIR, `odirect-test-${process.pid}-fuzz-`));
      try {
        const result = runSync(process.execPath, [FUZZ, String(seed), String(CALLS), scratch, shmScratch],
          { env: { ...process.env, ODIRECT_ENGINE: engine }, timeoutMs: 180_000, cwd: scratch });
        const reproduce = `seed ${seed}: ODIRECT_ENGINE=${engine} node ${FUZZ} ${seed} ${CALLS} DISK_DIR SHM_DIR\n${describeChild(result)}`;
        expect(CRASH_SIGNALS, `the fuzz crashed, ${reproduce}`).to.not.include(result.signal);
        expect(result.signal, reproduce).to.equal(null);
        const report = JSON.parse(result.stdout.trim().split('\n').pop()!) as FuzzReport;
        expect(report.violations, reproduce).to.deep.equal([]);
        expect(result.status, reproduce).to.equal(0);
        expect(report.seed).to.equal(seed);
        expect(report.calls).to.equal(CALLS);
        const { counts } = report;
        for (const subject of SUBJECTS) expect(counts[`call ${subject}`] ?? 0, `calls of ${subject}`).to.be.above(0);
        // The run reached past the argument checks, into the kernel, and back out of hostile getters.
        for (const outcome of ['resolved', 'returned', 'ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE', 'ERR_INVALID_ARG_VALUE',
          'EBADF', 'EINVAL', 'propagated']) {
          expect(counts[outcome] ?? 0, `outcome ${outcome}`).to.be.above(0);
        }
        const outcomes = Object.entries(counts).filter(([key]) => !key.startsWith('call ')).sort(([, a], [, b]) => b - a)
          .map(([key, n]) => `${key} ${n}`).join(', ');
        console.log(`      ${engine}: ${report.calls} calls (seed ${seed}): ${outcomes}`);
      } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
        fs.rmSync(shmScratch, { recursive: true, force: true });
      }
    });
  });
});

describe('what the fuzz found', () => {
  after(() => cleanup());

  it('stat() with options whose getter throws rejects with that error, and close() still resolves', async () => {
    const path = tempPath(DISK_DIR, 'stat-getter');
    fs.writeFileSync(path, Buffer.alloc(4096));
    const file = await open(path, 'r');
    const thrown = new Error('thrown by the getter');
    for (const options of [{ get bigint(): boolean { throw thrown; } }, new Proxy({}, { get: () => { throw thrown; } })]) {
      expect(await rejectionOf(file.stat(options as { bigint?: false }))).to.equal(thrown);
    }
    // The stat() calls left nothing counted on the file: close() does not wait for ever (the bound is a hang guard).
    let guard: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      file.close().then(() => 'closed'),
      new Promise((resolve) => { guard = setTimeout(() => resolve('close() still waiting after 10 s'), 10_000); }),
    ]);
    clearTimeout(guard);
    expect(closed).to.equal('closed');
  });

  it('a stream given an aborted signal fails with an AbortError, not a TypeError', async () => {
    const path = tempPath(DISK_DIR, 'stream-aborted');
    fs.writeFileSync(path, Buffer.alloc(65536));
    for (const make of [() => createReadStream(path, { signal: AbortSignal.abort() }),
      () => createWriteStream(tempPath(DISK_DIR, 'stream-aborted-write'), { signal: AbortSignal.abort() })]) {
      const stream = make();
      const error = await new Promise<Error & { code?: string }>((resolve) => stream.once('error', resolve));
      expect(error.name).to.equal('AbortError');
      expect(error.code).to.equal('ABORT_ERR');
    }
  });
});
