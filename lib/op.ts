// An op: one request, in the one shape it has from the method that makes it
// to the engine.

/** What a request is on behalf of: a DirectFile, or a bare descriptor. */
export interface OpTarget {
  readonly fd: number;
  readonly path: string | undefined;
  /** Whether the descriptor bypasses the page cache; undefined when unknown (a caller's descriptor). */
  readonly direct: boolean | undefined;
  /** The slot registerFile() gave this target's descriptor, or -1. */
  readonly fileIndex: number;
  /**
   * Whether the file does direct I/O in the caller, from memory (a tmpfs
   * file opened O_DIRECT): the engines read it on the JS thread, where
   * io_uring would hand each read to a worker and Linux AIO refuse
   * RWF_NOWAIT. False where unknown (a caller's descriptor).
   */
  readonly syncFile: boolean;
  /** Called when an op of this target is handed to the ring and when it settles. */
  opStarted(): void;
  opSettled(): void;
}

/**
 * One request. It is handed to Ring.submit(), waits there for room if need
 * be, sits in the request table while the engine has it, and is read again
 * when it settles. The addon copies its fields into the engine's Op
 * (addon/engine.h). An option of an op is a bit of `rwFlags`, not a field.
 */
export interface Op {
  /** OP_READ, OP_WRITE... (lib/native.ts) */
  readonly code: number;
  readonly target: OpTarget;
  readonly fd: number;
  /**
   * A view (read, write), an array of views (readv, writev: the whole of
   * each), or null. Referenced until the op settles.
   */
  buffer: ArrayBufferView | readonly ArrayBufferView[] | null;
  readonly position: number | bigint;
  /** Bytes: to transfer (a vectored op's total), or to allocate. */
  readonly length: number;
  /** What the buffers' addresses must be multiples of (1: anything). */
  readonly memoryAlignment: number;
  /** RWF_* for reads and writes (RWF_DSYNC...); fallocate(2)'s mode (lib/kernel.ts). */
  readonly rwFlags: number;
  readonly signal: AbortSignal | undefined;
}
