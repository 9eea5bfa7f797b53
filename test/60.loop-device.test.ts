// Direct I/O where the offset alignment is 4096, not 512: ext4 on a loop
// device with 4096-byte logical sectors. Needs root and losetup, mkfs.ext4 and
// mount (Debian: the `mount` and `e2fsprogs` packages); skips, saying why,
// where any of that is missing.
import { expect } from 'chai';
import fs = require('fs');
import os = require('os');
import path = require('path');
import { spawnSync } from 'child_process';
import { allocAligned, open, readAt } from 'odirect';
import { checkPattern, fillPattern, forEachEngine, isRoot, rejectionOf } from './helpers';

const SECTOR = 4096;
const IMAGE_BYTES = 64 * 1024 * 1024;

// losetup, mkfs.ext4 and mount live in /sbin and /usr/sbin, which a non-login PATH may lack.
const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin` };

/** Runs a command to completion; the timeout is a hang guard only. */
function run(command: string, args: string[]): { ok: boolean; stdout: string; why: string } {
  const result = spawnSync(command, args, { env, encoding: 'utf8', timeout: 60_000 });
  const ok = result.error === undefined && result.status === 0;
  const why = result.error !== undefined
    ? `${command}: ${result.error.message}`
    : `${command} ${args.join(' ')} exited with ${result.status ?? result.signal}: ${(result.stderr ?? '').trim()}`;
  return { ok, stdout: (result.stdout ?? '').trim(), why };
}

describe('direct I/O on ext4 over a loop device with 4096-byte sectors', function () {
  this.timeout(120_000);

  let image: string | undefined;
  let device: string | undefined;
  let mountPoint: string | undefined;
  let mounted = false;

  before(function () {
    const skip = (reason: string): void => {
      // Mocha has no skip message; say why on the console, then skip every test below.
      console.log(`      (skipped: ${reason})`);
      this.skip();
    };
    // Attaching a loop device and mounting need root.
    if (!isRoot) return skip('needs root for losetup and mount');
    for (const tool of ['losetup', 'mkfs.ext4', 'mount', 'umount']) {
      if (!run('sh', ['-c', `command -v ${tool}`]).ok) return skip(`${tool} is not installed (Debian: mount, e2fsprogs)`);
    }
    image = path.join(os.tmpdir(), `odirect-test-${process.pid}-loop.img`);
    const fd = fs.openSync(image, 'w');
    fs.ftruncateSync(fd, IMAGE_BYTES);
    fs.closeSync(fd);
    // The kernel or the container may lack loop devices: skip rather than fail.
    const attached = run('losetup', ['--find', '--show', '--sector-size', String(SECTOR), image]);
    if (!attached.ok || !attached.stdout.startsWith('/dev/')) return skip(`no loop device: ${attached.why}`);
    device = attached.stdout;
    const made = run('mkfs.ext4', ['-q', '-F', device]);
    if (!made.ok) return skip(`mkfs.ext4 failed: ${made.why}`);
    mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), `odirect-test-${process.pid}-mnt-`));
    const mount = run('mount', [device, mountPoint]);
    if (!mount.ok) return skip(`mount failed: ${mount.why}`);
    mounted = true;
  });

  after(() => {
    // Runs after a skip or a failure too: undo whatever before() got to.
    if (mounted && mountPoint !== undefined) {
      if (!run('umount', [mountPoint]).ok) run('umount', ['-l', mountPoint]);
      mounted = false;
    }
    if (device !== undefined) run('losetup', ['-d', device]);
    if (mountPoint !== undefined) fs.rmSync(mountPoint, { recursive: true, force: true });
    if (image !== undefined) fs.rmSync(image, { force: true });
  });

  forEachEngine('4096-byte alignment', ({ ring, engine }) => {
    const fileFor = (label: string): string => path.join(mountPoint!, `${engine}-${label}`);

    it('reports an offset alignment of 4096 and a power-of-two memory alignment of at most 4096', async () => {
      const file = await open(fileFor('alignment'), 'w+', { ring: ring() });
      try {
        expect(file.alignment.offset).to.equal(SECTOR);
        const { memory } = file.alignment;
        expect(memory).to.be.within(1, SECTOR);
        expect(memory & (memory - 1), `memory alignment ${memory} is a power of two`).to.equal(0);
      } finally {
        await file.close();
      }
    });

    it('rejects an offset or a length that is not a multiple of 4096 with EINVAL naming 4096', async () => {
      const filePath = fileFor('einval');
      const file = await open(filePath, 'w+', { ring: ring() });
      try {
        const pattern = fillPattern(allocAligned(2 * SECTOR), 0);
        expect(await file.writeAt(pattern, 0)).to.equal(2 * SECTOR);
        const buffer = allocAligned(SECTOR).fill(0xaa);
        const cases: [string, Promise<number>, string][] = [
          ['read at offset 512', file.readAt(buffer, 512), 'read'],
          ['read of 512 bytes', file.readAt(buffer, 0, 512), 'read'],
          ['read at offset 2048', file.readAt(buffer, 2048), 'read'],
          ['write at offset 512', file.writeAt(buffer, 512), 'write'],
          ['write of 1024 bytes', file.writeAt(buffer, 0, { length: 1024 }), 'write'],
        ];
        for (const [what, promise, syscall] of cases) {
          const error = await rejectionOf(promise);
          expect(error.code, what).to.equal('EINVAL');
          expect(error.errno, what).to.equal(-22);
          expect(error.syscall, what).to.equal(syscall);
          expect(error.path, what).to.equal(filePath);
          expect(error.message, what).to.include('4096');
        }
        // Nothing reached the file or the buffer.
        expect(buffer.every((byte) => byte === 0xaa)).to.equal(true);
        expect(checkPattern(fs.readFileSync(filePath), 0)).to.equal(-1);
        // The kernel itself says EINVAL to a 512-byte offset here (raw descriptors skip the JS check).
        const kernel = await rejectionOf(readAt(file.fd, buffer, 512));
        expect(kernel.code).to.equal('EINVAL');
        expect(buffer.every((byte) => byte === 0xaa)).to.equal(true);
      } finally {
        await file.close();
      }
    });

    it('round-trips 4096-aligned pattern I/O, and Node\'s buffered read agrees', async () => {
      const filePath = fileFor('roundtrip');
      const file = await open(filePath, 'w+', { ring: ring() });
      const blocks = 64;
      const seed = 0x4096n << 40n;
      try {
        const out = fillPattern(allocAligned(blocks * SECTOR), 0, seed);
        const writes: Promise<number>[] = [];
        for (let i = 0; i < blocks; i++) writes.push(file.writeAt(out.subarray(i * SECTOR, (i + 1) * SECTOR), i * SECTOR));
        expect((await Promise.all(writes)).every((n) => n === SECTOR)).to.equal(true);
        await file.datasync();

        const back = allocAligned(blocks * SECTOR).fill(0xaa);
        const reads: Promise<number>[] = [];
        for (let i = 0; i < blocks; i++) reads.push(file.readAt(back.subarray(i * SECTOR, (i + 1) * SECTOR), i * SECTOR));
        expect((await Promise.all(reads)).every((n) => n === SECTOR)).to.equal(true);
        expect(checkPattern(back, 0, seed)).to.equal(-1);

        // A buffer at the reported memory alignment (not 4096) is accepted by the kernel too.
        const { memory } = file.alignment;
        const offsetBuffer = allocAligned(2 * SECTOR).subarray(memory, memory + SECTOR).fill(0xaa);
        expect(await file.readAt(offsetBuffer, 5 * SECTOR)).to.equal(SECTOR);
        expect(checkPattern(offsetBuffer, 5 * SECTOR, seed)).to.equal(-1);

        // A read across the end of the file is short; past it, 0.
        const tail = allocAligned(2 * SECTOR);
        expect(await file.readAt(tail, (blocks - 1) * SECTOR)).to.equal(SECTOR);
        expect(checkPattern(tail, (blocks - 1) * SECTOR, seed, SECTOR)).to.equal(-1);
        expect(await file.readAt(tail, blocks * SECTOR)).to.equal(0);
      } finally {
        await file.close();
      }
      const onDisk = fs.readFileSync(filePath);
      expect(onDisk.length).to.equal(blocks * SECTOR);
      expect(checkPattern(onDisk, 0, seed)).to.equal(-1);
    });
  });
});
