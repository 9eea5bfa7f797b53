// What this machine supports, and why not where it does not.
import fs = require('fs');
import pathModule = require('path');
import { addonPath, binding } from './native';
import { chooseEngine, ENGINES, EngineName, readSysctl } from './engines';
import { Ring } from './ring';
import { atomicWriteInfo, AtomicWriteLimits, filesystemName } from './atomic';
import { open, PathLike, toPath } from './file';

export interface EngineReport {
  engine: EngineName;
  available: boolean;
  /** Engine features when available ("nodrop fast_poll", "user_ring"...). */
  features?: string;
  /** Why it cannot start, when it cannot. */
  reason?: string;
  /** The errno code behind `reason` ('ENOSYS', 'EPERM', 'EAGAIN'...). */
  code?: string;
}

/** What a path's filesystem offers beyond plain direct I/O. */
export interface PathProbe {
  path: string;
  /** The file examined: `path` itself, or a scratch file made (and removed) in the directory `path`. */
  probedFile: string;
  /** The filesystem's name ('xfs', 'ext4', 'tmpfs'...), from statfs. */
  filesystem: string;
  /** Untorn writes (RWF_ATOMIC) with O_DIRECT, as `file.atomicWrite` gives them, or null. */
  atomicWrite: AtomicWriteLimits | null;
  /** Why `atomicWrite` is null. */
  atomicWriteReason?: string;
  /** Whether `open(..., { direct: 'uncached' })` works there (RWF_DONTCACHE). */
  uncached: boolean;
  /** Why not, when it does not. */
  uncachedReason?: string;
}

export interface ProbeReport {
  /** uname -r */
  kernel: string | null;
  /** The liburing the addon runs with ("2.3"), or null when built without it. */
  liburing: string | null;
  /** Whether the addon was built with liburing (liburing-dev present at install). */
  builtWithLiburing: boolean;
  /** The addon file in use, whether it is the package's prebuilt one, and how it has liburing. */
  addon: { path: string; prebuilt: boolean; liburing: 'static' | 'shared' | null };
  /**
   * One line, when the addon has no io_uring engine because liburing was
   * missing when it was built, with the remedy; absent otherwise.
   */
  notice?: string;
  /** What engine: 'auto' picks here. */
  defaultEngine: EngineName | null;
  engines: EngineReport[];
  /** /proc/sys/kernel/io_uring_disabled (Linux 6.6+), when readable. */
  ioUringDisabled?: number;
  /** fs.aio-nr and fs.aio-max-nr: AIO events in use and allowed, machine-wide. */
  aioNr?: number;
  aioMaxNr?: number;
  /** With probe(path): what that path's filesystem offers. */
  path?: PathProbe;
}

/** What probe() and the odirect command say when the addon was built without liburing. */
export const NO_LIBURING_NOTICE = 'this odirect addon was built without liburing, so it has no io_uring engine: '
  + 'install liburing-dev (liburing-devel on Fedora), then run npm rebuild';

/** What the file `file` offers: it exists (a regular file or a block device). */
async function probeFile(file: string): Promise<Omit<PathProbe, 'path' | 'probedFile'>> {
  const { O_RDONLY, O_DIRECT } = fs.constants;
  let fd: number;
  let direct = true;
  try {
    fd = fs.openSync(file, O_RDONLY | O_DIRECT);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
    // The filesystem refuses O_DIRECT, and so untorn writes.
    fd = fs.openSync(file, O_RDONLY);
    direct = false;
  }
  let report: Omit<PathProbe, 'path' | 'probedFile'>;
  try {
    const native = binding.atomicWriteOf(fd);
    if (typeof native === 'number') throw new Error(`statx: errno ${-native}`);
    const info = atomicWriteInfo(native, direct, 'without O_DIRECT, which its filesystem refuses');
    report = { filesystem: info.filesystem, atomicWrite: info.limits, uncached: false };
    if (info.limits === null) report.atomicWriteReason = info.reason;
  } finally {
    fs.closeSync(fd);
  }
  try {
    await (await open(file, 'r', { direct: 'uncached' })).close();
    report.uncached = true;
  } catch (error) {
    report.uncachedReason = (error as { code?: string }).code === 'ENOTSUP'
      ? `${report.filesystem} does not take RWF_DONTCACHE (EOPNOTSUPP): uncached I/O needs Linux 6.14+ and a ` +
        'filesystem that supports it, such as ext4, xfs or btrfs'
      : (error as Error).message;
  }
  return report;
}

/**
 * What a path that is none of a regular file, a block device or a directory
 * offers: nothing, found without opening it (opening a FIFO waits for a
 * writer).
 */
function unprobed(target: string, stats: fs.Stats): Omit<PathProbe, 'path' | 'probedFile'> {
  const kind = stats.isFIFO() ? 'a FIFO' : stats.isSocket() ? 'a socket' : 'a character device';
  const reason = `${kind}, not a regular file, block device or directory`;
  return {
    // A device node lies on devtmpfs, whose statfs says tmpfs: the device is what counts.
    filesystem: stats.isCharacterDevice() ? 'the character device' : filesystemName(fs.statfsSync(target).type),
    atomicWrite: null,
    atomicWriteReason: reason,
    uncached: false,
    uncachedReason: reason,
  };
}

/**
 * What `target` (a file, a block device, or a directory, where a scratch
 * file is made and removed) offers: untorn writes and uncached I/O.
 */
async function probePath(target: string): Promise<PathProbe> {
  const stats = fs.statSync(target);
  if (stats.isFile() || stats.isBlockDevice()) return { path: target, probedFile: target, ...await probeFile(target) };
  if (!stats.isDirectory()) return { path: target, probedFile: target, ...unprobed(target, stats) };
  const scratch = pathModule.join(target, `.odirect-probe-${process.pid}-${Date.now()}`);
  fs.closeSync(fs.openSync(scratch, 'wx', 0o600));
  try {
    return { path: target, probedFile: scratch, ...await probeFile(scratch) };
  } finally {
    fs.rmSync(scratch, { force: true });
  }
}

/**
 * Starts each engine once on a small ring (then closes it) and reports what
 * happened; with `path`, also what that path's filesystem offers (`report.path`).
 */
export async function probe(path?: PathLike): Promise<ProbeReport> {
  const target = path === undefined ? undefined : toPath(path);
  const engines: EngineReport[] = [];
  for (const engine of ENGINES) {
    try {
      const ring = new Ring({ engine, entries: 4 });
      engines.push({ engine, available: true, features: ring.features });
      await ring.close();
    } catch (error) {
      const { code, message } = error as { code: string; message: string };
      engines.push({ engine, available: false, code, reason: message.replace(/^\w+: the \w+ engine cannot start: /, '') });
    }
  }
  const usable = engines.filter((report) => report.available).map((report) => report.engine);
  // The engine a ring made with the defaults would run on (none where ODIRECT_ENGINE is not a name).
  let choice: EngineName | 'auto' | null;
  try {
    choice = chooseEngine('auto');
  } catch {
    choice = null;
  }
  const defaultEngine = choice === 'auto' ? usable[0] ?? null : choice !== null && usable.includes(choice) ? choice : null;
  const report: ProbeReport = {
    kernel: binding.kernelRelease(),
    liburing: binding.liburingVersion(),
    builtWithLiburing: binding.builtWithLiburing,
    addon: {
      path: addonPath,
      prebuilt: addonPath.split(pathModule.sep).includes('prebuilds'),
      liburing: binding.liburingLinkage,
    },
    defaultEngine,
    engines,
  };
  if (!binding.builtWithLiburing) report.notice = NO_LIBURING_NOTICE;
  const disabled = readSysctl('kernel/io_uring_disabled');
  if (disabled !== undefined) report.ioUringDisabled = disabled;
  const aioNr = readSysctl('fs/aio-nr');
  const aioMaxNr = readSysctl('fs/aio-max-nr');
  if (aioNr !== undefined) report.aioNr = aioNr;
  if (aioMaxNr !== undefined) report.aioMaxNr = aioMaxNr;
  if (target !== undefined) report.path = await probePath(target);
  return report;
}
