// Statistics of a run: medians over rounds, and latency histograms.
export { Histogram } from '../histogram';
export type { LatencySummary } from '../histogram';

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
