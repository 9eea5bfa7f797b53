// What a benchmark reads and writes: seeded random offsets, and data files
// holding a pattern that a block read back can be checked against. Shared by
// `odirect bench` and the repository's benchmark harness (bench/).
import fs = require('fs');
import { allocAligned, open } from '../index';

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

/**
 * Sequential offsets: one cursor for every worker that shares it, each taking
 * the next block of the file in order and wrapping at its end (as fio does).
 */
export function sequentialOffsets(size: number, bs: number): () => number {
  let cursor = 0;
  return () => {
    const offset = cursor;
    cursor += bs;
    if (cursor >= size) cursor = 0;
    return offset;
  };
}

// ---------------------------------------------------------------- patterns

/** What every 8-byte word of a read file holds: its own offset (little-endian). */
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

// --------------------------------------------------------------- data files

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
