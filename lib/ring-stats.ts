// What Ring.stats() reports, and the latency summary it reads from the
// addon's histogram.
import { Histogram } from './histogram';
import type { EngineName } from './engines';
import { LATENCY_BUCKETS, LATENCY_SUB_BITS } from './native';

export interface RingStats {
  engine: EngineName;
  entries: number;
  /** Ops handed to the engine and not yet settled. */
  inFlight: number;
  /** Ops waiting in JS for room in the ring. */
  queued: number;
  submitted: number;
  completed: number;
  errors: number;
  /** Of `submitted`, how many the JS thread submitted itself. */
  submittedInline: number;
  /**
   * aio: of `submittedInline`, the reads that could not complete without
   * blocking (RWF_NOWAIT said EAGAIN, or they came back short) and that the
   * submission thread submitted again. 0 on the other engines.
   */
  resubmitted: number;
  /** Times the JS thread woke the submission thread. */
  wakeups: number;
  /** Completion batches handed to JS (one call into JS each). */
  batches: number;
  /** Of `submitted`, the reads and writes into a registered BufferPool (READ_FIXED/WRITE_FIXED). */
  fixedOps: number;
  /** BufferPools registered with this ring now. */
  registeredBuffers: number;
  /** Files registered with this ring now (fixed files; `registerFiles`). */
  registeredFiles: number;
  /** Time from each op's hand-over to the engine until its completion reached JS. */
  latency: LatencyStats;
  /** file.datasync() and file.sync() calls on this ring's files (group commit: see `syncsIssued`). */
  syncsRequested: number;
  /**
   * Of `submitted`, the fdatasync/fsync ops: one system call each (one
   * kernel fsync on io_uring). Callers that arrive while a sync is in flight
   * share the next one, so this is at most `syncsRequested`.
   */
  syncsIssued: number;
}

/**
 * Latencies in microseconds, from a histogram of 8 buckets per power of two:
 * each percentile is the upper bound of its bucket (at most 12.5 % above).
 */
export interface LatencyStats {
  /** Ops measured: every op that was handed to the engine. */
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

const LAYOUT = { subBits: LATENCY_SUB_BITS, buckets: LATENCY_BUCKETS };

/** LatencyStats from NativeRing.latency(): LATENCY_BUCKETS counts, then the largest and the sum, in ns. */
export function latencyStats(values: Float64Array): LatencyStats {
  const histogram = Histogram.fromCounts(LAYOUT, values, values[LATENCY_BUCKETS], values[LATENCY_BUCKETS + 1]);
  const count = histogram.count;
  // Each percentile is the top of its bucket: never below the true value.
  const us = (fraction: number): number => (count === 0 ? 0 : histogram.percentile(fraction, 'upper') / 1000);
  return {
    count,
    mean: count === 0 ? 0 : histogram.mean / 1000,
    p50: us(0.5),
    p90: us(0.9),
    p99: us(0.99),
    p999: us(0.999),
    max: values[LATENCY_BUCKETS] / 1000,
  };
}
