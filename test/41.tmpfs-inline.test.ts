// Reads of a file on tmpfs (/dev/shm), whose direct I/O completes in the
// caller: on io_uring, a read of at most 64 KiB is done on the JS thread with
// preadv2(2) rather than handed to the kernel's io-wq workers (at depth,
// with more than one CPU, the first of each hand-over only); on aio, reads
// go to io_submit(2) from the JS thread without RWF_NOWAIT, which tmpfs
// refuses. The oracle is strace, outside the library: which system calls a
// child process made for its reads.
import { expect } from 'chai';
import fs = require('fs');
import os = require('os');
import path = require('path');
import { open, allocAligned } from 'odirect';
import {
  availableEngines, cleanup, checkPattern, fillPattern, forEachEngine, noIoUringReason, rejectionOf, runTool,
  skipBecause, SHM_DIR, tempPath,
} from './helpers';
import { ENTRY, describeChild, runNode } from './reliability-helpers';

const BLOCK = 4096;
const INLINE_MAX = 64 * 1024;
const FILE_BLOCKS = 64;  // 256 KiB
const CHILD_HANG_GUARD_MS = 120_000;

async function patternFile(dir: string, label: string): Promise<string> {
  const file = tempPath(dir, label);
  fs.writeFileSync(file, fillPattern(Buffer.alloc(FILE_BLOCKS * BLOCK), 0, 41n));
  return file;
}

forEachEngine('reads of a tmpfs file', ({ ring }) => {
  let file: string;
  before(async () => {
    file = await patternFile(SHM_DIR, 'tmpfs-read');
  });
  after(cleanup);

  it('give every block\'s bytes, at 4 KiB, 64 KiB and beyond 64 KiB, one at a time and 32 at once', async () => {
    const handle = await open(file, 'r', { ring: ring() });
    try {
      for (const size of [BLOCK, INLINE_MAX, INLINE_MAX + BLOCK]) {
        const last = FILE_BLOCKS * BLOCK - size;
        for (let position = 0; position <= last; position += 7 * BLOCK) {
          const buffer = allocAligned(size);
          expect(await handle.readAt(buffer, position)).to.equal(size);
          expect(checkPattern(buffer, position, 41n), `${size} bytes at ${position}`).to.equal(-1);
        }
      }
      const buffers = Array.from({ length: 32 }, () => allocAligned(BLOCK));
      const positions = buffers.map((_, i) => ((i * 13) % FILE_BLOCKS) * BLOCK);
      const counts = await Promise.all(buffers.map((buffer, i) => handle.readAt(buffer, positions[i])));
      expect(counts).to.deep.equal(buffers.map(() => BLOCK));
      buffers.forEach((buffer, i) => expect(checkPattern(buffer, positions[i], 41n), `block at ${positions[i]}`).to.equal(-1));
    } finally {
      await handle.close();
    }
  });

  it('at the end of the file: 0 bytes past it, the bytes up to it across it', async () => {
    const handle = await open(file, 'r', { ring: ring() });
    try {
      const end = FILE_BLOCKS * BLOCK;
      expect(await handle.readAt(allocAligned(BLOCK), end)).to.equal(0);
      expect(await handle.readAt(allocAligned(BLOCK), end + 8 * BLOCK)).to.equal(0);
      const across = allocAligned(4 * BLOCK);
      expect(await handle.readAt(across, end - BLOCK)).to.equal(BLOCK);
      expect(checkPattern(across, end - BLOCK, 41n, BLOCK)).to.equal(-1);
    } finally {
      await handle.close();
    }
  });

  it('on a file opened for writing only fail with EBADF, as on the disk', async () => {
    const handle = await open(file, 'r+', { ring: ring() });
    await handle.close();
    const writeOnly = await open(file, 'a', { ring: ring() });
    try {
      const error = await rejectionOf(writeOnly.readAt(allocAligned(BLOCK), 0));
      expect(error).to.include({ code: 'EBADF', errno: -9, path: file });
    } finally {
      await writeOnly.close();
    }
  });

  it('can be aborted while in flight: each settles once, with its bytes or an AbortError', async () => {
    const handle = await open(file, 'r', { ring: ring() });
    try {
      const controller = new AbortController();
      const buffers = Array.from({ length: 16 }, () => allocAligned(BLOCK));
      const settled = buffers.map((buffer, i) => handle.readAt(buffer, i * BLOCK, { signal: controller.signal })
        .then((n) => ({ n, ok: checkPattern(buffer, i * BLOCK, 41n) === -1, error: undefined as string | undefined }),
          (error: Error) => ({ n: -1, ok: false, error: error.name })));
      controller.abort();
      for (const outcome of await Promise.all(settled)) {
        if (outcome.error === undefined) expect(outcome).to.include({ n: BLOCK, ok: true });
        else expect(outcome.error).to.equal('AbortError');
      }
      // The ring goes on reading after the aborts.
      const buffer = allocAligned(BLOCK);
      expect(await handle.readAt(buffer, 3 * BLOCK)).to.equal(BLOCK);
      expect(checkPattern(buffer, 3 * BLOCK, 41n)).to.equal(-1);
    } finally {
      await handle.close();
    }
  });
});

/**
 * A child that reads `count` blocks of `size` bytes from `file` on an
 * io_uring ring, `depth` at a time (one at a time by default), checks each
 * block's bytes, reads at the end of the file (0 bytes), and prints "ok";
 * run under strace -c, which writes its counts of preadv2,
 * io_uring_enter, read and write to `summary`. With `oneCpu`, the child runs under taskset
 * on CPU 0 alone; with `threads` > 1, that many worker threads do the same
 * at once, each with its own ring and handle of the file. With `vectored`,
 * each read is a readvAt() into the two halves of the buffer.
 */
async function readsUnderStrace(file: string, size: number, count: number, depth = 1, oneCpu = false,
  ringOptions = "{ engine: 'io_uring', entries: 64 }", threads = 1, vectored = false,
): Promise<{ preadv2: number; enter: number; read: number; write: number }> {
  const summary = path.join(os.tmpdir(), `odirect-test-${process.pid}-${Date.now()}-strace`);
  const reads = `
    const od = require(${JSON.stringify(ENTRY)});
    const reads = async () => {
      const ring = new od.Ring(${ringOptions});
      const file = await od.open(${JSON.stringify(file)}, 'r', { ring });
      const blocks = Math.floor(${FILE_BLOCKS * BLOCK} / ${size});
      // In worker threads, every thread starts reading once all have their ring.
      const { workerData } = require('worker_threads');
      if (workerData) {
        const ready = new Int32Array(workerData);
        Atomics.add(ready, 0, 1);
        while (Atomics.load(ready, 0) < ${threads}) Atomics.wait(ready, 0, Atomics.load(ready, 0), 10);
      }
      let next = 0;
      const worker = async () => {
        const buffer = od.allocAligned(${size});
        while (next < ${count}) {
          const position = (next++ % blocks) * ${size};
          const n = ${vectored}
            ? await file.readvAt([buffer.subarray(0, ${size / 2}), buffer.subarray(${size / 2})], position)
            : await file.readAt(buffer, position);
          for (let at = 0; at < n; at += 8) {
            if (buffer.readBigUInt64LE(at) !== BigInt(position + at) + 41n) throw new Error('bad bytes at ' + (position + at));
          }
          if (n !== ${size}) throw new Error('read ' + n + ' bytes at ' + position);
        }
      };
      await Promise.all(Array.from({ length: ${depth} }, worker));
      const past = await file.readAt(od.allocAligned(${size}), ${FILE_BLOCKS * BLOCK});
      if (past !== 0) throw new Error('read ' + past + ' bytes past the end');
      await file.close();
      await ring.close();
    };
  `;
  const script = threads === 1
    ? `${reads}; reads().then(() => console.log('ok'), (error) => { console.error(error); process.exit(70); });`
    : `
      const { Worker } = require('worker_threads');
      const source = ${JSON.stringify(`${reads}; reads().then(() => {}, (error) => { console.error(error); process.exit(70); });`)};
      const ready = new SharedArrayBuffer(4);
      Promise.all(Array.from({ length: ${threads} }, () => new Promise((resolve, reject) => {
        new Worker(source, { eval: true, workerData: ready })
          .on('exit', (code) => (code === 0 ? resolve() : reject(new Error('exit ' + code))));
      }))).then(() => console.log('ok'), (error) => { console.error(error); process.exit(70); });
    `;
  // libuv's own io_uring (fs operations) stays off, so that every
  // io_uring_enter in the child is the library's.
  const env = { ...process.env, UV_USE_IO_URING: '0' };
  const outcome = await runNode(`
    const { spawnSync } = require('child_process');
    const command = ['strace', '-f', '-c', '-o', ${JSON.stringify(summary)}, '-e', 'trace=preadv2,io_uring_enter,read,write',
      process.execPath, '-e', ${JSON.stringify(script)}];
    if (${oneCpu}) command.unshift('taskset', '-c', '0');
    const result = spawnSync(command[0], command.slice(1), { stdio: 'inherit' });
    process.exit(result.status ?? 1);
  `, { env, timeoutMs: CHILD_HANG_GUARD_MS });
  try {
    expect(outcome.status, describeChild(outcome)).to.equal(0);
    expect(outcome.stdout.trim(), describeChild(outcome)).to.equal('ok');
    const text = fs.readFileSync(summary, 'utf8');
    const calls = (name: string): number => {
      const line = text.split('\n').find((row) => row.trim().split(/\s+/).pop() === name);
      if (line === undefined) return 0;
      // % time, seconds, usecs/call, calls, [errors,] syscall
      return Number(line.trim().split(/\s+/)[3]);
    };
    return { preadv2: calls('preadv2'), enter: calls('io_uring_enter'), read: calls('read'), write: calls('write') };
  } finally {
    fs.rmSync(summary, { force: true });
  }
}

describe('io_uring: which system call reads a block (strace)', function () {
  const COUNT = 200;
  let shmFile: string;
  let diskFile: string;
  before(async function () {
    if (!availableEngines.includes('io_uring')) skipBecause(this, noIoUringReason());
    if (!runTool('strace', ['-V']).ok) skipBecause(this, 'needs strace (Debian: strace)');
    shmFile = await patternFile(SHM_DIR, 'strace-shm');
    diskFile = await patternFile(os.tmpdir(), 'strace-disk');
  });
  after(cleanup);

  it('a tmpfs file: reads of at most 64 KiB by preadv2 on the JS thread, not io_uring_enter', async () => {
    for (const size of [BLOCK, INLINE_MAX]) {
      const counts = await readsUnderStrace(shmFile, size, COUNT);
      expect(counts.preadv2, `${size}-byte reads: ${JSON.stringify(counts)}`).to.be.at.least(COUNT + 1);
      expect(counts.enter, `${size}-byte reads: ${JSON.stringify(counts)}`).to.be.below(COUNT / 4);
    }
  });

  it('a tmpfs file: a read done on the JS thread costs no wake-up through the kernel (no eventfd written or read)', async () => {
    // The results wait for the event loop's next turn, which an idle handle
    // makes return at once; there is no descriptor to signal or reset.
    const counts = await readsUnderStrace(shmFile, BLOCK, 10 * COUNT);
    expect(counts.preadv2, JSON.stringify(counts)).to.be.at.least(10 * COUNT + 1);
    expect(counts.write, JSON.stringify(counts)).to.be.below(COUNT);
    expect(counts.read, JSON.stringify(counts)).to.be.below(COUNT);
  });

  it('a tmpfs file, 64 reads in flight: the JS thread reads the first of each hand-over, io_uring the others', async function () {
    if (os.availableParallelism() < 2) skipBecause(this, 'needs two CPUs: on one, every small tmpfs read is done inline');
    const counts = await readsUnderStrace(shmFile, BLOCK, 20 * COUNT, 64);
    expect(counts.enter, JSON.stringify(counts)).to.be.above(COUNT / 4);
    expect(counts.preadv2, JSON.stringify(counts)).to.be.above(COUNT / 4);
    expect(counts.preadv2, JSON.stringify(counts)).to.be.below(20 * COUNT);
  });

  it('a tmpfs file, 16 reads in flight: every read by preadv2 on the JS thread (sharing starts beyond 16)', async () => {
    const counts = await readsUnderStrace(shmFile, BLOCK, 20 * COUNT, 16);
    expect(counts.preadv2, JSON.stringify(counts)).to.be.at.least(20 * COUNT + 1);
    expect(counts.enter, JSON.stringify(counts)).to.be.below(COUNT / 4);
  });

  it('a tmpfs file, 64 reads in flight in each of as many threads as CPUs: no CPU to spare, so reads by preadv2', async function () {
    const cpus = os.availableParallelism();
    if (cpus < 2 || cpus > 8) skipBecause(this, `needs 2 to 8 CPUs (here ${cpus})`);
    const counts = await readsUnderStrace(shmFile, BLOCK, 10 * COUNT, 64, false, "{ engine: 'io_uring', entries: 64 }", cpus);
    // Sharing leaves about a quarter of the reads to preadv2 (the test
    // above). Here only what runs while fewer threads are busy is shared: a
    // thread's first burst, and the tail of the last thread to finish.
    const reads = cpus * (10 * COUNT + 1);
    expect(counts.preadv2, JSON.stringify(counts)).to.be.at.least(reads / 2);
  });

  it('a tmpfs file, 64 reads in flight, a process on one CPU: every read by preadv2 on the JS thread', async function () {
    if (!runTool('taskset', ['-V']).ok) skipBecause(this, 'needs taskset (Debian: util-linux)');
    const counts = await readsUnderStrace(shmFile, BLOCK, 20 * COUNT, 64, true);
    expect(counts.preadv2, JSON.stringify(counts)).to.be.at.least(20 * COUNT + 1);
    expect(counts.enter, JSON.stringify(counts)).to.be.below(COUNT / 4);
  });

  it('a tmpfs file on a ring that registers no files: reads of at most 64 KiB by preadv2 on the JS thread', async () => {
    const counts = await readsUnderStrace(shmFile, BLOCK, COUNT, 1, false, "{ engine: 'io_uring', registerFiles: false }");
    expect(counts.preadv2, JSON.stringify(counts)).to.be.at.least(COUNT + 1);
    expect(counts.enter, JSON.stringify(counts)).to.be.below(COUNT / 4);
  });

  it('a tmpfs file: vectored reads of at most 64 KiB in all by preadv2 on the JS thread, larger ones by the ring', async () => {
    const small = await readsUnderStrace(shmFile, 2 * BLOCK, COUNT, 1, false, undefined, 1, true);
    expect(small.preadv2, JSON.stringify(small)).to.be.at.least(COUNT + 1);
    expect(small.enter, JSON.stringify(small)).to.be.below(COUNT / 4);
    const large = await readsUnderStrace(shmFile, INLINE_MAX + 2 * BLOCK, COUNT, 1, false, undefined, 1, true);
    expect(large.enter, JSON.stringify(large)).to.be.at.least(COUNT);
    expect(large.preadv2, JSON.stringify(large)).to.be.below(COUNT / 4);
  });

  it('a tmpfs file: reads larger than 64 KiB go to the ring', async () => {
    const counts = await readsUnderStrace(shmFile, INLINE_MAX + BLOCK, COUNT);
    expect(counts.enter, JSON.stringify(counts)).to.be.at.least(COUNT);
    expect(counts.preadv2, JSON.stringify(counts)).to.be.below(COUNT / 4);
  });

  it('an ext4 file (os.tmpdir()): 4 KiB reads go to the ring', async function () {
    const type = runTool('stat', ['-f', '-c', '%T', os.tmpdir()]);
    if (!type.ok || type.stdout === 'tmpfs') skipBecause(this, `os.tmpdir() is not on a disk filesystem here (${type.stdout || type.why})`);
    const counts = await readsUnderStrace(diskFile, BLOCK, COUNT);
    expect(counts.enter, JSON.stringify(counts)).to.be.at.least(COUNT);
    expect(counts.preadv2, JSON.stringify(counts)).to.be.below(COUNT / 4);
  });

  it('an ext4 file, one read at a time: the event loop polls the ring itself, and reads no eventfd per read', async function () {
    const type = runTool('stat', ['-f', '-c', '%T', os.tmpdir()]);
    if (!type.ok || type.stdout === 'tmpfs') skipBecause(this, `os.tmpdir() is not on a disk filesystem here (${type.stdout || type.why})`);
    // Each read waits for the disk, so each is one wake-up of the loop; an
    // eventfd would be read once per wake-up (10 × COUNT times).
    const counts = await readsUnderStrace(diskFile, BLOCK, 10 * COUNT);
    expect(counts.enter, JSON.stringify(counts)).to.be.at.least(10 * COUNT);
    expect(counts.read, JSON.stringify(counts)).to.be.below(COUNT);
    expect(counts.write, JSON.stringify(counts)).to.be.below(COUNT);
  });
});

describe('io_uring: tmpfs reads in flight when a worker or the process ends', () => {
  let file: string;
  before(async function () {
    if (!availableEngines.includes('io_uring')) skipBecause(this, noIoUringReason());
    file = await patternFile(SHM_DIR, 'tmpfs-exit');
  });
  after(cleanup);

  it('a worker terminated and a process exiting with 64 reads outstanding end without a hang or a crash', async () => {
    const reader = `
      const od = require(${JSON.stringify(ENTRY)});
      async function readForever(onCount) {
        const ring = new od.Ring({ engine: 'io_uring', entries: 64 });
        const file = await od.open(${JSON.stringify(file)}, 'r', { ring });
        let count = 0;
        const read = (i) => file.readAt(od.allocAligned(${BLOCK}), (i % ${FILE_BLOCKS}) * ${BLOCK}).then((n) => {
          if (n !== ${BLOCK}) throw new Error('read ' + n);
          onCount(++count);
          read(i + 64);
        });
        for (let i = 0; i < 64; i++) read(i);
      }
    `;
    const outcome = await runNode(`
      const { Worker } = require('worker_threads');
      ${reader}
      const worker = new Worker(${JSON.stringify(reader)} + "readForever((n) => { if (n === 2000) require('worker_threads').parentPort.postMessage('busy'); });", { eval: true });
      worker.once('message', async () => {
        await worker.terminate();
        console.log('worker ended');
        readForever((n) => { if (n === 2000) { console.log('exiting'); process.exit(0); } });
      });
    `, { timeoutMs: CHILD_HANG_GUARD_MS });
    expect(outcome.status, describeChild(outcome)).to.equal(0);
    expect(outcome.stdout, describeChild(outcome)).to.equal('worker ended\nexiting\n');
  });
});

describe('aio: reads of a tmpfs file (strace)', () => {
  const COUNT = 200;
  const VECTORED = 50;
  const VECTOR_LARGE = 36 * 1024;
  let file: string;
  before(async function () {
    if (!availableEngines.includes('aio')) skipBecause(this, 'Linux AIO cannot start here');
    if (!runTool('strace', ['-V']).ok) skipBecause(this, 'needs strace (Debian: strace)');
    file = await patternFile(SHM_DIR, 'strace-aio');
  });
  after(cleanup);

  it('of at most 64 KiB, plain or vectored, go to io_submit from the JS thread without RWF_NOWAIT (which tmpfs refuses), and give their bytes', async () => {
    const trace = path.join(os.tmpdir(), `odirect-test-${process.pid}-${Date.now()}-aio-strace`);
    const script = `
      const od = require(${JSON.stringify(ENTRY)});
      (async () => {
        const ring = new od.Ring({ engine: 'aio', entries: 64 });
        const file = await od.open(${JSON.stringify(file)}, 'r', { ring });
        const buffer = od.allocAligned(${BLOCK});
        for (let i = 0; i < ${COUNT}; i++) {
          const position = (i % ${FILE_BLOCKS}) * ${BLOCK};
          const n = await file.readAt(buffer, position);
          if (n !== ${BLOCK}) throw new Error('read ' + n + ' bytes at ' + position);
          for (let at = 0; at < n; at += 8) {
            if (buffer.readBigUInt64LE(at) !== BigInt(position + at) + 41n) throw new Error('bad bytes at ' + (position + at));
          }
        }
        const across = await file.readAt(od.allocAligned(2 * ${BLOCK}), ${(FILE_BLOCKS - 1) * BLOCK});
        if (across !== ${BLOCK}) throw new Error('read ' + across + ' bytes across the end');
        // Vectored: two 4 KiB halves inline without RWF_NOWAIT; two halves of
        // ${VECTOR_LARGE / 1024} KiB (more than 64 KiB in all) refused inline, read by the ring's thread.
        for (const half of [${BLOCK}, ${VECTOR_LARGE}]) {
          for (let i = 0; i < ${VECTORED}; i++) {
            const position = (i % ${FILE_BLOCKS / 2}) * ${BLOCK};
            const halves = [od.allocAligned(half), od.allocAligned(half)];
            if (await file.readvAt(halves, position) !== 2 * half) throw new Error('short vectored read at ' + position);
            if (halves[1].readBigUInt64LE(0) !== BigInt(position + half) + 41n) throw new Error('bad bytes in a vectored read');
            if (half !== ${BLOCK}) break;
          }
        }
        // The JS thread only tries the submission side: give the ring's
        // thread time to let go of it after the read it just submitted.
        await new Promise((resolve) => setTimeout(resolve, 50));
        // Larger: tried inline with RWF_NOWAIT, refused, read by the ring's thread.
        const large = od.allocAligned(${2 * INLINE_MAX});
        if (await file.readAt(large, 0) !== ${2 * INLINE_MAX}) throw new Error('short large read');
        if (large.readBigUInt64LE(${INLINE_MAX}) !== BigInt(${INLINE_MAX}) + 41n) throw new Error('bad bytes in the large read');
        await file.close();
        await ring.close();
        console.log(process.pid);
      })().catch((error) => { console.error(error); process.exit(70); });
    `;
    const outcome = await runNode(`
      const { spawnSync } = require('child_process');
      const result = spawnSync('strace', ['-f', '-o', ${JSON.stringify(trace)}, '-e', 'trace=io_submit',
        process.execPath, '-e', ${JSON.stringify(script)}], { stdio: 'inherit' });
      process.exit(result.status ?? 1);
    `, { timeoutMs: CHILD_HANG_GUARD_MS });
    try {
      expect(outcome.status, describeChild(outcome)).to.equal(0);
      const jsThread = outcome.stdout.trim();
      const calls = fs.readFileSync(trace, 'utf8').split('\n').filter((line) => line.includes('io_submit('));
      const fromJsThread = calls.filter((line) => line.startsWith(`${jsThread} `));
      const sample = calls.slice(0, 3).join('\n');
      const isLarge = (line: string) => line.includes(`aio_nbytes=${2 * INLINE_MAX}`) || line.includes(`iov_len=${VECTOR_LARGE}`);
      const small = calls.filter((line) => !isLarge(line));
      expect(small.filter((line) => line.includes('RWF_NOWAIT')), sample).to.deep.equal([]);
      expect(small.filter((line) => line.includes('EOPNOTSUPP')), sample).to.deep.equal([]);
      expect(fromJsThread.filter((line) => !isLarge(line)).length, sample).to.be.at.least(COUNT + 1 + VECTORED);
      const smallVectored = small.filter((line) => line.includes('IOCB_CMD_PREADV') && line.includes(`iov_len=${BLOCK}`));
      expect(smallVectored.filter((line) => line.startsWith(`${jsThread} `)), smallVectored.join('\n')).to.have.length(VECTORED);
      for (const large of [calls.filter((line) => line.includes(`aio_nbytes=${2 * INLINE_MAX}`)),
        calls.filter((line) => line.includes('IOCB_CMD_PREADV') && line.includes(`iov_len=${VECTOR_LARGE}`))]) {
        expect(large.filter((line) => line.includes('RWF_NOWAIT') && line.includes('EOPNOTSUPP') && line.startsWith(`${jsThread} `)), large.join('\n')).to.have.length(1);
        expect(large.filter((line) => !line.includes('RWF_NOWAIT') && !line.startsWith(`${jsThread} `)), large.join('\n')).to.have.length(1);
      }
    } finally {
      fs.rmSync(trace, { force: true });
    }
  });
});
