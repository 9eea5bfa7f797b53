import { expect } from 'chai';
import fs = require('fs');
import { pathToFileURL } from 'url';
import { open, allocAligned, DirectFile, Ring } from 'odirect';
import { DISK_DIR, SHM_DIR, tempPath, cleanup, fillPattern, checkPattern, rejectionOf, forEachDefaultRingEngine } from './helpers';

const { O_DIRECT, O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_EXCL } = fs.constants;
const O_ACCMODE = 3;
const EXT4_SUPER_MAGIC = 0xef53;
const TMPFS_MAGIC = 0x01021994;

/** The flags the kernel holds for `fd` (octal in /proc/self/fdinfo): an independent view of O_DIRECT. */
function kernelFlags(fd: number): number {
  const match = /^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (match === null) throw new Error(`no flags line in /proc/self/fdinfo/${fd}`);
  return parseInt(match[1], 8);
}

/** A file of `size` bytes holding the pattern, written by Node's buffered fs. */
function patternFile(dir: string, label: string, size: number): string {
  const file = tempPath(dir, label);
  fs.writeFileSync(file, fillPattern(Buffer.alloc(size), 0));
  return file;
}

// open() puts files on the default ring; each suite makes it run on one engine
// (ODIRECT_ENGINE is read when the default ring is made).
forEachDefaultRingEngine('open', () => {
  const opened: DirectFile[] = [];
  /** open(), remembering the file so that the after hook closes it. */
  async function track(file: Promise<DirectFile>): Promise<DirectFile> {
    opened.push(await file);
    return opened[opened.length - 1];
  }
  after(async () => {
    await Promise.all(opened.map((file) => file.close()));
    cleanup();
  });

  describe('flags', () => {
    it("'r' opens an existing file read-only, with O_DIRECT", async () => {
      const path = patternFile(DISK_DIR, 'r', 8192);
      const file = await track(open(path, 'r'));
      expect(file.path).to.equal(path);
      expect(file.flags & O_ACCMODE).to.equal(O_RDONLY);
      expect(kernelFlags(file.fd) & O_ACCMODE).to.equal(O_RDONLY);
      const buffer = allocAligned(8192);
      expect(await file.readAt(buffer, 0)).to.equal(8192);
      expect(checkPattern(buffer, 0)).to.equal(-1);
      // The kernel refuses a write on a read-only descriptor.
      const error = await rejectionOf(file.writeAt(buffer, 0));
      expect(error).to.include({ code: 'EBADF', errno: -9, syscall: 'write', path });
    });

    it("'r' is the default", async () => {
      const path = patternFile(DISK_DIR, 'r-default', 4096);
      const file = await track(open(path));
      expect(file.flags & O_ACCMODE).to.equal(O_RDONLY);
      expect(file.flags & (O_CREAT | O_TRUNC)).to.equal(0);
    });

    it("'r+' reads and writes without truncating", async () => {
      const path = patternFile(DISK_DIR, 'r+', 8192);
      const file = await track(open(path, 'r+'));
      expect(file.flags & O_ACCMODE).to.equal(O_RDWR);
      expect(fs.statSync(path).size).to.equal(8192);
      const block = fillPattern(allocAligned(4096), 0, 1000n);
      expect(await file.writeAt(block, 4096)).to.equal(4096);
      const buffer = allocAligned(8192);
      expect(await file.readAt(buffer, 0)).to.equal(8192);
      expect(checkPattern(buffer.subarray(0, 4096), 0)).to.equal(-1);
      expect(checkPattern(buffer.subarray(4096), 0, 1000n)).to.equal(-1);
    });

    it("'w' creates or truncates, write-only", async () => {
      const existing = patternFile(DISK_DIR, 'w-existing', 8192);
      const file = await track(open(existing, 'w'));
      expect(file.flags & O_ACCMODE).to.equal(O_WRONLY);
      expect(fs.statSync(existing).size).to.equal(0);

      const created = tempPath(DISK_DIR, 'w-new');
      const fresh = await track(open(created, 'w'));
      expect(fs.statSync(created).size).to.equal(0);
      expect(await fresh.writeAt(fillPattern(allocAligned(4096), 0), 0)).to.equal(4096);
      expect(checkPattern(fs.readFileSync(created), 0)).to.equal(-1);
    });

    it("'w+' creates or truncates, read-write", async () => {
      const existing = patternFile(DISK_DIR, 'w+', 8192);
      const file = await track(open(existing, 'w+'));
      expect(file.flags & O_ACCMODE).to.equal(O_RDWR);
      expect(fs.statSync(existing).size).to.equal(0);
      const buffer = allocAligned(4096);
      expect(await file.readAt(buffer, 0)).to.equal(0);
      expect(await file.writeAt(fillPattern(buffer, 0), 0)).to.equal(4096);
      const back = allocAligned(4096);
      expect(await file.readAt(back, 0)).to.equal(4096);
      expect(checkPattern(back, 0)).to.equal(-1);
    });

    it("'wx' refuses an existing file with EEXIST, and creates a new one", async () => {
      const existing = patternFile(DISK_DIR, 'wx-existing', 4096);
      const error = await rejectionOf(open(existing, 'wx'));
      expect(error).to.include({ code: 'EEXIST', errno: -17, syscall: 'open', path: existing });
      expect(error.message).to.include(existing);
      // Nothing was truncated.
      expect(checkPattern(fs.readFileSync(existing), 0)).to.equal(-1);

      const created = tempPath(DISK_DIR, 'wx-new');
      const file = await track(open(created, 'wx'));
      expect(file.flags & O_EXCL).to.equal(O_EXCL);
      expect(fs.existsSync(created)).to.equal(true);
    });

    it("'a' appends: the kernel ignores the position of a write (as for Node's fs on Linux)", async () => {
      const path = patternFile(DISK_DIR, 'a', 4096);
      const file = await track(open(path, 'a'));
      expect(file.flags & O_APPEND).to.equal(O_APPEND);
      expect(kernelFlags(file.fd) & O_APPEND).to.equal(O_APPEND);
      expect(await file.writeAt(fillPattern(allocAligned(4096), 4096), 0)).to.equal(4096);
      const contents = fs.readFileSync(path);
      expect(contents.length).to.equal(8192);
      expect(checkPattern(contents, 0)).to.equal(-1);
    });

    it('takes numeric flags from fs.constants', async () => {
      const path = tempPath(DISK_DIR, 'numeric');
      const file = await track(open(path, O_RDWR | O_CREAT));
      expect(fs.existsSync(path)).to.equal(true);
      expect(file.flags & O_ACCMODE).to.equal(O_RDWR);
      expect(file.flags & O_CREAT).to.equal(O_CREAT);
      expect(file.flags & O_DIRECT).to.equal(O_DIRECT);
      expect(kernelFlags(file.fd) & O_DIRECT).to.equal(O_DIRECT);
      expect(await file.writeAt(fillPattern(allocAligned(4096), 0), 0)).to.equal(4096);
      expect(checkPattern(fs.readFileSync(path), 0)).to.equal(-1);
    });
  });

  describe('options.mode', () => {
    it('sets the permission bits of a created file (less the umask)', async () => {
      const umask = process.umask();
      for (const mode of [0o600, 0o640, 0o604]) {
        const path = tempPath(DISK_DIR, `mode-${mode.toString(8)}`);
        await track(open(path, 'w', { mode }));
        expect(fs.statSync(path).mode & 0o7777).to.equal(mode & ~umask);
      }
    });

    it('defaults to 0o666 (less the umask)', async () => {
      const path = tempPath(DISK_DIR, 'mode-default');
      await track(open(path, 'w'));
      expect(fs.statSync(path).mode & 0o7777).to.equal(0o666 & ~process.umask());
    });
  });

  describe('direct I/O and alignment', () => {
    it('opens with O_DIRECT by default', async () => {
      const path = tempPath(DISK_DIR, 'direct');
      const file = await track(open(path, 'w+'));
      expect(file.direct).to.equal(true);
      expect(file.flags & O_DIRECT).to.equal(O_DIRECT);
      expect(kernelFlags(file.fd) & O_DIRECT).to.equal(O_DIRECT);
    });

    it('reports the alignment that statx gives on ext4 (the block device limits)', async function () {
      if (fs.statfsSync(DISK_DIR).type !== EXT4_SUPER_MAGIC) this.skip(); // the expected values are ext4's
      const path = tempPath(DISK_DIR, 'align-ext4');
      const file = await track(open(path, 'w+'));
      expect(file.alignmentSource).to.equal('statx');
      // ext4 reports the device's DMA alignment and logical block size; read them from sysfs.
      const { dev } = fs.statSync(path);
      const major = (dev >>> 8) & 0xfff; // Linux's dev_t encoding, for numbers below 2^32
      const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
      const queue = `/sys/dev/block/${major}:${minor}/queue`;
      const expected = fs.existsSync(queue)
        ? {
          memory: Number(fs.readFileSync(`${queue}/dma_alignment`, 'utf8')) + 1,
          offset: Number(fs.readFileSync(`${queue}/logical_block_size`, 'utf8')),
        }
        : { memory: 512, offset: 512 }; // the virtio disk of DESIGN.md
      expect(file.alignment).to.deep.equal(expected);
    });

    it('falls back to 512 for memory and st_blksize for offsets on tmpfs, which reports no alignment', async function () {
      if (!fs.existsSync(SHM_DIR) || fs.statfsSync(SHM_DIR).type !== TMPFS_MAGIC) this.skip(); // no tmpfs at /dev/shm
      const path = tempPath(SHM_DIR, 'align-tmpfs');
      const file = await track(open(path, 'w+'));
      expect(file.direct).to.equal(true);
      expect(kernelFlags(file.fd) & O_DIRECT).to.equal(O_DIRECT);
      expect(file.alignmentSource).to.equal('default');
      expect(file.alignment).to.deep.equal({ memory: 512, offset: fs.statSync(path).blksize });
    });

    it('direct: false uses the page cache, with no alignment to keep', async () => {
      const path = tempPath(DISK_DIR, 'buffered');
      const file = await track(open(path, 'w+', { direct: false }));
      expect(file.direct).to.equal(false);
      expect(file.flags & O_DIRECT).to.equal(0);
      expect(kernelFlags(file.fd) & O_DIRECT).to.equal(0);
      expect(file.alignment).to.deep.equal({ memory: 1, offset: 1 });
      expect(file.alignmentSource).to.equal('buffered');
      // Unaligned memory, offset and length all work.
      expect(await file.writeAt(Buffer.from('xhello').subarray(1), 3)).to.equal(5);
      const back = Buffer.alloc(9, 0xff);
      expect(await file.readAt(back.subarray(1), 0, 8)).to.equal(8);
      expect(back).to.deep.equal(Buffer.from([0xff, 0, 0, 0, ...Buffer.from('hello')]));
    });

    it("direct: 'auto' uses O_DIRECT where the filesystem takes it", async () => {
      const path = tempPath(DISK_DIR, 'auto');
      const file = await track(open(path, 'w+', { direct: 'auto' }));
      expect(file.direct).to.equal(true);
      expect(kernelFlags(file.fd) & O_DIRECT).to.equal(O_DIRECT);
      expect(file.alignment.offset).to.be.at.least(512);
    });

    it('rejects an unknown options.direct', async () => {
      const error = await rejectionOf(open(tempPath(DISK_DIR, 'bad-direct'), 'w', { direct: 'yes' as unknown as boolean }));
      expect(error).to.be.instanceOf(TypeError);
      expect(error.code).to.equal('ERR_INVALID_ARG_VALUE');
    });

    it('says plainly when a filesystem refuses O_DIRECT (/proc)', async () => {
      const path = '/proc/self/status';
      const error = await rejectionOf(open(path));
      expect(error).to.include({ code: 'EINVAL', errno: -22, syscall: 'open', path });
      expect(error.message).to.include(path);
      expect(error.message).to.match(/does not support direct I\/O/);
      expect(error.message).to.match(/direct: false/);
    });

    it("direct: 'auto' opens such a file through the page cache", async () => {
      const file = await track(open('/proc/self/status', 'r', { direct: 'auto' }));
      expect(file.direct).to.equal(false);
      expect(file.alignmentSource).to.equal('buffered');
      expect(file.alignment).to.deep.equal({ memory: 1, offset: 1 });
      expect(kernelFlags(file.fd) & O_DIRECT).to.equal(0);
      const buffer = Buffer.alloc(4096);
      const bytes = await file.readAt(buffer, 0);
      expect(bytes).to.be.above(0);
      expect(buffer.toString('latin1', 0, bytes)).to.match(/^Name:\t/);
    });
  });

  describe('errors', () => {
    it('ENOENT carries code, errno, syscall and path, and creates nothing', async () => {
      const path = tempPath(DISK_DIR, 'missing');
      for (const flags of ['r', 'r+']) {
        const error = await rejectionOf(open(path, flags));
        expect(error).to.be.instanceOf(Error);
        expect(error).to.include({ code: 'ENOENT', errno: -2, syscall: 'open', path });
        expect(error.message).to.include(path);
      }
      expect(fs.existsSync(path)).to.equal(false);
    });

    it('rejects a bad path with TypeError', async () => {
      for (const path of [42, null, undefined, {}, ['/tmp/x']]) {
        const error = await rejectionOf(open(path as unknown as string));
        expect(error, String(path)).to.be.instanceOf(TypeError);
        expect(error.code).to.equal('ERR_INVALID_ARG_TYPE');
      }
    });

    it('rejects a path with a NUL byte, as a string or a Buffer, and creates nothing', async () => {
      const path = tempPath(DISK_DIR, 'nul');
      for (const bad of [`${path}\0x`, Buffer.from(`${path}\0x`)]) {
        const error = await rejectionOf(open(bad, 'w'));
        expect(error).to.be.instanceOf(TypeError);
        expect(error.code).to.equal('ERR_INVALID_ARG_VALUE');
      }
      expect(fs.existsSync(path)).to.equal(false);
    });

    it('rejects bad flags', async () => {
      const path = patternFile(DISK_DIR, 'bad-flags', 4096);
      for (const flags of ['rw', 'R', '', 'w++', -1, 1.5, NaN, 2 ** 32, {}, null]) {
        const error = await rejectionOf(open(path, flags as unknown as string));
        expect(error, String(flags)).to.be.instanceOf(TypeError);
        expect(error.code).to.equal('ERR_INVALID_ARG_VALUE');
      }
      // Nothing was opened with a truncating guess.
      expect(fs.statSync(path).size).to.equal(4096);
    });

    it('rejects a bad mode, and creates nothing', async () => {
      const path = tempPath(DISK_DIR, 'bad-mode');
      for (const [mode, type, code] of [
        [-1, RangeError, 'ERR_OUT_OF_RANGE'],
        [0o10000, RangeError, 'ERR_OUT_OF_RANGE'],
        [0.5, RangeError, 'ERR_OUT_OF_RANGE'],
        [NaN, RangeError, 'ERR_OUT_OF_RANGE'],
        ['0644', TypeError, 'ERR_INVALID_ARG_TYPE'],
        [420n, TypeError, 'ERR_INVALID_ARG_TYPE'],
      ] as const) {
        const error = await rejectionOf(open(path, 'w', { mode: mode as number }));
        expect(error, String(mode)).to.be.instanceOf(type);
        expect(error.code).to.equal(code);
      }
      expect(fs.existsSync(path)).to.equal(false);
    });

    it('rejects options that are not an object, and an options.ring that is not a Ring', async () => {
      const path = tempPath(DISK_DIR, 'bad-options');
      for (const options of [null, 'r', 5]) {
        const error = await rejectionOf(open(path, 'w', options as unknown as object));
        expect(error, String(options)).to.be.instanceOf(TypeError);
        expect(error.code).to.equal('ERR_INVALID_ARG_TYPE');
      }
      for (const ring of [{}, 'io_uring', 1, { submit() {} }]) {
        const error = await rejectionOf(open(path, 'w', { ring: ring as unknown as Ring }));
        expect(error).to.be.instanceOf(TypeError);
        expect(error.code).to.equal('ERR_INVALID_ARG_TYPE');
        expect(error.message).to.include('options.ring');
      }
      expect(fs.existsSync(path)).to.equal(false);
    });

    it('rejects a closed ring with EBADF', async () => {
      const ring = new Ring({ entries: 4 });
      await ring.close();
      const path = tempPath(DISK_DIR, 'closed-ring');
      const error = await rejectionOf(open(path, 'w', { ring }));
      expect(error).to.include({ code: 'EBADF', syscall: 'open', path });
      expect(fs.existsSync(path)).to.equal(false);
    });
  });

  describe('paths', () => {
    it('takes a file: URL', async () => {
      const path = patternFile(DISK_DIR, 'url', 4096);
      const file = await track(open(pathToFileURL(path), 'r'));
      expect(file.path).to.equal(path);
      const buffer = allocAligned(4096);
      expect(await file.readAt(buffer, 0)).to.equal(4096);
      expect(checkPattern(buffer, 0)).to.equal(-1);
    });

    it('takes a Buffer', async () => {
      const path = patternFile(DISK_DIR, 'buffer', 4096);
      const file = await track(open(Buffer.from(path), 'r'));
      expect(file.path).to.equal(path);
      const buffer = allocAligned(4096);
      expect(await file.readAt(buffer, 0)).to.equal(4096);
      expect(checkPattern(buffer, 0)).to.equal(-1);
    });
  });

  describe('stat, close and disposal', () => {
    it('stat() is the fstat of the file', async () => {
      const path = tempPath(DISK_DIR, 'stat');
      fs.writeFileSync(path, Buffer.alloc(12345, 7));
      const file = await track(open(path, 'r'));
      const stats = await file.stat();
      expect(stats.size).to.equal(12345);
      expect(stats.ino).to.equal(fs.statSync(path).ino);
      expect(stats.isFile()).to.equal(true);
      const big = await file.stat({ bigint: true });
      expect(big.size).to.equal(12345n);
      // The size follows writes through the file.
      const rw = await track(open(path, 'r+'));
      await rw.writeAt(allocAligned(16384), 0);
      expect((await file.stat()).size).to.equal(16384);
    });

    it('close() releases the descriptor and returns the same Promise when called again', async () => {
      const path = tempPath(DISK_DIR, 'close');
      const file = await open(path, 'w+');
      const fd = file.fd;
      expect(fd).to.be.at.least(0);
      expect(file.closed).to.equal(false);
      const first = file.close();
      const second = file.close();
      expect(second).to.equal(first);
      expect(file.closed).to.equal(true);
      await first;
      expect(file.fd).to.equal(-1);
      expect(file.close()).to.equal(first);
      expect(() => fs.fstatSync(fd)).to.throw().with.property('code', 'EBADF');
    });

    it('close() waits for in-flight ops, which complete with their data', async () => {
      const path = patternFile(DISK_DIR, 'close-in-flight', 64 * 4096);
      const file = await open(path, 'r');
      const buffers = Array.from({ length: 64 }, () => allocAligned(4096));
      const reads = buffers.map((buffer, i) => file.readAt(buffer, i * 4096));
      await file.close();
      expect(await Promise.all(reads)).to.deep.equal(buffers.map(() => 4096));
      buffers.forEach((buffer, i) => expect(checkPattern(buffer, i * 4096), `block ${i}`).to.equal(-1));
    });

    it('every op after close() rejects with EBADF', async () => {
      const path = tempPath(DISK_DIR, 'after-close');
      const file = await open(path, 'w+');
      const closing = file.close();
      const buffer = allocAligned(4096);
      // Closing counts: ops after close() reject even before the descriptor is released.
      const early = await rejectionOf(file.readAt(buffer, 0));
      expect(early).to.include({ code: 'EBADF', errno: -9, syscall: 'read', path });
      await closing;
      for (const [op, syscall] of [
        [() => file.readAt(buffer, 0), 'read'],
        [() => file.writeAt(buffer, 0), 'write'],
        [() => file.datasync(), 'fdatasync'],
        [() => file.sync(), 'fsync'],
        [() => file.stat(), 'fstat'],
      ] as const) {
        const error = await rejectionOf(op());
        expect(error).to.include({ code: 'EBADF', errno: -9, syscall, path });
        expect(error.message).to.include(path);
      }
      expect(fs.statSync(path).size).to.equal(0);
    });

    it('Symbol.asyncDispose closes the file', async () => {
      const file = await open(tempPath(DISK_DIR, 'dispose'), 'w+');
      const fd = file.fd;
      expect(file[Symbol.asyncDispose]).to.be.a('function');
      await file[Symbol.asyncDispose]();
      expect(file.closed).to.equal(true);
      expect(file.fd).to.equal(-1);
      expect(() => fs.fstatSync(fd)).to.throw().with.property('code', 'EBADF');
    });

    it('`await using` closes the file at the end of the block', async () => {
      const path = patternFile(DISK_DIR, 'await-using', 4096);
      let seen: DirectFile | undefined;
      {
        await using file = await open(path, 'r');
        seen = file;
        const buffer = allocAligned(4096);
        expect(await file.readAt(buffer, 0)).to.equal(4096);
        expect(checkPattern(buffer, 0)).to.equal(-1);
        expect(file.closed).to.equal(false);
      }
      expect(seen.closed).to.equal(true);
      expect(seen.fd).to.equal(-1);
    });
  });
});

describe('file.stat() racing close()', () => {
  after(cleanup);
  it('always describes the file: close() waits for it', async () => {
    const path = tempPath(DISK_DIR, 'stat-race');
    fs.writeFileSync(path, Buffer.alloc(12345));
    for (let i = 0; i < 1000; i++) {
      const file = await open(path, 'r', { direct: false });
      const stats = file.stat();
      const closed = file.close();
      expect((await stats).size).to.equal(12345);
      await closed;
    }
  });
});

describe('new DirectFile()', () => {
  it('is refused: a DirectFile comes from open()', () => {
    const Constructor = DirectFile as unknown as new (...args: unknown[]) => unknown;
    for (const args of [[], [3, '/tmp/x', 0, true, { memory: 512, offset: 512 }, 'statx', undefined], ['x']]) {
      expect(() => new Constructor(...args)).to.throw(TypeError).with.property('code', 'ERR_ILLEGAL_CONSTRUCTOR');
    }
  });
});
