// Random reads at a fixed queue depth on a pre-written file: odirect (one or
// more rings), Node's fs.promises on an O_DIRECT descriptor, and fio, in
// interleaved rounds (A B C A B C ...), so that the noise of a shared machine
// falls on every contender alike. Reports each round, the median IOPS of each
// contender, and odirect's ratios to fs.promises and to fio, taken per round
// (against the baseline measured next to it) and then as a median.
//
//   node build/bench/randread.js [--rounds 5] [--seconds 5] [--engine io_uring,aio,threadpool]
//        [--submit-batch 4,8,16] [--inline-max 0,2] [--json] [--out results.json]
//
// Run with --help for every flag.
import fs = require('fs');
import os = require('os');
import path = require('path');
import { parseArgs } from 'util';
import { allocAligned, BufferPool, defaultRing, DirectFile, open, Ring, RingOptions, RingStats } from '../lib/index';
import {
  describeMachine, fioRuntime, fioVersion, fmtIops, fmtRatio, holdsPattern, listOf, Machine, parsePositive, parseSize, prepareFile,
  randomOffsets, RoundRatio, runFio, summarize, Summary, table, workerSeed,
} from './common';

const HELP = `Usage: node build/bench/randread.js [options]

  --file PATH          data file (default ${path.join(os.tmpdir(), 'odirect-bench-1g')}); written once, then reused
  --size SIZE          its size (default 1g)
  --bs SIZE            block size of each read (default 4k)
  --iodepth N          reads in flight: N workers, each awaiting one read at a time (default 64)
  --seconds S          length of each contender's turn in a round (default 5)
  --rounds N           rounds (default 5)
  --warmup S           untimed turn for each JS contender before round 1 (default 1)
  --seed N             seed of the offsets (default 1)
  --engine LIST        odirect rings: default (the default ring), io_uring, aio, threadpool, auto;
                       pool (the default ring, buffers from a registered BufferPool),
                       unregistered (a new ring with registerFiles: false)
                       (with --submit-batch, --inline-max or --entries, default means a new auto ring)
  --submit-batch LIST  new Ring({ submitBatch }) for each value (crossed with --engine and --inline-max)
  --inline-max LIST    new Ring({ inlineMax }) for each value
  --entries N          new Ring({ entries }) (default: the library's)
  --fio-engine LIST    fio ioengines: io_uring (default), libaio, io_uring-fixed (fixedbufs + registerfiles), none
  --no-fs              leave out fs.promises
  --json               print the results as JSON instead of the table
  --out PATH           also write the JSON to PATH
  --help

Progress goes to stderr. UV_THREADPOOL_SIZE (libuv's pool, which fs.promises uses)
is left as the environment has it and reported.`;

interface Options {
  file: string;
  size: number;
  bs: number;
  iodepth: number;
  seconds: number;
  rounds: number;
  warmup: number;
  seed: number;
  rings: RingChoice[];
  entries: number | undefined;
  fioEngines: string[];
  fs: boolean;
  json: boolean;
  out: string | null;
}

/** One odirect contender: the default ring, or a new Ring with these options. */
interface RingChoice {
  engine: string; // 'default' | 'auto' | an engine name
  submitBatch?: number;
  inlineMax?: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      file: { type: 'string' },
      size: { type: 'string', default: '1g' },
      bs: { type: 'string', default: '4k' },
      iodepth: { type: 'string', default: '64' },
      seconds: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' },
      engine: { type: 'string', multiple: true },
      'submit-batch': { type: 'string', multiple: true },
      'inline-max': { type: 'string', multiple: true },
      entries: { type: 'string' },
      'fio-engine': { type: 'string', multiple: true },
      'no-fs': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const engines = listOf(values.engine);
  const batches = listOf(values['submit-batch']).map((v) => parsePositive(v, 'submit-batch'));
  const inlines = listOf(values['inline-max']).map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--inline-max: '${v}' is not an integer >= 0`);
    return n;
  });
  for (const engine of engines) {
    if (!['default', 'auto', 'io_uring', 'aio', 'threadpool', 'pool', 'unregistered'].includes(engine)) {
      throw new Error(`--engine: '${engine}' is not one of default, auto, io_uring, aio, threadpool, pool, unregistered`);
    }
  }
  // Ring options cannot be given to the default ring: with them, 'default' means 'auto'.
  const tuned = batches.length > 0 || inlines.length > 0 || values.entries !== undefined;
  const rings: RingChoice[] = [];
  for (const engine of engines.length > 0 ? engines : ['default']) {
    for (const submitBatch of batches.length > 0 ? batches : [undefined]) {
      for (const inlineMax of inlines.length > 0 ? inlines : [undefined]) {
        rings.push({ engine: tuned && engine === 'default' ? 'auto' : engine, submitBatch, inlineMax });
      }
    }
  }
  const fioEngines = listOf(values['fio-engine']);
  for (const engine of fioEngines) {
    if (!['io_uring', 'libaio', 'io_uring-fixed', 'none'].includes(engine)) {
      throw new Error(`--fio-engine: '${engine}' is not one of io_uring, libaio, io_uring-fixed, none`);
    }
  }
  const options: Options = {
    file: values.file ?? path.join(os.tmpdir(), 'odirect-bench-1g'),
    size: parseSize(values.size!, 'size'),
    bs: parseSize(values.bs!, 'bs'),
    iodepth: parsePositive(values.iodepth!, 'iodepth'),
    seconds: parsePositive(values.seconds!, 'seconds', false),
    rounds: parsePositive(values.rounds!, 'rounds'),
    warmup: Number(values.warmup),
    seed: Number(values.seed) >>> 0,
    rings,
    entries: values.entries === undefined ? undefined : parsePositive(values.entries, 'entries'),
    fioEngines: fioEngines.includes('none') ? [] : fioEngines.length > 0 ? fioEngines : ['io_uring'],
    fs: values['no-fs'] !== true,
    json: values.json === true,
    out: values.out ?? null,
  };
  if (options.size % options.bs !== 0) throw new Error('--size must be a multiple of --bs');
  if (options.bs % 512 !== 0) throw new Error('--bs must be a multiple of 512 (direct I/O)');
  if (!(options.warmup >= 0)) throw new Error('--warmup must be >= 0');
  return options;
}

const log = (line: string): void => { process.stderr.write(`${line}\n`); };

// ------------------------------------------------------------- contenders

/** What one contender did in one round. */
interface Sample {
  contender: string;
  round: number;
  ops: number;
  seconds: number;
  iops: number;
  /** CPU time (all threads of the process, or fio's job) per op, µs. */
  cpuUsPerOp: number;
  /** odirect only: ops per completion batch handed to JS, and per wake-up of the ring's thread. */
  opsPerBatch?: number;
  opsPerWakeup?: number;
  inlineShare?: number;
}

interface Contender {
  label: string;
  kind: 'odirect' | 'fs.promises' | 'fio';
  /** One timed turn of `seconds`, with round `round`'s offsets. */
  run(round: number, seconds: number): Promise<Sample>;
  close(): Promise<void>;
  /** fio only: the command line of a turn of round 1, for the record. */
  command?: string;
}

/**
 * The shared shape of the JS contenders: `iodepth` workers, each with its own
 * buffer and its own seeded offsets, each awaiting one read at a time until
 * the turn ends. The read itself is inlined per contender (no wrapper
 * closure) so that each pays only its own API's cost.
 */
type Worker = (buffer: Buffer, nextOffset: () => number, turn: { running: boolean }) => Promise<number>;

async function timedTurn(options: Options, buffers: Buffer[], round: number, seconds: number, worker: Worker,
): Promise<{ ops: number; seconds: number; cpuUs: number }> {
  const turn = { running: true };
  const offsets = buffers.map((_, i) => randomOffsets(workerSeed(options.seed, round, i), options.size, options.bs));
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const timer = setTimeout(() => { turn.running = false; }, seconds * 1000);
  // The turn ends when the last worker's last read is back: the ops in flight at
  // the stop are counted and so is the time they take.
  const counts = await Promise.all(buffers.map((buffer, i) => worker(buffer, offsets[i], turn)));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  clearTimeout(timer);
  const cpu = process.cpuUsage(cpuBefore);
  return { ops: counts.reduce((a, b) => a + b, 0), seconds: elapsed, cpuUs: cpu.user + cpu.system };
}

function shortRead(bytes: number, wanted: number, offset: number): Error {
  return new Error(`short read: ${bytes} of ${wanted} bytes at ${offset}`);
}

function ringLabel(choice: RingChoice, ring: Ring): string {
  if (choice.engine === 'default') return 'odirect';
  if (choice.engine === 'pool') return 'odirect[BufferPool]';
  if (choice.engine === 'unregistered') return 'odirect[registerFiles: false]';
  const parts = [choice.engine === 'auto' ? `auto=${ring.engine}` : ring.engine];
  if (choice.submitBatch !== undefined) parts.push(`sb=${choice.submitBatch}`);
  if (choice.inlineMax !== undefined) parts.push(`im=${choice.inlineMax}`);
  return `odirect[${parts.join(' ')}]`;
}

async function odirectContender(options: Options, buffers: Buffer[], choice: RingChoice): Promise<Contender> {
  let ring: Ring;
  let pool: BufferPool | undefined;
  if (choice.engine === 'default') {
    ring = defaultRing();
  } else if (choice.engine === 'pool') {
    // The default ring, with every worker's buffer from a registered pool (READ_FIXED).
    ring = defaultRing();
    pool = new BufferPool({ size: options.bs, count: buffers.length, ring });
    if (!pool.registered) throw new Error(`--engine pool: the pool is not registered: ${pool.registrationError?.message}`);
    buffers = Array.from({ length: buffers.length }, () => pool!.acquire()!);
  } else if (choice.engine === 'unregistered') {
    ring = new Ring({ registerFiles: false });
  } else {
    const ringOptions: RingOptions = {};
    if (choice.engine !== 'auto') ringOptions.engine = choice.engine as RingOptions['engine'];
    if (choice.submitBatch !== undefined) ringOptions.submitBatch = choice.submitBatch;
    if (choice.inlineMax !== undefined) ringOptions.inlineMax = choice.inlineMax;
    if (options.entries !== undefined) ringOptions.entries = options.entries;
    ring = new Ring(ringOptions);
  }
  const file: DirectFile = await open(options.file, 'r', { ring });
  const bs = options.bs;
  const worker: Worker = async (buffer, nextOffset, turn) => {
    let ops = 0;
    while (turn.running) {
      const offset = nextOffset();
      const bytes = await file.readAt(buffer, offset);
      if (bytes !== bs) throw shortRead(bytes, bs, offset);
      ops++;
    }
    return ops;
  };
  const label = ringLabel(choice, ring);
  return {
    label,
    kind: 'odirect',
    async run(round, seconds) {
      const before: RingStats = ring.stats();
      const { ops, seconds: elapsed, cpuUs } = await timedTurn(options, buffers, round, seconds, worker);
      const after = ring.stats();
      const batches = after.batches - before.batches;
      const wakeups = after.wakeups - before.wakeups;
      const submitted = after.submitted - before.submitted;
      return {
        contender: label, round, ops, seconds: elapsed, iops: ops / elapsed, cpuUsPerOp: cpuUs / ops,
        opsPerBatch: batches > 0 ? (after.completed - before.completed) / batches : undefined,
        opsPerWakeup: wakeups > 0 ? submitted / wakeups : undefined,
        inlineShare: submitted > 0 ? (after.submittedInline - before.submittedInline) / submitted : undefined,
      };
    },
    async close() {
      await file.close();
      if (pool !== undefined) {
        for (const buffer of buffers) pool.release(buffer);
        pool.close();
      }
      if (ring !== defaultRing()) await ring.close();
    },
  };
}

async function fsContender(options: Options, buffers: Buffer[]): Promise<Contender> {
  const handle = await fs.promises.open(options.file, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
  const bs = options.bs;
  const worker: Worker = async (buffer, nextOffset, turn) => {
    let ops = 0;
    while (turn.running) {
      const offset = nextOffset();
      const { bytesRead } = await handle.read(buffer, 0, bs, offset);
      if (bytesRead !== bs) throw shortRead(bytesRead, bs, offset);
      ops++;
    }
    return ops;
  };
  return {
    label: 'fs.promises',
    kind: 'fs.promises',
    async run(round, seconds) {
      const { ops, seconds: elapsed, cpuUs } = await timedTurn(options, buffers, round, seconds, worker);
      return { contender: 'fs.promises', round, ops, seconds: elapsed, iops: ops / elapsed, cpuUsPerOp: cpuUs / ops };
    },
    close: () => handle.close(),
  };
}

function fioContender(options: Options, engine: string): Contender {
  const label = `fio ${engine}`;
  const args = (seconds: number, round: number): string[] => [
    '--name=randread', `--filename=${options.file}`, '--direct=1', '--rw=randread', `--bs=${options.bs}`,
    `--iodepth=${options.iodepth}`, `--ioengine=${engine === 'io_uring-fixed' ? 'io_uring' : engine}`,
    ...(engine === 'io_uring-fixed' ? ['--fixedbufs=1', '--registerfiles=1'] : []),
    `--runtime=${fioRuntime(seconds)}`, '--time_based',
    // fio draws its offsets from its own generator (not ours); seeded, and varied per round as ours are.
    `--randseed=${workerSeed(options.seed, round, 0)}`,
  ];
  return {
    label,
    kind: 'fio',
    async run(round, seconds) {
      const result = await runFio(args(seconds, round), 'read');
      return {
        contender: label, round, ops: result.ops, seconds: result.runtimeMs / 1000, iops: result.iops,
        cpuUsPerOp: result.cpuUsPerOp,
      };
    },
    close: async () => {},
    command: `fio ${args(options.seconds, 0).join(' ')} --output-format=json`,
  };
}

// ------------------------------------------------------------------ report

interface Report {
  benchmark: 'randread';
  machine: Machine;
  loadAverageAfter: number[];
  command: string;
  fioCommand: string | null;
  config: {
    file: string; size: number; bs: number; iodepth: number; seconds: number; rounds: number; warmup: number;
    seed: number; fileWritten: boolean;
  };
  contenders: string[];
  baselines: string[];
  samples: Sample[];
  ratios: RoundRatio[];
  summary: Summary[];
}

function printReport(report: Report): void {
  const { config, machine } = report;
  const out: string[] = [];
  out.push(`randread bs=${config.bs} iodepth=${config.iodepth}, ${config.rounds} rounds of ${config.seconds} s, ` +
    `file ${config.file} (${config.size} bytes)`);
  out.push(`${machine.date}  Linux ${machine.kernel}  Node ${machine.node}  ${machine.fio ?? 'no fio'}  ` +
    `${machine.cpus} CPUs  UV_THREADPOOL_SIZE=${machine.uvThreadpoolSize}  ` +
    `load ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')} -> ${report.loadAverageAfter.map((l) => l.toFixed(2)).join(' ')}`);
  out.push('');
  const rounds = Array.from({ length: config.rounds }, (_, r) => r);
  const perRound = [['contender', ...rounds.map((r) => `round ${r + 1}`), 'cpu µs/op (median)']];
  for (const s of report.summary) {
    perRound.push([s.contender,
      ...rounds.map((r) => { const x = report.samples.find((v) => v.contender === s.contender && v.round === r); return x ? fmtIops(x.iops) : '-'; }),
      s.medianCpuUsPerOp.toFixed(1)]);
  }
  out.push('IOPS per round');
  out.push(table(perRound, (c) => c > 0));
  out.push('');
  const head = ['contender', 'median IOPS', 'min', 'max', ...report.baselines.map((b) => `vs ${b}`), 'cpu µs/op', 'ops/batch', 'ops/wakeup'];
  const rows = [head];
  for (const s of report.summary) {
    rows.push([s.contender, fmtIops(s.medianIops), fmtIops(s.minIops), fmtIops(s.maxIops),
      ...report.baselines.map((b) => (b === s.contender ? '' : fmtRatio(s.medianRatio[b]))),
      s.medianCpuUsPerOp.toFixed(1), s.opsPerBatch?.toFixed(1) ?? '', s.opsPerWakeup?.toFixed(1) ?? '']);
  }
  out.push(`Medians of ${config.rounds} rounds (ratios: median of per-round ratios)`);
  out.push(table(rows, (c) => c > 0));
  process.stdout.write(`${out.join('\n')}\n`);
}

// -------------------------------------------------------------------- main

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const fileWritten = await prepareFile(options.file, options.size, log);
  const machine = describeMachine(options.file);
  log(`file ${options.file} on ${machine.device?.name ?? '?'} (${machine.device?.filesystem ?? '?'}), ` +
    `default engine ${machine.defaultEngine}, UV_THREADPOOL_SIZE=${machine.uvThreadpoolSize}`);

  // One buffer per worker, shared by the JS contenders so they read into the same memory.
  const buffers = Array.from({ length: options.iodepth }, () => allocAligned(options.bs, 4096));

  const contenders: Contender[] = [];
  for (const choice of options.rings) contenders.push(await odirectContender(options, buffers, choice));
  if (options.fs) contenders.push(await fsContender(options, buffers));
  const fio = fioVersion();
  if (fio === null && options.fioEngines.length > 0) log('fio is not on PATH: no fio figures');
  const fioContenders = fio === null ? [] : options.fioEngines.map((engine) => fioContender(options, engine));
  contenders.push(...fioContenders);

  // The file must be ours (a pattern we can check): a quick read of a few blocks
  // through odirect before any timing, which also proves the reads are real.
  await checkPattern(options);

  if (options.warmup > 0) {
    log(`warm-up: ${options.warmup} s per JS contender`);
    for (const contender of contenders) if (contender.kind !== 'fio') await contender.run(-1, options.warmup);
  }

  const samples: Sample[] = [];
  for (let round = 0; round < options.rounds; round++) {
    for (const contender of contenders) {
      const sample = await contender.run(round, options.seconds);
      samples.push(sample);
      const extra = sample.opsPerBatch !== undefined
        ? `  ${sample.opsPerBatch.toFixed(1)} ops/batch  ${sample.opsPerWakeup?.toFixed(1) ?? '-'} ops/wakeup` +
          `  ${((sample.inlineShare ?? 0) * 100).toFixed(0)}% inline`
        : '';
      log(`round ${round + 1}/${options.rounds}  ${contender.label.padEnd(28)} ${fmtIops(sample.iops).padStart(9)} IOPS` +
        `  ${sample.cpuUsPerOp.toFixed(1).padStart(5)} µs CPU/op${extra}`);
    }
  }
  for (const contender of contenders) await contender.close();

  const baselines = [...(options.fs ? ['fs.promises'] : []), ...fioContenders.map((c) => c.label)];
  const report: Report = {
    benchmark: 'randread',
    machine,
    loadAverageAfter: os.loadavg(),
    command: `node ${path.relative(process.cwd(), process.argv[1])} ${process.argv.slice(2).join(' ')}`.trim(),
    fioCommand: fioContenders[0]?.command ?? null,
    config: {
      file: options.file, size: options.size, bs: options.bs, iodepth: options.iodepth, seconds: options.seconds,
      rounds: options.rounds, warmup: options.warmup, seed: options.seed, fileWritten,
    },
    contenders: contenders.map((c) => c.label),
    baselines,
    samples,
    ...summarize(contenders, samples, baselines),
  };
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (options.out !== null) fs.writeFileSync(options.out, json);
  if (options.json) process.stdout.write(json);
  else printReport(report);
}

async function checkPattern(options: Options): Promise<void> {
  const file = await open(options.file, 'r');
  try {
    const block = allocAligned(options.bs, 4096);
    const next = randomOffsets(0x5eed, options.size, options.bs);
    for (let i = 0; i < 32; i++) {
      const offset = i === 0 ? options.size - options.bs : next();
      await file.readAt(block, offset);
      if (!holdsPattern(block, offset)) {
        throw new Error(`${options.file} has the right size but not the bench's data (block at ${offset}); ` +
          'delete it, or pass another --file, and the bench will write it');
      }
    }
  } finally {
    await file.close();
  }
}

main().catch((error: unknown) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
