// file.punchHole() and file.zeroRange(): fallocate(2) modes through the ring.
// The oracle is the filesystem's own block count (stat().blocks): a punched
// hole must give blocks back, not only read as zeros.
import { expect } from 'chai';
import fs = require('fs');
import { allocAligned, DirectFile, open } from 'odirect';
import { checkPattern, cleanup, DISK_DIR, fillPattern, forEachEngine, rejectionOf, SHM_DIR, tempPath } from './helpers';

const KiB = 1024;
const MiB = 1024 * KiB;

forEachEngine('file.punchHole() and file.zeroRange()', ({ ring }) => {
  let file: DirectFile;
  let path: string;

  /** A 1 MiB file of pattern, on disk (fdatasync'd), its blocks allocated. */
  async function patterned(dir: string, label: string): Promise<void> {
    path = tempPath(dir, label);
    file = await open(path, 'w+', { ring: ring() });
    await file.writeAt(fillPattern(allocAligned(MiB), 0, 7n), 0);
    await file.datasync();
  }

  afterEach(async () => {
    await file?.close();
    cleanup();
  });

  it('punchHole frees the blocks of the range (stat().blocks), which reads as zeros; the size stays', async () => {
    await patterned(DISK_DIR, 'punch');
    const before = fs.statSync(path);
    expect(before.blocks * 512).to.be.at.least(MiB);
    const submitted = ring().stats().submitted;
    await file.punchHole(256 * KiB, 512 * KiB);
    expect(ring().stats().submitted).to.equal(submitted + 1);
    const after = fs.statSync(path);
    expect(after.size).to.equal(MiB);
    expect((before.blocks - after.blocks) * 512).to.equal(512 * KiB);
    const back = allocAligned(MiB);
    expect(await file.readAt(back, 0)).to.equal(MiB);
    expect(checkPattern(back.subarray(0, 256 * KiB), 0, 7n)).to.equal(-1);
    expect(back.subarray(256 * KiB, 768 * KiB).every((byte) => byte === 0)).to.equal(true);
    expect(checkPattern(back.subarray(768 * KiB), 768 * KiB, 7n)).to.equal(-1);
  });

  it('punchHole past the end of the file keeps the size; on tmpfs it frees pages too', async () => {
    await patterned(SHM_DIR, 'punch-shm');
    const before = fs.statSync(path);
    await file.punchHole(0, 4 * MiB);
    const after = fs.statSync(path);
    expect(after.size).to.equal(MiB);
    expect(before.blocks - after.blocks).to.equal(before.blocks);
    expect((await file.read(0, MiB)).every((byte) => byte === 0)).to.equal(true);
  });

  it('zeroRange makes the range read as zeros and keeps its blocks; it grows the file unless keepSize', async () => {
    await patterned(DISK_DIR, 'zero');
    const before = fs.statSync(path);
    await file.zeroRange(256 * KiB, 256 * KiB);
    const after = fs.statSync(path);
    expect(after.size).to.equal(MiB);
    expect(after.blocks).to.be.at.least(before.blocks);
    const back = allocAligned(MiB);
    expect(await file.readAt(back, 0)).to.equal(MiB);
    expect(checkPattern(back.subarray(0, 256 * KiB), 0, 7n)).to.equal(-1);
    expect(back.subarray(256 * KiB, 512 * KiB).every((byte) => byte === 0)).to.equal(true);
    expect(checkPattern(back.subarray(512 * KiB), 512 * KiB, 7n)).to.equal(-1);

    await file.zeroRange(MiB, MiB, { keepSize: true });
    expect(fs.statSync(path).size).to.equal(MiB);
    await file.zeroRange(MiB, MiB, { keepSize: false });
    expect(fs.statSync(path).size).to.equal(2 * MiB);
    await file.zeroRange(2n * BigInt(MiB), 4096n);
    expect(fs.statSync(path).size).to.equal(2 * MiB + 4096);
  });

  it('names the mode when the filesystem lacks it: tmpfs has no FALLOC_FL_ZERO_RANGE (EOPNOTSUPP)', async () => {
    await patterned(SHM_DIR, 'zero-shm');
    const error = await rejectionOf(file.zeroRange(0, 4096));
    expect(error.code).to.equal('ENOTSUP');
    expect(error.errno).to.equal(-95);
    expect(error.syscall).to.equal('fallocate');
    expect(error.path).to.equal(path);
    expect(error.message).to.match(/does not support fallocate with FALLOC_FL_ZERO_RANGE \(zeroRange\)/);
    expect(checkPattern(await file.read(0, MiB), 0, 7n)).to.equal(-1);
  });

  it('takes a signal: an aborted one drops the op, and the range is left alone', async () => {
    await patterned(DISK_DIR, 'punch-signal');
    for (const call of [() => file.punchHole(0, MiB, { signal: AbortSignal.abort() }),
      () => file.zeroRange(0, MiB, { signal: AbortSignal.abort() })]) {
      const error = await rejectionOf(call());
      expect(error.name).to.equal('AbortError');
      expect(error.code).to.equal('ABORT_ERR');
    }
    // A signal that does not fire changes nothing.
    await file.punchHole(0, 4096, { signal: new AbortController().signal });
    const back = await file.read(0, MiB);
    expect(back.subarray(0, 4096).every((byte) => byte === 0)).to.equal(true);
    expect(checkPattern(back.subarray(4096), 4096, 7n)).to.equal(-1);
  });

  it('checks every argument before the kernel, in Node\'s shape, and rejects with EBADF once closed', async () => {
    await patterned(DISK_DIR, 'holes-args');
    const submitted = ring().stats().submitted;
    const cases: [() => Promise<void>, string][] = [
      [() => file.punchHole(-1, 10), 'ERR_OUT_OF_RANGE'],
      [() => file.punchHole(0, 0), 'ERR_OUT_OF_RANGE'],
      [() => file.punchHole(0, 1.5), 'ERR_OUT_OF_RANGE'],
      [() => file.punchHole('0' as never, 10), 'ERR_INVALID_ARG_TYPE'],
      [() => file.punchHole(0, null as never), 'ERR_INVALID_ARG_TYPE'],
      [() => file.punchHole(2n ** 63n - 2n, 10), 'ERR_OUT_OF_RANGE'],
      [() => file.punchHole(0, 10, 5 as never), 'ERR_INVALID_ARG_TYPE'],
      [() => file.punchHole(0, 10, { keepSize: true } as never), 'ERR_INVALID_ARG_VALUE'],
      [() => file.punchHole(0, 10, { signal: {} as never }), 'ERR_INVALID_ARG_TYPE'],
      [() => file.zeroRange(-1, 10), 'ERR_OUT_OF_RANGE'],
      [() => file.zeroRange(0, 0), 'ERR_OUT_OF_RANGE'],
      [() => file.zeroRange(0, 2n ** 60n), 'ERR_OUT_OF_RANGE'],
      [() => file.zeroRange(0, 10, { keepSize: 1 as never }), 'ERR_INVALID_ARG_VALUE'],
      [() => file.zeroRange(0, 10, null as never), 'ERR_INVALID_ARG_TYPE'],
      [() => file.zeroRange(0, 10, { signal: 'x' as never }), 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [call, code] of cases) expect((await rejectionOf(call())).code, call.toString()).to.equal(code);
    expect(ring().stats().submitted).to.equal(submitted);
    expect(checkPattern(await file.read(0, MiB), 0, 7n)).to.equal(-1);
    await file.close();
    expect((await rejectionOf(file.punchHole(0, 10))).code).to.equal('EBADF');
    expect((await rejectionOf(file.zeroRange(0, 10))).code).to.equal('EBADF');
  });
});
