// What Linux AIO refuses and the pool can do: such ops are done again with
// Node's fs on libuv's thread pool, never on the JS thread. The target stays
// busy (its descriptor open) until then.
import fs = require('fs');
import { OP_FDATASYNC, OP_FSYNC, OP_READ, OP_WRITE, SYSCALLS } from './native';
import { ErrnoError, errnoError } from './errors';
import type { Op } from './op';

const EINVAL = 22;

/** Whether the aio engine's `result` for `op` is a refusal the pool does not have. */
export function aioRefusal(result: number, op: Op): boolean {
  if (result !== -EINVAL) return false;
  const { code } = op;
  // Linux before 4.18 has no IOCB_CMD_FSYNC/FDSYNC.
  if (code === OP_FSYNC || code === OP_FDATASYNC) return true;
  // Linux AIO refuses files without read_iter/write_iter (procfs, sysfs...)
  // with EINVAL; a buffered file may be one. Not an op with RWF_* flags,
  // which fs.read/fs.write would drop: an untorn, dsync or uncached write
  // is never done as a plain one.
  return op.target.direct === false && (code === OP_READ || code === OP_WRITE) && op.rwFlags === 0;
}

/** Does `op` (one aioRefusal() accepted) on libuv's pool, then calls `done`. */
export function runOnPool(op: Op, done: (error: ErrnoError | null, bytes: number) => void): void {
  const { code, target, position, length } = op;
  const callback = (error: NodeJS.ErrnoException | null, bytes = 0): void => {
    done(error ? errnoError(-(error.errno ?? -5), SYSCALLS[code], undefined, target.path) : null, bytes);
  };
  if (code === OP_FSYNC) {
    fs.fsync(target.fd, callback);
  } else if (code === OP_FDATASYNC) {
    fs.fdatasync(target.fd, callback);
  } else if (code === OP_READ) {
    fs.read(target.fd, op.buffer as NodeJS.ArrayBufferView, 0, length, position, callback);
  } else if (typeof position === 'number') {
    fs.write(target.fd, op.buffer as NodeJS.ArrayBufferView, 0, length, position, callback);
  } else {
    // fs.write takes no bigint position (it would write at the file position instead).
    callback(Object.assign(new Error('EFBIG'), { errno: -27 }));
  }
}
