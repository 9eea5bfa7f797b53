// Statistics of a run: medians over rounds, and latency histograms.

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Sub-buckets per power of two: 2^5 = 32, so a bucket spans at most 1/32 (3.1 %) of its values. */
const SUB_BITS = 5;
const SUB_COUNT = 1 << SUB_BITS;
/** Values up to 2^40 ns (18 minutes) get their own bucket; longer ones land in the last. */
const MAX_EXPONENT = 40;
const BUCKETS = (MAX_EXPONENT - SUB_BITS + 2) * SUB_COUNT;

export interface LatencySummary {
  /** Recorded values. */
  count: number;
  /** In µs. */
  min: number;
  mean: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/**
 * Latencies in nanoseconds, counted in log-linear buckets (as HdrHistogram
 * does): values below 32 ns each have a bucket, and every power of two above
 * is cut into 32 equal buckets. Recording is a few integer operations and one
 * increment in a preallocated array: nothing is allocated per value, so it
 * can sit in a benchmark's hot loop.
 */
export class Histogram {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = 0;

  /** Records one latency of `ns` nanoseconds (rounded down to an integer; negative counts as 0). */
  record(ns: number): void {
    const value = ns > 0 ? Math.floor(ns) : 0;
    this.#counts[Histogram.bucketOf(value)]++;
    this.#count++;
    this.#sum += value;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  get count(): number { return this.#count; }

  /** The bucket that holds `value` (an integer >= 0). */
  static bucketOf(value: number): number {
    if (value < SUB_COUNT) return value;
    // The exponent of the highest set bit; Math.clz32 covers values below 2^32.
    const exponent = value < 2 ** 32 ? 31 - Math.clz32(value) : Math.min(Math.floor(Math.log2(value)), MAX_EXPONENT);
    const sub = Math.floor(value / 2 ** (exponent - SUB_BITS)) - SUB_COUNT;
    return Math.min((exponent - SUB_BITS + 1) * SUB_COUNT + Math.min(sub, SUB_COUNT - 1), BUCKETS - 1);
  }

  /** The smallest value bucket `index` holds, and the first value past it. */
  static bucketRange(index: number): [low: number, high: number] {
    if (index < SUB_COUNT) return [index, index + 1];
    const exponent = Math.floor(index / SUB_COUNT) - 1 + SUB_BITS;
    const sub = index % SUB_COUNT;
    const width = 2 ** (exponent - SUB_BITS);
    return [(SUB_COUNT + sub) * width, (SUB_COUNT + sub + 1) * width];
  }

  /**
   * The value below which `fraction` of the recorded values lie: the middle
   * of the bucket that holds the value of that rank, kept within the smallest
   * and largest values seen. NaN when nothing was recorded.
   */
  percentile(fraction: number): number {
    if (this.#count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(fraction * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i];
      if (seen >= rank) {
        const [low, high] = Histogram.bucketRange(i);
        return Math.min(Math.max((low + high - 1) / 2, this.#min), this.#max);
      }
    }
    return this.#max;
  }

  /** Adds another histogram's counts to this one. */
  add(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.#counts[i] += other.#counts[i];
    this.#count += other.#count;
    this.#sum += other.#sum;
    this.#min = Math.min(this.#min, other.#min);
    this.#max = Math.max(this.#max, other.#max);
  }

  /** Count, and min, mean, p50, p99, p99.9 and max in µs. */
  summary(): LatencySummary {
    const us = (ns: number): number => ns / 1000;
    return {
      count: this.#count,
      min: us(this.#count === 0 ? NaN : this.#min),
      mean: us(this.#count === 0 ? NaN : this.#sum / this.#count),
      p50: us(this.percentile(0.5)),
      p99: us(this.percentile(0.99)),
      p999: us(this.percentile(0.999)),
      max: us(this.#count === 0 ? NaN : this.#max),
    };
  }
}
