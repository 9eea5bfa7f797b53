#!/usr/bin/env node
// Resident memory under a long run of reads: N random 4 KiB reads at depth 64
// through the default ring, on a file in /dev/shm, sampling the process's RSS
// every --sample ops after a warm-up (each sample after a full GC). Fails
// (exit 1) when RSS grew by more than --bound-mib between the first sample
// and the last, when a read fails, or when a read returns the wrong bytes.
//
//   node scripts/rss-soak.js                       # 10,000,000 reads on each engine
//   node scripts/rss-soak.js --ops 1000000 --sample 100000 --warmup 200000
//   node scripts/rss-soak.js --engine aio --json
//
// Each engine runs in a child process of its own (ODIRECT_ENGINE set), so
// that each has an RSS of its own, with --expose-gc and V8's young
// generation fixed at its largest size (--min-semi-space-size and
// --max-semi-space-size 16, MiB per semi-space). Left to itself V8 doubles
// the young generation once or twice during a run whose allocation rate
// stays high, which adds up to 16 MiB of RSS in one step, long after any
// warm-up, with no leak at all (measured on 2026-11-22, kernel build v595:
// +12.5 MiB at about 5.5 M reads on every engine).
//
// Why the bound: with the young generation fixed and after a full GC, the
// heap holds only what is live, so a steady state is flat but for allocator
// and page granularity (about 3 MiB, mostly before 1 M reads, measured the
// same day). A leak of a few bytes per read shows beyond 16 MiB: 2 bytes
// over 9.5 M reads is 19 MB, and one retained Promise or request record per
// read (about 60 bytes) is 570 MB.
'use strict';
const childProcess = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { parseArgs } = require('util');
const v8 = require('v8');

const HELP = `Usage: node scripts/rss-soak.js [options]

  --ops N          reads in all (default 10000000)
  --depth N        reads in flight (default 64)
  --warmup N       reads before the first sample (default 500000)
  --sample N       reads between samples (default 500000)
  --bound-mib M    largest growth of RSS allowed, first sample to last, in MiB (default 16)
  --engine NAME    all (default: every engine that starts here, one after the other), or
                   io_uring, aio, threadpool
  --dir DIR        where the data file goes (default /dev/shm, else the OS temporary directory)
  --size-mib M     size of the data file (default 64)
  --json           print the result as JSON
  --help`;

const MIB = 1024 * 1024;
const BLOCK = 4096;

function parse(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      ops: { type: 'string', default: '10000000' },
      depth: { type: 'string', default: '64' },
      warmup: { type: 'string', default: '500000' },
      sample: { type: 'string', default: '500000' },
      'bound-mib': { type: 'string', default: '16' },
      engine: { type: 'string', default: 'all' },
      dir: { type: 'string', default: fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir() },
      'size-mib': { type: 'string', default: '64' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const count = (name) => {
    const value = Number(values[name]);
    if (!Number.isSafeInteger(value) || value <= 0) usage(`--${name} must be a positive integer, not '${values[name]}'`);
    return value;
  };
  const options = {
    ops: count('ops'), depth: count('depth'), warmup: count('warmup'), sample: count('sample'),
    boundMib: count('bound-mib'), sizeMib: count('size-mib'), engine: values.engine, dir: values.dir, json: values.json,
  };
  if (options.warmup + options.sample > options.ops) usage('--ops leaves room for no sample after the warm-up');
  return options;
}

function usage(message) {
  console.error(`rss-soak: ${message}\n\n${HELP}`);
  process.exit(2);
}

/** A file of `sizeMib` MiB whose every 8-byte word holds its own offset. */
function makeFile(dir, sizeMib) {
  const file = path.join(dir, `odirect-rss-soak-${process.pid}`);
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(MIB);
  for (let base = 0; base < sizeMib * MIB; base += MIB) {
    for (let i = 0; i < MIB; i += 8) chunk.writeBigUInt64LE(BigInt(base + i), i);
    fs.writeSync(fd, chunk, 0, MIB, base);
  }
  fs.closeSync(fd);
  return file;
}

/** Runs the reads in this process on the default ring; resolves to the report. */
async function soak(options) {
  const { open, allocAligned, defaultRing } = require('..');
  const file = makeFile(options.dir, options.sizeMib);
  const blocks = (options.sizeMib * MIB) / BLOCK;
  const handle = await open(file, 'r');
  const samples = [];
  let issued = 0;
  let completed = 0;
  let nextSample = options.warmup;
  let wrong = null;
  // xorshift32: the same offsets on every run, and no allocation per read.
  let state = 0x9e3779b9;
  const nextBlock = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % blocks;
  };
  const started = process.hrtime.bigint();
  // Sampling waits for every worker to reach the same point, so that each
  // sample sees the same number of reads in flight (none).
  let pausedWorkers = 0;
  let resume = null;
  const pause = () => new Promise((resolve) => {
    pausedWorkers++;
    if (pausedWorkers === options.depth) {
      global.gc();
      const usage = process.memoryUsage();
      const newSpace = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
      samples.push({ ops: completed, rss: usage.rss, heapUsed: usage.heapUsed, heapTotal: usage.heapTotal,
        newSpace: newSpace?.physical_space_size ?? 0, external: usage.external });
      nextSample += options.sample;
      pausedWorkers = 0;
      const waiting = resume;
      resume = null;
      resolve();
      if (waiting !== null) waiting.forEach((r) => r());
    } else {
      (resume ??= []).push(resolve);
    }
  });
  const worker = async () => {
    const buffer = allocAligned(BLOCK);
    for (;;) {
      if (issued >= nextSample && nextSample <= options.ops) {
        await pause();
        continue;
      }
      if (issued >= options.ops) return;
      issued++;
      const block = nextBlock();
      const bytes = await handle.readAt(buffer, block * BLOCK);
      completed++;
      // The first and the last word of each block hold their own offsets.
      if (wrong === null && (bytes !== BLOCK || buffer.readUInt32LE(0) !== block * BLOCK
        || buffer.readUInt32LE(BLOCK - 8) !== block * BLOCK + BLOCK - 8)) {
        wrong = { block, bytes };
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.depth }, worker));
  } finally {
    await handle.close();
    fs.rmSync(file, { force: true });
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const stats = defaultRing().stats();
  const growth = samples[samples.length - 1].rss - samples[0].rss;
  const report = {
    engine: defaultRing().engine,
    ops: completed,
    depth: options.depth,
    seconds: Math.round(seconds * 10) / 10,
    iops: Math.round(completed / seconds),
    samples,
    growthMib: Math.round((growth / MIB) * 100) / 100,
    boundMib: options.boundMib,
    errors: stats.errors,
    wrong,
  };
  report.ok = growth <= options.boundMib * MIB && wrong === null && stats.errors === 0 && completed === options.ops;
  return report;
}

function print(report) {
  const mib = (bytes) => (bytes / MIB).toFixed(1);
  console.log(`${report.engine}: ${report.ops} reads of 4 KiB at depth ${report.depth} in ${report.seconds} s ` +
    `(${report.iops} IOPS); RSS after GC, MiB:`);
  console.log(report.samples.map((s) => `  ${String(s.ops).padStart(9)} ops  rss ${mib(s.rss).padStart(7)}  ` +
    `heap used ${mib(s.heapUsed).padStart(6)}  young generation ${mib(s.newSpace).padStart(5)}  ` +
    `external ${mib(s.external).padStart(5)}`).join('\n'));
  const verdict = report.ok ? 'ok' : 'FAILED';
  console.log(`  growth ${report.growthMib} MiB (bound ${report.boundMib} MiB), errors ${report.errors}` +
    `${report.wrong !== null ? `, wrong bytes at block ${report.wrong.block}` : ''}: ${verdict}`);
}

/** V8's flags for each child: samples after a full GC, a young generation of fixed size (see above). */
const CHILD_FLAGS = ['--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16'];

/** Runs the soak for `engine` in a child process; resolves to its report. */
function runChild(options, engine) {
  const args = ['--ops', options.ops, '--depth', options.depth, '--warmup', options.warmup, '--sample', options.sample,
    '--bound-mib', options.boundMib, '--dir', options.dir, '--size-mib', options.sizeMib];
  const result = childProcess.spawnSync(process.execPath, [...CHILD_FLAGS, __filename, ...args.map(String)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ODIRECT_ENGINE: engine, ODIRECT_RSS_SOAK_CHILD: '1' },
  });
  try {
    return JSON.parse(result.stdout.trim().split('\n').pop());
  } catch {
    return { engine, ok: false, error: `the child exited with ${result.status ?? result.signal}` };
  }
}

async function main() {
  const options = parse(process.argv.slice(2));
  if (process.env.ODIRECT_RSS_SOAK_CHILD === '1') {
    if (typeof global.gc !== 'function') usage('the child needs --expose-gc');
    console.log(JSON.stringify(await soak(options)));
    return;
  }
  let engines = [options.engine];
  if (options.engine === 'all') {
    const { probe } = require('..');
    engines = (await probe()).engines.filter((e) => e.available).map((e) => e.engine);
  }
  const reports = [];
  for (const engine of engines) {
    const report = runChild(options, engine);
    reports.push(report);
    if (!options.json) {
      if (report.samples !== undefined) print(report);
      else console.log(`${engine}: FAILED: ${report.error}`);
    }
  }
  if (options.json) console.log(JSON.stringify(options.engine === 'all' ? reports : reports[0]));
  process.exitCode = reports.every((r) => r.ok) ? 0 : 1;
}

main().catch((error) => {
  console.error(`rss-soak: ${error.stack ?? error}`);
  process.exit(1);
});
