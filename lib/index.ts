// odirect: asynchronous direct I/O (O_DIRECT) for Node.js on Linux, through
// io_uring, Linux AIO, or a thread pool.
export { open, readAt, writeAt, alignmentOf, atomicWriteOf, DirectFile } from './file';
export type { Alignment, AlignmentSource, FileMode, OpenOptions, PathLike } from './file';
export type { AtomicWriteLimits } from './atomic';
export type { IoOptions } from './checks';
export { allocAligned, isAligned } from './alloc';
export { Ring, defaultRing } from './ring';
export type { RingOptions } from './ring-options';
export type { RingStats, LatencyStats } from './ring-stats';
export { ENGINES } from './engines';
export type { EngineName, EngineAttempt } from './engines';
export type { ErrnoError, AbortError, AbortedWhere } from './errors';
export { probe } from './probe';
export type { ProbeReport, EngineReport, PathProbe } from './probe';
export { BufferPool } from './pool';
export type { BufferPoolOptions } from './pool';
export type { ReadRange, ReadOptions, ReadManyOptions } from './ranges';
export { createReadStream, createWriteStream, DirectReadStream, DirectWriteStream } from './stream';
export type { ReadStreamOptions, WriteStreamOptions } from './stream';
