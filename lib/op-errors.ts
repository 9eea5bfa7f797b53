// What an op's failure says: the kernel's -errno, or the addon's refusal,
// turned into an error in Node's shape that names the file, what was asked,
// and the rule that was broken.
import { kernelAtomicWriteError } from './atomic';
import { beforeSyscall, ErrnoError, errnoError } from './errors';
import { FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, RWF_ATOMIC, RWF_DONTCACHE, RWF_DSYNC } from './kernel';
import { OP_FALLOCATE, OP_READ, OP_READV, OP_WRITE, OP_WRITEV, SYSCALLS } from './native';
import type { Op } from './op';

const EINVAL = 22;
const EOPNOTSUPP = 95;

/** The EINVAL of a buffer whose address is not a multiple of the op's memory alignment (the addon checks it). */
export function misalignedMemoryError(op: Op): ErrnoError {
  const { code, target } = op;
  return beforeSyscall(errnoError(EINVAL, SYSCALLS[code], `${SYSCALLS[code]} buffer address is not a multiple of ${op.memoryAlignment}, ` +
    `the direct-I/O memory alignment${target.path !== undefined ? ` of '${target.path}'` : ''}; ` +
    'allocate buffers with allocAligned()', target.path));
}

/** The EBADF of an op on a ring that is closed (or closing). */
export function ringClosedError(syscall: string, path: string | undefined): ErrnoError {
  return beforeSyscall(errnoError(9, syscall, 'the ring this file uses is closed', path));
}

/**
 * The refusal of an op by a ring made before the process changed its user
 * or groups, on an engine (`engine`) that would run it with the old rights.
 */
export function credentialsError(engine: string, op: Op): ErrnoError {
  return beforeSyscall(errnoError(1, SYSCALLS[op.code],
    `the process changed its user or groups after this ring was made, and ${engine} would run ` +
    'the request with the old rights; make a new Ring (the default ring replaces itself)', op.target.path));
}

/**
 * The error of an op the kernel failed with `errno`: where (the path, else
 * the descriptor) and what was asked; for an untorn write the rule the
 * kernel saw broken, for an EINVAL of direct I/O what alignment demands,
 * for an EOPNOTSUPP the flag or mode the filesystem does not take.
 */
export function opError(errno: number, op: Op, engine: string): ErrnoError {
  const { code, target, position, length, rwFlags } = op;
  const syscall = SYSCALLS[code];
  const where = target.path !== undefined ? `'${target.path}'` : `fd ${target.fd}`;
  const transfer = code === OP_READ || code === OP_WRITE || code === OP_READV || code === OP_WRITEV;
  let error: ErrnoError | null = null;
  if ((rwFlags & RWF_ATOMIC) !== 0 && transfer) {
    // Which rule of untorn writes the kernel saw broken, from what statx says now.
    const segments = Array.isArray(op.buffer) ? op.buffer.length : 1;
    error = kernelAtomicWriteError(errno, target.fd, length, segments, position, target.path);
  }
  if (error !== null) {
    // Said above.
  } else if (errno === EINVAL && engine === 'aio' && target.direct === false && (code === OP_READ || code === OP_WRITE) &&
    rwFlags !== 0) {
    // The EINVAL of a file Linux AIO refuses, which the ring does not retry
    // with pread/pwrite (aio-fallback.ts) because they would drop the flags.
    const flags = ([[RWF_DSYNC, 'RWF_DSYNC (dsync)'], [RWF_ATOMIC, 'RWF_ATOMIC (atomic)'],
      [RWF_DONTCACHE, 'RWF_DONTCACHE (uncached)']] as const).filter(([bit]) => (rwFlags & bit) !== 0).map(([, name]) => name);
    const them = flags.length === 1 ? 'it' : 'them';
    error = errnoError(errno, syscall, `invalid argument, ${syscall} of ${length} bytes at offset ${position} on ` +
      `${where}: Linux AIO refuses this file (as it does files without read_iter/write_iter, such as in procfs ` +
      `and sysfs), and ${flags.join(' and ')} cannot be carried by the pread/pwrite fallback, which would drop ` +
      `${them}; leave ${them} out for this file`, target.path);
  } else if (errno === EOPNOTSUPP && (rwFlags & RWF_DONTCACHE) !== 0 && transfer) {
    error = errnoError(errno, syscall, `the kernel or the filesystem of ${where} does not take uncached I/O ` +
      `(RWF_DONTCACHE, Linux 6.14+): ${syscall} of ${length} bytes at offset ${position}`, target.path);
  } else if (errno === EOPNOTSUPP && code === OP_FALLOCATE) {
    const mode = (rwFlags & FALLOC_FL_PUNCH_HOLE) !== 0 ? 'FALLOC_FL_PUNCH_HOLE (punchHole)'
      : (rwFlags & FALLOC_FL_ZERO_RANGE) !== 0 ? 'FALLOC_FL_ZERO_RANGE (zeroRange)' : `mode ${rwFlags}`;
    error = errnoError(errno, syscall, `the filesystem of ${where} does not support fallocate with ${mode} ` +
      `(${length} bytes at offset ${position})`, target.path);
  } else if (errno === EINVAL && transfer && target.direct !== false) {
    error = errnoError(errno, syscall,
      `invalid argument, ${syscall} of ${length} bytes at offset ${position} on ${where} ` +
      '(direct I/O needs the buffer address, the offset and the length to be multiples of the ' +
      `file's direct-I/O alignment; see ${target.path !== undefined ? 'file.alignment' : 'alignmentOf(fd)'})`,
      target.path);
  } else {
    error = errnoError(errno, syscall, undefined, target.path);
    if (target.path === undefined) error.message += ` on ${where}`;
    if (transfer || code === OP_FALLOCATE) error.message += ` (${length} bytes at offset ${position})`;
  }
  if (target.path === undefined) error.fd = target.fd;
  return error;
}
