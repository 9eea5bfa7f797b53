// The one log-linear histogram of the package: the ring's latencies (counted
// by the addon, addon/ring.cc LatencyBucket) and the bench command's
// (counted here) are read with it.

/** The shape of a histogram: 2^subBits buckets per power of two, and how many buckets in all. */
export interface HistogramLayout {
  readonly subBits: number;
  readonly buckets: number;
}

/** 32 buckets per power of two (each at most 3.1 % wide), up to 2^40 ns (18 minutes); longer values land in the last. */
const DEFAULT_LAYOUT: HistogramLayout = { subBits: 5, buckets: (40 - 5 + 2) * 32 };

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
 * does): values below 2^subBits each have a bucket, and every power of two
 * above is cut into 2^subBits equal buckets. Recording is a few integer
 * operations and one increment in a preallocated array: nothing is
 * allocated per value, so it can sit in a benchmark's hot loop.
 */
export class Histogram {
  readonly #subBits: number;
  readonly #subCount: number;
  readonly #counts: Float64Array;
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = 0;

  constructor(layout: HistogramLayout = DEFAULT_LAYOUT) {
    this.#subBits = layout.subBits;
    this.#subCount = 2 ** layout.subBits;
    this.#counts = new Float64Array(layout.buckets);
  }

  /**
   * A histogram of counts kept elsewhere in this layout (the addon's), with
   * the largest value and the sum. The smallest is taken as the low end of
   * the first bucket that holds any.
   */
  static fromCounts(layout: HistogramLayout, counts: ArrayLike<number>, max: number, sum: number): Histogram {
    const histogram = new Histogram(layout);
    for (let i = 0; i < layout.buckets; i++) {
      const count = counts[i];
      if (count === 0) continue;
      histogram.#counts[i] = count;
      histogram.#count += count;
      if (histogram.#min === Infinity) histogram.#min = histogram.bucketRange(i)[0];
    }
    histogram.#max = max;
    histogram.#sum = sum;
    return histogram;
  }

  /** Records one latency of `ns` nanoseconds (rounded down to an integer; negative counts as 0). */
  record(ns: number): void {
    const value = ns > 0 ? Math.floor(ns) : 0;
    this.#counts[this.bucketOf(value)]++;
    this.#count++;
    this.#sum += value;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  get count(): number { return this.#count; }

  /** The bucket that holds `value` (an integer >= 0). */
  bucketOf(value: number): number {
    const subBits = this.#subBits;
    const subCount = this.#subCount;
    if (value < subCount) return value;
    // The exponent of the highest set bit; Math.clz32 covers values below 2^32.
    const exponent = value < 2 ** 32 ? 31 - Math.clz32(value) : Math.floor(Math.log2(value));
    const sub = Math.floor(value / 2 ** (exponent - subBits)) - subCount;
    return Math.min((exponent - subBits + 1) * subCount + Math.min(sub, subCount - 1), this.#counts.length - 1);
  }

  /** The smallest value bucket `index` holds, and the first value past it. */
  bucketRange(index: number): [low: number, high: number] {
    const subBits = this.#subBits;
    const subCount = this.#subCount;
    if (index < subCount) return [index, index + 1];
    const exponent = Math.floor(index / subCount) - 1 + subBits;
    const sub = index % subCount;
    const width = 2 ** (exponent - subBits);
    return [(subCount + sub) * width, (subCount + sub + 1) * width];
  }

  /**
   * The value below which `fraction` of the recorded values lie, from the
   * bucket that holds the value of that rank: its middle (`'middle'`), or
   * the first value past it (`'upper'`: never below the true value), kept
   * within the smallest and largest values seen. NaN when nothing was
   * recorded.
   */
  percentile(fraction: number, estimate: 'middle' | 'upper' = 'middle'): number {
    if (this.#count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(fraction * this.#count));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i];
      if (seen >= rank) {
        const [low, high] = this.bucketRange(i);
        const value = estimate === 'upper' ? high : (low + high - 1) / 2;
        return Math.min(Math.max(value, this.#min), this.#max);
      }
    }
    return this.#max;
  }

  /** Adds another histogram's counts (of the same layout) to this one. */
  add(other: Histogram): void {
    for (let i = 0; i < this.#counts.length; i++) this.#counts[i] += other.#counts[i];
    this.#count += other.#count;
    this.#sum += other.#sum;
    this.#min = Math.min(this.#min, other.#min);
    this.#max = Math.max(this.#max, other.#max);
  }

  /** The mean, NaN when nothing was recorded. */
  get mean(): number { return this.#count === 0 ? NaN : this.#sum / this.#count; }

  /** Count, and min, mean, p50, p99, p99.9 and max in µs. */
  summary(): LatencySummary {
    const us = (ns: number): number => ns / 1000;
    return {
      count: this.#count,
      min: us(this.#count === 0 ? NaN : this.#min),
      mean: us(this.mean),
      p50: us(this.percentile(0.5)),
      p99: us(this.percentile(0.99)),
      p999: us(this.percentile(0.999)),
      max: us(this.#count === 0 ? NaN : this.#max),
    };
  }
}
