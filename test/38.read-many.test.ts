// file.read(position, length) and file.readMany(ranges): reads at any
// alignment, rounded out to the file's, neighbours merged up to maxMerge, and
// exactly the bytes asked for handed back.
import { expect } from 'chai';
import fs = require('fs');
import { open, DirectFile, ReadRange } from 'odirect';
import { forEachEngine, DISK_DIR, SHM_DIR, tempPath, cleanup, rejectionOf, patternBytes, expectBytes } from './helpers';

const KiB = 1024;
const MiB = 1024 * KiB;
/** The largest transfer Linux does in one call (MAX_RW_COUNT). */
const MAX_TRANSFER = 0x7ffff000;

forEachEngine('read and readMany', ({ ring }) => {
  for (const [label, dir] of [['ext4 disk', DISK_DIR], ['tmpfs', SHM_DIR]]) {
    describe(`on ${label} (${dir})`, () => {
      const SIZE = 3 * MiB + 4321;  // not a multiple of any alignment
      const data = patternBytes(SIZE);
      let file: DirectFile;
      let align: number;
      before(async () => {
        const path = tempPath(dir, 'read-many');
        fs.writeFileSync(path, data);
        file = await open(path, 'r', { ring: ring() });
        align = file.alignment.offset;
        expect(align).to.be.at.least(512);
      });
      after(async () => {
        await file.close();
        cleanup();
      });

      /** Ops handed to the ring so far. */
      const submitted = (): number => ring().stats().submitted;

      describe('file.read(position, length)', () => {
        it('resolves to exactly the bytes asked for, at any position and length, in one read', async () => {
          const cases: [number | bigint, number][] = [
            [0, 1], [1, 1], [7, 9], [align - 1, 2], [align, align], [align + 3, 3 * align + 5],
            [12345, 100_000], [SIZE - 10, 10], [2 * MiB - 1, 2], [1n, 4095], [BigInt(align) * 3n + 17n, 1000],
          ];
          for (const [position, length] of cases) {
            const before = submitted();
            const bytes = await file.read(position, length);
            expectBytes(bytes, data.subarray(Number(position), Number(position) + length), `read(${position}, ${length})`);
            expect(submitted() - before, `read(${position}, ${length}): ops`).to.equal(1);
          }
        });

        it('is short where the file ends inside the range, and empty at or past the end', async () => {
          expectBytes(await file.read(SIZE - 10, 100), data.subarray(SIZE - 10), 'the last 10 bytes');
          expectBytes(await file.read(SIZE - 1, align), data.subarray(SIZE - 1), 'the last byte');
          expectBytes(await file.read(SIZE, 10), Buffer.alloc(0), 'at the end');
          expectBytes(await file.read(SIZE + 5000, 10), Buffer.alloc(0), 'past the end');
          expectBytes(await file.read(2n ** 60n + 3n, 10), Buffer.alloc(0), 'far past the end, as a bigint');
        });

        it('resolves a zero length to an empty Buffer without a read', async () => {
          const before = submitted();
          expectBytes(await file.read(100, 0), Buffer.alloc(0), 'read(100, 0)');
          expectBytes(await file.read(SIZE + 100, 0), Buffer.alloc(0), 'past the end');
          expect(submitted()).to.equal(before);
        });

        it('gives each call a Buffer of its own, which later reads leave alone', async () => {
          const first = await file.read(100, 200);
          const second = await file.read(100, 200);
          expect(first.buffer).not.to.equal(second.buffer);
          second.fill(0);
          await file.read(0, 4 * align);
          expectBytes(first, data.subarray(100, 300), 'the first read after others');
        });

        it('works on a file opened without O_DIRECT', async () => {
          const buffered = await open(file.path, 'r', { direct: false, ring: ring() });
          try {
            expectBytes(await buffered.read(3, 5), data.subarray(3, 8), 'buffered read(3, 5)');
            const [a, b] = await buffered.readMany([{ position: 1, length: 2 }, { position: SIZE - 1, length: 9 }]);
            expectBytes(a, data.subarray(1, 3), 'buffered range 0');
            expectBytes(b, data.subarray(SIZE - 1), 'buffered range 1');
          } finally {
            await buffered.close();
          }
        });

        it('rejects bad arguments with TypeError/RangeError and a code, before the kernel', async () => {
          const limit = MAX_TRANSFER - (MAX_TRANSFER % align) - align + 1;
          const cases: [unknown, unknown, typeof TypeError | typeof RangeError, string, unknown?][] = [
            [-1, 10, RangeError, 'ERR_OUT_OF_RANGE'],
            [1.5, 10, RangeError, 'ERR_OUT_OF_RANGE'],
            [NaN, 10, RangeError, 'ERR_OUT_OF_RANGE'],
            [2 ** 53, 10, RangeError, 'ERR_OUT_OF_RANGE'],
            [-1n, 10, RangeError, 'ERR_OUT_OF_RANGE'],
            [2n ** 63n, 10, RangeError, 'ERR_OUT_OF_RANGE'],
            // The aligned read around it would pass 2^63-1.
            [2n ** 63n - 2n, 1, RangeError, 'ERR_OUT_OF_RANGE'],
            ['0', 10, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [null, 10, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [undefined, 10, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [0, -1, RangeError, 'ERR_OUT_OF_RANGE'],
            [0, 2.5, RangeError, 'ERR_OUT_OF_RANGE'],
            [0, Infinity, RangeError, 'ERR_OUT_OF_RANGE'],
            [0, limit + 1, RangeError, 'ERR_OUT_OF_RANGE'],
            [0, '10', TypeError, 'ERR_INVALID_ARG_TYPE'],
            [0, 10n, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [0, undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [0, 10, TypeError, 'ERR_INVALID_ARG_TYPE', null],
            [0, 10, TypeError, 'ERR_INVALID_ARG_TYPE', 'abc'],
            [0, 10, TypeError, 'ERR_INVALID_ARG_TYPE', { signal: {} }],
          ];
          const before = submitted();
          for (const [position, length, type, code, options] of cases) {
            const what = `read(${String(position)}, ${String(length)}, ${JSON.stringify(options)})`;
            let promise: Promise<Buffer> | undefined;
            expect(() => { promise = file.read(position as number, length as number, options as object); }, what).not.to.throw();
            const error = await rejectionOf(promise!);
            expect(error, what).to.be.instanceOf(type);
            expect(error.code, what).to.equal(code);
          }
          expect(submitted()).to.equal(before);
        });
      });

      describe('file.readMany(ranges[, options])', () => {
        it('resolves each range\'s bytes in the order given: overlapping, adjacent, duplicate, unaligned, past the end, empty', async () => {
          const ranges: ReadRange[] = [
            { position: 5000, length: 3000 },           // overlaps the next
            { position: 4000, length: 2000 },
            { position: 3990, length: 1 },              // a single byte
            { position: 3991, length: 9 },              // adjacent to it, and to the second
            { position: 5000, length: 3000 },           // a duplicate
            { position: 2 * MiB + 7, length: 12345 },   // far from the others
            { position: SIZE - 3, length: 100 },        // short: the file ends inside it
            { position: SIZE + 10 * align, length: 100 }, // past the end
            { position: 7, length: 0 },                 // empty
            { position: 6000n, length: 1500 },          // a bigint, inside the first two
          ];
          const before = submitted();
          const results = await file.readMany(ranges);
          expect(results).to.have.length(ranges.length);
          ranges.forEach(({ position, length }, i) => {
            const start = Math.min(Number(position), SIZE);
            expectBytes(results[i], data.subarray(start, Math.min(start + length, SIZE)), `range ${i}`);
          });
          // Within the default 1 MiB merge: one read for the first 8 KiB, one at 2 MiB, one at
          // the end of the file, one past it (not touching the one before).
          expect(submitted() - before).to.equal(4);
        });

        it('merges aligned neighbours into reads of at most maxMerge bytes', async () => {
          const ranges = Array.from({ length: 64 }, (_, i) => ({ position: i * align, length: align }));
          for (const [maxMerge, reads] of [[undefined, 1], [8 * align, 8], [8 * align + align - 1, 8], [3 * align, 22],
            [align, 64], [0, 64]] as const) {
            const before = submitted();
            const results = await file.readMany(ranges, maxMerge === undefined ? undefined : { maxMerge });
            expect(submitted() - before, `maxMerge ${maxMerge}: reads`).to.equal(reads);
            results.forEach((bytes, i) => expectBytes(bytes, data.subarray(i * align, (i + 1) * align), `maxMerge ${maxMerge}: range ${i}`));
          }
        });

        it('reads overlapping ranges apart when together they pass maxMerge, and never splits a range', async () => {
          const maxMerge = 4 * align;
          const ranges = [
            { position: 0, length: 3 * align },
            { position: 2 * align + 1, length: 3 * align },   // the union would be 6 blocks
            { position: 10 * align, length: 9 * align },      // larger than maxMerge on its own
            { position: 11 * align + 5, length: 100 },        // inside the one before
            { position: 10 * align, length: 9 * align },      // a duplicate of it
          ];
          const before = submitted();
          const results = await file.readMany(ranges, { maxMerge });
          expect(submitted() - before).to.equal(3);
          ranges.forEach(({ position, length }, i) => expectBytes(results[i], data.subarray(position, position + length), `range ${i}`));
        });

        it('merges unaligned ranges that touch once rounded out', async () => {
          // 1000-byte ranges, 24 bytes apart: rounded out, each touches or overlaps the next.
          const ranges = Array.from({ length: 40 }, (_, i) => ({ position: 3 + i * 1024, length: 1000 }));
          const before = submitted();
          const results = await file.readMany(ranges);
          expect(submitted() - before).to.equal(1);
          ranges.forEach(({ position, length }, i) => expectBytes(results[i], data.subarray(position, position + length), `range ${i}`));
        });

        it('has every read in flight at once, more than the ring holds waiting in JS', async () => {
          // 100 ranges two blocks apart: nothing merges; the suite's ring has 64 entries.
          const ranges = Array.from({ length: 100 }, (_, i) => ({ position: i * 2 * align + 1, length: 10 }));
          const before = ring().stats();
          const promise = file.readMany(ranges);
          const during = ring().stats();
          expect(during.inFlight - before.inFlight + during.queued - before.queued).to.equal(100);
          const results = await promise;
          ranges.forEach(({ position, length }, i) => expectBytes(results[i], data.subarray(position, position + length), `range ${i}`));
          expect(ring().stats().submitted - before.submitted).to.equal(100);
        });

        it('returns Buffers that no later read reuses; ranges read apart share no memory', async () => {
          const first = await file.readMany([{ position: 10, length: 20 }, { position: MiB, length: 20 }], { maxMerge: 0 });
          expect(first[0].buffer).not.to.equal(first[1].buffer);
          const again = await file.readMany([{ position: 10, length: 20 }, { position: MiB, length: 20 }]);
          again.forEach((bytes) => bytes.fill(0));
          await file.readMany([{ position: 0, length: 2 * MiB }]);
          expectBytes(first[0], data.subarray(10, 30), 'range 0 of the first call');
          expectBytes(first[1], data.subarray(MiB, MiB + 20), 'range 1 of the first call');
        });

        it('resolves an empty list, and a list of empty ranges, without a read', async () => {
          const before = submitted();
          expect(await file.readMany([])).to.deep.equal([]);
          const empties = await file.readMany([{ position: 0, length: 0 }, { position: SIZE * 2, length: 0 }]);
          expect(empties.map((bytes) => bytes.length)).to.deep.equal([0, 0]);
          expect(submitted()).to.equal(before);
        });

        it('takes a signal: aborted before, nothing is read; aborted with reads still waiting in JS, it rejects', async () => {
          const aborted = AbortSignal.abort();
          const before = submitted();
          for (const promise of [file.read(0, 10, { signal: aborted }), file.readMany([{ position: 0, length: 10 }], { signal: aborted })]) {
            const error = await rejectionOf(promise);
            expect(error.name).to.equal('AbortError');
            expect(error.code).to.equal('ABORT_ERR');
          }
          expect(submitted()).to.equal(before);

          // 100 reads on a ring of 64: the last 36 wait in JS, and aborting drops them.
          const controller = new AbortController();
          const ranges = Array.from({ length: 100 }, (_, i) => ({ position: i * 2 * align, length: align }));
          const promise = file.readMany(ranges, { signal: controller.signal });
          controller.abort();
          const error = await rejectionOf(promise);
          expect(error.name).to.equal('AbortError');
          expect(ring().stats().inFlight).to.equal(0);

          // A signal that is not aborted changes nothing.
          const live = new AbortController().signal;
          expectBytes(await file.read(3, 5, { signal: live }), data.subarray(3, 8), 'read with a live signal');
          const [bytes] = await file.readMany([{ position: 7, length: 9 }], { signal: live });
          expectBytes(bytes, data.subarray(7, 16), 'readMany with a live signal');
        });

        it('rejects bad arguments with TypeError/RangeError and a code naming the range, before the kernel', async () => {
          const good = { position: 0, length: 10 };
          const cases: [unknown, unknown, typeof TypeError | typeof RangeError, string, string][] = [
            [undefined, undefined, TypeError, 'ERR_INVALID_ARG_TYPE', '"ranges"'],
            [{ position: 0, length: 1 }, undefined, TypeError, 'ERR_INVALID_ARG_TYPE', '"ranges"'],
            ['0-10', undefined, TypeError, 'ERR_INVALID_ARG_TYPE', '"ranges"'],
            [[good, null], undefined, TypeError, 'ERR_INVALID_ARG_TYPE', '"ranges[1]"'],
            [[good, 5], undefined, TypeError, 'ERR_INVALID_ARG_TYPE', '"ranges[1]"'],
            [[good, {}], undefined, TypeError, 'ERR_INVALID_ARG_TYPE', '"ranges[1].position"'],
            [[good, good, { position: -1, length: 1 }], undefined, RangeError, 'ERR_OUT_OF_RANGE', '"ranges[2].position"'],
            [[{ position: '1', length: 1 }], undefined, TypeError, 'ERR_INVALID_ARG_TYPE', '"ranges[0].position"'],
            [[good, { position: 1, length: -1 }], undefined, RangeError, 'ERR_OUT_OF_RANGE', '"ranges[1].length"'],
            [[good, { position: 1, length: 0.5 }], undefined, RangeError, 'ERR_OUT_OF_RANGE', '"ranges[1].length"'],
            [[good, { position: 1 }], undefined, TypeError, 'ERR_INVALID_ARG_TYPE', '"ranges[1].length"'],
            [[good, { position: 2n ** 63n - 100n, length: 10 }], undefined, RangeError, 'ERR_OUT_OF_RANGE', '"ranges[1].position"'],
            [[good], { maxMerge: -1 }, RangeError, 'ERR_OUT_OF_RANGE', '"options.maxMerge"'],
            [[good], { maxMerge: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE', '"options.maxMerge"'],
            [[good], { maxMerge: MAX_TRANSFER + 1 }, RangeError, 'ERR_OUT_OF_RANGE', '"options.maxMerge"'],
            [[good], { maxMerge: '1M' }, TypeError, 'ERR_INVALID_ARG_TYPE', '"options.maxMerge"'],
            [[good], null, TypeError, 'ERR_INVALID_ARG_TYPE', '"options"'],
            [[good], 1024, TypeError, 'ERR_INVALID_ARG_TYPE', '"options"'],
            [[good], { signal: 'abort' }, TypeError, 'ERR_INVALID_ARG_TYPE', '"options.signal"'],
          ];
          const before = submitted();
          for (const [ranges, options, type, code, name] of cases) {
            const what = `readMany(${JSON.stringify(ranges, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}, ${JSON.stringify(options)})`;
            let promise: Promise<Buffer[]> | undefined;
            expect(() => { promise = file.readMany(ranges as ReadRange[], options as object); }, what).not.to.throw();
            const error = await rejectionOf(promise!);
            expect(error, what).to.be.instanceOf(type);
            expect(error.code, what).to.equal(code);
            expect(error.message, what).to.include(name);
          }
          expect(submitted()).to.equal(before);
        });
      });

      it('read() and readMany() on a closed file reject with EBADF, after checking their arguments', async () => {
        const closed = await open(file.path, 'r', { ring: ring() });
        await closed.close();
        const before = submitted();
        for (const promise of [closed.read(0, 10), closed.read(0, 0), closed.readMany([{ position: 0, length: 10 }]), closed.readMany([])]) {
          const error = await rejectionOf(promise);
          expect(error).to.include({ code: 'EBADF', errno: -9, syscall: 'read', path: file.path });
          expect(error.message).to.include('closed');
        }
        expect(await rejectionOf(closed.read(-1, 10))).to.be.instanceOf(RangeError);
        expect(submitted()).to.equal(before);
      });
    });
  }
});
