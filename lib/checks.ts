// Argument checks. Everything the addon relies on is checked here, before any
// native call: the addon trusts these (and re-checks only what guards memory).
import { invalidArgType, invalidArgValue, outOfRange } from './errors';

/** The largest transfer Linux does in one read or write (MAX_RW_COUNT: INT_MAX rounded down to a page). */
export const MAX_TRANSFER = 0x7ffff000;
/** The largest file position Linux takes (LLONG_MAX). */
export const MAX_POSITION = (1n << 63n) - 1n;

export function checkBuffer(buffer: unknown, name = 'buffer'): ArrayBufferView {
  if (!ArrayBuffer.isView(buffer)) {
    throw invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', buffer);
  }
  return buffer;
}

/** A file position: a safe non-negative integer, or a bigint up to 2^63-1. Returned as a number when it fits. */
export function checkPosition(position: unknown, name = 'position'): number | bigint {
  if (typeof position === 'number') {
    if (!Number.isSafeInteger(position) || position < 0) {
      throw outOfRange(name, 'an integer >= 0 and <= 2^53-1', position);
    }
    return position;
  }
  if (typeof position === 'bigint') {
    if (position < 0n || position > MAX_POSITION) throw outOfRange(name, '>= 0n and <= 2n ** 63n - 1n', position);
    return position <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(position) : position;
  }
  throw invalidArgType(name, 'of type number or bigint', position);
}

/** The byte count of an op on `buffer`: `length`, or the whole view. */
export function checkLength(length: unknown, buffer: ArrayBufferView, name = 'length'): number {
  if (length === undefined) length = buffer.byteLength;
  if (typeof length !== 'number') throw invalidArgType(name, 'of type number', length);
  if (!Number.isInteger(length) || length < 0 || length > buffer.byteLength) {
    throw outOfRange(name, `an integer >= 0 and <= ${buffer.byteLength} (the buffer's byteLength)`, length);
  }
  if (length > MAX_TRANSFER) throw outOfRange(name, `<= ${MAX_TRANSFER} (Linux's largest single transfer)`, length);
  return length;
}

/** Linux's limit on the buffers of one vectored op (IOV_MAX, UIO_MAXIOV). */
export const MAX_BUFFERS = 1024;

/** The buffers of readvAt/writevAt: a non-empty array of views. Returns their total byte length. */
export function checkBuffers(buffers: unknown, name = 'buffers'): number {
  if (!Array.isArray(buffers)) throw invalidArgType(name, 'an array of Buffer, TypedArray, or DataView', buffers);
  if (buffers.length === 0 || buffers.length > MAX_BUFFERS) {
    throw outOfRange(`${name}.length`, `>= 1 and <= ${MAX_BUFFERS} (IOV_MAX)`, buffers.length);
  }
  let total = 0;
  for (let i = 0; i < buffers.length; i++) total += checkBuffer(buffers[i], `${name}[${i}]`).byteLength;
  if (total > MAX_TRANSFER) throw outOfRange(name, `<= ${MAX_TRANSFER} bytes in all (Linux's largest single transfer)`, total);
  return total;
}

/** The length of an allocate(): a positive safe integer, or a bigint that is one. */
export function checkAllocateLength(length: unknown, name = 'length'): number {
  const value = typeof length === 'bigint' && length <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(length) : length;
  if (typeof value !== 'number') {
    if (typeof value === 'bigint') throw outOfRange(name, `>= 1 and <= ${Number.MAX_SAFE_INTEGER}`, length);
    throw invalidArgType(name, 'of type number or bigint', length);
  }
  if (!Number.isSafeInteger(value) || value < 1) throw outOfRange(name, `an integer >= 1 and <= ${Number.MAX_SAFE_INTEGER}`, length);
  return value;
}

/** The end of [position, position + length) must stay within 2^63-1. */
export function checkEnd(position: number | bigint, length: number): void {
  if (typeof position === 'bigint' && position + BigInt(length) > MAX_POSITION) {
    throw outOfRange('position', `<= ${MAX_POSITION - BigInt(length)} for a length of ${length}`, position);
  }
}

export function remainder(position: number | bigint, alignment: number): number {
  return typeof position === 'number' ? position % alignment : Number(position % BigInt(alignment));
}

export function checkFd(fd: unknown): number {
  if (typeof fd !== 'number') throw invalidArgType('fd', 'of type number', fd);
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw outOfRange('fd', 'an integer >= 0 and <= 2147483647', fd);
  return fd;
}

export interface IoOptions {
  /** Bytes to transfer; the whole view when absent. */
  length?: number;
  /** writeAt only: the write is durable when it completes (RWF_DSYNC). */
  dsync?: boolean;
  /**
   * writeAt/writevAt only: the write is untorn (RWF_ATOMIC, Linux 6.11):
   * after a crash its range holds all old or all new data. The file must
   * offer untorn writes (file.atomicWrite) and the write keep their rules,
   * or it is refused; it is never done as a plain write.
   */
  atomic?: boolean;
  /** Aborting it drops the op if it has not reached the kernel, and cancels it there where the engine can. */
  signal?: AbortSignal;
}

/**
 * An optional AbortSignal: a real one, since the ring reads `aborted` and
 * adds its listener after the op is queued, where an object that throws
 * from either could leave an op half started.
 */
export function checkSignal(signal: unknown, name = 'options.signal'): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw invalidArgType(name, 'an instance of AbortSignal', signal);
  return signal;
}

// What no options mean: one object, read by every op that has none.
const NO_OPTIONS: IoOptions = Object.freeze({});

/** The third argument of readAt/writeAt: a length, an options object, or nothing. `write`: a write's. */
export function checkIoOptions(options: unknown, write = false): IoOptions {
  if (options === undefined || options === null) return NO_OPTIONS;
  if (typeof options === 'number') return { length: options };
  if (typeof options !== 'object') throw invalidArgType('options', 'of type object or number', options);
  const { dsync, atomic } = options as IoOptions;
  if (dsync !== undefined && typeof dsync !== 'boolean') throw invalidArgValue('options.dsync', 'must be a boolean', dsync);
  if (atomic !== undefined) {
    if (typeof atomic !== 'boolean') throw invalidArgValue('options.atomic', 'must be a boolean', atomic);
    if (atomic && !write) throw invalidArgValue('options.atomic', 'is taken by writes only (an untorn write)', atomic);
  }
  checkSignal((options as IoOptions).signal);
  return options as IoOptions;
}

export function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) throw outOfRange(name, `an integer >= ${min} and <= ${max}`, value);
  return value;
}

/** A size for ftruncate: a position, up to 2^53-1 (Node's fs.ftruncate, which does the call, takes no more). */
export function checkTruncateLength(length: unknown, name = 'length'): number {
  const size = checkPosition(length, name);
  if (typeof size === 'bigint') throw outOfRange(name, '<= 2^53-1 (9007199254740991)', length);
  return size;
}
