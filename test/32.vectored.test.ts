import { expect } from 'chai';
import fs = require('fs');
import { open, allocAligned, DirectFile } from 'odirect';
import { forEachEngine, DISK_DIR, SHM_DIR, tempPath, cleanup, fillPattern, checkPattern, rejectionOf } from './helpers';

const BLOCK = 4096;

forEachEngine('readvAt/writevAt and dsync', ({ ring }) => {
  for (const [label, dir] of [['ext4 disk', DISK_DIR], ['tmpfs', SHM_DIR]]) {
    describe(`on ${label}`, () => {
      let file: DirectFile;
      let path: string;
      beforeEach(async () => {
        path = tempPath(dir, 'vectored');
        file = await open(path, 'w+', { ring: ring() });
      });
      afterEach(async () => {
        await file.close();
        cleanup();
      });

      it('writes several buffers in order at one position, and reads them back into several', async () => {
        const whole = fillPattern(allocAligned(7 * BLOCK), 3 * BLOCK, 9n << 40n);
        const parts = [whole.subarray(0, BLOCK), whole.subarray(BLOCK, 4 * BLOCK), whole.subarray(4 * BLOCK)];
        expect(await file.writevAt(parts, 3 * BLOCK)).to.equal(7 * BLOCK);
        const onDisk = fs.readFileSync(path);
        expect(onDisk.length).to.equal(10 * BLOCK);
        expect(onDisk.subarray(0, 3 * BLOCK).every((byte) => byte === 0)).to.equal(true);
        expect(checkPattern(onDisk.subarray(3 * BLOCK), 3 * BLOCK, 9n << 40n)).to.equal(-1);

        const back = [allocAligned(2 * BLOCK), allocAligned(BLOCK), allocAligned(4 * BLOCK)];
        expect(await file.readvAt(back, 3 * BLOCK)).to.equal(7 * BLOCK);
        expect(checkPattern(back[0], 3 * BLOCK, 9n << 40n)).to.equal(-1);
        expect(checkPattern(back[1], 5 * BLOCK, 9n << 40n)).to.equal(-1);
        expect(checkPattern(back[2], 6 * BLOCK, 9n << 40n)).to.equal(-1);
      });

      it('reads short at end of file, filling the buffers in order', async () => {
        await file.writeAt(fillPattern(allocAligned(3 * BLOCK), 0), 0);
        const back = [allocAligned(2 * BLOCK), allocAligned(2 * BLOCK)];
        expect(await file.readvAt(back, 0)).to.equal(3 * BLOCK);
        expect(checkPattern(back[0], 0)).to.equal(-1);
        expect(checkPattern(back[1], 2 * BLOCK, 0n, BLOCK)).to.equal(-1);
        expect(await file.readvAt([allocAligned(BLOCK)], 8 * BLOCK)).to.equal(0);
      });

      it('takes dsync on writevAt, and a file opened with dsync writes as usual', async () => {
        const data = fillPattern(allocAligned(2 * BLOCK), 0, 4n);
        expect(await file.writevAt([data.subarray(0, BLOCK), data.subarray(BLOCK)], 0, { dsync: true })).to.equal(2 * BLOCK);
        const synced = await open(path, 'r+', { ring: ring(), dsync: true });
        expect(synced.flags & fs.constants.O_DSYNC).to.equal(fs.constants.O_DSYNC);
        expect(await synced.writeAt(fillPattern(allocAligned(BLOCK), 2 * BLOCK, 4n), 2 * BLOCK)).to.equal(BLOCK);
        await synced.close();
        expect(checkPattern(fs.readFileSync(path), 0, 4n)).to.equal(-1);
      });

      it('checks its arguments before the kernel sees them', async () => {
        const submitted = ring().stats().submitted;
        const good = allocAligned(BLOCK);
        expect((await rejectionOf(file.readvAt([], 0))).code).to.equal('ERR_OUT_OF_RANGE');
        expect((await rejectionOf(file.readvAt(good as never, 0))).code).to.equal('ERR_INVALID_ARG_TYPE');
        expect((await rejectionOf(file.readvAt([good, 'x' as never], 0))).code).to.equal('ERR_INVALID_ARG_TYPE');
        expect((await rejectionOf(file.readvAt(new Array(1025).fill(good), 0))).code).to.equal('ERR_OUT_OF_RANGE');
        expect((await rejectionOf(file.readvAt([good], -1))).code).to.equal('ERR_OUT_OF_RANGE');
        expect((await rejectionOf(file.writevAt([good], 0, { length: 5 }))).code).to.equal('ERR_INVALID_ARG_VALUE');
        expect((await rejectionOf(file.writevAt([good], 0, { dsync: 1 as never }))).code).to.equal('ERR_INVALID_ARG_VALUE');
        if (file.alignment.offset > 1) {
          const error = await rejectionOf(file.writevAt([good, allocAligned(BLOCK).subarray(0, 100)], 0));
          expect(error.code).to.equal('EINVAL');
          expect(error.message).to.include('buffers[1] length 100');
          expect((await rejectionOf(file.readvAt([good], 100))).code).to.equal('EINVAL');
        }
        const misaligned = allocAligned(2 * BLOCK).subarray(8, 8 + BLOCK);
        if (file.alignment.memory > 1) {
          expect((await rejectionOf(file.readvAt([good, misaligned], 0))).code).to.equal('EINVAL');
        }
        expect(ring().stats().submitted).to.equal(submitted);
        await file.close();
        expect((await rejectionOf(file.readvAt([good], 0))).code).to.equal('EBADF');
      });
    });
  }
});

describe('open() dsync option', () => {
  after(cleanup);
  it('rejects a dsync that is not a boolean', async () => {
    const error = await rejectionOf(open(tempPath(), 'w', { dsync: 'yes' as never }));
    expect(error.code).to.equal('ERR_INVALID_ARG_VALUE');
  });
});
