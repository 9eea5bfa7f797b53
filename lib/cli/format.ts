// Figures as people read them: plain-text tables, rates, sizes, ratios.

/** Plain-text columns; the first row is the heading. */
export function table(rows: string[][], rightAligned: (column: number) => boolean): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows.map((row) => row.map((cell, c) => (rightAligned(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
    .join('  ').trimEnd()).join('\n');
}

export const fmtIops = (iops: number): string => Math.round(iops).toLocaleString('en-US');
export const fmtRatio = (ratio: number | undefined): string =>
  (ratio === undefined || Number.isNaN(ratio) ? '-' : `${ratio.toFixed(2)}x`);

const UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 -> "1.50 KiB"; below 1 KiB, "123 bytes". */
export function formatBytes(bytes: number): string {
  let unit = 0;
  let value = bytes;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}` : `${value.toFixed(2)} ${UNITS[unit]}`;
}

/** Bytes per second as MiB/s, with a precision that suits the figure. */
export function formatMiBps(bytesPerSecond: number): string {
  const mib = bytesPerSecond / 2 ** 20;
  return `${mib >= 100 ? mib.toFixed(0) : mib.toFixed(1)} MiB/s`;
}

/** A latency in µs: "85.3 µs", "1.24 ms", "2.01 s". */
export function formatMicros(us: number): string {
  if (us < 1000) return `${us.toFixed(1)} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(2)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}
