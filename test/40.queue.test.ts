// The request table and the JS-side queue: far more ops than the ring holds,
// each settling exactly once in its own memory; completions handed to JS in
// batches; reads and writes mixed; a failing op among good ones.
import { expect } from 'chai';
import fs = require('fs');
import { allocAligned, open, DirectFile, Ring } from 'odirect';
import { checkPattern, cleanup, fillPattern, forEachEngine, rejectionOf, tempPath } from './helpers';

const OPS = 100_000;

/**
 * Keeps the JS thread busy for `ms` without yielding, so that completions pile
 * up in the kernel meanwhile. Not a timing check: nothing asserts
 * how long anything took.
 */
function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* spin */ }
}

/** The block size for per-op I/O on `dir`: the filesystem's direct-I/O alignment, at least 512. */
async function blockSizeFor(file: string): Promise<number> {
  fs.writeFileSync(file, Buffer.alloc(4096));
  const probe = await open(file, 'r');
  try {
    return Math.max(512, probe.alignment.offset, probe.alignment.memory);
  } finally {
    await probe.close();
  }
}

interface ManyResult {
  resolutions: number;
  rejections: number;
  /** Ops whose handler ran more than once, or never. */
  settledWrongly: number;
  /** Ops that resolved with something other than their block size. */
  shortOps: number;
  /** stats() taken right after every op was queued. */
  afterQueueing: ReturnType<Ring['stats']>;
  /** stats() samples taken in resolution handlers while ops were outstanding. */
  samples: ReturnType<Ring['stats']>[];
}

/**
 * Reads block i of `file` into block i of `buffer` for every i < count, all
 * queued in one tick. `afterQueueing()` runs right after the last op is
 * queued, in the same tick; `onSettled(n)` in each op's resolution handler.
 */
async function readEveryBlock(ring: Ring, file: DirectFile, buffer: Buffer, block: number, count: number,
  afterQueueing: () => void = () => {}, onSettled: (settledSoFar: number) => void = () => {}): Promise<ManyResult> {
  const settled = new Uint8Array(count);
  const samples: ReturnType<Ring['stats']>[] = [];
  let resolutions = 0;
  let rejections = 0;
  let shortOps = 0;
  const promises: Promise<void>[] = new Array(count);
  for (let i = 0; i < count; i++) {
    promises[i] = file.readAt(buffer.subarray(i * block, (i + 1) * block), i * block).then((bytes) => {
      settled[i]++;
      resolutions++;
      if (bytes !== block) shortOps++;
      if (resolutions % 997 === 0) samples.push(ring.stats());
      onSettled(resolutions);
    }, () => {
      settled[i]++;
      rejections++;
    });
  }
  const statsAfterQueueing = ring.stats();
  afterQueueing();
  await Promise.all(promises);
  // Give a stray second delivery of any id the chance to show up.
  await new Promise(setImmediate);
  let settledWrongly = 0;
  for (let i = 0; i < count; i++) if (settled[i] !== 1) settledWrongly++;
  return { resolutions, rejections, settledWrongly, shortOps, afterQueueing: statsAfterQueueing, samples };
}

describe('queueing', function () {
  // 100,000 ops per engine, some with the JS thread deliberately busy: a hang guard, not a performance bound.
  this.timeout(180_000);

  let patternFile: string;
  let block: number;
  let expected: Buffer;

  before(async () => {
    patternFile = tempPath(undefined, 'queue-pattern');
    block = await blockSizeFor(patternFile);
    // Each 8-byte word holds its own file offset, so a block's bytes say where they came from.
    expected = fillPattern(Buffer.alloc(OPS * block), 0);
    fs.writeFileSync(patternFile, expected);
  });

  after(() => cleanup());

  // Who submits: the JS thread (the default; on aio, reads with RWF_NOWAIT),
  // the ring's submission thread alone (inlineMax 0), and both
  // at once (inlineMax 8: the first hand-over of 8 goes from the JS thread,
  // the next, with 8 in the kernel, from the ring's thread).
  for (const [who, inlineMax] of [['', undefined], [', submitted by the ring\'s thread', 0], [', both threads submitting', 8]] as const)
  forEachEngine(`100,000 ops through a 16-entry ring${who}`, ({ engine }) => {
    let ring: Ring;
    let file: DirectFile;
    beforeEach(async () => {
      ring = new Ring({ engine, entries: 16, inlineMax });
      file = await open(patternFile, 'r', { ring });
    });
    afterEach(async () => {
      await file?.close();
      await ring?.close();
    });

    function expectAllSettledOnce(result: ManyResult, buffer: Buffer): void {
      expect(result.resolutions, 'resolutions').to.equal(OPS);
      expect(result.rejections, 'rejections').to.equal(0);
      expect(result.settledWrongly, 'ops settled other than exactly once').to.equal(0);
      expect(result.shortOps, 'ops that resolved with a short count').to.equal(0);
      // Block i of the buffer holds block i of the file, and nothing else.
      const firstWrong = buffer.equals(expected) ? -1 : checkPattern(buffer, 0);
      expect(firstWrong, 'first offset whose data is wrong').to.equal(-1);
      expect(buffer.equals(expected)).to.equal(true);
      const stats = ring.stats();
      expect(stats.submitted, 'submitted').to.equal(OPS);
      expect(stats.completed, 'completed').to.equal(OPS);
      expect(stats.errors, 'errors').to.equal(0);
      expect(stats.inFlight, 'inFlight').to.equal(0);
      expect(stats.queued, 'queued').to.equal(0);
      // The ops went the way this suite asked.
      if (inlineMax === 0) expect(stats.submittedInline, 'submitted inline').to.equal(0);
      else if (inlineMax === undefined) expect(stats.submittedInline, 'submitted inline').to.equal(OPS);
      else expect(stats.submittedInline, 'submitted inline').to.be.above(0).and.below(OPS);
    }

    function expectBoundedWhileOutstanding(result: ManyResult): void {
      const { afterQueueing, samples } = result;
      // Every op is either in the ring or waiting in JS; the ring never holds more than its entries.
      expect(afterQueueing.inFlight + afterQueueing.queued).to.equal(OPS);
      expect(afterQueueing.inFlight).to.be.at.most(ring.entries);
      expect(afterQueueing.queued).to.be.above(0);
      expect(samples.length).to.be.above(0);
      for (const sample of samples) expect(sample.inFlight).to.be.at.most(ring.entries);
      // The samples taken in the first half of the run saw ops still waiting in JS.
      expect(samples[0].queued).to.be.above(0);
    }

    it('every read settles exactly once, into its own block, and the counters add up', async () => {
      expect(ring.entries).to.equal(16);
      const buffer = allocAligned(OPS * block).fill(0xaa);
      const result = await readEveryBlock(ring, file, buffer, block, OPS);
      expectBoundedWhileOutstanding(result);
      expectAllSettledOnce(result, buffer);
    });

    it('still settles every op correctly with the JS thread busy after queueing and between batches', async () => {
      const buffer = allocAligned(OPS * block).fill(0x55);
      const result = await readEveryBlock(ring, file, buffer, block, OPS, () => {
        // Busy right after queueing, before the ring's flush runs...
        busy(200);
        // ...and again right after it (nextTick is FIFO, and the flush was
        // scheduled first): the kernel has work while JavaScript cannot take
        // completions.
        process.nextTick(() => busy(200));
      }, (settledSoFar) => {
        // Every 10,000 completions, block the JS thread again from inside a resolution handler.
        if (settledSoFar % 10_000 === 0) busy(20);
      });
      expectBoundedWhileOutstanding(result);
      expectAllSettledOnce(result, buffer);
    });
  });

  forEachEngine('completion batches', ({ engine }) => {
    it('hands 1,000 concurrent completions to JS in far fewer batches than ops', async () => {
      const ring = new Ring({ engine, entries: 1024 });
      try {
        const file = await open(patternFile, 'r', { ring });
        const count = 1000;
        const buffer = allocAligned(count * block).fill(0xaa);
        const promises: Promise<number>[] = [];
        for (let i = 0; i < count; i++) promises.push(file.readAt(buffer.subarray(i * block, (i + 1) * block), i * block));
        // After the flush, keep JS busy so completions pile up into batches.
        process.nextTick(() => busy(200));
        const bytes = await Promise.all(promises);
        await file.close();
        expect(bytes.every((n) => n === block)).to.equal(true);
        expect(checkPattern(buffer, 0)).to.equal(-1);
        const stats = ring.stats();
        expect(stats.completed).to.equal(count);
        expect(stats.batches).to.be.above(0);
        // One JS wake-up per batch, not per op.
        expect(stats.batches).to.be.below(stats.completed);
        expect(stats.batches * 4, `${stats.batches} batches for ${stats.completed} ops`).to.be.at.most(stats.completed);
      } finally {
        await ring.close();
      }
    });

    it('settles the first few of a burst of completions first, and hands the first op re-issued from them over at once', async () => {
      const ring = new Ring({ engine, entries: 64 });
      try {
        const file = await open(patternFile, 'r', { ring });
        const count = 64;
        const buffer = allocAligned(count * block);
        let completedAtFirst = -1;
        let handedOverAtOnce = -1;
        let reissued: Promise<number> | undefined;
        const promises: Promise<number>[] = [];
        for (let i = 0; i < count; i++) {
          promises.push(file.readAt(buffer.subarray(i * block, (i + 1) * block), i * block).then((bytes) => {
            if (reissued === undefined) {
              completedAtFirst = ring.stats().completed;
              const before = ring.stats().submittedInline;
              reissued = file.readAt(allocAligned(block), 0);
              handedOverAtOnce = ring.stats().submittedInline - before;
            }
            return bytes;
          }));
        }
        // Every read is done before JS gets to see any of them.
        process.nextTick(() => busy(200));
        const bytes = await Promise.all(promises);
        expect(await reissued).to.equal(block);
        await file.close();
        expect(bytes.every((n) => n === block)).to.equal(true);
        expect(checkPattern(buffer, 0)).to.equal(-1);
        expect(ring.stats().completed).to.equal(count + 1);
        // The first callbacks ran after at most four of the 64 were settled...
        expect(completedAtFirst).to.be.within(1, 4);
        // ...and the read one of them issued reached the engine before the callback returned.
        expect(handedOverAtOnce).to.equal(1);
      } finally {
        await ring.close();
      }
    });
  });

  forEachEngine('mixed and failing ops', ({ engine }) => {
    let ring: Ring;
    beforeEach(() => {
      ring = new Ring({ engine, entries: 16 });
    });
    afterEach(async () => {
      await ring?.close();
    });

    it('reads and writes to distinct blocks, queued together, each do their own part', async () => {
      const count = 2000;
      const seed = 0x5eed_0000_0000n;
      const path = tempPath(undefined, 'mixed');
      // Every block starts as the seed-0 pattern; odd blocks get rewritten with `seed`.
      fs.writeFileSync(path, fillPattern(Buffer.alloc(count * block), 0));
      const file = await open(path, 'r+', { ring });
      const readInto = allocAligned(count * block).fill(0xaa);
      const writeFrom = allocAligned(count * block);
      const ops: Promise<number>[] = [];
      for (let i = 0; i < count; i++) {
        const region = (buffer: Buffer): Buffer => buffer.subarray(i * block, (i + 1) * block);
        if (i % 2 === 0) {
          ops.push(file.readAt(region(readInto), i * block));
        } else {
          ops.push(file.writeAt(fillPattern(region(writeFrom), i * block, seed), i * block));
        }
      }
      const bytes = await Promise.all(ops);
      await file.datasync();
      await file.close();
      expect(bytes.every((n) => n === block)).to.equal(true);
      const onDisk = fs.readFileSync(path);
      expect(onDisk.length).to.equal(count * block);
      for (let i = 0; i < count; i++) {
        const at = i * block;
        if (i % 2 === 0) {
          expect(checkPattern(readInto.subarray(at, at + block), at), `read block ${i}`).to.equal(-1);
          expect(checkPattern(onDisk.subarray(at, at + block), at), `untouched block ${i}`).to.equal(-1);
        } else {
          expect(checkPattern(onDisk.subarray(at, at + block), at, seed), `written block ${i}`).to.equal(-1);
        }
      }
      const stats = ring.stats();
      expect(stats.completed).to.equal(count + 1);  // and the datasync
      expect(stats.errors).to.equal(0);
    });

    it('an op the kernel fails does not disturb the others queued with it', async () => {
      const count = 64;
      // The same file twice: once readable, once write-only. A read on the
      // write-only descriptor reaches the kernel, which answers EBADF.
      const readable = await open(patternFile, 'r', { ring });
      const writeOnly = await open(patternFile, fs.constants.O_WRONLY, { ring });
      try {
        const buffer = allocAligned(count * block).fill(0xaa);
        const ops: Promise<number>[] = [];
        for (let i = 0; i < count; i++) {
          const file = i % 8 === 3 ? writeOnly : readable;
          ops.push(file.readAt(buffer.subarray(i * block, (i + 1) * block), i * block));
        }
        const outcomes = await Promise.allSettled(ops);
        let failed = 0;
        for (let i = 0; i < count; i++) {
          const outcome = outcomes[i];
          const region = buffer.subarray(i * block, (i + 1) * block);
          if (i % 8 === 3) {
            expect(outcome.status, `op ${i}`).to.equal('rejected');
            const error = (outcome as PromiseRejectedResult).reason as NodeJS.ErrnoException;
            expect(error).to.be.instanceOf(Error);
            expect(error.code).to.equal('EBADF');
            expect(error.errno).to.equal(-9);
            expect(error.syscall).to.equal('read');
            expect(error.path).to.equal(patternFile);
            // Its region was left alone.
            expect(region.every((byte) => byte === 0xaa), `region of failed op ${i}`).to.equal(true);
            failed++;
          } else {
            expect(outcome.status, `op ${i}`).to.equal('fulfilled');
            expect((outcome as PromiseFulfilledResult<number>).value).to.equal(block);
            expect(checkPattern(region, i * block), `block ${i}`).to.equal(-1);
          }
        }
        expect(failed).to.equal(count / 8);
        const stats = ring.stats();
        expect(stats.errors).to.equal(count / 8);
        expect(stats.inFlight).to.equal(0);
        expect(stats.queued).to.equal(0);
        // The ring goes on working after the failures.
        const again = allocAligned(block);
        expect(await readable.readAt(again, 5 * block)).to.equal(block);
        expect(checkPattern(again, 5 * block)).to.equal(-1);
        const error = await rejectionOf(writeOnly.readAt(again, 0));
        expect(error.code).to.equal('EBADF');
      } finally {
        await readable.close();
        await writeOnly.close();
      }
    });
  });
});
