// readAt/writeAt on descriptors the caller opened. They go through the default
// ring, whose engine is the one ODIRECT_ENGINE picks when the ring is made:
// each suite below closes the default ring and sets ODIRECT_ENGINE, so that
// every engine this machine has serves the default ring in turn.
import { expect } from 'chai';
import fs = require('fs');
import { readAt, writeAt, alignmentOf, open, allocAligned, defaultRing } from 'odirect';
import { DISK_DIR, SHM_DIR, tempPath, cleanup, fillPattern, checkPattern, rejectionOf, forEachDefaultRingEngine } from './helpers';

const { O_RDWR, O_RDONLY, O_CREAT, O_DIRECT } = fs.constants;
const BLOCK = 4096;

forEachDefaultRingEngine('readAt/writeAt on a raw descriptor', () => {
  const descriptors: number[] = [];
  /** fs.openSync (with O_DIRECT unless `flags` say otherwise), closed by the after hook. */
  function openFd(path: string, flags = O_RDWR | O_DIRECT | O_CREAT): number {
    const fd = fs.openSync(path, flags, 0o644);
    descriptors.push(fd);
    return fd;
  }
  after(() => {
    for (const fd of descriptors.splice(0)) fs.closeSync(fd);
    cleanup();
  });

  /** Ops handed to the default ring so far: bad arguments must leave it unchanged. */
  const submitted = (): number => defaultRing().stats().submitted;

  it('writes the pattern and reads back every byte; Node\'s buffered fs agrees', async () => {
    const path = tempPath(DISK_DIR, 'raw-pattern');
    const fd = openFd(path);
    const blocks = 16;
    const writes = Array.from({ length: blocks }, (_, i) => writeAt(fd, fillPattern(allocAligned(BLOCK), i * BLOCK), i * BLOCK));
    expect(await Promise.all(writes)).to.deep.equal(Array(blocks).fill(BLOCK));

    const back = allocAligned(blocks * BLOCK).fill(0xee);
    expect(await readAt(fd, back, 0)).to.equal(blocks * BLOCK);
    expect(checkPattern(back, 0)).to.equal(-1);

    // Each block into its own buffer, concurrently, with bigint positions for half of them.
    const buffers = Array.from({ length: blocks }, () => allocAligned(BLOCK).fill(0xee));
    const counts = await Promise.all(buffers.map((buffer, i) => readAt(fd, buffer, i % 2 === 0 ? i * BLOCK : BigInt(i * BLOCK))));
    expect(counts).to.deep.equal(Array(blocks).fill(BLOCK));
    buffers.forEach((buffer, i) => expect(checkPattern(buffer, i * BLOCK), `block ${i}`).to.equal(-1));

    fs.fdatasyncSync(fd);
    expect(checkPattern(fs.readFileSync(path), 0)).to.equal(-1);
  });

  it('takes a length as a number or as { length }', async () => {
    const path = tempPath(DISK_DIR, 'raw-length');
    fs.writeFileSync(path, fillPattern(Buffer.alloc(2 * BLOCK), 0));
    const fd = openFd(path);
    const buffer = allocAligned(2 * BLOCK).fill(0xee);
    expect(await readAt(fd, buffer, BLOCK, BLOCK)).to.equal(BLOCK);
    expect(checkPattern(buffer.subarray(0, BLOCK), BLOCK)).to.equal(-1);
    expect(buffer.subarray(BLOCK).every((byte) => byte === 0xee)).to.equal(true);
    expect(await writeAt(fd, buffer, 0, { length: BLOCK })).to.equal(BLOCK);
    const viaFs = fs.readFileSync(path);
    expect(checkPattern(viaFs.subarray(0, BLOCK), BLOCK)).to.equal(-1);
    expect(checkPattern(viaFs.subarray(BLOCK), BLOCK)).to.equal(-1);
  });

  it('resolves short reads at end of file with the byte count, and 0 at or past it', async () => {
    const path = tempPath(DISK_DIR, 'raw-eof');
    const fd = openFd(path);
    expect(await writeAt(fd, fillPattern(allocAligned(2 * BLOCK), 0), 0)).to.equal(2 * BLOCK);
    expect(await readAt(fd, allocAligned(BLOCK), 2 * BLOCK)).to.equal(0);
    expect(await readAt(fd, allocAligned(BLOCK), 10 * BLOCK)).to.equal(0);
    fs.ftruncateSync(fd, 2 * BLOCK + 1000);
    const tail = allocAligned(2 * BLOCK);
    expect(await readAt(fd, tail, BLOCK)).to.equal(BLOCK + 1000);
    expect(checkPattern(tail.subarray(0, BLOCK), BLOCK)).to.equal(-1);
    expect(tail.subarray(BLOCK, BLOCK + 1000).every((byte) => byte === 0)).to.equal(true);
  });

  it('works on a descriptor without O_DIRECT, with no alignment to keep', async () => {
    const path = tempPath(DISK_DIR, 'raw-buffered');
    const fd = openFd(path, O_RDWR | O_CREAT);
    expect(await writeAt(fd, Buffer.from('xhello').subarray(1), 3)).to.equal(5);
    const back = Buffer.alloc(9, 0xff);
    expect(await readAt(fd, back.subarray(1), 0)).to.equal(8);
    expect(back).to.deep.equal(Buffer.from([0xff, 0, 0, 0, ...Buffer.from('hello')]));
    expect(fs.readFileSync(path)).to.deep.equal(Buffer.from('\0\0\0hello'));
  });

  it('a misaligned offset, length or buffer gets EINVAL from the kernel, with a message about alignment', async () => {
    const path = tempPath(DISK_DIR, 'raw-misaligned');
    fs.writeFileSync(path, fillPattern(Buffer.alloc(4 * BLOCK), 0));
    const fd = openFd(path);
    // Nothing knows this descriptor's alignment but the kernel: the ops reach it.
    const before = submitted();
    const aligned = allocAligned(2 * BLOCK).fill(0xee);
    const cases = [
      ['read', 'offset', () => readAt(fd, aligned.subarray(0, BLOCK), 100)],
      ['write', 'offset', () => writeAt(fd, aligned.subarray(0, BLOCK), 100)],
      ['read', 'length', () => readAt(fd, aligned, 0, 100)],
      ['write', 'length', () => writeAt(fd, aligned, 0, { length: 100 })],
      ['read', 'buffer', () => readAt(fd, aligned.subarray(1, 1 + BLOCK), 0)],
      ['write', 'buffer', () => writeAt(fd, aligned.subarray(256, 256 + BLOCK), 0)],
    ] as const;
    for (const [syscall, what, op] of cases) {
      const error = await rejectionOf(op());
      expect(error, `${syscall} ${what}`).to.include({ code: 'EINVAL', errno: -22, syscall });
      expect(error.message).to.match(/alignment/);
      expect(error.message).to.include(`fd ${fd}`);
    }
    expect(submitted()).to.equal(before + cases.length);
    expect(aligned.every((byte) => byte === 0xee)).to.equal(true);
    expect(checkPattern(fs.readFileSync(path), 0)).to.equal(-1);
  });

  it('rejects a bad descriptor with TypeError/RangeError, before the kernel', async () => {
    const buffer = allocAligned(BLOCK);
    const before = submitted();
    for (const [fd, type, code] of [
      [-1, RangeError, 'ERR_OUT_OF_RANGE'],
      [1.5, RangeError, 'ERR_OUT_OF_RANGE'],
      [NaN, RangeError, 'ERR_OUT_OF_RANGE'],
      [2 ** 31, RangeError, 'ERR_OUT_OF_RANGE'],
      ['x', TypeError, 'ERR_INVALID_ARG_TYPE'],
      ['3', TypeError, 'ERR_INVALID_ARG_TYPE'],
      [3n, TypeError, 'ERR_INVALID_ARG_TYPE'],
      [null, TypeError, 'ERR_INVALID_ARG_TYPE'],
      [undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ] as const) {
      for (const op of [readAt, writeAt]) {
        let promise: Promise<number> | undefined;
        expect(() => { promise = op(fd as unknown as number, buffer, 0); }).not.to.throw();
        const error = await rejectionOf(promise!);
        expect(error, `${op.name}(${String(fd)})`).to.be.instanceOf(type);
        expect(error.code).to.equal(code);
      }
    }
    expect(submitted()).to.equal(before);
  });

  it('checks the buffer, position and length as DirectFile does', async () => {
    const fd = openFd(tempPath(DISK_DIR, 'raw-bad-args'));
    const buffer = allocAligned(BLOCK);
    const before = submitted();
    for (const [call, type, code] of [
      [() => readAt(fd, {} as Buffer, 0), TypeError, 'ERR_INVALID_ARG_TYPE'],
      [() => writeAt(fd, new ArrayBuffer(BLOCK) as unknown as Buffer, 0), TypeError, 'ERR_INVALID_ARG_TYPE'],
      [() => readAt(fd, buffer, -1), RangeError, 'ERR_OUT_OF_RANGE'],
      [() => readAt(fd, buffer, 0.5), RangeError, 'ERR_OUT_OF_RANGE'],
      [() => writeAt(fd, buffer, -1n), RangeError, 'ERR_OUT_OF_RANGE'],
      [() => writeAt(fd, buffer, '0' as unknown as number), TypeError, 'ERR_INVALID_ARG_TYPE'],
      [() => readAt(fd, buffer, 0, 2 * BLOCK), RangeError, 'ERR_OUT_OF_RANGE'],
      [() => writeAt(fd, buffer, 0, { length: 1.5 }), RangeError, 'ERR_OUT_OF_RANGE'],
    ] as const) {
      const error = await rejectionOf(call());
      expect(error, call.toString()).to.be.instanceOf(type);
      expect(error.code, call.toString()).to.equal(code);
    }
    expect(submitted()).to.equal(before);
  });

  it('a closed descriptor gets EBADF', async () => {
    const path = tempPath(DISK_DIR, 'raw-closed');
    fs.writeFileSync(path, fillPattern(Buffer.alloc(BLOCK), 0));
    defaultRing(); // made now, so that its own descriptors cannot take the number about to be freed
    const fd = fs.openSync(path, O_RDWR | O_DIRECT);
    fs.closeSync(fd);
    const buffer = allocAligned(BLOCK).fill(0xee);
    for (const [op, syscall] of [[readAt, 'read'], [writeAt, 'write']] as const) {
      const error = await rejectionOf(op(fd, buffer, 0));
      expect(error).to.include({ code: 'EBADF', errno: -9, syscall });
    }
    expect(buffer.every((byte) => byte === 0xee)).to.equal(true);
    expect(checkPattern(fs.readFileSync(path), 0)).to.equal(-1);
  });

  describe('alignmentOf', () => {
    for (const [label, dir] of [['ext4 disk', DISK_DIR], ['tmpfs', SHM_DIR]]) {
      it(`matches what open() reports for the same file (${label})`, async () => {
        const path = tempPath(dir, 'raw-alignment');
        const fd = openFd(path);
        const file = await open(path, 'r');
        try {
          expect(alignmentOf(fd)).to.deep.equal({
            memory: file.alignment.memory,
            offset: file.alignment.offset,
            source: file.alignmentSource,
          });
          // The same without O_DIRECT on the descriptor: alignment belongs to the file.
          const plain = openFd(path, O_RDONLY);
          expect(alignmentOf(plain)).to.deep.equal(alignmentOf(fd));
        } finally {
          await file.close();
        }
      });
    }

    it('rejects a bad descriptor', () => {
      expect(() => alignmentOf(-1)).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
      expect(() => alignmentOf(1.5)).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
      expect(() => alignmentOf('x' as unknown as number)).to.throw(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
      const fd = fs.openSync(tempPath(DISK_DIR, 'raw-alignment-closed'), O_RDWR | O_CREAT);
      fs.closeSync(fd);
      expect(() => alignmentOf(fd)).to.throw().that.includes({ code: 'EBADF', errno: -9 });
    });
  });
});
