import { expect } from 'chai';
import fs = require('fs');
import { open, allocAligned, DirectFile } from 'odirect';
import { forEachEngine, DISK_DIR, SHM_DIR, tempPath, cleanup, fillPattern, checkPattern, rejectionOf } from './helpers';

const MiB = 1 << 20;

forEachEngine('file.allocate()', ({ ring }) => {
  for (const [label, dir] of [['ext4 disk', DISK_DIR], ['tmpfs', SHM_DIR]]) {
    describe(`on ${label}`, () => {
      let file: DirectFile;
      let path: string;
      beforeEach(async () => {
        path = tempPath(dir, 'allocate');
        file = await open(path, 'w+', { ring: ring() });
      });
      afterEach(async () => {
        await file.close();
        cleanup();
      });

      it('allocates the range, grows the file to its end, and the range reads as zeros', async () => {
        const submitted = ring().stats().submitted;
        await file.allocate(0, 4 * MiB);
        expect(ring().stats().submitted).to.equal(submitted + 1);
        const stats = fs.statSync(path);
        expect(stats.size).to.equal(4 * MiB);
        expect(stats.blocks * 512).to.be.at.least(4 * MiB);
        const buffer = allocAligned(MiB).fill(0xaa);
        expect(await file.readAt(buffer, 2 * MiB)).to.equal(MiB);
        expect(buffer.every((byte) => byte === 0)).to.equal(true);
      });

      it('keeps the size with keepSize, and leaves written data alone', async () => {
        const data = fillPattern(allocAligned(MiB), 0, 3n);
        await file.writeAt(data, 0);
        await file.allocate(0, 8 * MiB, { keepSize: true });
        const stats = fs.statSync(path);
        expect(stats.size).to.equal(MiB);
        expect(stats.blocks * 512).to.be.at.least(8 * MiB);
        const back = allocAligned(MiB);
        expect(await file.readAt(back, 0)).to.equal(MiB);
        expect(checkPattern(back, 0, 3n)).to.equal(-1);
      });

      it('takes bigint offsets and lengths, and checks its arguments before the kernel sees them', async () => {
        await file.allocate(1n * BigInt(MiB), 1n * BigInt(MiB));
        expect(fs.statSync(path).size).to.equal(2 * MiB);
        const submitted = ring().stats().submitted;
        expect((await rejectionOf(file.allocate(0, 0))).code).to.equal('ERR_OUT_OF_RANGE');
        expect((await rejectionOf(file.allocate(-1, 10))).code).to.equal('ERR_OUT_OF_RANGE');
        expect((await rejectionOf(file.allocate(0, 1.5))).code).to.equal('ERR_OUT_OF_RANGE');
        expect((await rejectionOf(file.allocate(0, '10' as never))).code).to.equal('ERR_INVALID_ARG_TYPE');
        expect((await rejectionOf(file.allocate(0, 2n ** 60n))).code).to.equal('ERR_OUT_OF_RANGE');
        expect((await rejectionOf(file.allocate(0, 10, { keepSize: 1 as never }))).code).to.equal('ERR_INVALID_ARG_VALUE');
        expect((await rejectionOf(file.allocate(0, 10, 5 as never))).code).to.equal('ERR_INVALID_ARG_TYPE');
        expect(ring().stats().submitted).to.equal(submitted);
      });

      it('reports the kernel\'s error, and EBADF once closed', async () => {
        const readOnly = await open(path, 'r', { ring: ring() });
        const error = await rejectionOf(readOnly.allocate(0, MiB));
        expect(error.code).to.equal('EBADF');
        expect(error.syscall).to.equal('fallocate');
        await readOnly.close();
        expect((await rejectionOf(readOnly.allocate(0, MiB))).code).to.equal('EBADF');
      });
    });
  }
});
