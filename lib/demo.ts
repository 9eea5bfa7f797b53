// `npm start`: a short demonstration on a file in the OS temp directory.
// Writes a pattern with direct I/O, reads it back with many reads in flight,
// checks every byte, and says what it did and how fast.
import fs = require('fs');
import os = require('os');
import path = require('path');
import { allocAligned, defaultRing, open } from './index';

const FILE_SIZE = 64 * 1024 * 1024;
const WRITE_BLOCK = 1024 * 1024;
const READ_BLOCK = 4096;
const QUEUE_DEPTH = 64;
const READS = 50_000;

// Little-endian 64-bit words as pairs of 32-bit halves: no BigInt per word.
function words(buffer: Buffer): Uint32Array {
  return new Uint32Array(buffer.buffer, buffer.byteOffset, buffer.length >>> 2);
}

function fill(buffer: Buffer, fileOffset: number): void {
  const halves = words(buffer);
  for (let i = 0; i < halves.length; i += 2) {
    const offset = fileOffset + i * 4;
    halves[i] = offset >>> 0;
    halves[i + 1] = Math.floor(offset / 2 ** 32);
  }
}

function firstMismatch(buffer: Buffer, fileOffset: number): number {
  const halves = words(buffer);
  for (let i = 0; i < halves.length; i += 2) {
    const offset = fileOffset + i * 4;
    if (halves[i] !== offset >>> 0 || halves[i + 1] !== Math.floor(offset / 2 ** 32)) return offset;
  }
  return -1;
}

function rate(count: number, ns: bigint): string {
  return (count / (Number(ns) / 1e9)).toFixed(0);
}

async function main(): Promise<void> {
  const file = path.join(os.tmpdir(), `odirect-demo-${process.pid}`);
  const ring = defaultRing();
  console.log(`odirect demo: ${file} (${FILE_SIZE / 1048576} MiB), engine ${ring.engine}`);
  const handle = await open(file, 'w+');
  try {
    console.log(`direct-I/O alignment: memory ${handle.alignment.memory}, offset ${handle.alignment.offset} ` +
      `(from ${handle.alignmentSource})`);

    // Write: 1 MiB blocks, 8 in flight, each 8-byte word holding its own offset.
    let started = process.hrtime.bigint();
    const buffers = Array.from({ length: 8 }, () => allocAligned(WRITE_BLOCK));
    let next = 0;
    await Promise.all(buffers.map(async (buffer) => {
      while (next < FILE_SIZE) {
        const offset = next;
        next += WRITE_BLOCK;
        fill(buffer, offset);
        await handle.writeAt(buffer, offset);
      }
    }));
    await handle.datasync();
    let elapsed = process.hrtime.bigint() - started;
    console.log(`wrote ${FILE_SIZE / 1048576} MiB in ${WRITE_BLOCK / 1024} KiB blocks, 8 in flight: ` +
      `${(FILE_SIZE / 1048576 / (Number(elapsed) / 1e9)).toFixed(0)} MiB/s, then datasync`);

    // Read: 4 KiB random blocks, QUEUE_DEPTH in flight, every byte checked.
    started = process.hrtime.bigint();
    let done = 0;
    let mismatches = 0;
    let seed = 12345;
    const blocks = FILE_SIZE / READ_BLOCK;
    await Promise.all(Array.from({ length: QUEUE_DEPTH }, async () => {
      const buffer = allocAligned(READ_BLOCK);
      while (done < READS) {
        done++;
        seed = (seed * 1103515245 + 12345) >>> 0;
        const offset = (seed % blocks) * READ_BLOCK;
        const bytes = await handle.readAt(buffer, offset);
        if (bytes !== READ_BLOCK || firstMismatch(buffer, offset) !== -1) mismatches++;
      }
    }));
    elapsed = process.hrtime.bigint() - started;
    console.log(`read ${READS} random ${READ_BLOCK / 1024} KiB blocks, ${QUEUE_DEPTH} in flight: ` +
      `${rate(READS, elapsed)} reads/s, ${mismatches} mismatches`);

    // The same file through the page cache, to show the two paths agree.
    const cached = fs.readFileSync(file);
    const agree = firstMismatch(cached, 0) === -1 && cached.length === FILE_SIZE;
    console.log(`buffered read of the whole file agrees with what was written: ${agree ? 'yes' : 'NO'}`);
    const stats = ring.stats();
    console.log(`ring: ${stats.submitted} ops submitted, ${stats.completed} completed, ${stats.errors} errors, ` +
      `${stats.batches} completion batches`);
    if (mismatches > 0 || !agree) process.exitCode = 1;
  } finally {
    await handle.close();
    fs.rmSync(file, { force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
