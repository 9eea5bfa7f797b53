// A fixed number of ops through one build of the package, for timing two
// builds against each other as whole processes (the two alternating, each
// pair's ratio taken, then the median): 4 KiB random or 1 MiB sequential
// reads or writes at a queue depth, on an engine.
//
//   node build/bench/fixed-ops.js DIST ENGINE IODEPTH OPS FILE read|write BS
//
// DIST: a build's dist/ folder (this tree's, or another checkout's), or
// node-floor for the Node floor (bench/node-floor.c: a Promise per read from
// a minimal addon on odirect's path; reads only, ENGINE io_uring, buffers
// from this tree's allocAligned; the addon built once into the temporary
// directory and kept); ENGINE: default, io_uring, aio or
// threadpool. Reads random blocks of BS
// below 1 MiB, sequential ones from 1 MiB; writes overwrite FILE (keep it
// apart from the benchmark's pattern file). Every op must transfer BS bytes.
import fs = require('fs');
import path = require('path');
import { randomOffsets, sequentialOffsets, workerSeed } from './common';
import { loadNodeFloor, NodeFloor } from './node-floor';

type Package = typeof import('../lib/index');

async function main(): Promise<void> {
  const [dist, engine, iodepthText, opsText, file, rw, bsText] = process.argv.slice(2);
  if (bsText === undefined || (rw !== 'read' && rw !== 'write')) {
    throw new Error('usage: fixed-ops.js DIST ENGINE IODEPTH OPS FILE read|write BS');
  }
  const iodepth = Number(iodepthText);
  const bs = Number(bsText);
  if (dist === 'node-floor') {
    if (engine !== 'io_uring' || rw !== 'read') throw new Error('node-floor: io_uring reads only');
    await nodeFloor(loadNodeFloor(), iodepth, Number(opsText), file, bs);
    return;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const od = require(path.resolve(dist, 'index.js')) as Package;
  const ring = engine === 'default' ? od.defaultRing() : new od.Ring({ engine: engine as 'io_uring' | 'aio' | 'threadpool' });
  const handle = await od.open(file, rw === 'write' ? 'r+' : 'r', { ring });
  const size = Number((await handle.stat()).size);
  // The CLI's generators (lib/cli/workload.ts): one shared sequence, or seeded random offsets per worker.
  const shared = sequentialOffsets(size, bs);
  let left = Number(opsText);
  const worker = async (index: number): Promise<void> => {
    const buffer = od.allocAligned(bs);
    const nextOffset = bs >= 1 << 20 ? shared : randomOffsets(workerSeed(1, 0, index), size, bs);
    while (left-- > 0) {
      const offset = nextOffset();
      const done = rw === 'write' ? await handle.writeAt(buffer, offset) : await handle.readAt(buffer, offset);
      if (done !== bs) throw new Error(`${rw} of ${done} bytes at ${offset}, not ${bs}`);
    }
  };
  await Promise.all(Array.from({ length: iodepth }, (_, index) => worker(index)));
  await handle.close();
  if (ring !== od.defaultRing()) await ring.close();
}

/** The same workers as main()'s, each awaiting the Node floor's Promise per read. */
async function nodeFloor(floor: NodeFloor, iodepth: number, ops: number, file: string, bs: number): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { allocAligned } = require('../lib/index') as Package;
  const opened = floor.open(file, iodepth);
  if (opened < 0) throw new Error(`bench/node-floor.c could not open ${file}: errno ${-opened}`);
  const size = fs.statSync(file).size;
  const shared = sequentialOffsets(size, bs);
  let left = ops;
  const worker = async (index: number): Promise<void> => {
    const buffer = allocAligned(bs);
    const nextOffset = bs >= 1 << 20 ? shared : randomOffsets(workerSeed(1, 0, index), size, bs);
    while (left-- > 0) {
      const offset = nextOffset();
      const done = await floor.read(buffer, offset);
      if (done !== bs) throw new Error(`read of ${done} bytes at ${offset}, not ${bs}`);
    }
  };
  await Promise.all(Array.from({ length: iodepth }, (_, index) => worker(index)));
  floor.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
