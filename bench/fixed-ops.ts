// A fixed number of ops through one build of the package, for timing two
// builds against each other as whole processes (the two alternating, each
// pair's ratio taken, then the median): 4 KiB random or 1 MiB sequential
// reads or writes at a queue depth, on an engine.
//
//   node build/bench/fixed-ops.js DIST ENGINE IODEPTH OPS FILE read|write BS
//
// DIST: a build's dist/ folder (this tree's, or another checkout's);
// ENGINE: default, io_uring, aio or threadpool. Reads random blocks of BS
// below 1 MiB, sequential ones from 1 MiB; writes overwrite FILE (keep it
// apart from the benchmark's pattern file). Every op must transfer BS bytes.
import path = require('path');
import { randomOffsets, sequentialOffsets, workerSeed } from './common';

type Package = typeof import('../lib/index');

async function main(): Promise<void> {
  const [dist, engine, iodepthText, opsText, file, rw, bsText] = process.argv.slice(2);
  if (bsText === undefined || (rw !== 'read' && rw !== 'write')) {
    throw new Error('usage: fixed-ops.js DIST ENGINE IODEPTH OPS FILE read|write BS');
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const od = require(path.resolve(dist, 'index.js')) as Package;
  const iodepth = Number(iodepthText);
  const bs = Number(bsText);
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

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
