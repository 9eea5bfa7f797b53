// Charts (SVG, written by hand: no dependencies) from the benchmarks' JSON.
//
// From a randread report (randread.js --out / --json): a bar chart of the
// median IOPS of each contender, with a line from the lowest to the highest
// round, so the noise shows next to the median.
//
// From a matrix report (matrix.js --out): IOPS against queue depth for one
// kind of workload in one place (default: 4 KiB random reads on the disk), one
// line per contender through its medians, each point with a bar from its
// lowest to its highest round.
//
//   node build/bench/chart.js bench/results/randread-qd64.json [docs/bench-randread-qd64.svg]
//   node build/bench/chart.js bench/results/matrix.json [docs/bench-randread-qd-curve.svg] [--place disk] [--kind randread]
import fs = require('fs');
import { parseArgs } from 'util';
import { Summary } from './common';
import type { MatrixReport, WorkloadResult } from './matrix';

interface Report {
  machine: {
    date: string; kernel: string; node: string; fio: string | null; cpus: number; defaultEngine: string;
    uvThreadpoolSize: string; device: { name: string; filesystem: string | null } | null;
  };
  config: { bs: number; iodepth: number; seconds: number; rounds: number; file?: string; threads?: number };
  baselines: string[];
  summary: Summary[];
}

const COLORS: Record<string, string> = { odirect: '#2f6db5', 'fs.promises': '#8c8c8c', fio: '#d0822a', floor: '#3a8f4a' };

/** Where the file lies: its block device and filesystem, or its path when it has no device (tmpfs). */
function place(device: { name: string; filesystem: string | null } | null | undefined, file = 'the file'): string {
  return device ? `${device.name} (${device.filesystem ?? 'unknown filesystem'})` : `${file}, no block device`;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A round number (1, 2 or 5 times a power of ten) at or above `value`/`steps`, for the axis. */
function niceStep(value: number, steps: number): number {
  const raw = value / steps;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 2.5, 5, 10]) if (factor * power >= raw) return factor * power;
  return 10 * power;
}

export function chart(report: Report): string {
  const bars = report.summary;
  const width = 800;
  const left = 210; // room for the contender names
  const right = 300; // room for the value and ratio labels
  const top = 104;
  const barHeight = 24;
  const gap = 12;
  const plotWidth = width - left - right;
  const height = top + bars.length * (barHeight + gap) + 56;
  const max = Math.max(...bars.map((b) => b.maxIops));
  const step = niceStep(max, 5);
  const axisMax = Math.ceil(max / step) * step;
  const x = (iops: number): number => left + (iops / axisMax) * plotWidth;
  const { machine, config } = report;
  // fio (the first fio engine, the bar to meet) and fs.promises, in that order.
  const fio = report.baselines.find((b) => b.startsWith('fio'));
  const floor = report.baselines.find((b) => b.startsWith('C floor (epoll)'));
  const references = [...(fio !== undefined ? [fio] : []), ...(floor !== undefined ? [floor] : []),
    ...report.baselines.filter((b) => b === 'fs.promises')];

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    'font-family="Helvetica, Arial, sans-serif" font-size="12">');
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  const notes = [
    `${config.rounds} interleaved rounds of ${config.seconds} s; bars are medians, lines span the lowest to the highest round.`,
    `odirect = the default ring (${machine.defaultEngine}); fs.promises on an O_DIRECT descriptor, libuv pool ` +
      `${machine.uvThreadpoolSize.startsWith('unset') ? 'at its default (4 threads)' : `of ${machine.uvThreadpoolSize}`}.`,
    `${machine.date.slice(0, 10)}, Linux ${machine.kernel}, Node ${machine.node}, ${machine.fio ?? 'no fio'}, ` +
      `${machine.cpus} CPUs, ${place(machine.device, config.file)}. A shared, noisy machine.`,
  ];
  parts.push(`<text x="12" y="22" font-size="15" font-weight="bold">` +
    `${escape(`${config.bs / 1024} KiB random reads, queue depth ${config.iodepth}` +
      `${(config.threads ?? 1) > 1 ? ` in each of ${config.threads} threads` : ''}: IOPS`)}</text>`);
  notes.forEach((note, i) => parts.push(`<text x="12" y="${42 + i * 16}" fill="#555">${escape(note)}</text>`));

  const axisY = top + bars.length * (barHeight + gap);
  for (let tick = 0; tick <= axisMax; tick += step) {
    const tx = x(tick).toFixed(1);
    parts.push(`<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${axisY}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${tx}" y="${axisY + 16}" text-anchor="middle" fill="#555">${tick >= 1000 ? `${tick / 1000}k` : tick}</text>`);
  }
  parts.push(`<text x="${left + plotWidth / 2}" y="${axisY + 36}" text-anchor="middle" fill="#333">IOPS (median of rounds)</text>`);

  bars.forEach((bar, i) => {
    const y = top + i * (barHeight + gap);
    const color = COLORS[bar.kind] ?? '#555';
    parts.push(`<text x="${left - 8}" y="${y + barHeight / 2 + 4}" text-anchor="end">${escape(bar.contender)}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${(x(bar.medianIops) - left).toFixed(1)}" height="${barHeight}" fill="${color}"/>`);
    const mid = y + barHeight / 2;
    parts.push(`<line x1="${x(bar.minIops).toFixed(1)}" y1="${mid}" x2="${x(bar.maxIops).toFixed(1)}" y2="${mid}" stroke="#000" stroke-width="1.5"/>`);
    for (const end of [bar.minIops, bar.maxIops]) {
      parts.push(`<line x1="${x(end).toFixed(1)}" y1="${mid - 5}" x2="${x(end).toFixed(1)}" y2="${mid + 5}" stroke="#000" stroke-width="1.5"/>`);
    }
    // The median per-round ratios to the baselines (fio first), as the report computed them.
    const ratios = references.filter((b) => b !== bar.contender && Number.isFinite(bar.medianRatio[b]))
      .map((b) => `${bar.medianRatio[b].toFixed(2)}x ${b.startsWith('fio') ? 'fio' : b.startsWith('C floor') ? 'floor' : 'fs'}`);
    const label = Math.round(bar.medianIops).toLocaleString('en-US') + (ratios.length > 0 ? ` (${ratios.join(', ')})` : '');
    parts.push(`<text x="${(x(Math.max(bar.maxIops, bar.medianIops)) + 6).toFixed(1)}" y="${mid + 4}">${escape(label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

// ------------------------------------------------------ queue-depth curve

/** How each contender's line looks: odirect in blues, fio in oranges, fs.promises grey. */
const LINE_STYLES: Record<string, { color: string; dash?: string; width: number }> = {
  odirect: { color: '#1f5fae', width: 3 },
  'odirect[io_uring]': { color: '#1f5fae', width: 3 },
  'odirect[aio]': { color: '#4f94d4', dash: '8 4', width: 2 },
  'odirect[threadpool]': { color: '#86b6e6', dash: '2 3', width: 2 },
  'fs.promises': { color: '#7a7a7a', width: 2.5 },
  'fio io_uring': { color: '#d0822a', width: 2.5 },
  'fio libaio': { color: '#b4541d', dash: '8 4', width: 2 },
  'fio io_uring-fixed': { color: '#e9b04f', dash: '2 3', width: 2 },
  'fio io_uring-batch': { color: '#f2c28a', dash: '6 2', width: 2 },
};

/** Spreads label positions (sorted top to bottom) at least `gap` apart, inside [low, high]. */
function spread(positions: number[], gap: number, low: number, high: number): number[] {
  const out = [...positions];
  for (let i = 1; i < out.length; i++) out[i] = Math.max(out[i], out[i - 1] + gap);
  if (out.length > 0 && out[out.length - 1] > high) out[out.length - 1] = high;
  for (let i = out.length - 2; i >= 0; i--) out[i] = Math.min(out[i], out[i + 1] - gap);
  if (out.length > 0 && out[0] < low) for (let i = 0; i < out.length; i++) out[i] = Math.max(out[i], low + i * gap);
  return out;
}

/** The workloads of one kind ("randread": rand, read) in one place, by queue depth. */
function curveResults(report: MatrixReport, place: string, kind: string): WorkloadResult[] {
  return report.results
    .filter((r) => r.place === place && `${r.workload.access === 'random' ? 'rand' : 'seq'}${r.workload.op}` === kind)
    .sort((a, b) => a.workload.iodepth - b.workload.iodepth);
}

export function curveChart(report: MatrixReport, place: string, kind: string): string {
  const results = curveResults(report, place, kind);
  if (results.length === 0) throw new Error(`the report has no ${kind} workloads on ${place}`);
  const qds = results.map((r) => r.workload.iodepth);
  const contenders = [...new Set(results.flatMap((r) => r.contenders))];
  const point = (result: WorkloadResult, contender: string): Summary | undefined =>
    result.summary.find((s) => s.contender === contender);

  const width = 860;
  const left = 72;
  const right = 250; // the line labels
  const top = 118;
  const plotHeight = 360;
  const height = top + plotHeight + 64;
  const plotWidth = width - left - right;
  const max = Math.max(...results.flatMap((r) => r.summary.map((s) => s.maxIops)));
  const step = niceStep(max, 6);
  const axisMax = Math.ceil(max / step) * step;
  const lowQd = Math.log2(Math.min(...qds));
  const highQd = Math.log2(Math.max(...qds));
  const x = (qd: number): number => left + (highQd === lowQd ? plotWidth / 2 : ((Math.log2(qd) - lowQd) / (highQd - lowQd)) * plotWidth);
  const y = (iops: number): number => top + plotHeight - (iops / axisMax) * plotHeight;
  const { machine, config } = report;
  const first = results[0];
  const placeRecord = report.places.find((p) => p.name === place);
  const where = `${first.filesystem ?? place}${placeRecord?.device ? ` (${placeRecord.device.name})` : ''}`;
  const bs = first.workload.bs >= 1 << 20 ? `${first.workload.bs / 2 ** 20} MiB` : `${first.workload.bs / 1024} KiB`;
  const what = `${bs} ${first.workload.access} ${first.workload.op}s`;
  const loads = results.map((r) => r.loadAverage[0]);

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    'font-family="Helvetica, Arial, sans-serif" font-size="12">');
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(`<text x="12" y="22" font-size="15" font-weight="bold">${escape(`${what} on ${where}: IOPS against queue depth`)}</text>`);
  const notes = [
    `Medians of ${config.rounds} interleaved rounds of ${config.seconds} s at each depth; the bar at each point spans the lowest to the highest round.`,
    `odirect = the default ring (${machine.defaultEngine}); fs.promises on an O_DIRECT descriptor (libuv pool ` +
      `${machine.uvThreadpoolSize.startsWith('unset') ? 'of 4 threads' : `of ${machine.uvThreadpoolSize}`}); fio --direct=1.`,
    `${machine.date.slice(0, 10)}, Linux ${machine.kernel}, Node ${machine.node}, ${machine.fio ?? 'no fio'}, ${machine.cpus} CPUs.`,
    `A shared machine, busy with other work: 1-min load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} ` +
      'at the start of these workloads.',
  ];
  notes.forEach((note, i) => parts.push(`<text x="12" y="${42 + i * 16}" fill="#555">${escape(note)}</text>`));

  // Axes and grid.
  for (let tick = 0; tick <= axisMax; tick += step) {
    const ty = y(tick).toFixed(1);
    parts.push(`<line x1="${left}" y1="${ty}" x2="${left + plotWidth}" y2="${ty}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${left - 8}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end" fill="#555">${tick >= 1000 ? `${tick / 1000}k` : tick}</text>`);
  }
  for (const qd of qds) {
    const tx = x(qd).toFixed(1);
    parts.push(`<line x1="${tx}" y1="${top}" x2="${tx}" y2="${top + plotHeight}" stroke="#eeeeee"/>`);
    parts.push(`<text x="${tx}" y="${top + plotHeight + 18}" text-anchor="middle" fill="#333">${qd}</text>`);
  }
  parts.push(`<line x1="${left}" y1="${top + plotHeight}" x2="${left + plotWidth}" y2="${top + plotHeight}" stroke="#999"/>`);
  parts.push(`<text x="${left + plotWidth / 2}" y="${top + plotHeight + 40}" text-anchor="middle" fill="#333">queue depth (log scale)</text>`);
  parts.push(`<text x="16" y="${top + plotHeight / 2}" text-anchor="middle" fill="#333" ` +
    `transform="rotate(-90 16 ${top + plotHeight / 2})">IOPS (median of rounds)</text>`);

  // One line per contender, drawn fio and fs.promises first so odirect's lines are on top.
  const order = [...contenders].sort((a, b) => Number(a.startsWith('odirect')) - Number(b.startsWith('odirect')));
  const ends: { contender: string; y: number; label: string }[] = [];
  for (const contender of order) {
    const style = LINE_STYLES[contender] ?? { color: '#555', width: 2 };
    const points = results.map((r) => ({ qd: r.workload.iodepth, s: point(r, contender) }))
      .filter((p): p is { qd: number; s: Summary } => p.s !== undefined);
    if (points.length === 0) continue;
    for (const p of points) {
      parts.push(`<line x1="${x(p.qd).toFixed(1)}" y1="${y(p.s.minIops).toFixed(1)}" x2="${x(p.qd).toFixed(1)}" ` +
        `y2="${y(p.s.maxIops).toFixed(1)}" stroke="${style.color}" stroke-width="1.2" opacity="0.55"/>`);
    }
    const path = points.map((p) => `${x(p.qd).toFixed(1)},${y(p.s.medianIops).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${path}" fill="none" stroke="${style.color}" stroke-width="${style.width}"` +
      `${style.dash ? ` stroke-dasharray="${style.dash}"` : ''} stroke-linejoin="round"/>`);
    for (const p of points) {
      parts.push(`<circle cx="${x(p.qd).toFixed(1)}" cy="${y(p.s.medianIops).toFixed(1)}" r="3.2" fill="${style.color}"/>`);
    }
    const last = points[points.length - 1];
    ends.push({ contender, y: y(last.s.medianIops), label: `${contender}  ${Math.round(last.s.medianIops).toLocaleString('en-US')}` });
  }
  // Labels at the right, next to each line's last point, spread so they do not overlap.
  ends.sort((a, b) => a.y - b.y);
  const labelYs = spread(ends.map((e) => e.y), 16, top + 6, top + plotHeight);
  const lastX = x(qds[qds.length - 1]);
  ends.forEach((end, i) => {
    const style = LINE_STYLES[end.contender] ?? { color: '#555', width: 2 };
    parts.push(`<line x1="${(lastX + 5).toFixed(1)}" y1="${end.y.toFixed(1)}" x2="${(lastX + 22).toFixed(1)}" ` +
      `y2="${labelYs[i].toFixed(1)}" stroke="${style.color}" stroke-width="1"/>`);
    parts.push(`<text x="${(lastX + 26).toFixed(1)}" y="${(labelYs[i] + 4).toFixed(1)}" fill="${style.color === '#86b6e6' || style.color === '#e9b04f' ? '#555' : style.color}"` +
      `${end.contender === 'odirect' ? ' font-weight="bold"' : ''}>${escape(end.label)}</text>`);
  });
  parts.push(`<text x="${(lastX + 26).toFixed(1)}" y="${top - 8}" fill="#555">median IOPS at QD ${qds[qds.length - 1]}</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

// --------------------------------------------------------------------- main

function main(): void {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: { place: { type: 'string', default: 'disk' }, kind: { type: 'string', default: 'randread' } },
    allowPositionals: true,
  });
  const [input, output] = positionals;
  if (input === undefined) {
    process.stderr.write('Usage: node build/bench/chart.js results.json [out.svg]\n' +
      '       node build/bench/chart.js matrix.json [out.svg] [--place disk|shm] [--kind randread|randwrite]\n');
    process.exit(2);
  }
  const report = JSON.parse(fs.readFileSync(input, 'utf8')) as Report | MatrixReport;
  let svg: string;
  let file: string;
  if ('benchmark' in report && report.benchmark === 'matrix') {
    svg = curveChart(report, values.place!, values.kind!);
    file = output ?? `docs/bench-${values.kind}-qd-curve${values.place === 'disk' ? '' : `-${values.place}`}.svg`;
  } else {
    svg = chart(report as Report);
    file = output ?? 'docs/bench-randread-qd64.svg';
  }
  fs.writeFileSync(file, svg);
  process.stderr.write(`wrote ${file}\n`);
}

if (require.main === module) main();
