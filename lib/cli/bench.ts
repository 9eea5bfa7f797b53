// `odirect bench`: a fio-like benchmark. `iodepth` workers, each awaiting one
// op at a time on its own aligned buffer, for `runtime` seconds; every op is
// timed into a latency histogram. With --compare the same workload runs
// through every engine that starts here, Node's fs.promises on an O_DIRECT
// descriptor, and fio (io_uring and libaio) when it is installed.
import fs = require('fs');
import os = require('os');
import path = require('path');
import { performance } from 'perf_hooks';
import { allocAligned, DirectFile, EngineName, open, probe, Ring } from '../index';
import { expectPositionals, parseChoice, parseCommand, parsePositive, parseSize, UsageError } from './args';
import {
  addTemporaryFile, Command, ENGINE_CHOICES, EXIT_OK, Failure, parseEngine, releaseRing, removeTemporaryFile, ringFor,
} from './command';
import { fioRuntime, FioSide, fioVersion, runFioJob } from './fio';
import { fmtIops, fmtRatio, formatBytes, formatMicros, table } from './format';
import { blockDeviceOf, filesystemOf } from './machine';
import { bar, Progress } from './progress';
import { Histogram, LatencySummary } from './stats';
import {
  checkFile, CONSTANT_PATTERN, CONSTANT_PATTERN_HEX, FilePattern, generator, OFFSET_PATTERN, prepareFile, randomOffsets,
  sequentialOffsets, workerSeed,
} from './workload';

const RW = ['randread', 'randwrite', 'read', 'write', 'randrw'] as const;
type Rw = typeof RW[number];

const DEFAULTS = { rw: 'randread', bs: '4k', iodepth: '64', size: '128m', runtime: '3', rwmixread: '50', seed: '1' };

const HELP = `Usage: odirect bench [options]

A fio-like benchmark of direct I/O through odirect: --iodepth workers, each
with its own aligned buffer, each awaiting one read or write at a time, for
--runtime seconds. Every op is timed. Prints IOPS, MiB/s, the latency
percentiles p50, p99 and p99.9 (from the call to the settled Promise) and the
CPU time of the process (all its threads; 100 % is one core).

With no options: ${DEFAULTS.runtime} s of 4 KiB random reads, 64 in flight, on a ${DEFAULTS.size.toUpperCase()}B
file in ${os.tmpdir()} that is written first and deleted afterwards.

Options:
  --rw MODE        ${RW.join(', ')} (default ${DEFAULTS.rw})
  --bs SIZE        bytes per op (default ${DEFAULTS.bs}); a multiple of the file's direct-I/O alignment
  --iodepth N      ops in flight (default ${DEFAULTS.iodepth})
  --size SIZE      the file's size (default ${DEFAULTS.size}); with an existing --file, the part of it used
  --runtime S      seconds of each run, fractions allowed (default ${DEFAULTS.runtime})
  --engine NAME    ${ENGINE_CHOICES.join(', ')} (default auto: ODIRECT_ENGINE, else the first that starts)
  --file PATH      the file to use instead of a temporary one. A missing file is written (--size
                   bytes) and kept. An existing file is used as it is; write modes overwrite its
                   blocks, as fio does
  --rwmixread N    randrw: the percentage of reads (default ${DEFAULTS.rwmixread})
  --seed N         seed of the random offsets (default ${DEFAULTS.seed})
  --compare        run the workload through every engine that starts here, fs.promises on an
                   O_DIRECT descriptor, and fio (io_uring, libaio) when fio is on PATH, one after
                   the other, and show them side by side
  --verify         check the data of every read (files the bench wrote hold a pattern), and after
                   writes, every block of the file
  --json           the report as JSON on stdout (no progress bar)
  -h, --help       this help

A progress bar is drawn on stderr when it is a terminal. Files the bench
writes hold a pattern: reads are checked against it (every worker's last
block after each run; every block with --verify).

Exit status: 0 on success; 1 on an I/O error, a short read or write, or data
that fails the check; 2 for a bad option, or a --bs the file's alignment refuses.`;

type DataCheck = 'every read' | 'last read of each worker' | 'whole file after the writes' | 'no';

function dataCheckOf(options: Options, pattern: FilePattern | null): DataCheck {
  if (pattern === null) return 'no';
  // Write modes fill every buffer with the pattern the file holds, so a read into one proves nothing.
  if (writes(options.rw)) return options.verify ? 'whole file after the writes' : 'no';
  return options.verify ? 'every read' : 'last read of each worker';
}

interface Options {
  rw: Rw;
  bs: number;
  iodepth: number;
  size: number | null;
  runtime: number;
  engine: EngineName | 'auto';
  file: string | null;
  rwmixread: number;
  seed: number;
  compare: boolean;
  verify: boolean;
  json: boolean;
}

function parseOptions(values: Record<string, string | boolean | string[] | undefined>): Options {
  const text = (name: keyof typeof DEFAULTS): string => (values[name] as string | undefined) ?? DEFAULTS[name];
  const options: Options = {
    rw: parseChoice(text('rw'), 'rw', RW),
    bs: parseSize(text('bs'), 'bs'),
    iodepth: parsePositive(text('iodepth'), 'iodepth'),
    size: values.size === undefined ? null : parseSize(values.size as string, 'size'),
    runtime: parsePositive(text('runtime'), 'runtime', false),
    engine: parseEngine(values.engine as string | undefined),
    file: (values.file as string | undefined) ?? null,
    rwmixread: Number(text('rwmixread')),
    seed: Number(text('seed')),
    compare: values.compare === true,
    verify: values.verify === true,
    json: values.json === true,
  };
  if (options.bs > 2 ** 30) throw new UsageError(`--bs: ${options.bs} is more than 1g`);
  if (options.iodepth > 4096) throw new UsageError(`--iodepth: ${options.iodepth} is more than 4096`);
  if (!Number.isInteger(options.rwmixread) || options.rwmixread < 0 || options.rwmixread > 100) {
    throw new UsageError(`--rwmixread: '${text('rwmixread')}' is not an integer from 0 to 100`);
  }
  if (!Number.isInteger(options.seed) || options.seed < 0 || options.seed > 0xffffffff) {
    throw new UsageError(`--seed: '${text('seed')}' is not an integer from 0 to 4294967295`);
  }
  if (options.compare && values.engine !== undefined) {
    throw new UsageError('--compare runs every engine; leave out --engine');
  }
  const size = options.size ?? parseSize(DEFAULTS.size, 'size');
  if (options.file === null || !fs.existsSync(options.file)) {
    if (size % options.bs !== 0) throw new UsageError(`--size: ${size} is not a multiple of --bs (${options.bs})`);
    if (size % 4096 !== 0) throw new UsageError(`--size: ${size} is not a multiple of 4096`);
  }
  return options;
}

const reads = (rw: Rw): boolean => rw !== 'randwrite' && rw !== 'write';
const writes = (rw: Rw): boolean => rw !== 'randread' && rw !== 'read';

// ------------------------------------------------------------------ results

export interface DirectionResult {
  ops: number;
  iops: number;
  mibps: number;
  /** µs, from the call to the settled Promise (fio: its total latency, lat_ns). */
  latencyUs: Pick<LatencySummary, 'p50' | 'p99' | 'p999'> & Partial<LatencySummary>;
}

export interface BenchResult {
  contender: string;
  kind: 'odirect' | 'fs.promises' | 'fio';
  /** odirect: the ring's engine; fio: its ioengine. */
  engine?: string;
  seconds: number;
  ops: number;
  iops: number;
  mibps: number;
  /** CPU time over the run's wall time, in % of one core: the whole process (fio: its job's own figure). */
  cpuPercent: number;
  cpuUsPerOp: number;
  read?: DirectionResult;
  write?: DirectionResult;
}

export interface BenchReport {
  benchmark: 'odirect bench';
  version: string;
  date: string;
  kernel: string;
  node: string;
  fio: string | null;
  config: {
    rw: Rw; bs: number; iodepth: number; size: number; runtime: number; rwmixread: number | null; seed: number;
    file: string; temporary: boolean; filesystem: string | null; device: string | null;
    alignment: { memory: number; offset: number; source: string };
  };
  /**
   * How the data was checked against the pattern the bench writes: reads
   * (each worker's last, or every one with --verify), or, for modes that
   * write, the whole file after the runs (with --verify); 'no' for a file of
   * unknown content, or writes without --verify.
   */
  dataCheck: DataCheck;
  results: BenchResult[];
  /** probe()'s notice: the addon was built without liburing, and the remedy. */
  notice?: string;
}

function direction(ops: number, seconds: number, bs: number, latencyUs: DirectionResult['latencyUs']): DirectionResult {
  return { ops, iops: ops / seconds, mibps: (ops * bs) / seconds / 2 ** 20, latencyUs };
}

// --------------------------------------------------------------- contenders

/** One contender's run: `iodepth` workers for `runtime` seconds. `ops` counts as it goes (for the progress bar). */
interface Contender {
  label: string;
  kind: BenchResult['kind'];
  engine?: string;
  run(live: { ops: number }): Promise<BenchResult>;
  close(): Promise<void>;
}

/** An op on a buffer at an offset, resolving to the bytes moved. */
type Io = (buffer: Buffer, offset: number) => Promise<number>;

interface Job {
  options: Options;
  file: string;
  size: number;
  /** The pattern the file holds, or null when its content is unknown. */
  pattern: FilePattern | null;
  /** One buffer per worker, shared by the JS contenders; write modes fill them with CONSTANT_PATTERN. */
  buffers: Buffer[];
  checks: DataCheck;
}

/**
 * The loop of the JS contenders: each worker draws its offsets (random, one
 * seeded stream per worker; or one shared sequential cursor) and, for randrw,
 * whether each op reads or writes, then times every op with performance.now()
 * (a double: nothing is allocated per op) into a histogram per direction.
 */
async function timedRun(job: Job, read: Io, write: Io, live: { ops: number }): Promise<Omit<BenchResult, 'contender' | 'kind'>> {
  const { rw, bs, runtime, seed, rwmixread } = job.options;
  const histograms = { read: new Histogram(), write: new Histogram() };
  const random = rw.startsWith('rand');
  const shared = sequentialOffsets(job.size, bs);
  const checkEvery = job.checks === 'every read' ? job.pattern : null;
  const checkLast = job.checks === 'last read of each worker' ? job.pattern : null;
  const turn = { running: true };
  const lastRead = job.buffers.map(() => -1);
  const worker = async (buffer: Buffer, index: number): Promise<void> => {
    const nextOffset = random ? randomOffsets(workerSeed(seed, 0, index), job.size, bs) : shared;
    const mix = generator(workerSeed(seed, 1, index));
    // Ops are reads when mix() < threshold: every op for reads, none for writes, rwmixread % for randrw.
    const threshold = rw === 'randrw' ? (rwmixread / 100) * 2 ** 32 : reads(rw) ? 2 ** 32 : 0;
    while (turn.running) {
      const offset = nextOffset();
      const isRead = mix() < threshold;
      const started = performance.now();
      const bytes = await (isRead ? read(buffer, offset) : write(buffer, offset));
      const ns = (performance.now() - started) * 1e6;
      if (bytes !== bs) throw new Failure(`short ${isRead ? 'read' : 'write'}: ${bytes} of ${bs} bytes at ${offset} in '${job.file}'`);
      (isRead ? histograms.read : histograms.write).record(ns);
      live.ops++;
      if (isRead) {
        if (checkEvery !== null && !checkEvery.holds(buffer, offset)) throw dataMismatch(job, offset);
        lastRead[index] = offset;
      }
    }
  };
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const timer = setTimeout(() => { turn.running = false; }, runtime * 1000);
  try {
    // The run ends when the last worker's last op is back: those ops count, and so does their time.
    await Promise.all(job.buffers.map(worker));
  } finally {
    turn.running = false;
    clearTimeout(timer);
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  // The reads were real: each buffer that last served a read holds the block it read (checked outside the timed part).
  if (checkLast !== null) {
    job.buffers.forEach((buffer, i) => {
      if (lastRead[i] >= 0 && !checkLast.holds(buffer, lastRead[i])) throw dataMismatch(job, lastRead[i]);
    });
  }
  const ops = histograms.read.count + histograms.write.count;
  const cpuUs = cpu.user + cpu.system;
  const result: Omit<BenchResult, 'contender' | 'kind'> = {
    seconds, ops, iops: ops / seconds, mibps: (ops * bs) / seconds / 2 ** 20,
    cpuPercent: (cpuUs / 1e6 / seconds) * 100, cpuUsPerOp: ops > 0 ? cpuUs / ops : NaN,
  };
  if (reads(job.options.rw)) result.read = direction(histograms.read.count, seconds, bs, histograms.read.summary());
  if (writes(job.options.rw)) result.write = direction(histograms.write.count, seconds, bs, histograms.write.summary());
  return result;
}

function dataMismatch(job: Job, offset: number): Failure {
  return new Failure(`data check: the block read at ${offset} of '${job.file}' does not hold what the bench wrote there`);
}

async function odirectContender(job: Job, ring: Ring): Promise<Contender> {
  const file: DirectFile = await open(job.file, writes(job.options.rw) ? 'r+' : 'r', { ring });
  const read: Io = (buffer, offset) => file.readAt(buffer, offset);
  const write: Io = (buffer, offset) => file.writeAt(buffer, offset);
  const label = `odirect ${ring.engine}`;
  return {
    label,
    kind: 'odirect',
    engine: ring.engine,
    run: async (live) => ({ contender: label, kind: 'odirect', engine: ring.engine, ...await timedRun(job, read, write, live) }),
    close: () => file.close(),
  };
}

async function fsContender(job: Job): Promise<Contender> {
  const access = writes(job.options.rw) ? fs.constants.O_RDWR : fs.constants.O_RDONLY;
  const handle = await fs.promises.open(job.file, access | fs.constants.O_DIRECT);
  const { bs } = job.options;
  const read: Io = async (buffer, offset) => (await handle.read(buffer, 0, bs, offset)).bytesRead;
  const write: Io = async (buffer, offset) => (await handle.write(buffer, 0, bs, offset)).bytesWritten;
  return {
    label: 'fs.promises',
    kind: 'fs.promises',
    run: async (live) => ({ contender: 'fs.promises', kind: 'fs.promises', ...await timedRun(job, read, write, live) }),
    close: () => handle.close(),
  };
}

/** fio's percentiles are keyed "99.900000"; its total latency (lat_ns) has them with --lat_percentiles=1. */
function fioDirection(side: FioSide, bs: number): DirectionResult {
  const percentiles = side.lat_ns?.percentile ?? side.clat_ns?.percentile ?? {};
  const us = (key: string): number => (percentiles[key] ?? NaN) / 1000;
  const seconds = side.runtime / 1000;
  return direction(side.total_ios, seconds, bs,
    { p50: us('50.000000'), p99: us('99.000000'), p999: us('99.900000') });
}

function fioContender(job: Job, engine: 'io_uring' | 'libaio'): Contender {
  const { rw, bs, iodepth, runtime, seed, rwmixread } = job.options;
  const label = `fio ${engine}`;
  const args = [
    '--name=bench', `--filename=${job.file}`, '--direct=1', `--rw=${rw}`, `--bs=${bs}`, `--iodepth=${iodepth}`,
    `--ioengine=${engine}`, `--size=${job.size}`, `--runtime=${fioRuntime(runtime)}`, '--time_based',
    `--randseed=${seed}`, '--lat_percentiles=1',
    ...(rw === 'randrw' ? [`--rwmixread=${rwmixread}`] : []),
    // Writes: the bytes the JS contenders write, on the file as it is.
    ...(writes(rw) ? [`--buffer_pattern=0x${CONSTANT_PATTERN_HEX}`, '--fallocate=none'] : []),
  ];
  return {
    label,
    kind: 'fio',
    engine,
    async run() {
      const { job: fio } = await runFioJob(args);
      const read = reads(rw) ? fioDirection(fio.read, bs) : undefined;
      const write = writes(rw) ? fioDirection(fio.write, bs) : undefined;
      const seconds = Math.max(fio.read.runtime, fio.write.runtime) / 1000;
      const ops = (read?.ops ?? 0) + (write?.ops ?? 0);
      const cpuPercent = fio.usr_cpu + fio.sys_cpu;
      return {
        contender: label, kind: 'fio', engine, seconds, ops, iops: ops / seconds, mibps: (ops * bs) / seconds / 2 ** 20,
        cpuPercent, cpuUsPerOp: ((cpuPercent / 100) * seconds * 1e6) / ops, read, write,
      };
    },
    close: async () => {},
  };
}

// ------------------------------------------------------------------ report

function printReport(report: BenchReport): void {
  const { config } = report;
  const out: string[] = [];
  const mix = config.rwmixread !== null ? ` (${config.rwmixread} % reads)` : '';
  out.push(`${config.rw}${mix}, bs ${formatBytes(config.bs)}, iodepth ${config.iodepth}, ${config.runtime} s per run`);
  out.push(`file ${config.file} (${formatBytes(config.size)}${config.temporary ? ', temporary' : ''}) on ` +
    `${config.filesystem ?? 'unknown filesystem'}${config.device !== null ? ` (${config.device})` : ''}, ` +
    `alignment ${config.alignment.memory}/${config.alignment.offset} (${config.alignment.source})`);
  out.push(`Linux ${report.kernel}, Node ${report.node}, odirect ${report.version}${report.fio !== null ? `, ${report.fio}` : ''}`);
  if (report.notice !== undefined) out.push(`Note: ${report.notice}`);
  out.push('');
  const baseline = report.results.find((r) => r.kind === 'fs.promises');
  const compare = report.results.length > 1;
  const rows = [['contender', 'op', 'IOPS', 'MiB/s', 'p50', 'p99', 'p99.9', 'CPU', 'CPU/op',
    ...(compare && baseline !== undefined ? ['vs fs.promises'] : [])]];
  for (const result of report.results) {
    const sides = (['read', 'write'] as const).filter((side) => result[side] !== undefined);
    sides.forEach((side, i) => {
      const d = result[side]!;
      rows.push([i === 0 ? result.contender : '', side, fmtIops(d.iops), d.mibps.toFixed(1),
        formatMicros(d.latencyUs.p50), formatMicros(d.latencyUs.p99), formatMicros(d.latencyUs.p999),
        i === 0 ? `${result.cpuPercent.toFixed(0)} %` : '', i === 0 ? formatMicros(result.cpuUsPerOp) : '',
        ...(compare && baseline !== undefined ? [i === 0 && result !== baseline ? fmtRatio(result.iops / baseline.iops) : ''] : [])]);
    });
  }
  out.push(table(rows, (c) => c > 1));
  out.push('');
  out.push(`Latency: from the call to the settled Promise (fio: its total latency). CPU: the process's user+system time` +
    ` over the run, 100 % = one core (fio: its job's own).`);
  out.push(`Data check: ${report.dataCheck === 'no' ? 'none' : `${report.dataCheck}, ok`}.`);
  process.stdout.write(`${out.join('\n')}\n`);
}

// --------------------------------------------------------------------- run

function version(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(path.join(__dirname, '..', '..', 'package.json')) as { version: string }).version;
}

/** The file the bench runs on: a temporary one, a missing --file written, or an existing --file as it is. */
async function prepare(options: Options, log: (line: string) => void,
): Promise<Omit<Job, 'buffers' | 'options' | 'checks'> & { temporary: boolean }> {
  const pattern = writes(options.rw) ? CONSTANT_PATTERN : OFFSET_PATTERN;
  const temporary = options.file === null;
  const file = options.file ?? path.join(os.tmpdir(), `odirect-bench-${process.pid}`);
  const stats = fs.statSync(file, { throwIfNoEntry: false });
  if (stats === undefined) {
    const size = options.size ?? parseSize(DEFAULTS.size, 'size');
    if (temporary) {
      addTemporaryFile(file);
      addTemporaryFile(`${file}.partial-${process.pid}`);
    }
    await prepareFile(file, size, log, pattern);
    return { file, size, pattern, temporary };
  }
  if (!stats.isFile()) throw new Failure(`'${file}' is not a regular file`);
  const size = Math.floor(Math.min(stats.size, options.size ?? Infinity) / options.bs) * options.bs;
  if (size === 0) throw new Failure(`'${file}' (${stats.size} bytes) is smaller than one block of --bs ${options.bs}`);
  // A file the bench wrote before holds its pattern: then reads can be checked.
  const known = await checkFile(file, size, pattern, options.bs, 8).then(() => true, () => false);
  return { file, size, pattern: known ? pattern : null, temporary };
}

async function runBench(options: Options): Promise<BenchReport> {
  const showProgress = Progress.wanted(options.json);
  const log = (line: string): void => { if (showProgress) process.stderr.write(`${line}\n`); };
  const prepared = await prepare(options, log);
  const job: Job = {
    ...prepared,
    options,
    buffers: Array.from({ length: options.iodepth }, () => allocAligned(options.bs, 4096)),
    checks: dataCheckOf(options, prepared.pattern),
  };
  if (writes(options.rw)) for (const buffer of job.buffers) CONSTANT_PATTERN.fill(buffer, 0);
  try {
    // The file's alignment, and whether --bs keeps it.
    const probeFile = await open(job.file, 'r');
    const alignment = { ...probeFile.alignment, source: probeFile.alignmentSource as string };
    await probeFile.close();
    if (options.bs % alignment.offset !== 0) {
      throw new UsageError(`--bs: ${options.bs} is not a multiple of ${alignment.offset}, the direct-I/O alignment of '${job.file}'`);
    }

    const rings: Ring[] = [];
    const contenders: Contender[] = [];
    try {
      if (options.compare) {
        const engines = (await probe()).engines.filter((e) => e.available).map((e) => e.engine);
        for (const engine of engines) rings.push(new Ring({ engine }));
      } else {
        rings.push(ringFor(options.engine));
      }
      for (const ring of rings) contenders.push(await odirectContender(job, ring));
      const fio = fioVersion();
      if (options.compare) {
        contenders.push(await fsContender(job));
        if (fio !== null) contenders.push(fioContender(job, 'io_uring'), fioContender(job, 'libaio'));
        else log('fio is not on PATH: no fio figures');
      }

      const results: BenchResult[] = [];
      for (const [i, contender] of contenders.entries()) {
        const live = { ops: 0 };
        const started = performance.now();
        const step = contenders.length > 1 ? `(${i + 1}/${contenders.length}) ` : '';
        const progress = new Progress(() => {
          const seconds = (performance.now() - started) / 1000;
          const rate = contender.kind === 'fio' ? '' : `  ${fmtIops(live.ops / seconds)} IOPS  ${(live.ops * options.bs / seconds / 2 ** 20).toFixed(1)} MiB/s`;
          return `${step}${contender.label} ${bar(seconds / options.runtime)} ${Math.min(seconds, options.runtime).toFixed(1)}/${options.runtime} s${rate}`;
        }, showProgress);
        progress.start();
        try {
          results.push(await contender.run(live));
        } catch (error) {
          // fio may lack an engine (libaio) or refuse the file: its figures are left out, and said so.
          if (contender.kind !== 'fio') throw error;
          process.stderr.write(`odirect bench: ${contender.label} left out: ${(error as Error).message.split('\n')[0]}\n`);
        } finally {
          progress.stop();
        }
      }
      if (job.checks === 'whole file after the writes') {
        // Every writer wrote the bytes the file held: it must hold them still, all of it.
        await checkFile(job.file, job.size, CONSTANT_PATTERN, options.bs, 'all').catch((error: Error) => {
          throw new Failure(`data check after the writes: ${error.message.replace(/; delete it.*$/, '')}`);
        });
      }
      const device = blockDeviceOf(job.file);
      const { notice } = await probe();
      return {
        benchmark: 'odirect bench',
        version: version(),
        date: new Date().toISOString(),
        kernel: os.release(),
        node: process.version,
        fio,
        config: {
          rw: options.rw, bs: options.bs, iodepth: options.iodepth, size: job.size, runtime: options.runtime,
          rwmixread: options.rw === 'randrw' ? options.rwmixread : null, seed: options.seed, file: job.file,
          temporary: prepared.temporary, filesystem: filesystemOf(job.file), device: device?.name ?? null, alignment,
        },
        dataCheck: job.checks,
        results,
        ...(notice !== undefined ? { notice } : {}),
      };
    } finally {
      for (const contender of contenders) await contender.close();
      for (const ring of rings) await releaseRing(ring);
    }
  } finally {
    if (prepared.temporary) removeTemporaryFile(job.file);
  }
}

export const benchCommand: Command = {
  name: 'bench',
  synopsis: '[options]',
  summary: `a fio-like benchmark (default: ${DEFAULTS.runtime} s of 4 KiB random reads, 64 in flight, on a temporary file)`,
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommand(args, {
      rw: { type: 'string' },
      bs: { type: 'string' },
      iodepth: { type: 'string' },
      size: { type: 'string' },
      runtime: { type: 'string' },
      engine: { type: 'string' },
      file: { type: 'string' },
      rwmixread: { type: 'string' },
      seed: { type: 'string' },
      compare: { type: 'boolean' },
      verify: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    expectPositionals(positionals, [], 0);
    const options = parseOptions(values);
    const report = await runBench(options);
    if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else printReport(report);
    return EXIT_OK;
  },
};
