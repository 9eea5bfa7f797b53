// Where a file lives: its filesystem, its mount, the block device under it
// and that device's queue settings, read from /proc and /sys.
import fs = require('fs');
import path = require('path');

export interface BlockDevice {
  name: string;
  majorMinor: string;
  filesystem: string | null;
  /** A few /sys/block/<dev>/queue facts, as strings. */
  queue: Record<string, string>;
  /** Tags per hardware queue (the device's own queue depth), where blk-mq says. */
  hwQueueDepth: string | null;
}

export interface Mount {
  /** The filesystem type: "ext4", "tmpfs"... */
  filesystem: string;
  /** Where it is mounted. */
  mountPoint: string;
  /** What is mounted there: "/dev/vda", "tmpfs"... */
  source: string;
}

function readSys(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

/** "major:minor" of the device `file` lives on (Linux's dev_t encoding, as glibc's gnu_dev_major/minor). */
export function majorMinorOf(file: string): string {
  const dev = fs.statSync(file).dev;
  const major = ((dev >> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  return `${major}:${minor}`;
}

/**
 * The mount `file` is on, from /proc/self/mountinfo: of the mounts of its
 * device, the one with the longest mount point that is a prefix of its real path.
 */
export function mountOf(file: string): Mount | null {
  const majorMinor = majorMinorOf(file);
  const real = fs.realpathSync(file);
  let best: Mount | null = null;
  for (const line of (readSys('/proc/self/mountinfo') ?? '').split('\n')) {
    const fields = line.split(' ');
    if (fields[2] !== majorMinor) continue;
    // Mount points escape spaces and the like as octal (\040).
    const mountPoint = fields[4].replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    const inside = mountPoint === '/' || real === mountPoint || real.startsWith(`${mountPoint}/`);
    if (!inside || (best !== null && best.mountPoint.length >= mountPoint.length)) continue;
    const dash = fields.indexOf('-');
    best = { filesystem: fields[dash + 1], mountPoint, source: fields[dash + 2] };
  }
  return best;
}

/** The type of the filesystem `file` is on ("ext4", "tmpfs"...). */
export function filesystemOf(file: string): string | null {
  return mountOf(file)?.filesystem ?? null;
}

/** The block device under `file`, and its queue settings. */
export function blockDeviceOf(file: string): BlockDevice | null {
  const majorMinor = majorMinorOf(file);
  let sysPath: string;
  try {
    sysPath = fs.realpathSync(`/sys/dev/block/${majorMinor}`);
  } catch {
    return null; // not a block device (tmpfs, overlay...)
  }
  // A partition's queue is its disk's.
  const queueDir = fs.existsSync(path.join(sysPath, 'queue')) ? path.join(sysPath, 'queue') : path.join(sysPath, '..', 'queue');
  const queue: Record<string, string> = {};
  for (const key of ['rotational', 'nr_requests', 'logical_block_size', 'physical_block_size', 'scheduler',
    'max_sectors_kb', 'write_cache']) {
    const value = readSys(path.join(queueDir, key));
    if (value !== null) queue[key] = value;
  }
  return {
    name: path.basename(sysPath),
    majorMinor,
    filesystem: filesystemOf(file),
    queue,
    hwQueueDepth: readSys(path.join(queueDir, '..', 'mq', '0', 'nr_tags')),
  };
}
