// Draws a bar chart (SVG, written by hand: no dependencies) of the median IOPS
// of each contender in a randread report (randread.js --out / --json), with
// a line from the lowest to the highest round, so the noise shows next to
// the median.
//
//   node build/bench/chart.js results.json [docs/bench-randread-qd64.svg]
import fs = require('fs');
import { Summary } from './common';

interface Report {
  machine: {
    date: string; kernel: string; node: string; fio: string | null; cpus: number; defaultEngine: string;
    uvThreadpoolSize: string; device: { name: string; filesystem: string | null } | null;
  };
  config: { bs: number; iodepth: number; seconds: number; rounds: number };
  baselines: string[];
  summary: Summary[];
}

const COLORS: Record<string, string> = { odirect: '#2f6db5', 'fs.promises': '#8c8c8c', fio: '#d0822a' };

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
  const right = 230; // room for the value and ratio labels
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
  const references = [...(fio !== undefined ? [fio] : []), ...report.baselines.filter((b) => b === 'fs.promises')];

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    'font-family="Helvetica, Arial, sans-serif" font-size="12">');
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  const notes = [
    `${config.rounds} interleaved rounds of ${config.seconds} s; bars are medians, lines span the lowest to the highest round.`,
    `odirect = the default ring (${machine.defaultEngine}); fs.promises on an O_DIRECT descriptor, libuv pool ` +
      `${machine.uvThreadpoolSize.startsWith('unset') ? 'at its default (4 threads)' : `of ${machine.uvThreadpoolSize}`}.`,
    `${machine.date.slice(0, 10)}, Linux ${machine.kernel}, Node ${machine.node}, ${machine.fio ?? 'no fio'}, ` +
      `${machine.cpus} CPUs, ${machine.device?.name ?? '?'} (${machine.device?.filesystem ?? '?'}). A shared, noisy machine.`,
  ];
  parts.push(`<text x="12" y="22" font-size="15" font-weight="bold">` +
    `${escape(`${config.bs / 1024} KiB random reads, queue depth ${config.iodepth}: IOPS`)}</text>`);
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
      .map((b) => `${bar.medianRatio[b].toFixed(2)}x ${b.startsWith('fio') ? 'fio' : 'fs'}`);
    const label = Math.round(bar.medianIops).toLocaleString('en-US') + (ratios.length > 0 ? ` (${ratios.join(', ')})` : '');
    parts.push(`<text x="${(x(Math.max(bar.maxIops, bar.medianIops)) + 6).toFixed(1)}" y="${mid + 4}">${escape(label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function main(): void {
  const [input, output = 'docs/bench-randread-qd64.svg'] = process.argv.slice(2);
  if (input === undefined) {
    process.stderr.write('Usage: node build/bench/chart.js results.json [out.svg]\n');
    process.exit(2);
  }
  const report = JSON.parse(fs.readFileSync(input, 'utf8')) as Report;
  fs.writeFileSync(output, chart(report));
  process.stderr.write(`wrote ${output}\n`);
}

if (require.main === module) main();
