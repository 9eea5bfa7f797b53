// Issue 4's workload matrix: 4 KiB random reads and writes at queue depths 1,
// 8, 64 and 256, and 1 MiB sequential reads and writes at queue depth 8, on
// the ext4 disk and on /dev/shm (tmpfs: the device costs nothing there, and
// what is left is each contender's own overhead). Contenders: odirect on each
// engine, fs.promises on an O_DIRECT descriptor, and fio (io_uring, libaio,
// and io_uring with registered buffers and files).
//
// The method is randread.ts's: for each workload, interleaved rounds (A B C
// A B C ...), medians over rounds, and every figure also as a ratio to fio and
// to fs.promises taken within each round, then as a median; CPU time per op.
//
//   node build/bench/matrix.js [--rounds 3] [--seconds 2] [--only randread,seqread] [--dirs disk,shm]
//        [--qd 1,64] [--out matrix.json]
//   node build/bench/matrix.js --from matrix.json [--markdown]     (print a saved report again)
//
// Run with --help for every flag.
import fs = require('fs');
import os = require('os');
import path = require('path');
import { parseArgs } from 'util';
import { allocAligned, defaultRing, DirectFile, open, Ring, RingStats } from '../lib/index';
import {
  BlockDevice, blockDeviceOf, checkFile, checkFioEngines, CONSTANT_PATTERN, CONSTANT_PATTERN_HEX, describeMachine, filesystemOf,
  FilePattern, fioEngineArgs, fioRuntime, fioVersion, fmtIops, fmtRatio, listOf, Machine, markdownTable, OFFSET_PATTERN, parsePositive, parseSize,
  log, prepareFile, randomOffsets, RoundRatio, runFio, sequentialOffsets, summarize, Summary, table, TurnSample, workerSeed,
} from './common';

// --------------------------------------------------------------- workloads

export type Op = 'read' | 'write';
export type Access = 'random' | 'sequential';

export interface Workload {
  /** "randread-qd64", "seqwrite-qd8"... */
  name: string;
  op: Op;
  access: Access;
  bs: number;
  iodepth: number;
}

const RANDOM_QDS = [1, 8, 64, 256];
const SEQUENTIAL_QD = 8;
const KINDS = ['randread', 'randwrite', 'seqread', 'seqwrite'] as const;

function workloads(randomQds: number[]): Workload[] {
  const list: Workload[] = [];
  for (const op of ['read', 'write'] as const) {
    for (const iodepth of randomQds) list.push({ name: `rand${op}-qd${iodepth}`, op, access: 'random', bs: 4096, iodepth });
  }
  for (const op of ['read', 'write'] as const) {
    list.push({ name: `seq${op}-qd${SEQUENTIAL_QD}`, op, access: 'sequential', bs: 1 << 20, iodepth: SEQUENTIAL_QD });
  }
  return list;
}

/** fio's --rw for a workload. */
function fioRw(workload: Workload): string {
  return workload.access === 'random' ? `rand${workload.op}` : workload.op;
}

function describeWorkload(workload: Workload): string {
  const size = workload.bs >= 1 << 20 ? `${workload.bs / 2 ** 20} MiB` : `${workload.bs / 1024} KiB`;
  return `${size} ${workload.access} ${workload.op}s, QD ${workload.iodepth}`;
}

/** Whether a workload's figures read better as MiB/s than as IOPS. */
export const inMiBps = (workload: Workload): boolean => workload.bs >= 1 << 20;

// ------------------------------------------------------------------ places

/** Where the files are: the disk, or /dev/shm (tmpfs, in RAM: its files are deleted at the end). */
interface Place {
  name: string;
  dir: string;
  readFile: string;
  writeFile: string;
  temporary: boolean;
}

const PLACES: Record<string, Place> = {
  disk: {
    name: 'disk',
    dir: os.tmpdir(),
    readFile: path.join(os.tmpdir(), 'odirect-bench-1g'),
    writeFile: path.join(os.tmpdir(), 'odirect-bench-1g-w'),
    temporary: false,
  },
  shm: {
    name: 'shm',
    dir: '/dev/shm',
    readFile: '/dev/shm/odirect-bench-1g',
    writeFile: '/dev/shm/odirect-bench-1g-w',
    temporary: true,
  },
};

// ----------------------------------------------------------------- options

const HELP = `Usage: node build/bench/matrix.js [options]

  --rounds N         rounds of every workload (default 3)
  --seconds S        length of each contender's turn in a round (default 2)
  --warmup S         untimed turn of each JS contender before a workload's round 1 (default 1)
  --only LIST        workloads: randread, randwrite, seqread, seqwrite, or names such as randread-qd64
                     (default: all)
  --qd LIST          queue depths of the random workloads (default ${RANDOM_QDS.join(',')})
  --dirs LIST        places: disk (${os.tmpdir()}), shm (/dev/shm) (default disk,shm)
  --size SIZE        size of each file (default 1g). Reads use odirect-bench-1g, writes odirect-bench-1g-w,
                     in each place; on the disk both are kept and reused, in /dev/shm both are deleted at the end
  --engine LIST      odirect rings: default, aio, threadpool (default: all three)
  --fio-engine LIST  fio: io_uring, libaio, io_uring-fixed (fixedbufs + registerfiles), io_uring-batch (half the
                     depth per io_uring_enter), none (default: io_uring, libaio, io_uring-fixed)
  --no-fs            leave out fs.promises
  --seed N           seed of the random offsets (default 1)
  --out PATH         write the JSON report to PATH
  --json             print the JSON report instead of the tables
  --markdown         print the tables as Markdown
  --from PATH        print a saved report's tables, run nothing
  --help

Progress goes to stderr.`;

interface Options {
  rounds: number;
  seconds: number;
  warmup: number;
  only: string[];
  qds: number[];
  places: Place[];
  size: number;
  engines: string[];
  fioEngines: string[];
  fs: boolean;
  seed: number;
  out: string | null;
  json: boolean;
  markdown: boolean;
  from: string | null;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '1' },
      only: { type: 'string', multiple: true },
      qd: { type: 'string', multiple: true },
      dirs: { type: 'string', multiple: true },
      size: { type: 'string', default: '1g' },
      engine: { type: 'string', multiple: true },
      'fio-engine': { type: 'string', multiple: true },
      'no-fs': { type: 'boolean', default: false },
      seed: { type: 'string', default: '1' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      markdown: { type: 'boolean', default: false },
      from: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const size = parseSize(values.size!, 'size');
  if (size % (1 << 20) !== 0) throw new Error('--size must be a multiple of 1 MiB');
  const only = listOf(values.only);
  const qds = listOf(values.qd).map((v) => parsePositive(v, 'qd'));
  const known = workloads(qds.length > 0 ? qds : RANDOM_QDS).map((w) => w.name);
  for (const name of only) {
    if (!(KINDS as readonly string[]).includes(name) && !known.includes(name)) {
      throw new Error(`--only: '${name}' is not one of ${KINDS.join(', ')} nor a workload (${known.join(', ')})`);
    }
  }
  const dirs = listOf(values.dirs);
  for (const dir of dirs) if (!(dir in PLACES)) throw new Error(`--dirs: '${dir}' is not one of ${Object.keys(PLACES).join(', ')}`);
  const engines = listOf(values.engine);
  for (const engine of engines) {
    if (!['default', 'aio', 'threadpool', 'io_uring'].includes(engine)) {
      throw new Error(`--engine: '${engine}' is not one of default, io_uring, aio, threadpool`);
    }
  }
  const fioEngines = listOf(values['fio-engine']);
  checkFioEngines(fioEngines);
  const options: Options = {
    rounds: parsePositive(values.rounds!, 'rounds'),
    seconds: parsePositive(values.seconds!, 'seconds', false),
    warmup: Number(values.warmup),
    only,
    qds: qds.length > 0 ? qds : RANDOM_QDS,
    places: (dirs.length > 0 ? dirs : ['disk', 'shm']).map((dir) => PLACES[dir]),
    size,
    engines: engines.length > 0 ? engines : ['default', 'aio', 'threadpool'],
    fioEngines: fioEngines.includes('none') ? [] : fioEngines.length > 0 ? fioEngines : ['io_uring', 'libaio', 'io_uring-fixed'],
    fs: values['no-fs'] !== true,
    seed: Number(values.seed) >>> 0,
    out: values.out ?? null,
    json: values.json === true,
    markdown: values.markdown === true,
    from: values.from ?? null,
  };
  if (!(options.warmup >= 0)) throw new Error('--warmup must be >= 0');
  return options;
}

function selected(options: Options): Workload[] {
  return workloads(options.qds).filter((w) => options.only.length === 0 ||
    options.only.some((name) => name === w.name || w.name.startsWith(`${name}-`)));
}

// -------------------------------------------------------------- contenders

/**
 * What one contender did in one round of one workload. Its CPU time per op is,
 * for JS contenders, the whole process's (JS thread, ring thread, libuv pool,
 * io_uring's io-wq workers); for fio, its whole process tree's less its
 * start-up (see FioContender).
 */
interface Sample extends TurnSample {
  /** fio only: the CPU time per op fio reports itself (its job thread only). */
  fioJobCpuUsPerOp?: number;
}

/** One workload in one place: the file, its buffers, and the seeds. */
interface Job {
  workload: Workload;
  place: Place;
  file: string;
  size: number;
  seed: number;
  /** One buffer per worker, shared by the JS contenders (write buffers hold CONSTANT_PATTERN). */
  buffers: Buffer[];
}

interface Contender {
  label: string;
  kind: 'odirect' | 'fs.promises' | 'fio';
  /** Before round 1: a JIT warm-up for JS contenders, fio's start-up cost for fio. */
  prepare(warmup: number): Promise<void>;
  /** One timed turn of `seconds`, with round `round`'s offsets. */
  run(round: number, seconds: number): Promise<Sample>;
  close(): Promise<void>;
  /** fio only: the command line of a turn of round 1, for the record. */
  command?: string;
  /** fio only: CPU seconds of a run of fio that does one op (its start-up and exit). */
  startupCpuSeconds?: number;
}

/**
 * Where each worker's next op goes. Random: one seeded stream per worker, the
 * same for every JS contender in a round. Sequential: one cursor shared by
 * the workers, each taking the next block of the file in order and wrapping
 * at its end, from the start of the file in every turn (as fio does).
 */
function offsetSources(job: Job, round: number): (() => number)[] {
  const { bs } = job.workload;
  if (job.workload.access === 'random') {
    return job.buffers.map((_, i) => randomOffsets(workerSeed(job.seed, round, i), job.size, bs));
  }
  const next = sequentialOffsets(job.size, bs);
  return job.buffers.map(() => next);
}

/**
 * The shape every JS contender shares: `iodepth` workers, each awaiting one op
 * at a time on its own buffer until the turn ends. The op itself is written
 * out in each contender (no wrapper closure), so that each pays only its own
 * API's cost. A worker records the offset of its last op in `last`.
 */
type Worker = (buffer: Buffer, nextOffset: () => number, turn: { running: boolean }, last: number[], index: number,
) => Promise<number>;

async function timedTurn(job: Job, round: number, seconds: number, worker: Worker,
): Promise<{ ops: number; seconds: number; cpuUs: number }> {
  const turn = { running: true };
  const offsets = offsetSources(job, round);
  const last = job.buffers.map(() => -1);
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const timer = setTimeout(() => { turn.running = false; }, seconds * 1000);
  // The turn ends when the last worker's last op is back: the ops in flight at
  // the stop are counted, and so is the time they take.
  const counts = await Promise.all(job.buffers.map((buffer, i) => worker(buffer, offsets[i], turn, last, i)));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  clearTimeout(timer);
  const cpu = process.cpuUsage(cpuBefore);
  // Reads were real: each buffer holds the block its worker read last (a check outside the timed part).
  if (job.workload.op === 'read') {
    job.buffers.forEach((buffer, i) => {
      if (last[i] >= 0 && !OFFSET_PATTERN.holds(buffer, last[i])) {
        throw new Error(`worker ${i}'s buffer does not hold the block at ${last[i]} it read from ${job.file}`);
      }
    });
  }
  return { ops: counts.reduce((a, b) => a + b, 0), seconds: elapsed, cpuUs: cpu.user + cpu.system };
}

function shortOp(job: Job, bytes: number, offset: number): Error {
  return new Error(`short ${job.workload.op}: ${bytes} of ${job.workload.bs} bytes at ${offset} in ${job.file}`);
}

/** odirect on one ring: open(path, 'r' or 'r+', { ring }), file.readAt / file.writeAt. */
async function odirectContender(job: Job, label: string, ring: Ring): Promise<Contender> {
  const write = job.workload.op === 'write';
  const file: DirectFile = await open(job.file, write ? 'r+' : 'r', { ring });
  const { bs } = job.workload;
  // One loop for both: the op is chosen once, not per call.
  const op = write ? (b: Buffer, at: number) => file.writeAt(b, at) : (b: Buffer, at: number) => file.readAt(b, at);
  const worker: Worker = async (buffer, nextOffset, turn, last, index) => {
    let ops = 0;
    while (turn.running) {
      const offset = nextOffset();
      const bytes = await op(buffer, offset);
      if (bytes !== bs) throw shortOp(job, bytes, offset);
      last[index] = offset;
      ops++;
    }
    return ops;
  };
  const run = async (round: number, seconds: number): Promise<Sample> => {
    const before: RingStats = ring.stats();
    const { ops, seconds: elapsed, cpuUs } = await timedTurn(job, round, seconds, worker);
    const after = ring.stats();
    const batches = after.batches - before.batches;
    const wakeups = after.wakeups - before.wakeups;
    return {
      contender: label, round, ops, seconds: elapsed, iops: ops / elapsed, cpuUsPerOp: cpuUs / ops,
      opsPerBatch: batches > 0 ? (after.completed - before.completed) / batches : undefined,
      opsPerWakeup: wakeups > 0 ? (after.submitted - before.submitted) / wakeups : undefined,
    };
  };
  return {
    label,
    kind: 'odirect',
    async prepare(warmup) { if (warmup > 0) await run(-1, warmup); },
    run,
    close: () => file.close(),
  };
}

/** fs.promises on an O_DIRECT descriptor: handle.read / handle.write with the same aligned buffers. */
async function fsContender(job: Job): Promise<Contender> {
  const write = job.workload.op === 'write';
  // O_RDWR, never O_TRUNC: the write file is overwritten in place.
  const flags = (write ? fs.constants.O_RDWR : fs.constants.O_RDONLY) | fs.constants.O_DIRECT;
  const handle = await fs.promises.open(job.file, flags);
  const { bs } = job.workload;
  const reader: Worker = async (buffer, nextOffset, turn, last, index) => {
    let ops = 0;
    while (turn.running) {
      const offset = nextOffset();
      const { bytesRead } = await handle.read(buffer, 0, bs, offset);
      if (bytesRead !== bs) throw shortOp(job, bytesRead, offset);
      last[index] = offset;
      ops++;
    }
    return ops;
  };
  const writer: Worker = async (buffer, nextOffset, turn, last, index) => {
    let ops = 0;
    while (turn.running) {
      const offset = nextOffset();
      const { bytesWritten } = await handle.write(buffer, 0, bs, offset);
      if (bytesWritten !== bs) throw shortOp(job, bytesWritten, offset);
      last[index] = offset;
      ops++;
    }
    return ops;
  };
  const worker = write ? writer : reader;
  const run = async (round: number, seconds: number): Promise<Sample> => {
    const { ops, seconds: elapsed, cpuUs } = await timedTurn(job, round, seconds, worker);
    return { contender: 'fs.promises', round, ops, seconds: elapsed, iops: ops / elapsed, cpuUsPerOp: cpuUs / ops };
  };
  return {
    label: 'fs.promises',
    kind: 'fs.promises',
    async prepare(warmup) { if (warmup > 0) await run(-1, warmup); },
    run,
    close: () => handle.close(),
  };
}

/**
 * fio, --direct=1, on the same file. fio's own CPU figure is its job thread's
 * alone: it leaves out io_uring's io-wq workers, which do the copying on
 * tmpfs (on 2026-11-22, kernel build v595, fio io_uring reported 1.0 s of
 * CPU there for a 2 s turn whose processes used 2.5 s). So the CPU per op is
 * taken from the rusage of fio's whole process tree, less its start-up and
 * exit (0.15 s that day), measured once per workload by a run of the same
 * command that does one op.
 */
function fioContender(job: Job, engine: string, seconds: number): Contender {
  const label = `fio ${engine}`;
  const { workload } = job;
  const common = [
    `--name=${workload.name}`, `--filename=${job.file}`, '--direct=1', `--rw=${fioRw(workload)}`, `--bs=${workload.bs}`,
    ...fioEngineArgs(engine, workload.iodepth),
    // Writes: the bytes the file already holds, on the file as it is (no preallocation).
    ...(workload.op === 'write' ? [`--buffer_pattern=0x${CONSTANT_PATTERN_HEX}`, '--fallocate=none'] : []),
  ];
  const timed = (seconds: number, round: number): string[] => [
    ...common, `--runtime=${fioRuntime(seconds)}`, '--time_based',
    // fio draws its offsets from its own generator (not ours); seeded, and varied per round as ours are.
    ...(workload.access === 'random' ? [`--randseed=${workerSeed(job.seed, round, 0)}`] : []),
  ];
  const contender: Contender = {
    label,
    kind: 'fio',
    async prepare() {
      const startup = await runFio([...common, '--number_ios=1']);
      contender.startupCpuSeconds = startup.processCpuSeconds ?? undefined;
    },
    async run(round, seconds) {
      const result = await runFio(timed(seconds, round), workload.op);
      const processCpu = result.processCpuSeconds === null || contender.startupCpuSeconds === undefined
        ? null : Math.max(0, result.processCpuSeconds - contender.startupCpuSeconds);
      return {
        contender: label, round, ops: result.ops, seconds: result.runtimeMs / 1000, iops: result.iops,
        cpuUsPerOp: processCpu === null ? result.cpuUsPerOp : (processCpu * 1e6) / result.ops,
        fioJobCpuUsPerOp: result.cpuUsPerOp,
      };
    },
    close: async () => {},
    command: `fio ${timed(seconds, 0).join(' ')} --output-format=json`,
  };
  return contender;
}

// ------------------------------------------------------------------ report

interface PlaceRecord {
  name: string;
  dir: string;
  readFile: string;
  writeFile: string;
  filesystem: string | null;
  device: BlockDevice | null;
  /** Whether the run wrote the files (or reused them). */
  written: { read: boolean; write: boolean };
}

export interface WorkloadResult {
  place: string;
  filesystem: string | null;
  workload: Workload;
  file: string;
  loadAverage: number[];
  contenders: string[];
  baselines: string[];
  fioCommands: Record<string, string>;
  fioStartupCpuSeconds: Record<string, number | null>;
  samples: Sample[];
  ratios: RoundRatio[];
  summary: Summary[];
}

export interface MatrixReport {
  benchmark: 'matrix';
  machine: Machine;
  loadAverageAfter: number[];
  finished: string;
  durationSeconds: number;
  command: string;
  config: {
    size: number; rounds: number; seconds: number; warmup: number; seed: number; engines: string[];
    fioEngines: string[]; fs: boolean; readPattern: string; writePattern: string;
  };
  places: PlaceRecord[];
  results: WorkloadResult[];
}

/** The ratio columns, in this order where present. */
const REFERENCES = ['fio io_uring', 'fio libaio', 'fs.promises', 'fio io_uring-fixed'];

function workloadTable(result: WorkloadResult, markdown: boolean): string {
  const mib = inMiBps(result.workload);
  const scale = mib ? result.workload.bs / 2 ** 20 : 1;
  const unit = mib ? 'MiB/s' : 'IOPS';
  const fmt = (iops: number): string => fmtIops(iops * scale);
  const references = REFERENCES.filter((b) => result.baselines.includes(b));
  const rows = [['contender', `median ${unit}`, 'min', 'max', 'CPU µs/op', ...references.map((b) => `vs ${b}`)]];
  for (const s of result.summary) {
    rows.push([s.contender, fmt(s.medianIops), fmt(s.minIops), fmt(s.maxIops), s.medianCpuUsPerOp.toFixed(1),
      ...references.map((b) => (b === s.contender ? '' : fmtRatio(s.medianRatio[b])))]);
  }
  return markdown ? markdownTable(rows.map(times), (c) => c > 0) : table(rows, (c) => c > 0);
}

/** Markdown gets a proper multiplication sign in its ratios. */
const times = (row: string[]): string[] => row.map((cell) => cell.replace(/^(\d+\.\d+)x$/, '$1×'));

/**
 * One line per workload and place: the default ring against fio io_uring and
 * fs.promises, the aio engine against fio libaio, and fio's registered buffers
 * and files against plain fio io_uring; the medians of the per-round ratios.
 */
function headlineTable(report: MatrixReport, markdown: boolean): string {
  const rows = [['workload', 'place', 'odirect', 'vs fio io_uring', 'vs fs.promises', 'aio vs fio libaio',
    'fio fixed vs fio io_uring', 'CPU µs/op odirect', 'fio io_uring', 'fs.promises']];
  for (const result of report.results) {
    const get = (contender: string): Summary | undefined => result.summary.find((s) => s.contender === contender);
    const odirect = get('odirect');
    const mib = inMiBps(result.workload);
    const rate = odirect === undefined ? '-'
      : mib ? `${fmtIops(odirect.medianIops * result.workload.bs / 2 ** 20)} MiB/s` : `${fmtIops(odirect.medianIops)} IOPS`;
    const cpu = (contender: string): string => get(contender)?.medianCpuUsPerOp.toFixed(1) ?? '-';
    rows.push([result.workload.name, result.place, rate, fmtRatio(odirect?.medianRatio['fio io_uring']),
      fmtRatio(odirect?.medianRatio['fs.promises']), fmtRatio(get('odirect[aio]')?.medianRatio['fio libaio']),
      fmtRatio(get('fio io_uring-fixed')?.medianRatio['fio io_uring']), cpu('odirect'), cpu('fio io_uring'), cpu('fs.promises')]);
  }
  return markdown ? markdownTable(rows.map(times), (c) => c > 1) : table(rows, (c) => c > 1);
}

function printReport(report: MatrixReport, markdown: boolean): void {
  const { config, machine } = report;
  const out: string[] = [];
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  out.push(`${machine.date}  Linux ${machine.kernel}  Node ${machine.node}  ${machine.fio ?? 'no fio'}  ` +
    `${machine.cpus} CPUs  UV_THREADPOOL_SIZE=${machine.uvThreadpoolSize}  default engine ${machine.defaultEngine}`);
  out.push(`${config.rounds} rounds of ${config.seconds} s, load ${load(machine.loadAverage)} -> ${load(report.loadAverageAfter)}, ` +
    `${(report.durationSeconds / 60).toFixed(1)} min`);
  out.push(`command: ${report.command}`);
  for (const result of report.results) {
    const place = report.places.find((p) => p.name === result.place);
    const where = `${result.place} (${result.filesystem ?? '?'}${place?.device ? `, ${place.device.name}` : ''})`;
    out.push('');
    out.push(markdown
      ? `#### ${result.workload.name}, ${where}: ${describeWorkload(result.workload)} (load ${result.loadAverage[0].toFixed(2)})`
      : `${result.workload.name} on ${where}: ${describeWorkload(result.workload)}, load ${load(result.loadAverage)}`);
    out.push('');
    out.push(workloadTable(result, markdown));
  }
  out.push('');
  out.push(markdown ? '#### Headline ratios (medians of per-round ratios)' : 'Headline ratios (medians of per-round ratios)');
  out.push('');
  out.push(headlineTable(report, markdown));
  process.stdout.write(`${out.join('\n')}\n`);
}

// -------------------------------------------------------------------- main

/** Files the run made in RAM, to delete however it ends. */
const temporaryFiles = new Set<string>();

function removeTemporaryFiles(): void {
  for (const file of temporaryFiles) {
    if (fs.existsSync(file)) {
      fs.rmSync(file, { force: true });
      log(`deleted ${file}`);
    }
    temporaryFiles.delete(file);
  }
}

async function preparePlace(place: Place, options: Options, needs: { read: boolean; write: boolean }): Promise<PlaceRecord> {
  const written = { read: false, write: false };
  const files: [keyof typeof written, string, FilePattern][] = [
    ['read', place.readFile, OFFSET_PATTERN], ['write', place.writeFile, CONSTANT_PATTERN],
  ];
  for (const [which, file, pattern] of files) {
    if (!needs[which]) continue;
    if (place.temporary) {
      temporaryFiles.add(file);
      temporaryFiles.add(`${file}.partial-${process.pid}`);
    }
    written[which] = await prepareFile(file, options.size, log, pattern);
    await checkFile(file, options.size, pattern, 4096, 64);
  }
  const probe = needs.read ? place.readFile : place.writeFile;
  return {
    name: place.name, dir: place.dir, readFile: place.readFile, writeFile: place.writeFile,
    filesystem: filesystemOf(probe), device: blockDeviceOf(probe), written,
  };
}

async function runWorkload(workload: Workload, place: Place, filesystem: string | null, options: Options,
  rings: { label: string; ring: Ring }[]): Promise<WorkloadResult> {
  const job: Job = {
    workload,
    place,
    file: workload.op === 'write' ? place.writeFile : place.readFile,
    size: options.size,
    seed: options.seed,
    buffers: Array.from({ length: workload.iodepth }, () => allocAligned(workload.bs, 4096)),
  };
  if (workload.op === 'write') for (const buffer of job.buffers) CONSTANT_PATTERN.fill(buffer, 0);
  const loadAverage = os.loadavg();
  log(`\n== ${workload.name} on ${place.name} (${filesystem ?? '?'}, ${job.file}): ${describeWorkload(workload)}; ` +
    `load ${loadAverage.map((l) => l.toFixed(2)).join(' ')}`);

  const contenders: Contender[] = [];
  for (const { label, ring } of rings) contenders.push(await odirectContender(job, label, ring));
  if (options.fs) contenders.push(await fsContender(job));
  const fioContenders = fioVersion() === null ? [] : options.fioEngines.map((engine) => fioContender(job, engine, options.seconds));
  contenders.push(...fioContenders);

  for (const contender of contenders) await contender.prepare(options.warmup);
  const samples: Sample[] = [];
  const mib = inMiBps(workload);
  for (let round = 0; round < options.rounds; round++) {
    for (const contender of contenders) {
      const sample = await contender.run(round, options.seconds);
      samples.push(sample);
      const rate = mib ? `${(sample.iops * workload.bs / 2 ** 20).toFixed(0).padStart(9)} MiB/s` : `${fmtIops(sample.iops).padStart(9)} IOPS`;
      const extra = sample.opsPerBatch !== undefined
        ? `  ${sample.opsPerBatch.toFixed(1)} ops/batch  ${sample.opsPerWakeup?.toFixed(1) ?? '-'} ops/wakeup` : '';
      const fioOwn = sample.fioJobCpuUsPerOp !== undefined ? `  (fio's own: ${sample.fioJobCpuUsPerOp.toFixed(1)})` : '';
      log(`round ${round + 1}/${options.rounds}  ${contender.label.padEnd(20)} ${rate}` +
        `  ${sample.cpuUsPerOp.toFixed(1).padStart(6)} µs CPU/op${fioOwn}${extra}`);
    }
  }
  for (const contender of contenders) await contender.close();

  const baselines = [...(options.fs ? ['fs.promises'] : []), ...fioContenders.map((c) => c.label)];
  return {
    place: place.name,
    filesystem,
    workload,
    file: job.file,
    loadAverage,
    contenders: contenders.map((c) => c.label),
    baselines,
    fioCommands: Object.fromEntries(fioContenders.map((c) => [c.label, c.command!])),
    fioStartupCpuSeconds: Object.fromEntries(fioContenders.map((c) => [c.label, c.startupCpuSeconds ?? null])),
    samples,
    ...summarize(contenders, samples, baselines),
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.from !== null) {
    const saved = JSON.parse(fs.readFileSync(options.from, 'utf8')) as MatrixReport;
    if (options.json) process.stdout.write(`${JSON.stringify(saved, null, 2)}\n`);
    else printReport(saved, options.markdown);
    return;
  }
  const chosen = selected(options);
  if (chosen.length === 0) throw new Error('--only and --qd leave no workload');
  const started = Date.now();
  // The machine as of the disk's read file (or of the first place's).
  const first = options.places[0];
  const fio = fioVersion();
  if (fio === null && options.fioEngines.length > 0) log('fio is not on PATH: no fio figures');

  // The rings live for the whole run; each workload opens its file on each.
  const rings = options.engines.map((engine) => (engine === 'default'
    ? { label: 'odirect', ring: defaultRing() }
    : { label: `odirect[${engine}]`, ring: new Ring({ engine: engine as 'io_uring' | 'aio' | 'threadpool' }) }));
  log(`rings: ${rings.map(({ label, ring }) => `${label} = ${ring.engine} (${ring.entries} entries, ${ring.features})`).join('; ')}`);
  for (const { ring } of rings) {
    if (options.qds.some((qd) => qd > ring.entries)) log(`note: ${ring.engine} ring has ${ring.entries} entries; deeper queues wait in JS`);
  }

  const places: PlaceRecord[] = [];
  const results: WorkloadResult[] = [];
  let machine: Machine | null = null;
  try {
    for (const place of options.places) {
      const needs = { read: chosen.some((w) => w.op === 'read'), write: chosen.some((w) => w.op === 'write') };
      const record = await preparePlace(place, options, needs);
      places.push(record);
      machine ??= describeMachine(needs.read ? first.readFile : first.writeFile);
      log(`${place.name}: ${place.dir} is ${record.filesystem ?? '?'}${record.device ? ` on ${record.device.name}` : ''}`);
      for (const workload of chosen) results.push(await runWorkload(workload, place, record.filesystem, options, rings));
      if (needs.write) {
        // Every writer wrote the bytes the write file held: it must hold them still, all of it.
        await checkFile(place.writeFile, options.size, CONSTANT_PATTERN, 4096, 'all');
        log(`${place.writeFile}: every byte still holds the write pattern`);
      }
      if (place.temporary) removeTemporaryFiles();
    }
  } finally {
    removeTemporaryFiles();
    for (const { ring } of rings) if (ring !== defaultRing()) await ring.close();
  }

  const report: MatrixReport = {
    benchmark: 'matrix',
    machine: machine!,
    loadAverageAfter: os.loadavg(),
    finished: new Date().toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    command: `node ${path.relative(process.cwd(), process.argv[1])} ${process.argv.slice(2).join(' ')}`.trim(),
    config: {
      size: options.size, rounds: options.rounds, seconds: options.seconds, warmup: options.warmup, seed: options.seed,
      engines: options.engines, fioEngines: fio === null ? [] : options.fioEngines, fs: options.fs,
      readPattern: OFFSET_PATTERN.name, writePattern: CONSTANT_PATTERN.name,
    },
    places,
    results,
  };
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (options.out !== null) fs.writeFileSync(options.out, json);
  if (options.json) process.stdout.write(json);
  else printReport(report, options.markdown);
}

if (require.main === module) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      removeTemporaryFiles();
      process.exit(130);
    });
  }
  main().catch((error: unknown) => {
    removeTemporaryFiles();
    log(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  });
}
