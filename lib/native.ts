// The addon's surface, as lib/ sees it. Nothing outside lib/ loads the addon.
import fs = require('fs');
import path = require('path');

/** One engine instance and its submission thread (addon/ring.h, addon/js_ring.cc). */
export interface NativeRing {
  /** 0, or the -errno with which the engine failed to start. */
  readonly error: number;
  readonly engine: string;
  readonly features: string;
  readonly capacity: number;
  /** Completions land here as (id, result) pairs before onComplete(count) runs. */
  readonly results: Int32Array;
  /** The next op's fields, read by queue(): see QUEUE_ARG_*. */
  readonly args: Float64Array;
  /**
   * Queues one op of any kind, whose other fields are in `args`: `buffer` is
   * a view (read, write), an array of views (readv, writev) or null.
   * 0, -errno, or MISALIGNED_MEMORY.
   */
  queue(buffer: ArrayBufferView | readonly ArrayBufferView[] | null, position: number | bigint): number;
  /** Hands every op queued so far to the engine, inline up to args[QUEUE_ARG_INLINE_MAX] ops in the kernel. */
  flush(): void;
  close(): void;
  counters(): [submittedInline: number, wakeups: number, batches: number, fixedOps: number, resubmitted: number];
  /** The latency histogram: LATENCY_BUCKETS counts, then the largest and the sum, in ns. */
  latency(): Float64Array;
  /** Whether the process's credentials changed since the ring was made (it then refuses every op). */
  credentialsChanged(): boolean;
  /** 1: dropped before the kernel; 0: the engine was asked to cancel it; -errno: it cannot. */
  cancel(id: number): number;
  registerFile(fd: number): number;
  unregisterFile(index: number): number;
  registerBuffer(buffer: Buffer): number;
  unregisterBuffer(index: number, buffer: Buffer | undefined): number;
}

/**
 * What statx(STATX_WRITE_ATOMIC) says of a file (addon/files.h, AtomicWrite):
 * unit min, unit max, segments max, unit max opt (0 where none), whether
 * the kernel reported them at all (0 before Linux 6.11), and statfs' f_type.
 */
export type NativeAtomicWrite = [unitMin: number, unitMax: number, segmentsMax: number, unitMaxOpt: number,
  reported: number, filesystem: number];

export interface Binding {
  NativeRing: new (engine: string, entries: number, submitBatch: number, threads: number,
    onComplete: (count: number) => void, sqpollIdleMs: number) => NativeRing;
  allocAligned(size: number, alignment: number): Buffer | number;
  /** With `uncached`, a descriptor that does not take RWF_DONTCACHE is closed again, and `dontcache` is -EOPNOTSUPP. */
  openFile(path: string, flags: number, mode: number,
    callback: (fdOrErrno: number, memory: number, offset: number, source: number, atomicWrite: NativeAtomicWrite,
      dontcache: number) => void, uncached: boolean): void;
  /** statx(STATX_WRITE_ATOMIC) and fstatfs of an open descriptor, or -errno. */
  atomicWriteOf(fd: number): NativeAtomicWrite | number;
  /** The process's credentials may have changed: every ring checks them at its next hand-over. */
  credentialsMayHaveChanged(): void;
  /** Closes a descriptor openFile() returned (the addon closes leftovers at teardown). */
  closeFile(fd: number, callback: (result: number) => void): void;
  alignmentOf(fd: number): [memory: number, offset: number, source: number] | number;
  isAligned(view: ArrayBufferView, alignment: number): boolean;
  kernelRelease(): string | null;
  liburingVersion(): string | null;
  readonly builtWithLiburing: boolean;
  /** How liburing is linked: 'static' in the prebuilt addon, 'shared' (liburing.so), null without it. */
  readonly liburingLinkage: 'static' | 'shared' | null;
  /** The numbers lib/ and the addon agree on, from the addon's headers (addon/binding.cc). */
  readonly constants: Constants;
}

export interface Constants {
  /** Op codes (addon/engine.h, OpCode). */
  readonly OP_READ: number;
  readonly OP_WRITE: number;
  readonly OP_FSYNC: number;
  readonly OP_FDATASYNC: number;
  readonly OP_READV: number;
  readonly OP_WRITEV: number;
  readonly OP_FALLOCATE: number;
  /** Where queue() finds each field of an op in NativeRing.args (addon/js_ring.h, QueueArg). */
  readonly QUEUE_ARG_CODE: number;
  readonly QUEUE_ARG_FD: number;
  readonly QUEUE_ARG_LENGTH: number;
  readonly QUEUE_ARG_ID: number;
  readonly QUEUE_ARG_MEMORY_ALIGNMENT: number;
  readonly QUEUE_ARG_RW_FLAGS: number;
  readonly QUEUE_ARG_FILE_INDEX: number;
  /** 1: the op's file does direct I/O in the caller, from memory (tmpfs; OpTarget.syncFile). */
  readonly QUEUE_ARG_SYNC_FILE: number;
  /** 1: queue() hands over every op queued, its own included, once it is queued. */
  readonly QUEUE_ARG_FLUSH: number;
  /** The ring's inlineMax (0xffffffff: no limit), written once. */
  readonly QUEUE_ARG_INLINE_MAX: number;
  /** What queue() returns for a buffer address that is not aligned (positive: not an errno). */
  readonly MISALIGNED_MEMORY: number;
  /** The result of an op the ring dropped before submitting it (cancelled): not an errno. */
  readonly DROPPED: number;
  /** The latency histogram (addon/ring.h): its buckets, 2^LATENCY_SUB_BITS per power of two of nanoseconds. */
  readonly LATENCY_BUCKETS: number;
  readonly LATENCY_SUB_BITS: number;
}

// dist/native.js in the package; build/lib/native.js where bench/ compiles the sources.
const packageRoot = [path.join(__dirname, '..'), path.join(__dirname, '..', '..')]
  .find((dir) => fs.existsSync(path.join(dir, 'binding.gyp'))) ?? path.join(__dirname, '..');

/**
 * The addon file in use. ODIRECT_BUILD=Debug loads the debug (or sanitizer)
 * build; otherwise node-gyp-build picks build/Release (a source build), else
 * the prebuilt addon for this platform (prebuilds/linux-x64/).
 */
export const addonPath: string = process.env.ODIRECT_BUILD === 'Debug'
  ? path.join(packageRoot, 'build', 'Debug', 'odirect.node')
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  : (require('node-gyp-build') as { resolve(dir: string): string }).resolve(packageRoot);

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const binding: Binding = require(addonPath);

export const {
  OP_READ, OP_WRITE, OP_FSYNC, OP_FDATASYNC, OP_READV, OP_WRITEV, OP_FALLOCATE,
  QUEUE_ARG_CODE, QUEUE_ARG_FD, QUEUE_ARG_LENGTH, QUEUE_ARG_ID, QUEUE_ARG_MEMORY_ALIGNMENT, QUEUE_ARG_RW_FLAGS,
  QUEUE_ARG_FILE_INDEX, QUEUE_ARG_SYNC_FILE, QUEUE_ARG_FLUSH, QUEUE_ARG_INLINE_MAX,
  MISALIGNED_MEMORY, DROPPED, LATENCY_BUCKETS, LATENCY_SUB_BITS,
} = binding.constants;

/** The system call each op code stands for, as errors name it. */
export const SYSCALLS: Readonly<Record<number, string>> = {
  [OP_READ]: 'read',
  [OP_WRITE]: 'write',
  [OP_FSYNC]: 'fsync',
  [OP_FDATASYNC]: 'fdatasync',
  [OP_READV]: 'read',
  [OP_WRITEV]: 'write',
  [OP_FALLOCATE]: 'fallocate',
};
