#!/usr/bin/env node
// A small workload that goes through every native path of the addon once per
// engine, for scripts/test-valgrind.js (and usable with any leak checker):
// rings made and closed, files opened and closed (fixed files on io_uring),
// aligned allocations and a registered BufferPool, reads, writes, vectored
// reads and writes, fdatasync, fallocate, short reads at end of file, kernel
// errors (EBADF, EINVAL), aborted ops, a worker thread whose environment is
// torn down with a ring of its own, and the default ring left for the
// process's own teardown. Exits by itself (no process.exit), so every
// cleanup hook runs. Prints one line per engine; exit 1 on a wrong result.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Worker, isMainThread, parentPort } = require('worker_threads');
const odirect = require('..');

const { allocAligned, BufferPool, open, readAt, Ring, defaultRing, probe } = odirect;
const BLOCK = 4096;
const DIR = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const OPS = Number(process.env.ODIRECT_LEAK_OPS ?? 256);

function check(condition, what) {
  if (!condition) throw new Error(`leak-workload: ${what}`);
}

async function exercise(ring, label) {
  const file = path.join(DIR, `odirect-leak-${process.pid}-${label}`);
  const handle = await open(file, 'w+', { ring });
  try {
    const out = allocAligned(16 * BLOCK);
    for (let i = 0; i < out.length; i += 4) out.writeUInt32LE(i, i);
    // Writes and reads at depth, each block on its own.
    const writes = [];
    for (let b = 0; b < 16; b++) writes.push(handle.writeAt(out.subarray(b * BLOCK, (b + 1) * BLOCK), b * BLOCK));
    check((await Promise.all(writes)).every((n) => n === BLOCK), 'a write was short');
    await handle.datasync();
    const back = allocAligned(BLOCK);
    for (let i = 0; i < OPS; i++) {
      const b = (i * 7) % 16;
      check(await handle.readAt(back, b * BLOCK) === BLOCK && back.readUInt32LE(0) === b * BLOCK, `read of block ${b}`);
    }
    // Vectored, in a pool's buffers (registered with io_uring rings).
    const pool = new BufferPool({ size: BLOCK, count: 4, ring });
    const parts = [pool.acquire(), pool.acquire()];
    check(await handle.readvAt(parts, 2 * BLOCK) === 2 * BLOCK && parts[1].readUInt32LE(0) === 3 * BLOCK, 'readvAt');
    check(await handle.writevAt(parts, 20 * BLOCK) === 2 * BLOCK, 'writevAt');
    check(await handle.readAt(parts[0], 3 * BLOCK) === BLOCK, 'read into a pool buffer');
    parts.forEach((p) => pool.release(p));
    pool.close();
    // A short read at the end of the file, and one past it.
    const tail = allocAligned(4 * BLOCK);
    check(await handle.readAt(tail, 20 * BLOCK) === 2 * BLOCK, 'short read');
    check(await handle.readAt(tail, 64 * BLOCK) === 0, 'read past the end');
    await handle.allocate(0, 32 * BLOCK);
    // Kernel errors: a misaligned buffer, a descriptor that is not open.
    const misaligned = allocAligned(2 * BLOCK).subarray(1, 1 + BLOCK);
    await handle.readAt(misaligned, 0).then(() => check(false, 'misaligned read resolved'), () => undefined);
    await readAt(1 << 20, back, 0).then(() => check(false, 'EBADF read resolved'), () => undefined);
    // Ops aborted before and while in flight.
    const controller = new AbortController();
    const aborted = [];
    for (let b = 0; b < 8; b++) aborted.push(handle.readAt(allocAligned(BLOCK), b * BLOCK, { signal: controller.signal }));
    controller.abort();
    await Promise.allSettled(aborted);
    const already = AbortSignal.abort();
    await handle.readAt(back, 0, { signal: already }).then(() => check(false, 'aborted read resolved'), () => undefined);
  } finally {
    await handle.close();
    fs.rmSync(file, { force: true });
  }
}

async function main() {
  const engines = (await probe()).engines.filter((e) => e.available).map((e) => e.engine);
  for (const engine of engines) {
    const ring = new Ring({ engine, entries: 32 });
    await exercise(ring, engine);
    await ring.close();
    console.log(`${engine}: ok`);
  }
  // A file left open on the default ring, cleaned up by the environment's teardown.
  const left = await open(path.join(DIR, `odirect-leak-${process.pid}-left-open`), 'w+');
  await left.writeAt(allocAligned(BLOCK), 0);
  fs.rmSync(left.path);
  // A worker thread with a ring it never closes: its environment's cleanup hook closes it.
  await new Promise((resolve, reject) => {
    const worker = new Worker(__filename);
    worker.once('message', (line) => console.log(line));
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the worker exited with ${code}`))));
  });
  console.log(`default ring (${defaultRing().engine}), left open: ok`);
}

if (isMainThread) {
  main().catch((error) => {
    console.error(error.stack ?? String(error));
    process.exitCode = 1;
  });
} else {
  (async () => {
    const ring = new Ring({ entries: 8 });
    await exercise(ring, `worker-${ring.engine}`);
    await exercise(defaultRing(), 'worker-default');
    parentPort.postMessage(`worker (${ring.engine}): ok`);
  })();
}
