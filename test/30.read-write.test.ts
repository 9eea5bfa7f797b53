import { expect } from 'chai';
import fs = require('fs');
import { open, allocAligned, DirectFile } from 'odirect';
import {
  forEachEngine, DISK_DIR, SHM_DIR, tempPath, cleanup, fillPattern, checkPattern, rejectionOf,
} from './helpers';

const BLOCK = 4096;

forEachEngine('readAt/writeAt', ({ ring }) => {
  for (const [label, dir] of [['ext4 disk', DISK_DIR], ['tmpfs', SHM_DIR]]) {
    describe(`on ${label} (${dir})`, () => {
      const opened: DirectFile[] = [];
      after(async () => {
        await Promise.all(opened.splice(0).map((file) => file.close()));
        cleanup();
      });

      /** A new file in `dir` on this suite's ring, closed by the after hook. */
      async function create(name: string, flags = 'w+'): Promise<{ file: DirectFile; path: string }> {
        const path = tempPath(dir, name);
        const file = await open(path, flags, { ring: ring() });
        opened.push(file);
        return { file, path };
      }

      /** A file of `size` pattern bytes written by Node's buffered fs, opened on this suite's ring. */
      async function patterned(name: string, size: number, flags = 'r+'): Promise<{ file: DirectFile; path: string }> {
        const path = tempPath(dir, name);
        fs.writeFileSync(path, fillPattern(Buffer.alloc(size), 0));
        const file = await open(path, flags, { ring: ring() });
        opened.push(file);
        return { file, path };
      }

      /** Ops handed to the ring so far: bad arguments must leave it unchanged. */
      const submitted = (): number => ring().stats().submitted;

      it('writes the pattern, reads back every byte, and Node\'s buffered fs sees the same bytes', async () => {
        const { file, path } = await create('pattern');
        const chunk = 64 * 1024;
        const chunks = 16;
        const writes = Array.from({ length: chunks }, (_, i) => file.writeAt(fillPattern(allocAligned(chunk), i * chunk), i * chunk));
        expect(await Promise.all(writes)).to.deep.equal(Array(chunks).fill(chunk));

        const back = allocAligned(chunks * chunk).fill(0xa5);
        expect(await file.readAt(back, 0)).to.equal(chunks * chunk);
        expect(checkPattern(back, 0)).to.equal(-1);

        await file.datasync();
        const viaFs = fs.readFileSync(path);
        expect(viaFs.length).to.equal(chunks * chunk);
        expect(checkPattern(viaFs, 0)).to.equal(-1);
        expect((await file.stat()).size).to.equal(chunks * chunk);
      });

      it('lands each of many concurrent reads (more than the ring holds) in its own buffer', async () => {
        const blocks = 512; // the suite's ring has 64 entries: the rest wait in JS
        const { file } = await patterned('concurrent', blocks * BLOCK, 'r');
        const before = ring().stats().completed;
        const buffers = Array.from({ length: blocks }, () => allocAligned(BLOCK).fill(0xee));
        // Issued in a scrambled order so that a mixed-up buffer or offset shows.
        const order = Array.from({ length: blocks }, (_, i) => (i * 197) % blocks);
        const counts = await Promise.all(order.map((block) => file.readAt(buffers[block], block * BLOCK)));
        expect(counts).to.deep.equal(Array(blocks).fill(BLOCK));
        buffers.forEach((buffer, block) => expect(checkPattern(buffer, block * BLOCK), `block ${block}`).to.equal(-1));
        expect(ring().stats().completed - before).to.equal(blocks);
      });

      it('resolves short reads at end of file with the byte count, and 0 at or past it', async () => {
        const size = 3 * BLOCK + 1000;
        const { file, path } = await patterned('eof', size, 'r');
        const buffer = allocAligned(4 * BLOCK).fill(0xee);
        expect(await file.readAt(buffer, 0)).to.equal(size);
        expect(checkPattern(buffer, 0, 0n, size - (size % 8))).to.equal(-1);

        const tail = allocAligned(BLOCK).fill(0xee);
        expect(await file.readAt(tail, 3 * BLOCK)).to.equal(1000);
        expect(checkPattern(tail, 3 * BLOCK, 0n, 1000 - (1000 % 8))).to.equal(-1);

        expect(await file.readAt(allocAligned(BLOCK), 4 * BLOCK)).to.equal(0); // past the end
        expect(await file.readAt(allocAligned(BLOCK), 100 * BLOCK)).to.equal(0); // far past it

        fs.truncateSync(path, 4 * BLOCK);
        expect(await file.readAt(allocAligned(BLOCK), 4 * BLOCK)).to.equal(0); // exactly at the end
      });

      it('reads zeros from a hole, and a block written in the middle of one', async () => {
        const { file, path } = await create('sparse');
        const size = 1 << 20;
        fs.truncateSync(path, size);
        const hole = allocAligned(64 * 1024).fill(0xff);
        expect(await file.readAt(hole, 512 * 1024)).to.equal(hole.length);
        expect(hole.every((byte) => byte === 0)).to.equal(true);

        const middle = 256 * 1024;
        expect(await file.writeAt(fillPattern(allocAligned(BLOCK), middle), middle)).to.equal(BLOCK);
        const around = allocAligned(3 * BLOCK).fill(0xff);
        expect(await file.readAt(around, middle - BLOCK)).to.equal(3 * BLOCK);
        expect(around.subarray(0, BLOCK).every((byte) => byte === 0)).to.equal(true);
        expect(checkPattern(around.subarray(BLOCK, 2 * BLOCK), middle)).to.equal(-1);
        expect(around.subarray(2 * BLOCK).every((byte) => byte === 0)).to.equal(true);

        expect((await file.stat()).size).to.equal(size);
        await file.datasync();
        const viaFs = fs.readFileSync(path);
        expect(checkPattern(viaFs.subarray(middle, middle + BLOCK), middle)).to.equal(-1);
        expect(viaFs.subarray(0, middle).every((byte) => byte === 0)).to.equal(true);
      });

      it('takes bigint positions', async () => {
        const { file } = await create('bigint');
        expect(await file.writeAt(fillPattern(allocAligned(2 * BLOCK), 2 * BLOCK), 2n * BigInt(BLOCK))).to.equal(2 * BLOCK);
        const back = allocAligned(BLOCK);
        expect(await file.readAt(back, 3n * BigInt(BLOCK))).to.equal(BLOCK);
        expect(checkPattern(back, 3 * BLOCK)).to.equal(-1);
      });

      it('takes a bigint position beyond 2^53 (a sparse file), or reports the filesystem\'s limit', async () => {
        const { file } = await create('beyond-2-53');
        const position = 2n ** 53n + BigInt(BLOCK);
        // Each word holds its own file offset, as a bigint: seed the pattern with the position.
        const block = fillPattern(allocAligned(BLOCK), 0, position);
        let written: number | undefined;
        try {
          written = await file.writeAt(block, position);
        } catch (error) {
          // ext4's largest file is 16 TiB: the kernel says EFBIG (some filesystems say EINVAL).
          expect(error).to.have.property('code').that.is.oneOf(['EFBIG', 'EINVAL']);
          expect(error).to.include({ syscall: 'write', path: file.path });
          expect((error as Error).message).to.include(String(position));
          // Nothing was written; a read there is past the end of file.
          expect(await file.readAt(allocAligned(BLOCK), position)).to.equal(0);
          expect((await file.stat()).size).to.equal(0);
          return;
        }
        expect(written).to.equal(BLOCK);
        expect((await file.stat({ bigint: true })).size).to.equal(position + BigInt(BLOCK));
        const back = allocAligned(BLOCK);
        expect(await file.readAt(back, position)).to.equal(BLOCK);
        expect(checkPattern(back, 0, position)).to.equal(-1);
        // The bytes just below it are a hole: the position was not truncated to 53 bits or to 0.
        const below = allocAligned(BLOCK).fill(0xff);
        expect(await file.readAt(below, position - BigInt(BLOCK))).to.equal(BLOCK);
        expect(below.every((byte) => byte === 0)).to.equal(true);
        const start = allocAligned(BLOCK).fill(0xff);
        expect(await file.readAt(start, 0)).to.equal(BLOCK);
        expect(start.every((byte) => byte === 0)).to.equal(true);
      });

      it('takes a Uint32Array and a DataView (lengths in bytes)', async () => {
        const { file, path } = await create('views');
        const memory = allocAligned(2 * BLOCK);
        fillPattern(memory, 0);
        const words = new Uint32Array(memory.buffer, memory.byteOffset, (2 * BLOCK) / 4);
        expect(await file.writeAt(words, 0)).to.equal(2 * BLOCK);
        expect(checkPattern(fs.readFileSync(path), 0)).to.equal(-1);

        const target = allocAligned(2 * BLOCK).fill(0xee);
        const view = new DataView(target.buffer, target.byteOffset, target.length);
        expect(await file.readAt(view, 0)).to.equal(2 * BLOCK);
        expect(checkPattern(target, 0)).to.equal(-1);

        // A length is in bytes, whatever the element size.
        const half = allocAligned(2 * BLOCK).fill(0xee);
        const halfWords = new Uint32Array(half.buffer, half.byteOffset, (2 * BLOCK) / 4);
        expect(await file.readAt(halfWords, BLOCK, BLOCK)).to.equal(BLOCK);
        expect(checkPattern(half.subarray(0, BLOCK), BLOCK)).to.equal(-1);
        expect(half.subarray(BLOCK).every((byte) => byte === 0xee)).to.equal(true);
      });

      it("uses a subarray's own byte range and leaves the bytes around it untouched", async () => {
        const { file, path } = await patterned('subarray', 3 * BLOCK);
        const whole = allocAligned(3 * BLOCK).fill(0xaa);
        const middle = whole.subarray(BLOCK, 2 * BLOCK);
        expect(await file.readAt(middle, BLOCK)).to.equal(BLOCK);
        expect(checkPattern(middle, BLOCK)).to.equal(-1);
        expect(whole.subarray(0, BLOCK).every((byte) => byte === 0xaa)).to.equal(true);
        expect(whole.subarray(2 * BLOCK).every((byte) => byte === 0xaa)).to.equal(true);

        // A DataView with an offset into its memory, likewise.
        const other = allocAligned(3 * BLOCK).fill(0xbb);
        const dataView = new DataView(other.buffer, other.byteOffset + 2 * BLOCK, BLOCK);
        expect(await file.readAt(dataView, 0)).to.equal(BLOCK);
        expect(checkPattern(other.subarray(2 * BLOCK), 0)).to.equal(-1);
        expect(other.subarray(0, 2 * BLOCK).every((byte) => byte === 0xbb)).to.equal(true);

        // A write takes only the view's bytes: the 0xcc around it never reach the file.
        const source = allocAligned(3 * BLOCK).fill(0xcc);
        fillPattern(source.subarray(BLOCK, 2 * BLOCK), 0, 7n);
        expect(await file.writeAt(source.subarray(BLOCK, 2 * BLOCK), 2 * BLOCK)).to.equal(BLOCK);
        await file.datasync();
        const viaFs = fs.readFileSync(path);
        expect(viaFs.length).to.equal(3 * BLOCK);
        expect(checkPattern(viaFs.subarray(0, 2 * BLOCK), 0)).to.equal(-1);
        expect(checkPattern(viaFs.subarray(2 * BLOCK), 0, 7n)).to.equal(-1);
      });

      it('takes a length as a number or as { length }', async () => {
        const { file, path } = await patterned('length', 2 * BLOCK);
        const buffer = allocAligned(2 * BLOCK).fill(0xee);
        expect(await file.readAt(buffer, BLOCK, BLOCK)).to.equal(BLOCK);
        expect(checkPattern(buffer.subarray(0, BLOCK), BLOCK)).to.equal(-1);
        expect(buffer.subarray(BLOCK).every((byte) => byte === 0xee)).to.equal(true);

        buffer.fill(0xee);
        expect(await file.readAt(buffer, 0, { length: BLOCK })).to.equal(BLOCK);
        expect(checkPattern(buffer.subarray(0, BLOCK), 0)).to.equal(-1);
        expect(buffer.subarray(BLOCK).every((byte) => byte === 0xee)).to.equal(true);

        const { file: out, path: outPath } = await create('length-write');
        const source = fillPattern(allocAligned(2 * BLOCK), 0);
        expect(await out.writeAt(source, 0, { length: BLOCK })).to.equal(BLOCK);
        expect(await out.writeAt(source, BLOCK, BLOCK)).to.equal(BLOCK);
        const viaFs = fs.readFileSync(outPath);
        expect(viaFs.length).to.equal(2 * BLOCK);
        expect(checkPattern(viaFs.subarray(0, BLOCK), 0)).to.equal(-1);
        expect(checkPattern(viaFs.subarray(BLOCK), 0)).to.equal(-1); // the first BLOCK of source again
        expect(fs.statSync(path).size).to.equal(2 * BLOCK);
      });

      it('writes with { dsync: true }', async () => {
        const { file, path } = await create('dsync');
        expect(await file.writeAt(fillPattern(allocAligned(2 * BLOCK), 0), 0, { dsync: true })).to.equal(2 * BLOCK);
        expect(checkPattern(fs.readFileSync(path), 0)).to.equal(-1);
        const error = await rejectionOf(file.writeAt(allocAligned(BLOCK), 0, { dsync: 'yes' as unknown as boolean }));
        expect(error).to.be.instanceOf(TypeError);
        expect(error.code).to.equal('ERR_INVALID_ARG_VALUE');
      });

      it('resolves a zero-length op with 0 and touches nothing', async () => {
        const { file, path } = await patterned('zero', BLOCK);
        const before = submitted();
        const buffer = allocAligned(BLOCK).fill(0xee);
        expect(await file.readAt(buffer, 0, 0)).to.equal(0);
        expect(await file.readAt(allocAligned(0), 0)).to.equal(0);
        expect(await file.writeAt(buffer, 0, { length: 0 })).to.equal(0);
        expect(buffer.every((byte) => byte === 0xee)).to.equal(true);
        expect(checkPattern(fs.readFileSync(path), 0)).to.equal(-1);
        expect(submitted()).to.equal(before);
      });

      describe('alignment errors', () => {
        // Each case breaks exactly one of address, offset and length.
        it('rejects a misaligned buffer address with EINVAL, before the kernel', async () => {
          const { file, path } = await patterned('align-memory', 2 * BLOCK);
          const { memory, offset } = file.alignment;
          expect(memory).to.be.at.least(512);
          const before = submitted();
          for (const shift of [1, memory / 2]) {
            const base = allocAligned(offset + memory, memory).fill(0xee);
            const misaligned = base.subarray(shift, shift + offset);
            for (const [op, syscall] of [[() => file.readAt(misaligned, 0), 'read'], [() => file.writeAt(misaligned, 0), 'write']] as const) {
              const error = await rejectionOf(op());
              expect(error).to.include({ code: 'EINVAL', errno: -22, syscall, path });
              expect(error.message).to.include('buffer address');
              expect(error.message).to.include(`multiple of ${memory}`);
              expect(error.message).to.include(path);
            }
            expect(base.every((byte) => byte === 0xee)).to.equal(true);
          }
          expect(submitted()).to.equal(before);
          expect(checkPattern(fs.readFileSync(path), 0)).to.equal(-1);
        });

        it('rejects a misaligned offset with EINVAL naming the offset and the alignment, before the kernel', async () => {
          const { file, path } = await patterned('align-offset', 4 * BLOCK);
          const { offset } = file.alignment;
          expect(offset).to.be.at.least(512);
          const buffer = allocAligned(offset);
          const before = submitted();
          for (const position of [offset + 100, BigInt(offset + 100), 1]) {
            for (const [op, syscall] of [[() => file.readAt(buffer, position), 'read'], [() => file.writeAt(buffer, position), 'write']] as const) {
              const error = await rejectionOf(op());
              expect(error).to.include({ code: 'EINVAL', errno: -22, syscall, path });
              expect(error.message).to.include(`offset ${position} `);
              expect(error.message).to.include(`multiple of ${offset}`);
              expect(error.message).to.include(path);
            }
          }
          expect(submitted()).to.equal(before);
          expect(fs.statSync(path).size).to.equal(4 * BLOCK);
        });

        it('rejects a misaligned length with EINVAL naming the length and the alignment, before the kernel', async () => {
          const { file, path } = await patterned('align-length', 4 * BLOCK);
          const { offset } = file.alignment;
          expect(offset).to.be.at.least(512);
          const buffer = allocAligned(2 * offset).fill(0xee);
          const before = submitted();
          for (const length of [offset + 100, 1, offset - 8]) {
            for (const [op, syscall] of [
              [() => file.readAt(buffer, 0, length), 'read'],
              [() => file.writeAt(buffer, 0, { length }), 'write'],
              [() => file.readAt(buffer.subarray(0, length), 0), 'read'],
            ] as const) {
              const error = await rejectionOf(op());
              expect(error).to.include({ code: 'EINVAL', errno: -22, syscall, path });
              expect(error.message).to.include(`length ${length} `);
              expect(error.message).to.include(`multiple of ${offset}`);
            }
          }
          expect(submitted()).to.equal(before);
          expect(buffer.every((byte) => byte === 0xee)).to.equal(true);
        });
      });

      describe('bad arguments', () => {
        const cases: [what: string, call: (file: DirectFile, buffer: Buffer) => Promise<number>,
          type: typeof TypeError | typeof RangeError, code: string][] = [];
        const bad = (what: string, type: typeof TypeError | typeof RangeError, code: string,
          call: (op: DirectFile['readAt'], file: DirectFile, buffer: Buffer) => Promise<number>): void => {
          cases.push([`readAt: ${what}`, (file, buffer) => call(file.readAt.bind(file), file, buffer), type, code]);
          cases.push([`writeAt: ${what}`, (file, buffer) => call(file.writeAt.bind(file), file, buffer), type, code]);
        };
        const TYPE = 'ERR_INVALID_ARG_TYPE';
        const RANGE = 'ERR_OUT_OF_RANGE';
        for (const buffer of [{}, [0, 1, 2], 'abc', null, undefined, new ArrayBuffer(BLOCK), 42]) {
          bad(`buffer ${String(buffer)}`, TypeError, TYPE, (op) => op(buffer as unknown as Buffer, 0));
        }
        for (const position of [-1, -BLOCK, 1.5, BLOCK + 0.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 64, -1n, -BigInt(BLOCK), 2n ** 63n]) {
          bad(`position ${String(position)}`, RangeError, RANGE, (op, _file, buffer) => op(buffer, position));
        }
        for (const position of ['0', '4096', null, undefined, {}, [0], true]) {
          bad(`position ${JSON.stringify(position)}`, TypeError, TYPE, (op, _file, buffer) => op(buffer, position as unknown as number));
        }
        // The last possible position, with a length that would carry past 2^63-1.
        bad('position + length beyond 2^63-1', RangeError, RANGE, (op, _file, buffer) => op(buffer, 2n ** 63n - BigInt(BLOCK)));
        for (const length of [2 * BLOCK + BLOCK, -BLOCK, -1, 1.5, BLOCK + 0.5, NaN, Infinity]) {
          bad(`length ${length}`, RangeError, RANGE, (op, _file, buffer) => op(buffer, 0, length));
          bad(`{ length: ${length} }`, RangeError, RANGE, (op, _file, buffer) => op(buffer, 0, { length }));
        }
        for (const length of ['4096', 4096n, true]) {
          bad(`{ length: ${typeof length} }`, TypeError, TYPE, (op, _file, buffer) => op(buffer, 0, { length: length as unknown as number }));
        }
        bad('options string', TypeError, TYPE, (op, _file, buffer) => op(buffer, 0, 'x' as unknown as number));
        bad('a length beyond a subarray (though within its memory)', RangeError, RANGE,
          (op, _file, buffer) => op(buffer.subarray(0, BLOCK), 0, 2 * BLOCK));

        it('reject with TypeError/RangeError and a code, before the kernel, leaving file and buffer alone', async () => {
          const { file, path } = await patterned('bad-args', 2 * BLOCK);
          const buffer = allocAligned(2 * BLOCK).fill(0xee);
          const before = submitted();
          for (const [what, call, type, code] of cases) {
            let promise: Promise<number> | undefined;
            // A bad argument rejects the Promise; it never throws synchronously.
            expect(() => { promise = call(file, buffer); }, what).not.to.throw();
            const error = await rejectionOf(promise!);
            expect(error, what).to.be.instanceOf(type);
            expect(error.code, what).to.equal(code);
          }
          expect(submitted()).to.equal(before);
          expect(ring().stats().inFlight).to.equal(0);
          expect(buffer.every((byte) => byte === 0xee)).to.equal(true);
          expect(checkPattern(fs.readFileSync(path), 0)).to.equal(-1);
          expect(fs.statSync(path).size).to.equal(2 * BLOCK);
        });
      });

      it('reading a file opened write-only gets EBADF from the kernel', async () => {
        const { file, path } = await patterned('write-only', BLOCK, 'w');
        const before = submitted();
        const buffer = allocAligned(BLOCK).fill(0xee);
        const error = await rejectionOf(file.readAt(buffer, 0));
        expect(error).to.include({ code: 'EBADF', errno: -9, syscall: 'read', path });
        expect(error.message).to.include(path);
        expect(submitted()).to.equal(before + 1); // it did reach the kernel
        expect(buffer.every((byte) => byte === 0xee)).to.equal(true);
      });

      it('datasync() and sync() go through the ring and resolve', async () => {
        const { file, path } = await create('sync');
        await file.writeAt(fillPattern(allocAligned(BLOCK), 0), 0);
        const before = submitted();
        expect(await file.datasync()).to.equal(undefined);
        expect(await file.sync()).to.equal(undefined);
        expect(submitted()).to.equal(before + 2);
        expect(checkPattern(fs.readFileSync(path), 0)).to.equal(-1);
      });
    });
  }
});
