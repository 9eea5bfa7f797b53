// Pieces every benchmark of odirect shares: the pre-written data files, the
// seeded offsets, fio, statistics and tables, and the facts about the machine
// that a figure means nothing without. Workload scripts (randread.ts, and the
// issue-4 matrix in matrix.ts) build on these.
import fs = require('fs');
import os = require('os');
import path = require('path');
import { spawn, spawnSync } from 'child_process';
import { allocAligned, defaultRing, open } from 'odirect';

// ---------------------------------------------------------------- arguments

/** "4k", "1m", "1g", "4096": sizes as fio writes them (powers of 1024). */
export function parseSize(text: string, name: string): number {
  const match = /^(\d+)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (match === null) throw new Error(`--${name}: cannot read a size from '${text}' (try 4k, 1m, 1g)`);
  const scale = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[match[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const value = Number(match[1]) * scale;
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`--${name}: '${text}' is not a positive size`);
  return value;
}

export function parsePositive(text: string, name: string, integer = true): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`--${name}: '${text}' is not a positive ${integer ? 'integer' : 'number'}`);
  }
  return value;
}

/** "a,b" and repeated flags both give lists: --engine aio,threadpool --engine io_uring. */
export function listOf(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((value) => value.split(',')).map((value) => value.trim()).filter(Boolean);
}

// ------------------------------------------------------------------ offsets

/**
 * mulberry32: a tiny 32-bit generator. Fixed seeds make every run read the
 * same blocks in the same order, and every contender in a round read the
 * same blocks, so no contender is favoured by a luckier (or better-cached,
 * on the host) set of offsets.
 */
export function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** The seed of one worker in one round: the same for every contender. */
export function workerSeed(seed: number, round: number, worker: number): number {
  return (seed ^ Math.imul(round + 1, 0x9e3779b1) ^ Math.imul(worker + 1, 0x85ebca77)) >>> 0;
}

/** Random offsets aligned to `bs` inside a file of `size` bytes. */
export function randomOffsets(seed: number, size: number, bs: number): () => number {
  const next = generator(seed);
  const blocks = Math.floor(size / bs);
  if (blocks > 2 ** 32) throw new Error('the file has more than 2^32 blocks; the offset generator cannot cover it');
  return () => Math.floor((next() / 2 ** 32) * blocks) * bs;
}

// ---------------------------------------------------------------- statistics

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// --------------------------------------------------------------- data file

/** What every 8-byte word of the bench's read file holds: its own offset (little-endian). */
function fillPattern(chunk: Buffer, offset: number): void {
  const words = new Uint32Array(chunk.buffer, chunk.byteOffset, chunk.length / 4);
  for (let i = 0; i < words.length; i += 2) {
    const value = offset + i * 4;
    words[i] = value % 2 ** 32;
    words[i + 1] = Math.floor(value / 2 ** 32);
  }
}

/** Whether a block read at `offset` holds the pattern (its first and last words). */
export function holdsPattern(block: Buffer, offset: number): boolean {
  const last = block.length - 8;
  return block.readUIntLE(0, 6) === offset && block.readUInt16LE(6) === 0 &&
    block.readUIntLE(last, 6) === offset + last && block.readUInt16LE(last + 6) === 0;
}

/** The data a bench file holds, and how to check a block of it. */
export interface FilePattern {
  name: string;
  /** Fills `chunk`, to be written at `offset`. */
  fill(chunk: Buffer, offset: number): void;
  /** Whether `block`, read from `offset`, holds the pattern. */
  holds(block: Buffer, offset: number): boolean;
}

/** The read file: every 8-byte word its own offset, so a block read from the wrong place shows. */
export const OFFSET_PATTERN: FilePattern = { name: 'offset', fill: fillPattern, holds: holdsPattern };

/**
 * The write file: the same 8 bytes ("odirectW") everywhere. A writer that
 * writes it back leaves the file as it was, whatever the offset, so buffers
 * are filled once and not per write (that would charge the JS contenders a
 * cost fio does not pay), and fio writes the very same bytes with
 * --buffer_pattern=0x<CONSTANT_PATTERN_HEX> (fio then leaves its buffers
 * unscrambled; checked: every block of a file fio wrote holds the pattern).
 */
export const CONSTANT_PATTERN_HEX = '6f64697265637457';
const constantWord = Buffer.from(CONSTANT_PATTERN_HEX, 'hex');
const constantBlocks = new Map<number, Buffer>();
function constantBlock(length: number): Buffer {
  let block = constantBlocks.get(length);
  if (block === undefined) {
    block = Buffer.alloc(length, constantWord);
    constantBlocks.set(length, block);
  }
  return block;
}
export const CONSTANT_PATTERN: FilePattern = {
  name: `constant 0x${CONSTANT_PATTERN_HEX} ("${constantWord.toString('latin1')}")`,
  fill: (chunk) => { chunk.fill(constantWord); },
  holds: (block) => block.equals(constantBlock(block.length)),
};

/**
 * Makes sure `file` exists with `size` bytes of real data, written (not
 * fallocated: unwritten extents read as zeros without touching the device,
 * which flatters every reader) by sequential 1 MiB direct writes of
 * `pattern`. A file of the right size is reused (check it with checkFile);
 * it is written under a temporary name first, so an interrupted run never
 * leaves a short or half-written file behind. Returns whether it wrote the file.
 */
export async function prepareFile(file: string, size: number, log: (line: string) => void,
  pattern: FilePattern = OFFSET_PATTERN): Promise<boolean> {
  const existing = fs.statSync(file, { throwIfNoEntry: false });
  if (existing !== undefined && existing.isFile() && existing.size === size) return false;
  if (existing !== undefined && !existing.isFile()) throw new Error(`${file} exists and is not a regular file`);
  if (size % 4096 !== 0) throw new Error(`--size must be a multiple of 4096 (it is ${size})`);
  const partial = `${file}.partial-${process.pid}`;
  const chunkSize = 1 << 20;
  const writers = 4; // a few writes in flight: quicker to prepare, still sequential on disk
  log(`writing ${size} bytes of ${pattern.name} pattern data to ${file} (1 MiB direct writes)...`);
  const started = process.hrtime.bigint();
  const out = await open(partial, 'w', { mode: 0o644 });
  try {
    let next = 0;
    await Promise.all(Array.from({ length: writers }, async () => {
      const chunk = allocAligned(chunkSize);
      while (next < size) {
        const offset = next;
        next += chunkSize;
        const length = Math.min(chunkSize, size - offset);
        pattern.fill(chunk, offset);
        const written = await out.writeAt(chunk, offset, { length });
        if (written !== length) throw new Error(`short write at ${offset}: ${written} of ${length} bytes`);
      }
    }));
    await out.datasync();
  } catch (error) {
    await out.close().catch(() => {});
    fs.rmSync(partial, { force: true });
    throw error;
  }
  await out.close();
  fs.renameSync(partial, file);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  log(`  done in ${seconds.toFixed(1)} s (${(size / 2 ** 20 / seconds).toFixed(0)} MiB/s)`);
  return true;
}

/**
 * Checks that `file` holds `pattern`: `blocks` blocks of `bs` bytes at seeded
 * random offsets and the last block, or (blocks = 'all') the whole file in
 * 1 MiB reads. Throws, saying where, if not.
 */
export async function checkFile(file: string, size: number, pattern: FilePattern, bs: number,
  blocks: number | 'all'): Promise<void> {
  const input = await open(file, 'r');
  try {
    const whole = blocks === 'all';
    const length = whole ? Math.min(1 << 20, size) : bs;
    const block = allocAligned(length, 4096);
    const next = randomOffsets(0x5eed, size, bs);
    const count = whole ? Math.ceil(size / length) : blocks + 1;
    for (let i = 0; i < count; i++) {
      const offset = whole ? i * length : i === 0 ? size - bs : next();
      const wanted = Math.min(length, size - offset);
      const view = block.subarray(0, wanted);
      const bytes = await input.readAt(view, offset);
      if (bytes !== wanted || !pattern.holds(view, offset)) {
        throw new Error(`${file} does not hold the bench's ${pattern.name} data (${wanted} bytes at ${offset}); ` +
          'delete it and the bench will write it again');
      }
    }
  } finally {
    await input.close();
  }
}

// --------------------------------------------------------------------- fio

export function fioVersion(): string | null {
  const probe = spawnSync('fio', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : null;
}

export interface FioResult {
  iops: number;
  /** Completed reads (or writes) over fio's own runtime. */
  ops: number;
  runtimeMs: number;
  /** fio job's user+system CPU time per op, µs (from its usr_cpu/sys_cpu percentages). */
  cpuUsPerOp: number;
  /**
   * User+system CPU seconds of fio's whole process tree (its main process, the
   * job process and every thread of it), from the rusage of the children of
   * the shell that ran it. Unlike cpuUsPerOp, this includes the kernel's
   * io_uring workers (io-wq threads belong to the job process; fio's own
   * figure is its job thread's) and fio's start-up (about 0.15 s here).
   */
  processCpuSeconds: number | null;
  args: string[];
}

/**
 * fio's --runtime for a turn of `seconds`: fio reads "0.5" as 0 (no limit at
 * all, one pass over the file), so a fraction goes in milliseconds.
 */
export function fioRuntime(seconds: number): string {
  return Number.isInteger(seconds) ? `${seconds}` : `${Math.round(seconds * 1000)}ms`;
}

/** fio's read/write section for the direction a workload uses. */
type Direction = 'read' | 'write';

/** bash's `times`: the shell's, then its children's, user and system time ("0m0.263s 0m0.551s"). */
function childrenCpuSeconds(stderr: string): number | null {
  const lines = stderr.trimEnd().split('\n');
  const match = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(lines[lines.length - 1] ?? '');
  if (match === null) return null;
  return Number(match[1]) * 60 + Number(match[2]) + Number(match[3]) * 60 + Number(match[4]);
}

/**
 * Runs fio with `args` (plus JSON output) and takes `direction`'s figures;
 * without `direction`, only its process CPU time (a run with no timed part,
 * to measure fio's start-up).
 */
export function runFio(args: string[], direction: Direction): Promise<FioResult>;
export function runFio(args: string[]): Promise<Pick<FioResult, 'processCpuSeconds' | 'args'>>;
export function runFio(args: string[], direction?: Direction): Promise<FioResult | Pick<FioResult, 'processCpuSeconds' | 'args'>> {
  const fullArgs = [...args, '--output-format=json'];
  return new Promise((resolve, reject) => {
    // Through bash, whose `times` (to stderr, last) gives the CPU time of the fio processes it waited for.
    const child = spawn('bash', ['-c', 'fio "$@"; status=$?; times >&2; exit $status', 'fio', ...fullArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (data: string) => { stdout += data; });
    child.stderr.setEncoding('utf8').on('data', (data: string) => { stderr += data; });
    child.on('error', reject);
    child.on('close', (status) => {
      if (status !== 0) {
        reject(new Error(`fio ${fullArgs.join(' ')} exited with ${status}: ${stderr.trim()}`));
        return;
      }
      const processCpuSeconds = childrenCpuSeconds(stderr);
      if (direction === undefined) {
        resolve({ processCpuSeconds, args: fullArgs });
        return;
      }
      try {
        // fio can print notes before the JSON document.
        const report = JSON.parse(stdout.slice(stdout.indexOf('{')));
        const job = report.jobs[0];
        const side = job[direction];
        const runtimeMs: number = side.runtime;
        const ops: number = side.total_ios;
        const cpuSeconds = ((job.usr_cpu + job.sys_cpu) / 100) * (runtimeMs / 1000);
        resolve({
          iops: side.iops, ops, runtimeMs, cpuUsPerOp: (cpuSeconds * 1e6) / ops, processCpuSeconds, args: fullArgs,
        });
      } catch (error) {
        reject(new Error(`cannot read fio's JSON output: ${(error as Error).message}\n${stdout.slice(0, 500)}`));
      }
    });
  });
}

// ----------------------------------------------------------------- machine

export interface BlockDevice {
  name: string;
  majorMinor: string;
  filesystem: string | null;
  /** A few /sys/block/<dev>/queue facts, as strings. */
  queue: Record<string, string>;
  /** Tags per hardware queue (the device's own queue depth), where blk-mq says. */
  hwQueueDepth: string | null;
}

function readSys(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

/** "major:minor" of the device `file` lives on (Linux's dev_t encoding, as glibc's gnu_dev_major/minor). */
function majorMinorOf(file: string): string {
  const dev = fs.statSync(file).dev;
  const major = ((dev >> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  return `${major}:${minor}`;
}

/** The type of the filesystem `file` is on ("ext4", "tmpfs"...), from /proc/self/mountinfo. */
export function filesystemOf(file: string): string | null {
  const majorMinor = majorMinorOf(file);
  for (const line of (readSys('/proc/self/mountinfo') ?? '').split('\n')) {
    const fields = line.split(' ');
    if (fields[2] === majorMinor) return fields[fields.indexOf('-') + 1] ?? null;
  }
  return null;
}

/** The block device under `file`, and its queue settings. */
export function blockDeviceOf(file: string): BlockDevice | null {
  const majorMinor = majorMinorOf(file);
  let sysPath: string;
  try {
    sysPath = fs.realpathSync(`/sys/dev/block/${majorMinor}`);
  } catch {
    return null; // not a block device (tmpfs, overlay...)
  }
  // A partition's queue is its disk's.
  const queueDir = fs.existsSync(path.join(sysPath, 'queue')) ? path.join(sysPath, 'queue') : path.join(sysPath, '..', 'queue');
  const queue: Record<string, string> = {};
  for (const key of ['rotational', 'nr_requests', 'logical_block_size', 'physical_block_size', 'scheduler',
    'max_sectors_kb', 'write_cache']) {
    const value = readSys(path.join(queueDir, key));
    if (value !== null) queue[key] = value;
  }
  return {
    name: path.basename(sysPath),
    majorMinor,
    filesystem: filesystemOf(file),
    queue,
    hwQueueDepth: readSys(path.join(queueDir, '..', 'mq', '0', 'nr_tags')),
  };
}

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
  /** odirect only: ops per completion batch handed to JS, and per wake-up of the ring's thread. */
  opsPerBatch?: number;
  opsPerWakeup?: number;
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
    if (batches.length > 0) result.opsPerBatch = median(batches);
    if (wakeups.length > 0) result.opsPerWakeup = median(wakeups);
    return result;
  });
  return { ratios, summary };
}

// ------------------------------------------------------------------ tables

/** Plain-text columns; the first row is the heading. */
export function table(rows: string[][], rightAligned: (column: number) => boolean): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows.map((row) => row.map((cell, c) => (rightAligned(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
    .join('  ').trimEnd()).join('\n');
}

/** The same rows as a Markdown table. */
export function markdownTable(rows: string[][], rightAligned: (column: number) => boolean): string {
  const line = (cells: string[]): string => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(rows[0]), line(rows[0].map((_, c) => (rightAligned(c) ? '---:' : '---'))), ...rows.slice(1).map(line)]
    .join('\n');
}

export const fmtIops = (iops: number): string => Math.round(iops).toLocaleString('en-US');
export const fmtRatio = (ratio: number | undefined): string =>
  (ratio === undefined || Number.isNaN(ratio) ? '-' : `${ratio.toFixed(2)}x`);
