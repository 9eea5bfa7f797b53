// Random reads at a fixed queue depth on a pre-written file: odirect (one or
// more rings), Node's fs.promises on an O_DIRECT descriptor, fio, the C floor
// of odirect's own path (bench/floor.c, built here with cc) and its Node
// floor (bench/node-floor.c: the least any Node.js library pays on it), in
// interleaved rounds (A B C, C A B, B C A ...: each round's order shuffled
// from the seed), so that the noise of a shared machine falls on every
// contender alike. Reports each round, the median IOPS and CPU
// per op of each contender, the event loop's delay (p99) during each
// JavaScript turn, and the ratios to fs.promises, to fio and to the floor,
// taken per round (against the baseline measured next to it) and then as a
// median. With --threads N, odirect runs in N worker threads, a ring each,
// against fio --numjobs=N and N floor processes.
//
//   node build/bench/randread.js [--rounds 5] [--seconds 5] [--engine io_uring,aio,threadpool]
//        [--submit-batch 4,8,16] [--inline-max 0,2] [--threads 2] [--json] [--out results.json]
//
// Run with --help for every flag.
import fs = require('fs');
import os = require('os');
import path = require('path');
import { execFileSync } from 'child_process';
import { monitorEventLoopDelay } from 'perf_hooks';
import { parseArgs } from 'util';
import { isMainThread, parentPort, Worker as Thread, workerData } from 'worker_threads';
import { buildNodeFloor, NodeFloor } from './node-floor';
import { allocAligned, BufferPool, defaultRing, DirectFile, open, Ring, RingOptions, RingStats } from '../lib/index';
import {
  checkFioEngines, describeMachine, fioEngineArgs, fioRuntime, fioVersion, fmtIops, fmtRatio, generator, holdsPattern, listOf, Machine, parsePositive, parseSize, prepareFile,
  log, randomOffsets, RoundRatio, runFio, runToEnd, summarize, Summary, table, TurnSample, workerSeed,
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
  --fio-engine LIST    fio ioengines: io_uring (default), libaio, io_uring-fixed (fixedbufs + registerfiles),
                       io_uring-batch (half the depth per io_uring_enter: --iodepth_batch_submit=iodepth/2,
                       --iodepth_batch_complete_max=iodepth; fio's default is one read per call), none
  --floor LIST         the floors (built with cc -luring): epoll (bench/floor.c: odirect's path in C,
                       an eventfd registered with the ring, epoll_wait, reap, resubmit),
                       wait (bench/floor.c: io_uring_submit_and_wait), fio-loop (bench/floor.c: fio's
                       ring flags and loop, one io_uring_enter per read), node (bench/node-floor.c: the same
                       path as a minimal Node-API addon, a Promise per read), none (default: epoll,node)
  --threads N          odirect in N worker threads, each with its own Ring and --iodepth reads in flight,
                       against fio --numjobs=N and N floor processes (default 1: the main thread;
                       with N > 1, fs.promises is left out, and default or pool mean a new auto Ring
                       in each thread)
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
  floors: string[];
  threads: number;
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
      floor: { type: 'string', multiple: true },
      threads: { type: 'string', default: '1' },
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
  checkFioEngines(fioEngines);
  const floors = listOf(values.floor);
  for (const floor of floors) {
    if (!['epoll', 'wait', 'fio-loop', 'node', 'none'].includes(floor)) {
      throw new Error(`--floor: '${floor}' is not one of epoll, wait, fio-loop, node, none`);
    }
  }
  const threads = parsePositive(values.threads!, 'threads');
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
    floors: floors.includes('none') ? [] : floors.length > 0 ? floors : ['epoll', 'node'],
    threads,
    fs: values['no-fs'] !== true && threads === 1,
    json: values.json === true,
    out: values.out ?? null,
  };
  if (options.size % options.bs !== 0) throw new Error('--size must be a multiple of --bs');
  if (options.bs % 512 !== 0) throw new Error('--bs must be a multiple of 512 (direct I/O)');
  if (!(options.warmup >= 0)) throw new Error('--warmup must be >= 0');
  if (threads > 1 && options.rings.some((r) => r.engine === 'default' || r.engine === 'pool')) {
    // Each thread gets a ring of its own: 'default' means a new auto ring there.
    options.rings = options.rings.map((r) => (r.engine === 'default' || r.engine === 'pool' ? { ...r, engine: 'auto' } : r));
  }
  return options;
}

// ------------------------------------------------------------- contenders

/**
 * What one contender did in one round. CPU time is all threads of the
 * process's, or fio's job's; user and system apart for the JS contenders and
 * the floor; the event loop's delay (monitorEventLoopDelay) for JS
 * contenders in the main thread.
 */
interface Sample extends TurnSample {
  /** odirect only: the share of ops submitted by the JS thread itself. */
  inlineShare?: number;
  /** Its place in its round's order (0: first). */
  position?: number;
}

/** The seed stream of the rounds' orders, apart from the workers' (0 up). */
const ORDER_STREAM = 0xffff;

/** A copy of `items` in an order drawn from `seed` (Fisher-Yates). */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const next = generator(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

interface Contender {
  label: string;
  kind: 'odirect' | 'fs.promises' | 'fio' | 'floor' | 'node-floor';
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

const DELAY_RESOLUTION_MS = 1;

interface Turn {
  ops: number;
  seconds: number;
  cpuUs: number;
  userUs: number;
  systemUs: number;
  eventLoopDelayP99Ms: number;
}

/**
 * One turn of `seconds`. Worker i reads the offsets of workerSeed(seed, round,
 * first + i), as slot first + i of the C floor does.
 */
async function timedTurn(options: Options, buffers: Buffer[], round: number, seconds: number, worker: Worker, first = 0,
): Promise<Turn> {
  const turn = { running: true };
  const offsets = buffers.map((_, i) => randomOffsets(workerSeed(options.seed, round, first + i), options.size, options.bs));
  // The histogram holds the intervals between ticks of a timer due every
  // DELAY_RESOLUTION_MS; the delay is what goes beyond that.
  const delay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
  delay.enable();
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const timer = setTimeout(() => { turn.running = false; }, seconds * 1000);
  // The turn ends when the last worker's last read is back: the ops in flight at
  // the stop are counted and so is the time they take.
  const counts = await Promise.all(buffers.map((buffer, i) => worker(buffer, offsets[i], turn)));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  clearTimeout(timer);
  const cpu = process.cpuUsage(cpuBefore);
  delay.disable();
  return {
    ops: counts.reduce((a, b) => a + b, 0), seconds: elapsed, cpuUs: cpu.user + cpu.system, userUs: cpu.user,
    systemUs: cpu.system, eventLoopDelayP99Ms: Math.max(0, delay.percentile(99) / 1e6 - DELAY_RESOLUTION_MS),
  };
}

/** A sample from a JS turn in the main thread. */
function turnSample(contender: string, round: number, turn: Turn): Sample {
  return {
    contender, round, ops: turn.ops, seconds: turn.seconds, iops: turn.ops / turn.seconds, cpuUsPerOp: turn.cpuUs / turn.ops,
    userUsPerOp: turn.userUs / turn.ops, systemUsPerOp: turn.systemUs / turn.ops, eventLoopDelayP99Ms: turn.eventLoopDelayP99Ms,
  };
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

async function odirectContender(options: Options, buffers: Buffer[], choice: RingChoice, first = 0): Promise<Contender> {
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
      const result = await timedTurn(options, buffers, round, seconds, worker, first);
      const after = ring.stats();
      const batches = after.batches - before.batches;
      const wakeups = after.wakeups - before.wakeups;
      const submitted = after.submitted - before.submitted;
      return {
        ...turnSample(label, round, result),
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
      return turnSample('fs.promises', round, await timedTurn(options, buffers, round, seconds, worker));
    },
    close: () => handle.close(),
  };
}

function fioContender(options: Options, engine: string): Contender {
  const label = options.threads > 1 ? `fio ${engine} ×${options.threads}` : `fio ${engine}`;
  const args = (seconds: number, round: number): string[] => [
    '--name=randread', `--filename=${options.file}`, '--direct=1', '--rw=randread', `--bs=${options.bs}`,
    ...fioEngineArgs(engine, options.iodepth),
    `--runtime=${fioRuntime(seconds)}`, '--time_based',
    ...(options.threads > 1 ? [`--numjobs=${options.threads}`, '--group_reporting'] : []),
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

// ----------------------------------------------------- odirect in threads

interface ThreadSetup { options: Options; choice: RingChoice; index: number }

/**
 * odirect in `options.threads` worker threads, each with its own Ring and
 * `iodepth` reads in flight (thread t reads the offsets of slots t × iodepth
 * onwards). CPU is the whole process's over the turn.
 */
async function threadedContender(options: Options, choice: RingChoice): Promise<Contender> {
  const threads = Array.from({ length: options.threads }, (_, index) =>
    new Thread(__filename, { workerData: { options, choice, index } satisfies ThreadSetup }));
  const reply = <T>(thread: Thread): Promise<T> => new Promise((resolve, reject) => {
    const onError = (error: Error): void => { thread.off('message', onMessage); reject(error); };
    const onMessage = (message: T): void => { thread.off('error', onError); resolve(message); };
    thread.once('message', onMessage);
    thread.once('error', onError);
  });
  const labels = await Promise.all(threads.map((thread) => reply<string>(thread)));
  const label = `${labels[0]} ×${options.threads} threads`;
  return {
    label,
    kind: 'odirect',
    async run(round, seconds) {
      const cpuBefore = process.cpuUsage();
      const replies = threads.map((thread) => reply<Sample>(thread));
      for (const thread of threads) thread.postMessage({ round, seconds });
      const samples = await Promise.all(replies);
      const cpu = process.cpuUsage(cpuBefore);
      const ops = samples.reduce((sum, s) => sum + s.ops, 0);
      const elapsed = Math.max(...samples.map((s) => s.seconds));
      const mean = (values: (number | undefined)[]): number | undefined => {
        const known = values.filter((v): v is number => v !== undefined);
        return known.length > 0 ? known.reduce((a, b) => a + b, 0) / known.length : undefined;
      };
      return {
        contender: label, round, ops, seconds: elapsed, iops: ops / elapsed, cpuUsPerOp: (cpu.user + cpu.system) / ops,
        userUsPerOp: cpu.user / ops, systemUsPerOp: cpu.system / ops,
        // The worst of the threads' own event loops.
        eventLoopDelayP99Ms: Math.max(...samples.map((s) => s.eventLoopDelayP99Ms ?? 0)),
        opsPerBatch: mean(samples.map((s) => s.opsPerBatch)),
        opsPerWakeup: mean(samples.map((s) => s.opsPerWakeup)),
      };
    },
    async close() {
      await Promise.all(threads.map((thread) => new Promise<void>((resolve) => {
        thread.once('exit', () => resolve());
        thread.postMessage({ close: true });
      })));
    },
  };
}

/** The body of one worker thread of threadedContender. */
async function threadMain(setup: ThreadSetup): Promise<void> {
  const { options, choice, index } = setup;
  const buffers = Array.from({ length: options.iodepth }, () => allocAligned(options.bs, 4096));
  const contender = await odirectContender(options, buffers, choice, index * options.iodepth);
  const port = parentPort!;
  port.on('message', (message: { round: number; seconds: number } | { close: true }) => {
    if ('close' in message) {
      void contender.close().then(() => port.close());
      return;
    }
    void contender.run(message.round, message.seconds).then((sample) => port.postMessage(sample));
  });
  port.postMessage(contender.label);
}

// ---------------------------------------------------------------- C floor

/**
 * bench/floor.c, compiled into a temporary directory (removed at exit), or
 * why it could not be (no cc, no liburing headers).
 */
function buildFloor(): { binary: string } | { error: string } {
  const source = path.join(__dirname, '..', '..', 'bench', 'floor.c');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'odirect-floor-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const binary = path.join(dir, 'floor');
  try {
    execFileSync('cc', ['-O2', '-o', binary, source, '-luring'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return { error: stderr !== undefined && stderr !== '' ? stderr : (error as Error).message };
  }
  return { binary };
}

interface FloorTurn { ops: number; seconds: number; userUs: number; systemUs: number }

async function runFloor(binary: string, args: string[]): Promise<FloorTurn> {
  return JSON.parse((await runToEnd(binary, args)).stdout) as FloorTurn;
}

/**
 * The C floor: `options.threads` processes of bench/floor.c at the same time,
 * process p reading the offsets of the JS contenders' slots p × iodepth
 * onwards. `mode` epoll is odirect's path (eventfd, epoll_wait, reap,
 * resubmit); wait is io_uring_submit_and_wait; fio-loop, fio's flags and loop.
 */
function floorContender(options: Options, binary: string, mode: string): Contender {
  const name = mode === 'epoll' ? 'C floor (epoll)' : mode === 'wait' ? 'C floor (submit_and_wait)' : 'C floor (fio loop)';
  const label = options.threads > 1 ? `${name} ×${options.threads}` : name;
  const args = (round: number, seconds: number, first: number): string[] => [
    options.file, `${options.size}`, `${options.bs}`, `${options.iodepth}`, `${seconds}`, `${options.seed}`, `${round}`,
    `${first}`, ...(mode === 'epoll' ? [] : [`--${mode}`]),
  ];
  return {
    label,
    kind: 'floor',
    async run(round, seconds) {
      const turns = await Promise.all(Array.from({ length: options.threads },
        (_, p) => runFloor(binary, args(round, seconds, p * options.iodepth))));
      const ops = turns.reduce((sum, t) => sum + t.ops, 0);
      const elapsed = Math.max(...turns.map((t) => t.seconds));
      const userUs = turns.reduce((sum, t) => sum + t.userUs, 0);
      const systemUs = turns.reduce((sum, t) => sum + t.systemUs, 0);
      return {
        contender: label, round, ops, seconds: elapsed, iops: ops / elapsed, cpuUsPerOp: (userUs + systemUs) / ops,
        userUsPerOp: userUs / ops, systemUsPerOp: systemUs / ops,
      };
    },
    close: async () => {},
    command: `${binary} ${args(0, options.seconds, 0).join(' ')}`,
  };
}

// ------------------------------------------------------------- Node floor

/**
 * The Node floor: the JS contenders' workers, each awaiting a Promise that
 * bench/node-floor.c makes per read and settles from the event loop.
 */
function nodeFloorContender(options: Options, buffers: Buffer[], addon: string): Contender {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const floor = require(addon) as NodeFloor;
  const opened = floor.open(options.file, Math.max(options.iodepth, 1));
  if (opened < 0) throw new Error(`bench/node-floor.c could not open ${options.file}: errno ${-opened}`);
  const bs = options.bs;
  const worker: Worker = async (buffer, nextOffset, turn) => {
    let ops = 0;
    while (turn.running) {
      const offset = nextOffset();
      const bytes = await floor.read(buffer, offset);
      if (bytes !== bs) throw shortRead(bytes, bs, offset);
      ops++;
    }
    return ops;
  };
  const label = 'Node floor';
  return {
    label,
    kind: 'node-floor',
    async run(round, seconds) {
      return turnSample(label, round, await timedTurn(options, buffers, round, seconds, worker));
    },
    close: async () => floor.close(),
  };
}

// ------------------------------------------------------------------ report

interface Report {
  benchmark: 'randread';
  machine: Machine;
  loadAverageAfter: number[];
  command: string;
  fioCommand: string | null;
  floorCommand: string | null;
  config: {
    file: string; size: number; bs: number; iodepth: number; seconds: number; rounds: number; warmup: number;
    seed: number; threads: number; fileWritten: boolean;
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
  out.push(`randread bs=${config.bs} iodepth=${config.iodepth}${config.threads > 1 ? ` ×${config.threads} threads` : ''}, ` +
    `${config.rounds} rounds of ${config.seconds} s, ` +
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
  const head = ['contender', 'median IOPS', 'min', 'max', ...report.baselines.map((b) => `vs ${b}`), 'cpu µs/op',
    'user', 'sys', 'loop p99 ms', 'ops/batch', 'ops/wakeup'];
  const rows = [head];
  for (const s of report.summary) {
    rows.push([s.contender, fmtIops(s.medianIops), fmtIops(s.minIops), fmtIops(s.maxIops),
      ...report.baselines.map((b) => (b === s.contender ? '' : fmtRatio(s.medianRatio[b]))),
      s.medianCpuUsPerOp.toFixed(1), s.medianUserUsPerOp?.toFixed(1) ?? '', s.medianSystemUsPerOp?.toFixed(1) ?? '',
      s.medianEventLoopDelayP99Ms?.toFixed(2) ?? '', s.opsPerBatch?.toFixed(1) ?? '', s.opsPerWakeup?.toFixed(1) ?? '']);
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
  for (const choice of options.rings) {
    contenders.push(options.threads > 1 ? await threadedContender(options, choice) : await odirectContender(options, buffers, choice));
  }
  if (options.fs) contenders.push(await fsContender(options, buffers));
  const fio = fioVersion();
  if (fio === null && options.fioEngines.length > 0) log('fio is not on PATH: no fio figures');
  const fioContenders = fio === null ? [] : options.fioEngines.map((engine) => fioContender(options, engine));
  contenders.push(...fioContenders);
  const floorContenders: Contender[] = [];
  const cFloors = options.floors.filter((mode) => mode !== 'node');
  if (cFloors.length > 0) {
    const built = buildFloor();
    if ('error' in built) log(`bench/floor.c could not be built (cc, liburing-dev): no floor figures\n${built.error}`);
    else floorContenders.push(...cFloors.map((mode) => floorContender(options, built.binary, mode)));
  }
  if (options.floors.includes('node')) {
    if (options.threads > 1) {
      log('--threads: no Node floor (bench/node-floor.c has one ring per process)');
    } else {
      const built = buildNodeFloor();
      if ('error' in built) log(`bench/node-floor.c could not be built (cc, liburing-dev, Node's headers): no Node floor\n${built.error}`);
      else floorContenders.push(nodeFloorContender(options, buffers, built.addon));
    }
  }
  contenders.push(...floorContenders);

  // The file must be ours (a pattern we can check): a quick read of a few blocks
  // through odirect before any timing, which also proves the reads are real.
  await checkPattern(options);

  if (options.warmup > 0) {
    log(`warm-up: ${options.warmup} s per JS contender`);
    for (const contender of contenders) {
      if (contender.kind === 'odirect' || contender.kind === 'fs.promises' || contender.kind === 'node-floor') {
        await contender.run(-1, options.warmup);
      }
    }
  }

  const samples: Sample[] = [];
  for (let round = 0; round < options.rounds; round++) {
    // Each round runs the contenders in its own order, shuffled from the
    // seed, so that none always runs in the same place or after the same
    // neighbour: on this shared machine the device's speed drifts within a
    // round. Each sample records its place.
    const order = shuffled(contenders, workerSeed(options.seed, round, ORDER_STREAM));
    for (const [position, contender] of order.entries()) {
      const sample = { ...(await contender.run(round, options.seconds)), position };
      samples.push(sample);
      const extra = sample.opsPerBatch !== undefined
        ? `  ${sample.opsPerBatch.toFixed(1)} ops/batch  ${sample.opsPerWakeup?.toFixed(1) ?? '-'} ops/wakeup` +
          `  ${((sample.inlineShare ?? 0) * 100).toFixed(0)}% inline`
        : '';
      const delay = sample.eventLoopDelayP99Ms !== undefined ? `  loop delay p99 ${sample.eventLoopDelayP99Ms.toFixed(1)} ms` : '';
      log(`round ${round + 1}/${options.rounds}  ${contender.label.padEnd(28)} ${fmtIops(sample.iops).padStart(9)} IOPS` +
        `  ${sample.cpuUsPerOp.toFixed(1).padStart(5)} µs CPU/op${extra}${delay}`);
    }
  }
  for (const contender of contenders) await contender.close();

  const baselines = [...(options.fs ? ['fs.promises'] : []), ...fioContenders.map((c) => c.label),
    ...floorContenders.map((c) => c.label)];
  const report: Report = {
    benchmark: 'randread',
    machine,
    loadAverageAfter: os.loadavg(),
    command: `node ${path.relative(process.cwd(), process.argv[1])} ${process.argv.slice(2).join(' ')}`.trim(),
    fioCommand: fioContenders[0]?.command ?? null,
    floorCommand: floorContenders[0]?.command ?? null,
    config: {
      file: options.file, size: options.size, bs: options.bs, iodepth: options.iodepth, seconds: options.seconds,
      rounds: options.rounds, warmup: options.warmup, seed: options.seed, threads: options.threads, fileWritten,
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

(isMainThread ? main() : threadMain(workerData as ThreadSetup)).catch((error: unknown) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
