// file.truncate(), which the write streams end with.
import { expect } from 'chai';
import fs = require('fs');
import { open, DirectFile } from 'odirect';
import { forEachEngine, DISK_DIR, SHM_DIR, tempPath, cleanup, fillPattern, checkPattern, rejectionOf } from './helpers';

const KiB = 1024;

/** Pattern bytes of a file of `size`; the last partial word is filled too, so every byte is known. */
function source(size: number, seed = 0n): Buffer {
  const bytes = fillPattern(Buffer.alloc(size), 0, seed);
  for (let i = size - (size % 8); i < size; i++) bytes[i] = 0xa0 + (i % 8);
  return bytes;
}

/** Fails naming the first byte that differs from `expected`, and the lengths. */
function expectBytes(actual: Buffer, expected: Buffer, what: string): void {
  expect(actual.length, `${what}: length`).to.equal(expected.length);
  const differs = actual.findIndex((byte, i) => byte !== expected[i]);
  expect(differs, `${what}: first differing byte`).to.equal(-1);
}

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

      describe('file.truncate(length)', () => {
        it('shrinks and grows the file; grown bytes read as zeros', async () => {
          const data = source(64 * KiB);
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
          const file = await open(fileOf('truncate-close', source(8 * KiB)), 'r+', { ring: ring() });
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
          const closed = await open(fileOf('truncate-closed', source(4 * KiB)), 'r+', { ring: ring() });
          await closed.close();
          const error = await rejectionOf(closed.truncate(0));
          expect(error).to.include({ code: 'EBADF', errno: -9, syscall: 'ftruncate', path: closed.path });
          expect(fs.statSync(closed.path).size).to.equal(4 * KiB);

          const readOnly = await openHere(fileOf('truncate-read-only', source(4 * KiB)));
          const refused = await rejectionOf(readOnly.truncate(0));
          expect(refused.code).to.be.oneOf(['EINVAL', 'EBADF']);
          expect(refused).to.include({ syscall: 'ftruncate', path: readOnly.path });
          expect(fs.statSync(readOnly.path).size).to.equal(4 * KiB);
        });

        it('rejects bad lengths with TypeError/RangeError and a code', async () => {
          const file = await openHere(fileOf('truncate-bad', source(4 * KiB)), 'r+');
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
