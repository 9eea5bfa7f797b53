// Pieces every benchmark of odirect shares: the pre-written data file, the
// seeded offsets, fio, statistics, and the facts about the machine that a
// figure means nothing without. Workload scripts (randread.ts, and the issue-4
// matrix after it) build on these.
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

/** What every 8-byte word of the bench file holds: its own offset (little-endian). */
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

/**
 * Makes sure `file` exists with `size` bytes of real data, written (not
 * fallocated: unwritten extents read as zeros without touching the device,
 * which flatters every reader) by sequential 1 MiB direct writes. A file
 * of the right size is reused; it is written under a temporary name first,
 * so an interrupted run never leaves a short or half-written file behind.
 * Returns whether it wrote the file.
 */
export async function prepareFile(file: string, size: number, log: (line: string) => void): Promise<boolean> {
  const existing = fs.statSync(file, { throwIfNoEntry: false });
  if (existing !== undefined && existing.isFile() && existing.size === size) return false;
  if (existing !== undefined && !existing.isFile()) throw new Error(`${file} exists and is not a regular file`);
  if (size % 4096 !== 0) throw new Error(`--size must be a multiple of 4096 (it is ${size})`);
  const partial = `${file}.partial-${process.pid}`;
  const chunkSize = 1 << 20;
  const writers = 4; // a few writes in flight: quicker to prepare, still sequential on disk
  log(`writing ${size} bytes of pattern data to ${file} (1 MiB direct writes)...`);
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
        fillPattern(chunk, offset);
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
  args: string[];
}

/** fio's read/write section for the direction a workload uses. */
type Direction = 'read' | 'write';

/** Runs fio with `args` (plus JSON output) and takes `direction`'s figures. */
export function runFio(args: string[], direction: Direction): Promise<FioResult> {
  const fullArgs = [...args, '--output-format=json'];
  return new Promise((resolve, reject) => {
    const child = spawn('fio', fullArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
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
      try {
        // fio can print notes before the JSON document.
        const report = JSON.parse(stdout.slice(stdout.indexOf('{')));
        const job = report.jobs[0];
        const side = job[direction];
        const runtimeMs: number = side.runtime;
        const ops: number = side.total_ios;
        const cpuSeconds = ((job.usr_cpu + job.sys_cpu) / 100) * (runtimeMs / 1000);
        resolve({ iops: side.iops, ops, runtimeMs, cpuUsPerOp: (cpuSeconds * 1e6) / ops, args: fullArgs });
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

/** The block device under `file`, and its queue settings. */
export function blockDeviceOf(file: string): BlockDevice | null {
  const dev = fs.statSync(file).dev;
  // Linux's dev_t encoding (glibc's gnu_dev_major/minor).
  const major = ((dev >> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  const majorMinor = `${major}:${minor}`;
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
  let filesystem: string | null = null;
  for (const line of (readSys('/proc/self/mountinfo') ?? '').split('\n')) {
    const fields = line.split(' ');
    if (fields[2] === majorMinor) {
      filesystem = fields[fields.indexOf('-') + 1] ?? null;
      break;
    }
  }
  return {
    name: path.basename(sysPath),
    majorMinor,
    filesystem,
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
