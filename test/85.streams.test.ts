// createReadStream and createWriteStream: ordinary Node streams over direct
// I/O, with several reads or block writes in flight, exact bytes at unaligned
// starts and ends, and files cut to their exact size; and file.truncate(),
// which the write stream ends with.
import { expect } from 'chai';
import fs = require('fs');
import { once } from 'events';
import { pipeline } from 'stream/promises';
import { Readable, Writable } from 'stream';
import {
  open, createReadStream, createWriteStream, DirectFile, DirectReadStream, DirectWriteStream, Ring,
} from 'odirect';
import {
  forEachEngine, DISK_DIR, SHM_DIR, tempPath, cleanup, checkPattern, rejectionOf, patternBytes, expectBytes,
} from './helpers';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Every chunk a stream emits, as emitted (not copied). */
async function chunksOf(stream: Readable): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return chunks;
}

/** The error a stream emits (a Readable is read to get there). */
async function streamError(stream: Readable | Writable): Promise<Error & { code?: string; syscall?: string; path?: string }> {
  if (stream instanceof Readable) stream.resume();
  const [error] = await once(stream, 'error');
  return error;
}

/** Resolves once the stream has emitted 'close' (at once if it has). */
async function closed(stream: Readable | Writable): Promise<void> {
  if (!stream.closed) await once(stream, 'close');
}

const roundUp = (value: number, alignment: number): number => Math.ceil(value / alignment) * alignment;

forEachEngine('streams', ({ ring }) => {
  for (const [label, dir] of [['ext4 disk', DISK_DIR], ['tmpfs', SHM_DIR]]) {
    describe(`on ${label} (${dir})`, () => {
      const opened: DirectFile[] = [];
      after(async () => {
        await Promise.all(opened.splice(0).map((file) => file.close()));
        cleanup();
      });

      /** A file holding `data`, written by Node's buffered fs. */
      function fileOf(name: string, data: Buffer): string {
        const path = tempPath(dir, name);
        fs.writeFileSync(path, data);
        return path;
      }

      /** `path` opened on this suite's ring, closed by the after hook. */
      async function openHere(path: string, flags = 'r'): Promise<DirectFile> {
        const file = await open(path, flags, { ring: ring() });
        opened.push(file);
        return file;
      }

      /** The direct-I/O offset alignment of files in `dir`. */
      async function alignmentHere(): Promise<number> {
        const file = await openHere(fileOf('alignment', Buffer.alloc(0)));
        return file.alignment.offset;
      }

      const submitted = (): number => ring().stats().submitted;

      describe('copying', () => {
        it('pipeline(createReadStream, createWriteStream) copies 10 MiB + 123 bytes byte for byte', async () => {
          const data = patternBytes(10 * MiB + 123);
          const from = fileOf('copy-from', data);
          const to = tempPath(dir, 'copy-to');
          const reader = createReadStream(from, { ring: ring() });
          const writer = createWriteStream(to, { ring: ring() });
          await pipeline(reader, writer);
          expect(fs.statSync(to).size).to.equal(data.length);
          expectBytes(fs.readFileSync(to), data, 'the copy');
          expect(reader.bytesRead).to.equal(data.length);
          expect(writer.bytesWritten).to.equal(data.length);
          expect(reader.file!.closed).to.equal(true);
          expect(writer.file!.closed).to.equal(true);
          expect(ring().stats().inFlight).to.equal(0);
        });

        it('copies with a small unaligned highWaterMark and one op in flight, and with many', async () => {
          const data = patternBytes(MiB + 7, 3n);
          const from = fileOf('copy-small-from', data);
          for (const [highWaterMark, queueDepth] of [[1000, 1], [64 * KiB + 1, 16]]) {
            const to = tempPath(dir, `copy-small-to-${queueDepth}`);
            await pipeline(createReadStream(from, { highWaterMark, queueDepth, ring: ring() }),
              createWriteStream(to, { highWaterMark, queueDepth, ring: ring() }));
            expectBytes(fs.readFileSync(to), data, `highWaterMark ${highWaterMark}, queueDepth ${queueDepth}`);
          }
        });
      });

      describe('createReadStream', () => {
        it('emits exactly the bytes from an unaligned start to an unaligned end, reading only the aligned range', async () => {
          const size = 3 * MiB + 555;
          const data = patternBytes(size);
          const path = fileOf('range', data);
          const align = await alignmentHere();
          const highWaterMark = 256 * KiB;
          const cases: [start: number | undefined, end: number | undefined][] = [
            [1, 1], [align - 1, align], [12345, 2 * MiB + 17], [0, size - 1], [7, undefined], [undefined, 100],
            [size - 5, undefined], [MiB, MiB + highWaterMark - 1], [size - 10, size + 10 * MiB],
          ];
          for (const [start, end] of cases) {
            const what = `start ${start}, end ${end}`;
            const before = submitted();
            const stream = createReadStream(path, { start, end, highWaterMark, ring: ring() });
            const bytes = Buffer.concat(await chunksOf(stream));
            const first = start ?? 0;
            const last = Math.min(end ?? Infinity, size - 1);
            expectBytes(bytes, data.subarray(first, last + 1), what);
            expect(stream.bytesRead, what).to.equal(last + 1 - first);
            if (end !== undefined && end < size) {
              // Within the file: exactly the reads that cover the aligned range, none beyond it.
              const span = roundUp(end + 1, align) - (first - (first % align));
              expect(submitted() - before, `${what}: reads`).to.equal(Math.ceil(span / roundUp(highWaterMark, align)));
            }
          }
        });

        it('emits nothing for a start at or past the end of the file, or an empty file', async () => {
          const path = fileOf('past-end', patternBytes(5000));
          expect(await chunksOf(createReadStream(path, { start: 5000, ring: ring() }))).to.deep.equal([]);
          expect(await chunksOf(createReadStream(path, { start: 10 * MiB, end: 11 * MiB, ring: ring() }))).to.deep.equal([]);
          expect(await chunksOf(createReadStream(fileOf('empty', Buffer.alloc(0)), { ring: ring() }))).to.deep.equal([]);
        });

        it('emits each chunk in a Buffer of its own, never overwritten by later reads', async () => {
          const data = patternBytes(4 * MiB + 100);
          const path = fileOf('own-chunks', data);
          const chunks = await chunksOf(createReadStream(path, { highWaterMark: 64 * KiB, queueDepth: 8, ring: ring() }));
          // Checked only after the whole file was read: a reused buffer would hold later bytes.
          let offset = 0;
          for (const chunk of chunks) {
            expectBytes(chunk, data.subarray(offset, offset + chunk.length), `the chunk at ${offset}`);
            offset += chunk.length;
          }
          expect(offset).to.equal(data.length);
          expect(new Set(chunks.map((chunk) => chunk.buffer)).size).to.equal(chunks.length);
        });

        it('keeps queueDepth reads in flight, and no more while the consumer is slow', async () => {
          const data = patternBytes(4 * MiB);
          const path = fileOf('depth', data);
          const queueDepth = 5;
          const highWaterMark = 64 * KiB;
          const stream = createReadStream(path, { highWaterMark, queueDepth, ring: ring() });
          await once(stream, 'ready');
          const before = submitted();
          const issuedAtFirstChunk: number[] = [];
          let chunks = 0;
          let mostAhead = 0;
          const received: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => {
            if (chunks === 0) issuedAtFirstChunk.push(submitted() - before);
            chunks++;
            received.push(chunk);
            // Reads issued and chunks not yet emitted: the memory a slow consumer makes the stream hold.
            mostAhead = Math.max(mostAhead, submitted() - before - chunks);
            expect(ring().stats().inFlight).to.be.at.most(queueDepth);
            stream.pause();
            setTimeout(() => stream.resume(), 1);
          });
          await once(stream, 'end');
          expect(issuedAtFirstChunk).to.deep.equal([queueDepth]);
          // queueDepth reads, and the one chunk Readable holds (its highWaterMark is the chunk size).
          expect(mostAhead).to.be.at.most(queueDepth + 1);
          expectBytes(Buffer.concat(received), data, 'the file');
          // The file ends on a chunk boundary: one more read finds the end.
          expect(submitted() - before).to.be.within(data.length / highWaterMark + 1, data.length / highWaterMark + queueDepth);
        });

        it('reads an open DirectFile and leaves it open', async () => {
          const data = patternBytes(MiB + 3);
          const file = await openHere(fileOf('direct-file', data));
          const stream = createReadStream(file, { start: 3, end: MiB });
          expect(stream.path).to.equal(file.path);
          expectBytes(Buffer.concat(await chunksOf(stream)), data.subarray(3, MiB + 1), 'the range');
          await closed(stream);
          expect(file.closed).to.equal(false);
          expectBytes(await file.read(0, 10), data.subarray(0, 10), 'a read afterwards');
        });

        it('reports a file that cannot be opened, or read, as a stream error', async () => {
          const missing = tempPath(dir, 'missing');
          const error = await streamError(createReadStream(missing, { ring: ring() }));
          expect(error).to.include({ code: 'ENOENT', syscall: 'open', path: missing });

          const writeOnly = await openHere(fileOf('write-only', patternBytes(MiB)), 'w');
          const failing = createReadStream(writeOnly);
          const readError = await streamError(failing);
          expect(readError).to.include({ code: 'EBADF', syscall: 'read', path: writeOnly.path });
          const rejected = await rejectionOf(pipeline(createReadStream(writeOnly), createWriteStream(tempPath(dir, 'sink'), { ring: ring() })));
          expect(rejected).to.include({ code: 'EBADF', syscall: 'read' });
          expect(ring().stats().inFlight).to.equal(0);
        });

        it('destroy() mid-read waits for the reads in flight, then closes the file', async () => {
          const path = fileOf('destroy', patternBytes(8 * MiB));
          const stream = createReadStream(path, { highWaterMark: 64 * KiB, queueDepth: 16, ring: ring() });
          stream.once('data', () => stream.destroy());
          await closed(stream);
          expect(ring().stats().inFlight).to.equal(0);
          expect(stream.file!.closed).to.equal(true);
          expect(stream.file!.fd).to.equal(-1);

          // With an error: the error is emitted, and the same holds.
          const failing = createReadStream(path, { highWaterMark: 64 * KiB, queueDepth: 16, ring: ring() });
          failing.once('data', () => failing.destroy(new Error('stop here')));
          expect((await streamError(failing)).message).to.equal('stop here');
          await closed(failing);
          expect(ring().stats().inFlight).to.equal(0);
          expect(failing.file!.fd).to.equal(-1);

          // Before the file is even open.
          const early = createReadStream(path, { ring: ring() });
          early.destroy();
          await closed(early);
          expect(early.file === null || early.file.closed).to.equal(true);

          // On a DirectFile: it waits for its reads, and leaves the file open.
          const file = await openHere(path);
          const onFile = createReadStream(file, { highWaterMark: 64 * KiB, queueDepth: 16 });
          onFile.once('data', () => onFile.destroy());
          await closed(onFile);
          expect(ring().stats().inFlight).to.equal(0);
          expect(file.closed).to.equal(false);
        });

        it('an aborted signal destroys the stream with an AbortError, after its reads in flight', async () => {
          const path = fileOf('abort-read', patternBytes(8 * MiB));
          const controller = new AbortController();
          const stream = createReadStream(path, { highWaterMark: 64 * KiB, queueDepth: 16, signal: controller.signal, ring: ring() });
          stream.once('data', () => controller.abort());
          const error = await streamError(stream);
          expect(error.name).to.equal('AbortError');
          await closed(stream);
          expect(ring().stats().inFlight).to.equal(0);
          expect(stream.file!.fd).to.equal(-1);
        });

        it('throws TypeError/RangeError with a code for bad arguments, before opening anything', () => {
          const path = tempPath(dir, 'never-opened');
          const cases: [unknown, unknown, typeof TypeError | typeof RangeError, string][] = [
            [42, undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [null, undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [path, 'r', TypeError, 'ERR_INVALID_ARG_TYPE'],
            [path, null, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [path, { start: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
            [path, { start: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
            [path, { start: '0' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [path, { end: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
            [path, { end: NaN }, RangeError, 'ERR_OUT_OF_RANGE'],
            [path, { end: 10n }, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [path, { start: 10, end: 9 }, RangeError, 'ERR_OUT_OF_RANGE'],
            [path, { highWaterMark: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
            [path, { highWaterMark: 2 ** 31 }, RangeError, 'ERR_OUT_OF_RANGE'],
            [path, { queueDepth: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
            [path, { queueDepth: 2.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
            [path, { queueDepth: '4' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [path, { ring: {} }, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [path, { signal: 'stop' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
          ];
          for (const [target, options, type, code] of cases) {
            const what = `createReadStream(${String(target)}, ${JSON.stringify(options, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))})`;
            expect(() => createReadStream(target as string, options as object), what).to.throw(type).with.property('code', code);
          }
          expect(fs.existsSync(path)).to.equal(false);
        });
      });

      describe('createWriteStream', () => {
        it('ends the file at the exact size, whatever the chunk sizes and block boundaries', async () => {
          const align = await alignmentHere();
          const sizes = [1, 7, align - 1, align + 1, 8 * KiB - 3, 8 * KiB, 8 * KiB + 1, 100_003, 5, 0, 3 * align];
          const total = sizes.reduce((sum, size) => sum + size, 0);
          const data = patternBytes(total, 9n);
          const path = tempPath(dir, 'odd-chunks');
          const before = submitted();
          const stream = createWriteStream(path, { highWaterMark: 8 * KiB, ring: ring() });
          let offset = 0;
          for (const size of sizes) {
            stream.write(data.subarray(offset, offset + size));
            offset += size;
          }
          stream.end();
          await closed(stream);
          expect(fs.statSync(path).size).to.equal(total);
          expectBytes(fs.readFileSync(path), data, 'the file');
          expect(stream.bytesWritten).to.equal(total);
          // One write per 8 KiB block, the last one short and padded to the alignment.
          expect(submitted() - before).to.equal(Math.ceil(total / (8 * KiB)));
        });

        it('writes an empty file, and a file of whole blocks with no padding', async () => {
          const empty = tempPath(dir, 'empty-out');
          const stream = createWriteStream(empty, { ring: ring() });
          stream.end();
          await closed(stream);
          expect(fs.statSync(empty).size).to.equal(0);

          const data = patternBytes(2 * MiB);
          const whole = tempPath(dir, 'whole-out');
          const before = submitted();
          await pipeline(Readable.from([data]), createWriteStream(whole, { ring: ring() }));
          expect(submitted() - before).to.equal(2);
          expectBytes(fs.readFileSync(whole), data, 'the file');
        });

        it('rounds highWaterMark up to the alignment for its blocks', async () => {
          const align = await alignmentHere();
          const data = patternBytes(10 * align + 3);
          const path = tempPath(dir, 'rounded-blocks');
          const before = submitted();
          await pipeline(Readable.from([data]), createWriteStream(path, { highWaterMark: align - 100, ring: ring() }));
          expect(submitted() - before).to.equal(11);
          expectBytes(fs.readFileSync(path), data, 'the file');
        });

        it('keeps at most queueDepth block writes in flight, and write() pushes back until drain', async () => {
          const queueDepth = 3;
          const highWaterMark = 64 * KiB;
          const data = patternBytes(8 * MiB + 11);
          const path = tempPath(dir, 'backpressure');
          const stream = createWriteStream(path, { highWaterMark, queueDepth, ring: ring() });
          await once(stream, 'ready');
          const before = submitted();
          let drains = 0;
          stream.on('drain', () => { drains++; });
          // More than queueDepth blocks in one write: queueDepth of them go out at once.
          const first = (queueDepth + 2) * highWaterMark;
          expect(stream.write(data.subarray(0, first))).to.equal(false);
          expect(submitted() - before).to.equal(queueDepth);
          let refused = 1;
          let mostInFlight = queueDepth;
          await once(stream, 'drain');
          for (let offset = first; offset < data.length; offset += 16 * KiB) {
            mostInFlight = Math.max(mostInFlight, ring().stats().inFlight);
            if (!stream.write(data.subarray(offset, offset + 16 * KiB))) {
              refused++;
              await once(stream, 'drain');
            }
          }
          stream.end();
          await closed(stream);
          expect(refused).to.be.above(1);
          expect(drains).to.equal(refused);
          expect(mostInFlight).to.be.at.most(queueDepth);
          expectBytes(fs.readFileSync(path), data, 'the file');
          expect(submitted() - before).to.equal(Math.ceil(data.length / highWaterMark));
        });

        it('cuts what an existing file held beyond the bytes written', async () => {
          const path = fileOf('overwrite', patternBytes(3 * MiB, 1n));
          const data = patternBytes(MiB + 1, 2n);
          await pipeline(Readable.from([data]), createWriteStream(path, { flags: 'r+', ring: ring() }));
          expectBytes(fs.readFileSync(path), data, 'the file');
        });

        it('with flush: true, datasyncs the file before finishing', async () => {
          const path = tempPath(dir, 'flush');
          const data = patternBytes(100_000);
          const before = submitted();
          await pipeline(Readable.from([data]), createWriteStream(path, { flush: true, ring: ring() }));
          expect(submitted() - before).to.equal(2);  // one block, one fdatasync
          expectBytes(fs.readFileSync(path), data, 'the file');
        });

        it('writes an open DirectFile from its start and leaves it open', async () => {
          const file = await openHere(tempPath(dir, 'direct-file-out'), 'w+');
          const data = patternBytes(300_001);
          const stream = createWriteStream(file, { highWaterMark: 64 * KiB });
          expect(stream.path).to.equal(file.path);
          await pipeline(Readable.from([data.subarray(0, 5), data.subarray(5)]), stream);
          expect(file.closed).to.equal(false);
          expect((await file.stat()).size).to.equal(data.length);
          expectBytes(await file.read(0, data.length), data, 'the file');
        });

        it('reports a file that cannot be opened, or written, as a stream error', async () => {
          const missing = tempPath(dir, 'no-such-file');
          const error = await streamError(createWriteStream(missing, { flags: 'r+', ring: ring() }));
          expect(error).to.include({ code: 'ENOENT', syscall: 'open', path: missing });

          const readOnly = await openHere(fileOf('read-only', patternBytes(4 * KiB)));
          const rejected = await rejectionOf(pipeline(Readable.from([patternBytes(3 * MiB)]), createWriteStream(readOnly)));
          expect(rejected).to.include({ code: 'EBADF', syscall: 'write', path: readOnly.path });
          expect(ring().stats().inFlight).to.equal(0);
          expectBytes(fs.readFileSync(readOnly.path), patternBytes(4 * KiB), 'the file, untouched');
        });

        it('destroy() mid-write waits for the writes in flight, then closes the file', async () => {
          const path = tempPath(dir, 'destroy-out');
          const stream = createWriteStream(path, { highWaterMark: 64 * KiB, queueDepth: 8, ring: ring() });
          await once(stream, 'ready');
          stream.write(patternBytes(2 * MiB));
          stream.destroy();
          await closed(stream);
          expect(ring().stats().inFlight).to.equal(0);
          expect(stream.file!.fd).to.equal(-1);
        });

        it('an aborted signal destroys the stream with an AbortError, after its writes in flight', async () => {
          const path = tempPath(dir, 'abort-write');
          const controller = new AbortController();
          const stream = createWriteStream(path, { highWaterMark: 64 * KiB, queueDepth: 8, signal: controller.signal, ring: ring() });
          await once(stream, 'ready');
          stream.write(patternBytes(2 * MiB));
          const error = streamError(stream);
          controller.abort();
          expect((await error).name).to.equal('AbortError');
          await closed(stream);
          expect(ring().stats().inFlight).to.equal(0);
          expect(stream.file!.fd).to.equal(-1);
        });

        it('throws TypeError/RangeError with a code for bad arguments, before opening anything', async () => {
          const path = tempPath(dir, 'never-created');
          const appending = await openHere(fileOf('appending', Buffer.alloc(0)), 'a');
          const cases: [unknown, unknown, typeof TypeError | typeof RangeError, string][] = [
            [42, undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [path, 'w', TypeError, 'ERR_INVALID_ARG_TYPE'],
            [path, { flags: 'a' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
            [path, { flags: 'ax+' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
            [path, { flags: fs.constants.O_WRONLY | fs.constants.O_APPEND }, TypeError, 'ERR_INVALID_ARG_VALUE'],
            [appending, undefined, TypeError, 'ERR_INVALID_ARG_VALUE'],
            [path, { flags: 'q' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
            [path, { mode: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
            [path, { mode: '644' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [path, { flush: 1 }, TypeError, 'ERR_INVALID_ARG_VALUE'],
            [path, { highWaterMark: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
            [path, { queueDepth: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
            [path, { ring: 'default' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
            [path, { signal: {} }, TypeError, 'ERR_INVALID_ARG_TYPE'],
          ];
          for (const [target, options, type, code] of cases) {
            const what = `createWriteStream(${String(target)}, ${JSON.stringify(options)})`;
            expect(() => createWriteStream(target as string, options as object), what).to.throw(type).with.property('code', code);
          }
          expect(fs.existsSync(path)).to.equal(false);
        });
      });

      describe('file.truncate(length)', () => {
        it('shrinks and grows the file; grown bytes read as zeros', async () => {
          const data = patternBytes(64 * KiB);
          const file = await openHere(fileOf('truncate', data), 'r+');
          expect(await file.truncate(1000)).to.equal(undefined);
          expect((await file.stat()).size).to.equal(1000);
          expectBytes(await file.read(0, 64 * KiB), data.subarray(0, 1000), 'after shrinking');
          await file.truncate(5000n);
          expect((await file.stat()).size).to.equal(5000);
          const grown = await file.read(0, 5000);
          expectBytes(grown.subarray(0, 1000), data.subarray(0, 1000), 'the bytes kept');
          expect(grown.subarray(1000).every((byte) => byte === 0)).to.equal(true);
          await file.truncate(0);
          expect((await file.stat()).size).to.equal(0);
          expect(checkPattern(fs.readFileSync(file.path), 0)).to.equal(-1);
        });

        it('is waited for by close(), which it holds off until it is done', async () => {
          const file = await open(fileOf('truncate-close', patternBytes(8 * KiB)), 'r+', { ring: ring() });
          const truncating = file.truncate(3);
          const closing = file.close();
          // Once the microtasks have run, close() would have let the descriptor go, had the
          // truncate (on libuv's pool, done no sooner than the next turn of the loop) not held it.
          await new Promise((resolve) => process.nextTick(resolve));
          expect(file.fd).not.to.equal(-1);
          await Promise.all([truncating, closing]);
          expect(file.fd).to.equal(-1);
          expect(fs.statSync(file.path).size).to.equal(3);
        });

        it('rejects on a closed file with EBADF, and a read-only one with the kernel\'s error', async () => {
          const closed = await open(fileOf('truncate-closed', patternBytes(4 * KiB)), 'r+', { ring: ring() });
          await closed.close();
          const error = await rejectionOf(closed.truncate(0));
          expect(error).to.include({ code: 'EBADF', errno: -9, syscall: 'ftruncate', path: closed.path });
          expect(fs.statSync(closed.path).size).to.equal(4 * KiB);

          const readOnly = await openHere(fileOf('truncate-read-only', patternBytes(4 * KiB)));
          const refused = await rejectionOf(readOnly.truncate(0));
          expect(refused.code).to.be.oneOf(['EINVAL', 'EBADF']);
          expect(refused).to.include({ syscall: 'ftruncate', path: readOnly.path });
          expect(fs.statSync(readOnly.path).size).to.equal(4 * KiB);
        });

        it('rejects bad lengths with TypeError/RangeError and a code', async () => {
          const file = await openHere(fileOf('truncate-bad', patternBytes(4 * KiB)), 'r+');
          const cases: [unknown, typeof TypeError | typeof RangeError, string][] = [
            [-1, RangeError, 'ERR_OUT_OF_RANGE'], [1.5, RangeError, 'ERR_OUT_OF_RANGE'], [NaN, RangeError, 'ERR_OUT_OF_RANGE'],
            [2 ** 53, RangeError, 'ERR_OUT_OF_RANGE'], [-1n, RangeError, 'ERR_OUT_OF_RANGE'],
            [2n ** 53n, RangeError, 'ERR_OUT_OF_RANGE'], ['0', TypeError, 'ERR_INVALID_ARG_TYPE'],
            [undefined, TypeError, 'ERR_INVALID_ARG_TYPE'], [null, TypeError, 'ERR_INVALID_ARG_TYPE'],
          ];
          for (const [length, type, code] of cases) {
            let promise: Promise<void> | undefined;
            expect(() => { promise = file.truncate(length as number); }, String(length)).not.to.throw();
            const error = await rejectionOf(promise!);
            expect(error, String(length)).to.be.instanceOf(type);
            expect(error.code, String(length)).to.equal(code);
          }
          expect(fs.statSync(file.path).size).to.equal(4 * KiB);
        });
      });
    });
  }
});

describe('streams: the exports', () => {
  it('are the classes the factories make, and ordinary Node streams', () => {
    const path = tempPath(DISK_DIR, 'classes');
    fs.writeFileSync(path, 'x');
    const ring = new Ring({ entries: 4 });
    const reader = createReadStream(path, { ring });
    const writer = createWriteStream(tempPath(DISK_DIR, 'classes-out'), { ring });
    expect(reader).to.be.instanceOf(DirectReadStream).and.instanceOf(Readable);
    expect(writer).to.be.instanceOf(DirectWriteStream).and.instanceOf(Writable);
    reader.destroy();
    writer.destroy();
    return Promise.all([closed(reader), closed(writer)]).then(() => ring.close()).finally(cleanup);
  });
});
