// Errors in Node's shape: code, errno (negative), syscall, path, and a message
// that says what happened and, where we know it, what to do.
import util = require('util');
import { SYSCALLS } from './native';

export interface ErrnoError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
  fd?: number;
}

let errorMap: Map<number, [string, string]> | undefined;

function describe(errno: number): [code: string, description: string] {
  errorMap ??= util.getSystemErrorMap();
  return errorMap.get(-errno) ?? [`E${errno}`, `unknown error ${errno}`];
}

/** An errno error. `errno` is positive (as from -result); `detail` replaces the generic tail. */
export function errnoError(errno: number, syscall: string, detail?: string, path?: string): ErrnoError {
  const [code, description] = describe(errno);
  const where = path !== undefined ? ` '${path}'` : '';
  const message = detail !== undefined ? `${code}: ${detail}` : `${code}: ${description}, ${syscall}${where}`;
  const error = new Error(message) as ErrnoError;
  error.code = code;
  error.errno = -errno;
  error.syscall = syscall;
  if (path !== undefined) error.path = path;
  Error.captureStackTrace?.(error, errnoError);
  return error;
}

/** The EINVAL of a misaligned offset, length or buffer, naming the value and what it must be. */
export function alignmentError(syscall: string, what: string, value: number | bigint, alignment: number,
  path: string | undefined): ErrnoError {
  const where = path !== undefined ? ` of '${path}'` : '';
  return errnoError(22, syscall,
    `${syscall} ${what} ${value} is not a multiple of ${alignment}, the direct-I/O alignment${where}`, path);
}

function withCode<T extends Error>(error: T, code: string): T & { code: string } {
  return Object.assign(error, { code });
}

export function invalidArgType(name: string, expected: string, actual: unknown): TypeError {
  let got: string;
  if (actual === null) got = 'null';
  else if (typeof actual === 'object') got = `an instance of ${(actual as object).constructor?.name ?? 'Object'}`;
  else got = `type ${typeof actual} (${util.inspect(actual)})`;
  return withCode(new TypeError(`The "${name}" argument must be ${expected}. Received ${got}`),
    'ERR_INVALID_ARG_TYPE');
}

export function outOfRange(name: string, range: string, actual: unknown): RangeError {
  return withCode(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${util.inspect(actual)}`),
    'ERR_OUT_OF_RANGE');
}

export function invalidArgValue(name: string, reason: string, actual: unknown): TypeError {
  return withCode(new TypeError(`The argument '${name}' ${reason}. Received ${util.inspect(actual)}`),
    'ERR_INVALID_ARG_VALUE');
}

/**
 * How an aborted op ended: dropped before the engine had it, cancelled by the
 * engine (the kernel, or the threadpool's queue), or, for a datasync()/sync(),
 * left to the other callers sharing a sync in flight, which goes on.
 */
export type AbortedWhere = 'queue' | 'engine' | 'shared';

export interface AbortError extends Error {
  name: 'AbortError';
  code: 'ABORT_ERR';
  /**
   * 'queue': the op was dropped before the engine had it; 'engine': the engine
   * (the kernel) cancelled it; 'shared': the caller stopped waiting for a sync
   * in flight that it shared, which goes on.
   */
  where: AbortedWhere;
  syscall: string;
  path?: string;
}

/** Marks the errors the library makes before any system call of their op (see beforeSyscall()). */
const BEFORE_SYSCALL = Symbol('odirect.beforeSyscall');

/**
 * Marks `error` as made by the library before its op reached the kernel (a
 * closed ring, changed credentials, an abort, a detached buffer...), so that
 * it shows nothing was written back: a file does not remember such a sync
 * failure (lib/sync.ts). The mark is a non-enumerable symbol, invisible to users.
 */
export function beforeSyscall<T extends Error>(error: T): T {
  Object.defineProperty(error, BEFORE_SYSCALL, { value: true });
  return error;
}

/** Whether `error` was marked by beforeSyscall(). */
export function isBeforeSyscall(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { [BEFORE_SYSCALL]?: true })[BEFORE_SYSCALL] === true;
}

/** The rejection of an op whose signal was aborted, in the shape of Node's AbortError. */
export function abortError(signal: AbortSignal, where: AbortedWhere, code: number,
  target: { path?: string } | null): AbortError {
  const syscall = SYSCALLS[code] ?? 'op';
  const place = where === 'queue' ? 'dropped before it was submitted'
    : where === 'engine' ? 'cancelled by the engine' : 'the shared sync in flight goes on';
  const error = new Error(`The operation was aborted: ${syscall}${target?.path !== undefined ? ` '${target.path}'` : ''} ` +
    `(${place})`, { cause: signal.reason }) as AbortError;
  error.name = 'AbortError';
  error.code = 'ABORT_ERR';
  error.where = where;
  error.syscall = syscall;
  if (target?.path !== undefined) error.path = target.path;
  return beforeSyscall(error);
}

/**
 * The rejection of an op whose buffer was transferred or detached while it
 * waited in JS for room in the ring: there is no memory to do it with.
 */
export function detachedError(code: number, target: { path?: string } | null): Error & { code: string } {
  const syscall = SYSCALLS[code] ?? 'op';
  const error = new TypeError(`Invalid state: the buffer of a ${syscall}${target?.path !== undefined ? ` on '${target.path}'` : ''} ` +
    'was transferred or detached while the op waited for room in the ring, before it was submitted') as TypeError & { code: string };
  error.code = 'ERR_INVALID_STATE';
  return beforeSyscall(error);
}
