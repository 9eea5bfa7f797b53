// Untorn writes (RWF_ATOMIC, Linux 6.11): on XFS over a loop device (which
// takes them in software on any device since Linux 6.16) and on ext4 over
// the virtio disk (which has none). Each test that shows a write went
// through would also pass for a plain write, so each engine is also shown
// to hand the flag to the kernel: the kernel itself refuses an untorn write
// that breaks its rules (a length that is not a power of two on XFS, any
// untorn write on ext4), which it would have done as a plain write.
import { expect } from 'chai';
import fs = require('fs');
import path = require('path');
import { spawnSync } from 'child_process';
import { allocAligned, atomicWriteOf, BufferPool, open, probe, writeAt } from 'odirect';
import { checkPattern, cleanup, DISK_DIR, fillPattern, forEachEngine, rejectionOf, tempPath, xfsLoopFixture } from './helpers';

const KiB = 1024;
const MiB = 1024 * KiB;
const { O_RDWR, O_DIRECT, O_CREAT, O_APPEND } = fs.constants;

describe('untorn writes on XFS over a loop device', function () {
  this.timeout(120_000);
  const mountPoint = xfsLoopFixture();

  it('probe(path) and odirect probe PATH give the range, for the directory and for a file in it', async () => {
    const report = await probe(mountPoint());
    expect(report.path).to.include({ path: mountPoint(), filesystem: 'xfs', uncached: true });
    const limits = report.path!.atomicWrite!;
    expect(limits.min).to.equal(4096);
    const target = path.join(mountPoint(), 'probed');
    fs.writeFileSync(target, 'x');
    expect((await probe(target)).path!.atomicWrite).to.deep.equal(limits);
    const cli = path.join(path.dirname(require.resolve('odirect/package.json')), 'dist', 'cli', 'main.js');
    const run = spawnSync(process.execPath, [cli, 'probe', mountPoint()], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout).to.match(new RegExp(`^untorn +${limits.min} to ${limits.max} bytes, ${limits.maxSegments} buffers? \\(RWF_ATOMIC with O_DIRECT`, 'm'));
    expect(fs.readdirSync(mountPoint()).filter((name) => name.startsWith('.odirect-probe-'))).to.deep.equal([]);
    expect((await rejectionOf(probe(7 as never))).code).to.equal('ERR_INVALID_ARG_TYPE');
  });

  forEachEngine('RWF_ATOMIC', ({ ring, engine }) => {
    const fileFor = (label: string): string => path.join(mountPoint(), `${engine}-${label}`);

    it('reports the untorn-write range from statx, frozen, as atomicWriteOf(fd) does', async () => {
      const file = await open(fileFor('limits'), 'w+', { ring: ring() });
      try {
        const limits = file.atomicWrite;
        expect(limits).to.not.equal(null);
        // XFS on a 4096-byte-block filesystem: one block at least, and (in
        // software, Linux 6.16+) far more at most, in one buffer.
        expect(limits!.min).to.equal(4096);
        expect(limits!.max).to.be.at.least(64 * KiB);
        expect(Number.isInteger(Math.log2(limits!.max))).to.equal(true);
        expect(limits!.maxSegments).to.be.at.least(1);
        expect(Object.isFrozen(limits)).to.equal(true);
        expect(atomicWriteOf(file.fd)).to.deep.equal(limits);
      } finally {
        await file.close();
      }
    });

    it('writes 4 KiB, 16 KiB, 64 KiB and the largest unit untorn (and with dsync), and they read back', async () => {
      const file = await open(fileFor('sizes'), 'w+', { ring: ring() });
      try {
        const max = Math.min(file.atomicWrite!.max, MiB);
        for (const [seed, size] of [4 * KiB, 16 * KiB, 64 * KiB, max].entries()) {
          const position = 2 * max;  // a multiple of every size
          const data = fillPattern(allocAligned(size), position, BigInt(seed + 1));
          expect(await file.writeAt(data, position, { atomic: true })).to.equal(size);
          expect(await file.writeAt(data, position + max, { atomic: true, dsync: true })).to.equal(size);
          for (const at of [position, position + max]) {
            const back = allocAligned(size);
            expect(await file.readAt(back, at)).to.equal(size);
            expect(checkPattern(back, position, BigInt(seed + 1))).to.equal(-1);
          }
        }
        // One buffer through writevAt, and a length option.
        const data = fillPattern(allocAligned(32 * KiB), 0, 9n);
        expect(await file.writevAt([data.subarray(0, 16 * KiB)], 16 * KiB, { atomic: true })).to.equal(16 * KiB);
        expect(await file.writeAt(data, 0, { atomic: true, length: 8 * KiB })).to.equal(8 * KiB);
        const back = allocAligned(32 * KiB);
        expect(await file.readAt(back, 0)).to.equal(32 * KiB);
        expect(checkPattern(back.subarray(0, 8 * KiB), 0, 9n)).to.equal(-1);
        expect(checkPattern(back.subarray(16 * KiB), 0, 9n)).to.equal(-1);
      } finally {
        await file.close();
      }
    });

    it('refuses, before the kernel, a write that breaks a rule, naming it and the limit, and leaves the file alone', async () => {
      const file = await open(fileFor('rules'), 'w+', { ring: ring() });
      try {
        const { min, max } = file.atomicWrite!;
        const old = allocAligned(4 * max).fill(0x11);
        await file.writeAt(old, 0);
        const submitted = ring().stats().submitted;
        const data = allocAligned(4 * max).fill(0x22);
        const cases: [Promise<number>, RegExp][] = [
          [file.writeAt(data, 0, { atomic: true, length: 3 * min }), new RegExp(`power of two from ${min} to ${max}`)],
          [file.writeAt(data, 0, { atomic: true, length: min / 2 }), new RegExp(`power of two from ${min} to ${max}`)],
          [file.writeAt(data, 0, { atomic: true, length: 2 * max }), new RegExp(`power of two from ${min} to ${max}`)],
          [file.writeAt(data, min, { atomic: true, length: 2 * min }), /offset must be a multiple of the length/],
          [file.writeAt(data, BigInt(min), { atomic: true, length: 2 * min }), /offset must be a multiple of the length/],
          [file.writevAt([data.subarray(0, min), data.subarray(min, 2 * min)], 0, { atomic: true }),
            /2 buffers, and untorn writes take at most 1/],
        ];
        for (const [promise, message] of cases) {
          const error = await rejectionOf(promise);
          expect(error.code).to.equal('EINVAL');
          expect(error.errno).to.equal(-22);
          expect(error.syscall).to.equal('write');
          expect(error.path).to.equal(file.path);
          expect(error.message).to.match(message);
          expect(error.message).to.include('untorn write');
        }
        expect(ring().stats().submitted).to.equal(submitted);
        const back = allocAligned(4 * max);
        await file.readAt(back, 0);
        expect(back.every((byte) => byte === 0x11)).to.equal(true);
      } finally {
        await file.close();
      }
    });

    it('refuses, before the kernel, an untorn write on a file opened with O_APPEND, which writes at end of file', async () => {
      const target = fileFor('append');
      fs.writeFileSync(target, Buffer.alloc(4 * KiB, 0x11));
      const file = await open(target, 'a', { ring: ring() });
      try {
        expect(file.atomicWrite).to.not.equal(null);
        const submitted = ring().stats().submitted;
        // At offset 0 it keeps the rules, but O_APPEND would put it at 4096, where 16 KiB is not naturally aligned.
        const error = await rejectionOf(file.writeAt(allocAligned(16 * KiB).fill(0x22), 0, { atomic: true }));
        expect(error.code).to.equal('EINVAL');
        expect(error.errno).to.equal(-22);
        expect(error.syscall).to.equal('write');
        expect(error.path).to.equal(target);
        expect(error.message).to.match(/untorn writes need an explicit position, O_APPEND writes at end of file/);
        const vectored = await rejectionOf(file.writevAt([allocAligned(16 * KiB)], 16 * KiB, { atomic: true }));
        expect(vectored.code).to.equal('EINVAL');
        expect(vectored.message).to.match(/O_APPEND writes at end of file/);
        expect(ring().stats().submitted).to.equal(submitted);
        expect(fs.readFileSync(target)).to.deep.equal(Buffer.alloc(4 * KiB, 0x11));
      } finally {
        await file.close();
      }
    });

    it('hands RWF_ATOMIC to the kernel: on a descriptor it did not open, the kernel refuses a 12 KiB untorn write', async () => {
      const target = fileFor('raw');
      const fd = fs.openSync(target, O_RDWR | O_CREAT | O_DIRECT);
      try {
        const data = allocAligned(64 * KiB).fill(0x33);
        // As a plain write it would succeed; the kernel refuses it only because it is untorn.
        expect(await writeAt(fd, data, 0, { length: 12 * KiB })).to.equal(12 * KiB);
        const error = await rejectionOf(writeAt(fd, data, 0, { atomic: true, length: 12 * KiB }));
        expect(error.code).to.equal('EINVAL');
        expect(error.message).to.match(/the kernel refused an untorn write \(RWF_ATOMIC\) of 12288 bytes/);
        expect(error.message).to.match(/power of two/);
        expect(error.fd).to.equal(fd);
        // And it takes one that keeps the rules.
        expect(await writeAt(fd, data, 16 * KiB, { atomic: true, length: 16 * KiB })).to.equal(16 * KiB);
      } finally {
        fs.closeSync(fd);
      }
    });

    it('on a raw descriptor opened with O_APPEND, a kernel refusal names O_APPEND (the kernel may instead write at end of file)', async () => {
      const target = fileFor('raw-append');
      fs.writeFileSync(target, Buffer.alloc(4 * KiB, 0x11));
      const fd = fs.openSync(target, O_RDWR | O_APPEND | O_DIRECT);
      try {
        const written = await writeAt(fd, allocAligned(16 * KiB).fill(0x22), 0, { atomic: true }).catch((error) => error);
        if (typeof written === 'number') {
          // Linux AIO and pwritev2 (Linux 6.18) check the offset given and write at end of file, misaligned.
          expect(engine).to.not.equal('io_uring');
          expect(written).to.equal(16 * KiB);
          expect(fs.readFileSync(target).subarray(4 * KiB)).to.deep.equal(Buffer.alloc(16 * KiB, 0x22));
          return;
        }
        expect(written.code).to.equal('EINVAL');
        expect(written.message).to.match(/the kernel refused an untorn write \(RWF_ATOMIC\) of 16384 bytes at offset 0 on fd \d+, which keeps the limits statx reports \(4096 to \d+ bytes, 1 buffer\)/);
        expect(written.message).to.match(/without O_APPEND \(which writes at end of file/);
      } finally {
        fs.closeSync(fd);
      }
    });

    it('an untorn write from a registered BufferPool goes through (not as WRITE_FIXED, which the kernel refuses)', async () => {
      const file = await open(fileFor('pool'), 'w+', { ring: ring() });
      const pool = new BufferPool({ size: 16 * KiB, count: 2, ring: ring() });
      try {
        if (engine === 'io_uring') expect(pool.registrationError).to.equal(null);
        const buffer = pool.acquire()!;
        fillPattern(buffer, 16 * KiB, 5n);
        const fixedOps = ring().stats().fixedOps;
        expect(await file.writeAt(buffer, 16 * KiB, { atomic: true })).to.equal(16 * KiB);
        expect(ring().stats().fixedOps).to.equal(fixedOps);
        const back = allocAligned(16 * KiB);
        expect(await file.readAt(back, 16 * KiB)).to.equal(16 * KiB);
        expect(checkPattern(back, 16 * KiB, 5n)).to.equal(-1);
        pool.release(buffer);
      } finally {
        pool.close();
        await file.close();
      }
    });

    it('has none on an uncached or buffered file, and refuses with EOPNOTSUPP saying direct I/O is needed', async () => {
      for (const direct of ['uncached', false] as const) {
        const file = await open(fileFor(`mode-${String(direct)}`), 'w+', { ring: ring(), direct });
        try {
          expect(file.atomicWrite).to.equal(null);
          await file.writeAt(Buffer.alloc(4096, 0x44), 0);
          const submitted = ring().stats().submitted;
          const error = await rejectionOf(file.writeAt(Buffer.alloc(4096, 0x55), 0, { atomic: true }));
          expect(error.code).to.equal('ENOTSUP');
          expect(error.errno).to.equal(-95);
          expect(error.message).to.match(/untorn writes need direct I\/O \(O_DIRECT\)/);
          expect(error.message).to.include(file.mode);
          expect(ring().stats().submitted).to.equal(submitted);
          expect((await file.read(0, 4096)).every((byte) => byte === 0x44)).to.equal(true);
        } finally {
          await file.close();
        }
      }
    });
  });
});

forEachEngine('untorn writes on ext4 (none offered)', ({ ring }) => {
  after(() => cleanup());

  it('file.atomicWrite is null, and an untorn write is refused before the kernel, naming the filesystem', async () => {
    const file = await open(tempPath(DISK_DIR, 'ext4-atomic'), 'w+', { ring: ring() });
    try {
      expect(file.atomicWrite).to.equal(null);
      expect(atomicWriteOf(file.fd)).to.equal(null);
      const submitted = ring().stats().submitted;
      const error = await rejectionOf(file.writeAt(allocAligned(4096), 0, { atomic: true }));
      expect(error.code).to.equal('ENOTSUP');
      expect(error.errno).to.equal(-95);
      expect(error.syscall).to.equal('write');
      expect(error.path).to.equal(file.path);
      expect(error.message).to.match(/refused before the kernel \(EOPNOTSUPP\): ext4 reports no atomic write unit/);
      expect(error.message).to.match(/Linux 6\.11\+/);
      expect(ring().stats().submitted).to.equal(submitted);
      expect((await rejectionOf(file.writevAt([allocAligned(4096)], 0, { atomic: true }))).code).to.equal('ENOTSUP');
      expect(fs.statSync(file.path).size).to.equal(0);
    } finally {
      await file.close();
    }
  });

  it('hands RWF_ATOMIC to the kernel: on a descriptor it did not open, the kernel refuses with EOPNOTSUPP', async () => {
    const target = tempPath(DISK_DIR, 'ext4-atomic-raw');
    const fd = fs.openSync(target, O_RDWR | O_CREAT | O_DIRECT);
    try {
      const data = allocAligned(4096).fill(0x66);
      const error = await rejectionOf(writeAt(fd, data, 0, { atomic: true }));
      expect(error.code).to.equal('ENOTSUP');
      expect(error.message).to.match(/the kernel refused an untorn write \(RWF_ATOMIC\) of 4096 bytes at offset 0 on fd/);
      expect(error.message).to.match(/ext4 reports no atomic write unit/);
      expect(fs.statSync(target).size).to.equal(0);
      // The same write, plain, goes through: the flag made the difference.
      expect(await writeAt(fd, data, 0)).to.equal(4096);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('checks the option before anything else: a boolean, and for writes only', async () => {
    const file = await open(tempPath(DISK_DIR, 'ext4-atomic-args'), 'w+', { ring: ring() });
    try {
      const buffer = allocAligned(4096);
      for (const atomic of ['yes', 1, null, {}]) {
        expect((await rejectionOf(file.writeAt(buffer, 0, { atomic } as never))).code).to.equal('ERR_INVALID_ARG_VALUE');
        expect((await rejectionOf(file.writevAt([buffer], 0, { atomic } as never))).code).to.equal('ERR_INVALID_ARG_VALUE');
        expect((await rejectionOf(writeAt(file.fd, buffer, 0, { atomic } as never))).code).to.equal('ERR_INVALID_ARG_VALUE');
      }
      expect((await rejectionOf(file.readAt(buffer, 0, { atomic: true } as never))).code).to.equal('ERR_INVALID_ARG_VALUE');
      expect((await rejectionOf(file.readvAt([buffer], 0, { atomic: true } as never))).code).to.equal('ERR_INVALID_ARG_VALUE');
      // atomic: false is a plain write.
      expect(await file.writeAt(buffer, 0, { atomic: false })).to.equal(4096);
      expect(() => atomicWriteOf(-1)).to.throw(RangeError);
      expect(() => atomicWriteOf('3' as never)).to.throw(TypeError);
    } finally {
      await file.close();
    }
  });
});
