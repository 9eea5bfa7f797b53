// Untorn writes (RWF_ATOMIC, Linux 6.11): what a file offers, the rules a
// write must keep before it goes to the kernel, and errors that say which
// rule was broken and what the limits are.
import { binding, NativeAtomicWrite } from './native';
import { ErrnoError, errnoError } from './errors';

/** The untorn writes a file takes, from statx(STATX_WRITE_ATOMIC). */
export interface AtomicWriteLimits {
  /** The smallest length of an untorn write, in bytes (stx_atomic_write_unit_min). */
  readonly min: number;
  /** The largest length of an untorn write, in bytes (stx_atomic_write_unit_max). */
  readonly max: number;
  /** The most buffers one untorn write may have (stx_atomic_write_segments_max). */
  readonly maxSegments: number;
  /**
   * Where the filesystem says so (Linux 6.16+), the largest length it writes
   * untorn at full speed (in hardware), where lengths up to `max` may take a
   * slower path (XFS writes them out of place). Absent where not reported.
   */
  readonly maxOptimized?: number;
}

/** What a file offers: its limits, or null and why. */
export interface AtomicWriteInfo {
  limits: AtomicWriteLimits | null;
  /** Why `limits` is null ('' when it is not). */
  reason: string;
  /** The filesystem's name, from statfs' f_type. */
  filesystem: string;
}

// statfs f_type values (include/uapi/linux/magic.h and the filesystems' own).
const FILESYSTEMS = new Map<number, string>([
  [0xef53, 'ext4'], [0x58465342, 'xfs'], [0x9123683e, 'btrfs'], [0x01021994, 'tmpfs'], [0xf2f52010, 'f2fs'],
  [0xca451a4e, 'bcachefs'], [0x794c7630, 'overlayfs'], [0x6969, 'nfs'], [0x65735546, 'fuse'], [0x2fc12fc1, 'zfs'],
  [0x9fa0, 'proc'], [0x62656572, 'sysfs'], [0x858458f6, 'ramfs'], [0x4d44, 'vfat'], [0x2011bab0, 'exfat'],
  [0x7366746e, 'ntfs3'], [0x62646576, 'the block device'], [0xff534d42, 'cifs'], [0xfe534d42, 'smb2'], [0x00c36400, 'ceph'],
  [0x73717368, 'squashfs'], [0xe0f5e1e2, 'erofs'], [0x3153464a, 'jfs'], [0x52654973, 'reiserfs'],
]);

/** The name of a filesystem from statfs' f_type ('xfs', 'ext4'...), or its number in hex. */
export function filesystemName(type: number): string {
  return FILESYSTEMS.get(type) ?? `filesystem type 0x${type.toString(16)}`;
}

const WHAT_IS_NEEDED = 'untorn writes need Linux 6.11+ and a filesystem and device that report atomic write units: ' +
  'XFS (in software on any device since Linux 6.16, in hardware on NVMe or SCSI devices with atomic writes), ' +
  'ext4 on such a device (above one block only with bigalloc, Linux 6.16), or such a block device itself';

/**
 * A file's untorn writes from what the addon read (`native`), for a file open
 * in `mode` ('direct' unless the file is not open with O_DIRECT).
 */
export function atomicWriteInfo(native: NativeAtomicWrite, direct: boolean, modeName: string): AtomicWriteInfo {
  const [min, max, maxSegments, maxOptimized, reported, type] = native;
  const filesystem = filesystemName(type);
  if (reported === 0) {
    const release = binding.kernelRelease() ?? '';
    const [major, minor] = release.split('.').map((part) => Number.parseInt(part, 10));
    if (major < 6 || (major === 6 && minor < 11)) {
      return {
        limits: null, filesystem,
        reason: `Linux ${release} has no untorn writes (statx STATX_WRITE_ATOMIC and RWF_ATOMIC came in Linux 6.11)`,
      };
    }
    return { limits: null, filesystem, reason: `${filesystem} does not report atomic write units (statx STATX_WRITE_ATOMIC); ${WHAT_IS_NEEDED}` };
  }
  if (min === 0 || max === 0) {
    return { limits: null, filesystem, reason: `${filesystem} reports no atomic write unit for it (statx STATX_WRITE_ATOMIC: 0); ${WHAT_IS_NEEDED}` };
  }
  if (!direct) {
    // Linux takes RWF_ATOMIC only with O_DIRECT (generic_atomic_write_valid: EOPNOTSUPP).
    return { limits: null, filesystem, reason: `untorn writes need direct I/O (O_DIRECT), and it is open ${modeName}; ${filesystem} takes them from ${min} to ${max} bytes with O_DIRECT` };
  }
  const limits: AtomicWriteLimits = maxOptimized !== 0
    ? { min, max, maxSegments, maxOptimized }
    : { min, max, maxSegments };
  return { limits: Object.freeze(limits), reason: '', filesystem };
}

function isPowerOfTwo(value: number): boolean {
  return value > 0 && Number.isInteger(Math.log2(value));
}

function where(path: string | undefined, fd: number | undefined): string {
  return path !== undefined ? `'${path}'` : `fd ${fd}`;
}

/**
 * Checks an untorn write of `length` bytes in `segments` buffers at
 * `position` against `limits`: what is wrong with it (the rule and the
 * limit), or null.
 */
export function brokenAtomicWriteRule(limits: AtomicWriteLimits, length: number, segments: number,
  position: number | bigint, path: string | undefined, fd?: number): string | null {
  const what = `untorn write (RWF_ATOMIC) of ${length} bytes at offset ${position} on ${where(path, fd)}`;
  const source = path !== undefined ? 'file.atomicWrite' : 'atomicWriteOf(fd)';
  if (!isPowerOfTwo(length) || length < limits.min || length > limits.max) {
    return `${what}: the length must be a power of two from ${limits.min} to ${limits.max} bytes (${source})`;
  }
  const remainder = typeof position === 'bigint' ? Number(position % BigInt(length)) : position % length;
  if (remainder !== 0) {
    return `${what}: the offset must be a multiple of the length (${length}): untorn writes are naturally aligned`;
  }
  if (segments > limits.maxSegments) {
    return `${what}: it has ${segments} buffers, and untorn writes take at most ${limits.maxSegments} ` +
      `(${source}.maxSegments)`;
  }
  return null;
}

/** The EOPNOTSUPP of an untorn write on a file that has none, refused before the kernel. */
export function noAtomicWriteError(info: AtomicWriteInfo, length: number, position: number | bigint,
  path: string): ErrnoError {
  return errnoError(95, 'write', `untorn write (RWF_ATOMIC) of ${length} bytes at offset ${position} on '${path}' ` +
    `refused before the kernel (EOPNOTSUPP): ${info.reason}`, path);
}

/**
 * The error of an untorn write the kernel refused (EOPNOTSUPP, EINVAL) on a
 * descriptor: what the file offers, read now, and which rule the write broke.
 */
export function kernelAtomicWriteError(errno: number, fd: number, length: number, segments: number,
  position: number | bigint, path: string | undefined): ErrnoError | null {
  if (errno !== 95 && errno !== 22) return null;
  const native = binding.atomicWriteOf(fd);
  if (typeof native === 'number') return null;
  const info = atomicWriteInfo(native, true, '');
  const what = `untorn write (RWF_ATOMIC) of ${length} bytes at offset ${position} on ${where(path, path === undefined ? fd : undefined)}`;
  if (info.limits === null) {
    return errnoError(errno, 'write', `the kernel refused an ${what}: ${info.reason} (or the descriptor is not ` +
      'open with O_DIRECT, which untorn writes need)', path);
  }
  const broken = brokenAtomicWriteRule(info.limits, length, segments, position, path, fd);
  if (broken !== null) return errnoError(errno, 'write', `the kernel refused an ${broken}`, path);
  const { min, max, maxSegments } = info.limits;
  return errnoError(errno, 'write', `the kernel refused an ${what}, which keeps the limits statx reports ` +
    `(${min} to ${max} bytes, ${maxSegments} buffer${maxSegments === 1 ? '' : 's'}): is the descriptor open ` +
    'with O_DIRECT and without O_APPEND (which writes at end of file, not at the offset given), and the buffer ' +
    'and offset aligned for direct I/O?', path);
}
