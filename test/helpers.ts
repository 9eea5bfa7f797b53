// Shared test helpers. Tests load the package entry ('odirect'), never lib/.
import fs = require('fs');
import os = require('os');
import path = require('path');
import childProcess = require('child_process');
import { Ring, ENGINES, EngineName, ErrnoError, defaultRing, DirectFile, open, probe } from 'odirect';

/** The engines that start on this machine, probed once. */
export const availableEngines: EngineName[] = ENGINES.filter((engine) => {
  try {
    const ring = new Ring({ engine, entries: 4 });
    void ring.close();
    return true;
  } catch {
    return false;
  }
});

/** Why the io_uring engine cannot start in this process ('ENOSYS: ...'), or null where it starts. */
export const ioUringRefusal: { code: string; message: string } | null = (() => {
  try {
    void new Ring({ engine: 'io_uring', entries: 4 }).close();
    return null;
  } catch (error) {
    const { code, message } = error as ErrnoError;
    return { code, message };
  }
})();

/**
 * Whether the addon in use was built without liburing: its io_uring engine
 * then fails with ENOSYS before any system call, whatever the kernel or a
 * seccomp filter would say.
 */
export const addonWithoutLiburing = ioUringRefusal?.message.includes('built without liburing') ?? false;

/**
 * The errno code with which io_uring refuses to start where the kernel (or a
 * seccomp filter) answers io_uring_setup with `kernelCode`: that code, or
 * ENOSYS in an addon built without liburing.
 */
export function ioUringCodeFor(kernelCode: string): string {
  return addonWithoutLiburing ? 'ENOSYS' : kernelCode;
}

/** Why `engine` is not tested here: it cannot start, and the reason it gives. */
function engineMissingReason(engine: EngineName): string {
  try {
    void new Ring({ engine, entries: 4 }).close();
    return `the ${engine} engine cannot start on this machine`;
  } catch (error) {
    return `the ${engine} engine cannot start on this machine: ${(error as Error).message}`;
  }
}

/** Skips the running test, printing why under its title (mocha's skip takes no reason). */
export function skipBecause(context: Mocha.Context, reason: string): never {
  console.log(`      (skipped: ${reason})`);
  context.skip();
}

/** Why a test that needs the io_uring engine is skipped here. */
export function noIoUringReason(): string {
  return `needs the io_uring engine, which cannot start here: ${ioUringRefusal?.message ?? 'excluded'}`;
}

/**
 * Runs `suite` once per engine this machine supports, each with its own ring
 * (closed after the suite). ODIRECT_TEST_ENGINES=aio,threadpool narrows the list.
 */
export function forEachEngine(title: string, suite: (context: { ring: () => Ring; engine: EngineName }) => void): void {
  const only = process.env.ODIRECT_TEST_ENGINES?.split(',').filter(Boolean);
  for (const engine of ENGINES) {
    describe(`${title} [${engine}]`, function () {
      if (!availableEngines.includes(engine) || (only !== undefined && !only.includes(engine))) {
        // A pending test whose title is the reason.
        it(`skipped: ${!availableEngines.includes(engine) ? engineMissingReason(engine) : 'excluded by ODIRECT_TEST_ENGINES'}`);
        return;
      }
      let ring: Ring | undefined;
      before(() => {
        ring = new Ring({ engine, entries: 64 });
      });
      after(async () => {
        await ring?.close();
      });
      suite({ ring: () => ring!, engine });
    });
  }
}

/**
 * Runs `suite` once per engine this machine supports on the default ring:
 * ODIRECT_ENGINE is read when the default ring is made, so each suite closes
 * it, sets the variable, and restores both afterwards.
 */
export function forEachDefaultRingEngine(title: string, suite: (engine: EngineName) => void): void {
  for (const engine of ENGINES) {
    describe(`${title} [${engine}]`, () => {
      if (!availableEngines.includes(engine)) {
        it(`skipped: ${engineMissingReason(engine)}`);
        return;
      }
      const saved = process.env.ODIRECT_ENGINE;
      before(async () => {
        await defaultRing().close();
        process.env.ODIRECT_ENGINE = engine;
        if (defaultRing().engine !== engine) throw new Error(`the default ring runs on ${defaultRing().engine}`);
      });
      after(async () => {
        await defaultRing().close();
        if (saved === undefined) delete process.env.ODIRECT_ENGINE;
        else process.env.ODIRECT_ENGINE = saved;
      });
      suite(engine);
    });
  }
}

/** Directories to test on: ext4 on the virtio disk and tmpfs. */
export const DISK_DIR = process.env.ODIRECT_TEST_DIR ?? os.tmpdir();
export const SHM_DIR = '/dev/shm';

let counter = 0;
/** A fresh path under `dir`, removed by cleanup(). */
export function tempPath(dir = DISK_DIR, label = 'file'): string {
  const file = path.join(dir, `odirect-test-${process.pid}-${Date.now()}-${counter++}-${label}`);
  created.push(file);
  return file;
}
const created: string[] = [];
export function cleanup(): void {
  for (const file of created.splice(0)) fs.rmSync(file, { force: true, recursive: true });
}

/**
 * A copy of the package that any user can load, for a child that runs as
 * another user: the repository may lie where only its owner can enter (a
 * clone in a 0700 home directory or a mktemp -d folder). It holds what
 * require() of the package reads: package.json, dist/, the addon in use
 * (build/Release or prebuilds/) under the same relative path, binding.gyp
 * (how dist/ finds the package's root) and node-gyp-build. Removed by cleanup().
 * Resolves to the copy's folder: require() it.
 */
export async function packageForAnyUser(): Promise<string> {
  const root = path.dirname(require.resolve('odirect/package.json'));
  const { addon } = await probe();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `odirect-test-${process.pid}-package-`));
  created.push(dir);
  for (const item of ['package.json', 'binding.gyp', 'dist', path.relative(root, addon.path)]) {
    fs.cpSync(path.join(root, item), path.join(dir, item), { recursive: true });
  }
  fs.cpSync(path.dirname(require.resolve('node-gyp-build/package.json')), path.join(dir, 'node_modules', 'node-gyp-build'),
    { recursive: true });
  const letAnyoneRead = (entry: string): void => {
    const stats = fs.statSync(entry);
    fs.chmodSync(entry, stats.mode | (stats.isDirectory() || (stats.mode & 0o100) !== 0 ? 0o555 : 0o444));
    if (stats.isDirectory()) for (const name of fs.readdirSync(entry)) letAnyoneRead(path.join(entry, name));
  };
  letAnyoneRead(dir);
  return dir;
}

/** Fills `buffer` so that each 8-byte word holds its own file offset (plus `seed`). */
export function fillPattern(buffer: Buffer, fileOffset: number, seed = 0n): Buffer {
  for (let i = 0; i + 8 <= buffer.length; i += 8) buffer.writeBigUInt64LE(BigInt(fileOffset + i) + seed, i);
  return buffer;
}

/** The first offset where `buffer` (read from `fileOffset`) breaks the pattern, or -1. */
export function checkPattern(buffer: Buffer, fileOffset: number, seed = 0n, length = buffer.length): number {
  for (let i = 0; i + 8 <= length; i += 8) {
    if (buffer.readBigUInt64LE(i) !== BigInt(fileOffset + i) + seed) return fileOffset + i;
  }
  return -1;
}

/** Whether we run as root (loop devices, seccomp helpers). */
export const isRoot = process.getuid?.() === 0;

/** The reason `promise` rejects with; fails the test if it resolves instead. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error & Partial<ErrnoError>> {
  let value: unknown;
  try {
    value = await promise;
  } catch (error) {
    if (!(error instanceof Error)) throw new Error(`rejected with a non-Error: ${String(error)}`);
    return error as Error & Partial<ErrnoError>;
  }
  throw new Error(`expected a rejection, but it resolved with ${String(value)}`);
}

/** `size` pattern bytes (fillPattern from 0), the last partial word filled too, so that every byte is known. */
export function patternBytes(size: number, seed = 0n): Buffer {
  const bytes = fillPattern(Buffer.alloc(size), 0, seed);
  for (let i = size - (size % 8); i < size; i++) bytes[i] = 0xa0 + (i % 8);
  return bytes;
}

/** Fails unless `actual` holds exactly `expected`, naming the length or the first byte that differs. */
export function expectBytes(actual: Buffer, expected: Buffer, what: string): void {
  if (!Buffer.isBuffer(actual)) throw new Error(`${what}: expected a Buffer, got ${String(actual)}`);
  if (actual.length !== expected.length) throw new Error(`${what}: ${actual.length} bytes, expected ${expected.length}`);
  const differs = actual.findIndex((byte, i) => byte !== expected[i]);
  if (differs !== -1) throw new Error(`${what}: byte ${differs} is ${actual[differs]}, expected ${expected[differs]}`);
}

/**
 * A FIFO with no data, opened through the page cache on a new io_uring ring:
 * a read on it stays in the kernel until something is written. null where
 * io_uring cannot start (only io_uring can hold such a read: aio would block
 * io_submit, and the pool's pread(2) refuses a FIFO). Close both when done.
 */
export async function heldReadFifo(): Promise<{ ring: Ring; file: DirectFile } | null> {
  let ring: Ring;
  try {
    ring = new Ring({ engine: 'io_uring' });
  } catch {
    return null;
  }
  const fifo = tempPath(DISK_DIR, 'fifo');
  childProcess.execFileSync('mkfifo', [fifo]);
  // O_RDWR: a FIFO opened for both never blocks in open(2).
  return { ring, file: await open(fifo, 'r+', { ring, direct: false }) };
}

// losetup, mkfs.* and mount live in /sbin and /usr/sbin, which a non-login PATH may lack.
const sbinEnv = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin` };

/** Runs a system command to completion; the timeout is a hang guard only. */
export function runTool(command: string, args: string[]): { ok: boolean; stdout: string; why: string } {
  const result = childProcess.spawnSync(command, args, { env: sbinEnv, encoding: 'utf8', timeout: 120_000 });
  const ok = result.error === undefined && result.status === 0;
  const why = result.error !== undefined
    ? `${command}: ${result.error.message}`
    : `${command} ${args.join(' ')} exited with ${result.status ?? result.signal}: ${(result.stderr ?? '').trim()}`;
  return { ok, stdout: (result.stdout ?? '').trim(), why };
}

/**
 * An XFS filesystem made (mkfs.xfs, default options) on a loop device over a
 * sparse image, mounted for the enclosing describe() and taken down after
 * it. On Linux 6.16+ it takes untorn writes in software on any device
 * (4 KiB to 1 MiB here). Needs root, losetup, mkfs.xfs (Debian: xfsprogs) and
 * mount; where any is missing, every test of the describe() is skipped and
 * the reason printed. Returns a function that gives the mount point.
 */
export function xfsLoopFixture(): () => string {
  let image: string | undefined;
  let device: string | undefined;
  let mountPoint: string | undefined;
  let mounted = false;
  before(function () {
    this.timeout(120_000);
    const skip = (reason: string): void => {
      // Mocha has no skip message; say why on the console, then skip every test below.
      console.log(`      (skipped: ${reason})`);
      this.skip();
    };
    if (!isRoot) return skip('needs root for losetup and mount');
    for (const tool of ['losetup', 'mkfs.xfs', 'mount', 'umount']) {
      if (!runTool('sh', ['-c', `command -v ${tool}`]).ok) return skip(`${tool} is not installed (Debian: mount, xfsprogs)`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `odirect-test-${process.pid}-xfs-`));
    image = path.join(dir, 'image');
    // mkfs.xfs wants at least 300 MiB; the image is sparse.
    fs.closeSync(fs.openSync(image, 'w'));
    fs.truncateSync(image, 512 * 1024 * 1024);
    const attached = runTool('losetup', ['--find', '--show', image]);
    if (!attached.ok || !attached.stdout.startsWith('/dev/')) return skip(`no loop device: ${attached.why}`);
    device = attached.stdout;
    const made = runTool('mkfs.xfs', ['-q', '-f', device]);
    if (!made.ok) return skip(`mkfs.xfs failed: ${made.why}`);
    mountPoint = path.join(dir, 'mnt');
    fs.mkdirSync(mountPoint);
    const mount = runTool('mount', [device, mountPoint]);
    if (!mount.ok) return skip(`mount failed: ${mount.why}`);
    mounted = true;
  });
  after(function () {
    this.timeout(120_000);
    // Runs after a skip or a failure too: undo whatever before() got to.
    if (mounted && mountPoint !== undefined) {
      if (!runTool('umount', [mountPoint]).ok) runTool('umount', ['-l', mountPoint]);
      mounted = false;
    }
    if (device !== undefined) runTool('losetup', ['-d', device]);
    if (image !== undefined) fs.rmSync(path.dirname(image), { recursive: true, force: true });
  });
  return () => mountPoint!;
}
