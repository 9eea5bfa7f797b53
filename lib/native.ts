// The addon's surface, as lib/ sees it. Nothing outside lib/ loads the addon.
import path = require('path');

/** One engine instance and its submission thread (addon/ring.h). */
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
  flush(inlineMax: number): void;
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

export interface Binding {
  NativeRing: new (engine: string, entries: number, submitBatch: number, threads: number,
    onComplete: (count: number) => void, sqpollIdleMs: number) => NativeRing;
  allocAligned(size: number, alignment: number): Buffer | number;
  openFile(path: string, flags: number, mode: number,
    callback: (fdOrErrno: number, memory: number, offset: number, source: number) => void): void;
  /** The process's credentials may have changed: every ring checks them at its next hand-over. */
  credentialsMayHaveChanged(): void;
  /** Closes a descriptor openFile() returned (the addon closes leftovers at teardown). */
  closeFile(fd: number, callback: (result: number) => void): void;
  alignmentOf(fd: number): [memory: number, offset: number, source: number] | number;
  isAligned(view: ArrayBufferView, alignment: number): boolean;
  kernelRelease(): string | null;
  liburingVersion(): string | null;
  readonly builtWithLiburing: boolean;
}

/** ODIRECT_BUILD=Debug loads the debug (or sanitizer) build instead of Release. */
const buildType = process.env.ODIRECT_BUILD === 'Debug' ? 'Debug' : 'Release';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const binding: Binding = require(path.join(__dirname, '..', 'build', buildType, 'odirect.node'));

/** Op codes shared with addon/engine.h. */
export const OP_READ = 0;
export const OP_WRITE = 1;
export const OP_FSYNC = 2;
export const OP_FDATASYNC = 3;
/** The system call each op code stands for, as errors name it. */
export const SYSCALLS = ['read', 'write', 'fsync', 'fdatasync', 'read', 'write', 'fallocate'];
export const OP_READV = 4;
export const OP_WRITEV = 5;
export const OP_FALLOCATE = 6;
/** fallocate(2) mode: allocate without changing the file size. */
export const FALLOC_FL_KEEP_SIZE = 1;

/** Buckets of the latency histogram (addon/ring.h, kLatencyBuckets): 8 per power of two of nanoseconds. */
export const LATENCY_BUCKETS = 320;

/** The result of an op the ring dropped before submitting it (cancelled): addon/ring.h, kDropped. */
export const DROPPED = -(1 << 30);

/** Where queue() finds each field of the op in NativeRing.args (addon/binding.cc, Arg). */
export const QUEUE_ARG_CODE = 0;
export const QUEUE_ARG_FD = 1;
export const QUEUE_ARG_LENGTH = 2;
export const QUEUE_ARG_ID = 3;
export const QUEUE_ARG_MEMORY_ALIGNMENT = 4;
export const QUEUE_ARG_RW_FLAGS = 5;
export const QUEUE_ARG_FILE_INDEX = 6;

/** What queue() returns for a buffer address that is not aligned (addon/binding.cc). */
export const MISALIGNED_MEMORY = 1;

/** RWF_DSYNC from <linux/fs.h> (Linux 4.7): this write is durable when it completes. */
export const RWF_DSYNC = 0x2;
