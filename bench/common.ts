// Pieces every benchmark of odirect shares: the facts about the machine that
// a figure means nothing without, and the summary of interleaved rounds.
// Workload scripts (randread.ts, and the issue-4 matrix in matrix.ts) build on
// these, and on what they share with `odirect bench` (the data files, the
// seeded offsets, fio, tables), from the sources in lib/cli/ (not a part of
// the package's exports).
import os = require('os');
import { defaultRing } from '../lib/index';
import { fioVersion } from '../lib/cli/fio';
import { BlockDevice, blockDeviceOf } from '../lib/cli/machine';
import { median } from '../lib/cli/stats';

export { parsePositive, parseSize, listOf } from '../lib/cli/args';
export {
  generator, workerSeed, randomOffsets, sequentialOffsets, holdsPattern, FilePattern, OFFSET_PATTERN, CONSTANT_PATTERN_HEX, CONSTANT_PATTERN,
  prepareFile, checkFile,
} from '../lib/cli/workload';
export { fioVersion, FioResult, fioRuntime, runFio } from '../lib/cli/fio';
export { runToEnd } from '../lib/cli/child';
export { BlockDevice, filesystemOf, blockDeviceOf } from '../lib/cli/machine';
export { median } from '../lib/cli/stats';
export { table, fmtIops, fmtRatio } from '../lib/cli/format';

/**
 * The fio contenders the benchmarks know: io_uring, libaio, io_uring-fixed
 * (registered buffers and file), io_uring-batch (half the depth submitted
 * per io_uring_enter; fio's default is one read per call).
 */
export const FIO_ENGINES = ['io_uring', 'libaio', 'io_uring-fixed', 'io_uring-batch'];

/** Checks each of `engines` (the --fio-engine list, where 'none' is also taken). */
export function checkFioEngines(engines: string[]): void {
  for (const engine of engines) {
    if (engine !== 'none' && !FIO_ENGINES.includes(engine)) {
      throw new Error(`--fio-engine: '${engine}' is not one of ${FIO_ENGINES.join(', ')}, none`);
    }
  }
}

/** fio's options for the contender `engine` at queue depth `iodepth`. */
export function fioEngineArgs(engine: string, iodepth: number): string[] {
  return [
    `--iodepth=${iodepth}`, `--ioengine=${engine.startsWith('io_uring') ? 'io_uring' : engine}`,
    ...(engine === 'io_uring-fixed' ? ['--fixedbufs=1', '--registerfiles=1'] : []),
    ...(engine === 'io_uring-batch'
      ? [`--iodepth_batch_submit=${Math.max(1, Math.floor(iodepth / 2))}`, `--iodepth_batch_complete_max=${iodepth}`]
      : []),
  ];
}

/** Progress, to stderr: stdout is the report's. */
export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

// ----------------------------------------------------------------- machine

export interface Machine {
  date: string;
  kernel: string;
  node: string;
  fio: string | null;
  cpus: number;
  cpuModel: string;
  /** As set in the environment; libuv's pool has 4 threads when it is not. */
  uvThreadpoolSize: string;
  odirectEngineEnv: string | null;
  defaultEngine: string;
  loadAverage: number[];
  device: BlockDevice | null;
}

export function describeMachine(file: string): Machine {
  return {
    date: new Date().toISOString(),
    kernel: os.release(),
    node: process.version,
    fio: fioVersion(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? 'unset (4)',
    odirectEngineEnv: process.env.ODIRECT_ENGINE ?? null,
    defaultEngine: defaultRing().engine,
    loadAverage: os.loadavg(),
    device: blockDeviceOf(file),
  };
}

/** One contender's line of a report (the JSON that bench/chart.ts reads). */
export interface Summary {
  contender: string;
  kind: string;
  medianIops: number;
  minIops: number;
  maxIops: number;
  medianCpuUsPerOp: number;
  /** The same, user and system apart (where the contender reports them). */
  medianUserUsPerOp?: number;
  medianSystemUsPerOp?: number;
  /** Median over rounds of the event loop's delay p99 in the turn, ms (JS contenders). */
  medianEventLoopDelayP99Ms?: number;
  /** Median over rounds of (this contender / baseline) from the same round. */
  medianRatio: Record<string, number>;
  opsPerBatch?: number;
  opsPerWakeup?: number;
}

// ------------------------------------------------------------ summarizing

/** What a summary needs of one contender's turn in one round. */
export interface RoundSample {
  contender: string;
  round: number;
  iops: number;
  /** CPU time per op, µs. */
  cpuUsPerOp: number;
  userUsPerOp?: number;
  systemUsPerOp?: number;
  eventLoopDelayP99Ms?: number;
  /** odirect only: ops per completion batch handed to JS, and per wake-up of the ring's thread. */
  opsPerBatch?: number;
  opsPerWakeup?: number;
}

/** One contender's turn in one round, as a report records it: its ops over its seconds. */
export interface TurnSample extends RoundSample {
  ops: number;
  seconds: number;
}

export interface RoundRatio {
  contender: string;
  baseline: string;
  round: number;
  ratio: number;
}

/**
 * Each contender's medians over rounds, and its ratio to every baseline but
 * itself, taken per round (against the baseline's turn of the same round)
 * and then as a median. fio's own ratio to fs.promises belongs next to
 * odirect's: it shows how much room the device leaves above fs.promises.
 */
export function summarize(contenders: { label: string; kind: string }[], samples: RoundSample[], baselines: string[],
): { ratios: RoundRatio[]; summary: Summary[] } {
  const ratios: RoundRatio[] = [];
  const byRound = (label: string, round: number): RoundSample | undefined =>
    samples.find((s) => s.contender === label && s.round === round);
  const summary = contenders.map((contender): Summary => {
    const own = samples.filter((s) => s.contender === contender.label);
    const medianRatio: Record<string, number> = {};
    for (const baseline of baselines.filter((b) => b !== contender.label)) {
      const perRound: number[] = [];
      for (const sample of own) {
        const base = byRound(baseline, sample.round);
        if (base === undefined) continue;
        const ratio = sample.iops / base.iops;
        ratios.push({ contender: contender.label, baseline, round: sample.round, ratio });
        perRound.push(ratio);
      }
      medianRatio[baseline] = median(perRound);
    }
    const defined = (values: (number | undefined)[]): number[] => values.filter((v): v is number => v !== undefined);
    const result: Summary = {
      contender: contender.label,
      kind: contender.kind,
      medianIops: median(own.map((s) => s.iops)),
      minIops: Math.min(...own.map((s) => s.iops)),
      maxIops: Math.max(...own.map((s) => s.iops)),
      medianCpuUsPerOp: median(own.map((s) => s.cpuUsPerOp)),
      medianRatio,
    };
    const batches = defined(own.map((s) => s.opsPerBatch));
    const wakeups = defined(own.map((s) => s.opsPerWakeup));
    const users = defined(own.map((s) => s.userUsPerOp));
    const systems = defined(own.map((s) => s.systemUsPerOp));
    const delays = defined(own.map((s) => s.eventLoopDelayP99Ms));
    if (users.length > 0) result.medianUserUsPerOp = median(users);
    if (systems.length > 0) result.medianSystemUsPerOp = median(systems);
    if (delays.length > 0) result.medianEventLoopDelayP99Ms = median(delays);
    if (batches.length > 0) result.opsPerBatch = median(batches);
    if (wakeups.length > 0) result.opsPerWakeup = median(wakeups);
    return result;
  });
  return { ratios, summary };
}

// ------------------------------------------------------------------ tables

/** The same rows as a Markdown table. */
export function markdownTable(rows: string[][], rightAligned: (column: number) => boolean): string {
  const line = (cells: string[]): string => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(rows[0]), line(rows[0].map((_, c) => (rightAligned(c) ? '---:' : '---'))), ...rows.slice(1).map(line)]
    .join('\n');
}
