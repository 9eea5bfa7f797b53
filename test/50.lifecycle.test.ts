// Lifecycles: closing files and rings with ops in flight, buffers kept alive
// across garbage collection, worker threads (ending, several at once,
// terminated mid-I/O), and processes that exit by themselves or mid-I/O.
import { expect } from 'chai';
import fs = require('fs');
import { spawnSync, SpawnSyncReturns } from 'child_process';
import { Worker } from 'worker_threads';
import { allocAligned, defaultRing, open, readAt, DirectFile, EngineName, Ring } from 'odirect';
import { checkPattern, cleanup, fillPattern, forEachEngine, rejectionOf, tempPath } from './helpers';

/** The package entry, for workers and child processes to require by absolute path. */
const ENTRY = require.resolve('odirect');

/** Generous hang guards: a failure to exit shows up as a failed test, never as a hung run. */
const CHILD_HANG_GUARD_MS = 120_000;
const WORKER_HANG_GUARD_MS = 60_000;

const BLOCK = 4096;
const PATTERN_BLOCKS = 2048;  // an 8 MiB pattern file

/** The pattern helpers as plain JavaScript, for the sources of workers and child processes. */
const PATTERN_JS = `
function fillPattern(buffer, fileOffset, seed) {
  for (let i = 0; i + 8 <= buffer.length; i += 8) buffer.writeBigUInt64LE(BigInt(fileOffset + i) + seed, i);
  return buffer;
}
function checkPattern(buffer, fileOffset, seed) {
  for (let i = 0; i + 8 <= buffer.length; i += 8) {
    if (buffer.readBigUInt64LE(i) !== BigInt(fileOffset + i) + seed) return fileOffset + i;
  }
  return -1;
}
`;

/**
 * A worker (workerData: { entry, path, exitItself, reuse }) that keeps 4000
 * reads of `path` outstanding, each into a fresh buffer (with `reuse`, each
 * of its 4000 slots into one buffer of its own, read into again and again).
 * After 1000 completions it posts its ring's { inFlight, queued }, or calls
 * process.exit(0) itself.
 */
const BUSY_WORKER_SOURCE = `
  const { parentPort, workerData } = require('worker_threads');
  const od = require(workerData.entry);
  (async () => {
    const file = await od.open(workerData.path, 'r');
    let completed = 0;
    // Keeps 4000 reads outstanding until stopped.
    const go = (i, reused) => {
      const buffer = reused ?? od.allocAligned(4096);
      file.readAt(buffer, (i % ${PATTERN_BLOCKS}) * 4096).then(() => {
        completed++;
        if (completed === 1000) {
          if (workerData.exitItself) process.exit(0);
          parentPort.postMessage({ inFlight: od.defaultRing().stats().inFlight, queued: od.defaultRing().stats().queued });
        }
        go(i + 4000, workerData.reuse ? buffer : undefined);
      });
    };
    for (let i = 0; i < 4000; i++) go(i);
  })();
`;

function engineEnv(engine: EngineName): NodeJS.ProcessEnv {
  return { ...process.env, ODIRECT_ENGINE: engine };
}

interface WorkerOutcome {
  messages: unknown[];
  exitCode: number;
  /** What the worker wrote to stderr (Node's warnings land there). */
  stderr: string;
}

/**
 * Runs `source` (CommonJS, as a string) in a worker and resolves once it has
 * exited by itself. The hang guard terminates a worker that does not.
 */
function runWorker(source: string, workerData: unknown, env: NodeJS.ProcessEnv): Promise<WorkerOutcome> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, { eval: true, workerData, env, stderr: true });
    const messages: unknown[] = [];
    let stderr = '';
    worker.stderr.setEncoding('utf8');
    worker.stderr.on('data', (chunk: string) => { stderr += chunk; });
    let failure: Error | undefined;
    const guard = setTimeout(() => {
      failure = new Error(`the worker did not exit by itself within ${WORKER_HANG_GUARD_MS} ms (hang guard)`);
      void worker.terminate();
    }, WORKER_HANG_GUARD_MS);
    worker.on('message', (message) => messages.push(message));
    worker.on('error', (error) => { failure ??= error; });
    worker.on('exit', (exitCode) => {
      clearTimeout(guard);
      if (failure !== undefined) reject(failure);
      else resolve({ messages, exitCode, stderr });
    });
  });
}

/** Runs `script` in a fresh node process with the engine forced; the timeout is only a hang guard. */
function runChild(script: string, engine: EngineName): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['-e', script], {
    env: engineEnv(engine),
    encoding: 'utf8',
    timeout: CHILD_HANG_GUARD_MS,
    killSignal: 'SIGKILL',
  });
}

function describeChild(result: SpawnSyncReturns<string>): string {
  const tail = (text: string | null): string => (text ?? '').slice(-2000);
  return `status ${result.status}, signal ${result.signal}${result.error ? `, ${result.error.message}` : ''}\n` +
    `stdout: ${tail(result.stdout)}\nstderr: ${tail(result.stderr)}`;
}

/** Expects the child to have exited by itself with status 0, no signal and nothing on stderr. */
function expectCleanExit(result: SpawnSyncReturns<string>): void {
  expect(result.error, describeChild(result)).to.equal(undefined);
  expect(result.signal, describeChild(result)).to.equal(null);
  expect(result.status, describeChild(result)).to.equal(0);
  expect(result.stderr, describeChild(result)).to.equal('');
}

describe('lifecycle', function () {
  // A hang guard above the child processes' own, so that theirs reports first.
  this.timeout(CHILD_HANG_GUARD_MS + 30_000);

  let patternFile: string;

  before(() => {
    patternFile = tempPath(undefined, 'lifecycle-pattern');
    fs.writeFileSync(patternFile, fillPattern(Buffer.alloc(PATTERN_BLOCKS * BLOCK), 0));
  });

  after(() => cleanup());

  forEachEngine('close() with ops in flight', ({ engine }) => {
    let ring: Ring;
    beforeEach(() => {
      ring = new Ring({ engine, entries: 8 });
    });
    afterEach(async () => {
      await ring?.close();
    });

    it('file.close() resolves only after its in-flight and queued reads, each with the right bytes', async () => {
      const count = 500;
      const file = await open(patternFile, 'r', { ring });
      const order: string[] = [];
      const buffer = allocAligned(count * BLOCK).fill(0xaa);
      const reads: Promise<number>[] = [];
      for (let i = 0; i < count; i++) {
        reads.push(file.readAt(buffer.subarray(i * BLOCK, (i + 1) * BLOCK), i * BLOCK).then((bytes) => {
          order.push('read');
          return bytes;
        }));
      }
      expect(ring.stats().queued).to.be.above(0);
      const closing = file.close().then(() => { order.push('close'); });
      // Ops asked for after close() are refused at once.
      const late = await rejectionOf(file.readAt(allocAligned(BLOCK), 0));
      expect(late.code).to.equal('EBADF');
      await closing;
      const bytes = await Promise.all(reads);
      expect(bytes.every((n) => n === BLOCK)).to.equal(true);
      expect(order.length).to.equal(count + 1);
      expect(order.indexOf('close')).to.equal(count);
      expect(checkPattern(buffer, 0)).to.equal(-1);
      expect(file.fd).to.equal(-1);
    });

    it('file.close() lets queued writes land in this file, never in one that reuses the descriptor number', async () => {
      const count = 500;
      const seed = 0xc105e_0000_0000n;
      const path = tempPath(undefined, 'close-writes');
      const file = await open(path, 'w+', { ring });
      const oldFd = file.fd;
      const source = fillPattern(allocAligned(count * BLOCK), 0, seed);
      const order: string[] = [];
      // Files opened while the writes are still going: were the descriptor
      // released early, one of these would get its number and the writes.
      const victims: { path: string; fd: number }[] = [];
      const writes: Promise<number>[] = [];
      for (let i = 0; i < count; i++) {
        writes.push(file.writeAt(source.subarray(i * BLOCK, (i + 1) * BLOCK), i * BLOCK).then((bytes) => {
          order.push('write');
          if (victims.length < 5) {
            const victimPath = tempPath(undefined, `victim-${victims.length}`);
            victims.push({ path: victimPath, fd: fs.openSync(victimPath, 'w+') });
          }
          return bytes;
        }));
      }
      const closing = file.close().then(() => { order.push('close'); });
      await closing;
      const bytes = await Promise.all(writes);
      // Right after close, a new file may well get the old number.
      const afterPath = tempPath(undefined, 'after-close');
      const afterFd = fs.openSync(afterPath, 'w+');
      try {
        await new Promise(setImmediate);
        expect(bytes.every((n) => n === BLOCK)).to.equal(true);
        expect(order.indexOf('close')).to.equal(count);
        expect(victims.length).to.equal(5);
        for (const victim of victims) {
          expect(victim.fd, 'a file opened during the writes got the descriptor number').to.not.equal(oldFd);
          expect(fs.fstatSync(victim.fd).size, `${victim.path} received writes`).to.equal(0);
        }
        expect(fs.fstatSync(afterFd).size).to.equal(0);
        if (afterFd !== oldFd) {
          expect(() => fs.fstatSync(oldFd)).to.throw().with.property('code', 'EBADF');
        }
        const onDisk = fs.readFileSync(path);
        expect(onDisk.length).to.equal(count * BLOCK);
        expect(checkPattern(onDisk, 0, seed)).to.equal(-1);
      } finally {
        for (const victim of victims) fs.closeSync(victim.fd);
        fs.closeSync(afterFd);
      }
    });

    it('ring.close() with ops queued waits for every one, then refuses new ops with EBADF', async () => {
      const count = 300;
      const file = await open(patternFile, 'r', { ring });
      const buffer = allocAligned(count * BLOCK).fill(0xaa);
      const order: string[] = [];
      const reads: Promise<number>[] = [];
      for (let i = 0; i < count; i++) {
        reads.push(file.readAt(buffer.subarray(i * BLOCK, (i + 1) * BLOCK), i * BLOCK).then((bytes) => {
          order.push('read');
          return bytes;
        }));
      }
      expect(ring.stats().queued).to.equal(count - ring.entries);
      const closing = ring.close().then(() => { order.push('close'); });
      expect(ring.closed).to.equal(true);
      await closing;
      const bytes = await Promise.all(reads);
      expect(bytes.every((n) => n === BLOCK)).to.equal(true);
      expect(order.indexOf('close')).to.equal(count);
      expect(checkPattern(buffer, 0)).to.equal(-1);
      const stats = ring.stats();
      expect(stats.completed).to.equal(count);
      expect(stats.inFlight).to.equal(0);
      expect(stats.queued).to.equal(0);

      const read = await rejectionOf(file.readAt(allocAligned(BLOCK), 0));
      expect(read.code).to.equal('EBADF');
      expect(read.errno).to.equal(-9);
      expect(read.syscall).to.equal('read');
      const sync = await rejectionOf(file.datasync());
      expect(sync.code).to.equal('EBADF');
      const opened = await rejectionOf(open(patternFile, 'r', { ring }));
      expect(opened.code).to.equal('EBADF');
      // The file itself still closes, releasing its descriptor.
      const fd = file.fd;
      await file.close();
      expect(() => fs.fstatSync(fd)).to.throw().with.property('code', 'EBADF');
      // Closing again is the same, settled close.
      await ring.close();
    });

    it('writes on a ring closed under them still reach the file first', async () => {
      const count = 100;
      const seed = 0x71n << 40n;
      const path = tempPath(undefined, 'ring-close-writes');
      const file = await open(path, 'w+', { ring });
      const source = fillPattern(allocAligned(count * BLOCK), 0, seed);
      const writes: Promise<number>[] = [];
      for (let i = 0; i < count; i++) writes.push(file.writeAt(source.subarray(i * BLOCK, (i + 1) * BLOCK), i * BLOCK));
      await ring.close();
      expect((await Promise.all(writes)).every((n) => n === BLOCK)).to.equal(true);
      const write = await rejectionOf(file.writeAt(source.subarray(0, BLOCK), 0));
      expect(write.code).to.equal('EBADF');
      expect(write.syscall).to.equal('write');
      await file.close();
      expect(checkPattern(fs.readFileSync(path), 0, seed)).to.equal(-1);
    });
  });

  forEachEngine('garbage collection mid-flight', ({ engine }) => {
    it('keeps every buffer alive until its op completes, with no reference held by the caller', async function () {
      if (typeof global.gc !== 'function') this.skip();  // needs --expose-gc (set in .mocharc.json)
      const gc = global.gc!;
      const count = 2000;
      const ring = new Ring({ engine, entries: 64 });
      try {
        const file = await open(patternFile, 'r', { ring });
        const refs: WeakRef<Buffer>[] = new Array(count);
        const settled = new Uint8Array(count);
        let unsettled = count;
        let checked = 0;
        let wrongData = 0;
        let wrongCount = 0;
        // Only the promise and a WeakRef survive this function: the buffer is
        // referenced by nothing of ours while its read is in flight.
        const start = (i: number): Promise<void> => {
          const buffer = allocAligned(BLOCK).fill(0xaa);
          refs[i] = new WeakRef(buffer);
          return file.readAt(buffer, (i % PATTERN_BLOCKS) * BLOCK).then((bytes) => {
            settled[i] = 1;
            unsettled--;
            if (bytes !== BLOCK) wrongCount++;
            const alive = refs[i].deref();
            if (alive !== undefined) {
              checked++;
              if (checkPattern(alive, (i % PATTERN_BLOCKS) * BLOCK) !== -1) wrongData++;
            }
          });
        };
        const promises: Promise<void>[] = [];
        for (let i = 0; i < count; i++) promises.push(start(i));
        let collections = 0;
        let lost = 0;
        while (unsettled > 0) {
          gc();
          collections++;
          // Nothing that has not settled may have been collected.
          for (let i = 0; i < count; i++) {
            if (settled[i] === 0 && refs[i].deref() === undefined) lost++;
          }
          await new Promise(setImmediate);
        }
        await Promise.all(promises);
        await file.close();
        expect(collections).to.be.above(0);
        expect(lost, 'buffers collected while their op was in flight').to.equal(0);
        expect(wrongCount, 'reads that resolved with a wrong count').to.equal(0);
        expect(checked, 'reads whose data could be checked').to.be.above(0);
        expect(wrongData, 'reads with wrong data').to.equal(0);
        // Once settled, the buffers are the caller's alone: the library lets them go.
        for (let i = 0; i < 3; i++) {
          gc();
          await new Promise(setImmediate);
        }
        const stillAlive = refs.filter((ref) => ref.deref() !== undefined).length;
        expect(stillAlive, 'buffers the library still holds after their ops settled').to.be.below(count);
      } finally {
        await ring.close();
      }
    });
  });

  forEachEngine('rings nobody closes', ({ engine }) => {
    it('a ring dropped without close() is collected, and its threads and descriptors go', async function () {
      if (typeof global.gc !== 'function') this.skip();  // needs --expose-gc (set in .mocharc.json)
      const gc = global.gc!;
      const count = (dir: string): number => fs.readdirSync(dir).length;
      const resources = (): { threads: number; fds: number } => ({
        threads: count('/proc/self/task'), fds: count('/proc/self/fd'),
      });
      let kept: Ring[] = [];
      const use = async (): Promise<void> => {
        const ring = new Ring({ engine, entries: 8 });
        kept.push(ring);
        const file = await open(patternFile, 'r', { ring });
        const buffer = allocAligned(BLOCK);
        expect(await file.readAt(buffer, 7 * BLOCK)).to.equal(BLOCK);
        expect(checkPattern(buffer, 7 * BLOCK)).to.equal(-1);
        await file.close();
      };
      const collect = async (until: () => boolean): Promise<void> => {
        // A bound on the rounds of collection, as a hang guard only.
        for (let round = 0; round < 50 && !until(); round++) {
          gc();
          await new Promise(setImmediate);
        }
      };
      // Warm up what starts once per process (libuv's pool, for open and close).
      await use();
      kept = [];
      await collect(() => false);
      const baseline = resources();
      for (let i = 0; i < 10; i++) await use();
      const busy = resources();
      expect(busy.threads, 'each ring runs a thread of its own').to.be.at.least(baseline.threads + 10);
      // Drop them: nothing reaches the rings any more.
      kept = [];
      await collect(() => {
        const now = resources();
        return now.threads <= baseline.threads && now.fds <= baseline.fds;
      });
      const after = resources();
      expect(after.threads, 'threads left behind by collected rings').to.be.at.most(baseline.threads);
      expect(after.fds, 'descriptors left behind by collected rings').to.be.at.most(baseline.fds);
    });

    it('a ring closed from the code its last read resumes (inside its completion callback) is collected', async function () {
      if (typeof global.gc !== 'function') this.skip();  // needs --expose-gc (set in .mocharc.json)
      const gc = global.gc!;
      const RINGS = 10;
      let collected = 0;
      const registry = new FinalizationRegistry(() => { collected++; });
      const use = async (): Promise<void> => {
        const ring = new Ring({ engine, entries: 8 });
        registry.register(ring, undefined);
        const file = await open(patternFile, 'r', { ring });
        const buffer = allocAligned(BLOCK);
        expect(await file.readAt(buffer, 3 * BLOCK)).to.equal(BLOCK);
        // Still inside the completion callback's microtasks: no other turn between.
        await ring.close();
        await file.close();
        expect(checkPattern(buffer, 3 * BLOCK)).to.equal(-1);
      };
      for (let i = 0; i < RINGS; i++) await use();
      // A bound on the rounds of collection, as a hang guard only.
      for (let round = 0; round < 50 && collected < RINGS; round++) {
        gc();
        await new Promise(setImmediate);
      }
      // The last one may still be reached from this function's frame.
      expect(collected, 'rings collected').to.be.at.least(RINGS - 1);
    });
  });

  forEachEngine('worker threads', ({ engine }) => {
    const roundTripSource = `
      const { parentPort, workerData } = require('worker_threads');
      const od = require(workerData.entry);
      ${PATTERN_JS}
      const warnings = [];
      process.on('warning', (warning) => warnings.push(warning.name + ': ' + warning.message));
      (async () => {
        const { path, size, leaveOpen } = workerData;
        const seed = BigInt(workerData.seed);
        const file = await od.open(path, 'w+');
        const out = fillPattern(od.allocAligned(size), 0, seed);
        const writes = [];
        for (let at = 0; at < size; at += 4096) writes.push(file.writeAt(out.subarray(at, at + 4096), at));
        const written = (await Promise.all(writes)).reduce((sum, n) => sum + n, 0);
        const back = od.allocAligned(size).fill(0xaa);
        const reads = [];
        for (let at = 0; at < size; at += 4096) reads.push(file.readAt(back.subarray(at, at + 4096), at));
        const read = (await Promise.all(reads)).reduce((sum, n) => sum + n, 0);
        if (leaveOpen) {
          // A second ring of its own, never closed, with a file left open on it too.
          const ring = new od.Ring();
          const other = await od.open(path, 'r', { ring });
          await other.readAt(od.allocAligned(4096), 0);
        } else {
          await file.close();
        }
        await new Promise(setImmediate);  // let any process warning be emitted
        parentPort.postMessage({
          engine: od.defaultRing().engine, written, read, firstWrong: checkPattern(back, 0, seed), warnings,
        });
      })().catch((error) => parentPort.postMessage({ error: String((error && error.stack) || error) }));
    `;

    interface RoundTrip {
      engine: string;
      written: number;
      read: number;
      firstWrong: number;
      warnings: string[];
      error?: string;
    }

    async function roundTrip(seed: bigint, leaveOpen = false): Promise<{ path: string; seed: bigint; outcome: WorkerOutcome }> {
      const path = tempPath(undefined, `worker-${seed}`);
      const outcome = await runWorker(roundTripSource,
        { entry: ENTRY, path, size: 256 * 1024, seed: String(seed), leaveOpen }, engineEnv(engine));
      return { path, seed, outcome };
    }

    function expectRoundTrip(result: { path: string; seed: bigint; outcome: WorkerOutcome }): RoundTrip {
      const { outcome, path, seed } = result;
      expect(outcome.messages.length).to.equal(1);
      const message = outcome.messages[0] as RoundTrip;
      expect(message.error, outcome.stderr).to.equal(undefined);
      expect(message.engine).to.equal(engine);
      expect(message.written).to.equal(256 * 1024);
      expect(message.read).to.equal(256 * 1024);
      expect(message.firstWrong).to.equal(-1);
      // It ended by itself: its ring did not hold its event loop.
      expect(outcome.exitCode).to.equal(0);
      // Node's own buffered read agrees.
      const onDisk = fs.readFileSync(path);
      expect(onDisk.length).to.equal(256 * 1024);
      expect(checkPattern(onDisk, 0, seed)).to.equal(-1);
      return message;
    }

    it('a worker writes and reads back a pattern on its own default ring, then exits by itself', async () => {
      expectRoundTrip(await roundTrip(0x1000n << 32n));
    });

    it('closing a file in a worker emits no process warning', async () => {
      const result = await roundTrip(0x2000n << 32n);
      const message = expectRoundTrip(result);
      expect(message.warnings).to.deep.equal([]);
      expect(result.outcome.stderr).to.equal('');
    });

    it('several workers at once each get their own ring and their own bytes', async () => {
      const results = await Promise.all([1n, 2n, 3n, 4n].map((k) => roundTrip((0x3000n + k) << 32n)));
      for (const result of results) expectRoundTrip(result);
    });

    it('a worker that leaves files open, on its default ring and on a ring of its own, exits by itself', async () => {
      expectRoundTrip(await roundTrip(0x4000n << 32n, true));
    });

    interface TerminationReport {
      codes: number[];
      pending: number[];
      baseline: { fds: number; threads: number };
      after: { fds: number; threads: number };
      read: number;
      firstWrong: number;
    }

    function terminationScript(rounds: number, exitItself: boolean): string {
      return `
        const { Worker } = require('worker_threads');
        const od = require(${JSON.stringify(ENTRY)});
        ${PATTERN_JS}
        const source = ${JSON.stringify(BUSY_WORKER_SOURCE)};
        const workerData = { entry: ${JSON.stringify(ENTRY)}, path: ${JSON.stringify(patternFile)}, exitItself: ${exitItself} };
        (async () => {
          const fs = require('fs');
          const resources = () => ({
            fds: fs.readdirSync('/proc/self/fd').length,
            threads: fs.readdirSync('/proc/self/task').length,
          });
          const codes = [];
          const pending = [];
          let baseline;
          // Round 0 warms up what Node starts once per process (libuv's pool...);
          // the resources counted after it must be back after the others.
          for (let round = 0; round <= ${rounds}; round++) {
            const worker = new Worker(source, { eval: true, workerData });
            const exited = new Promise((resolve) => worker.once('exit', resolve));
            worker.on('error', (error) => { console.error(error); process.exitCode = 1; });
            let code;
            if (${exitItself}) {
              code = await exited;
            } else {
              const message = await new Promise((resolve) => worker.once('message', resolve));
              if (round > 0) pending.push(message.inFlight + message.queued);
              code = await worker.terminate();
              await exited;
            }
            if (round === 0) baseline = resources();
            else codes.push(code);
          }
          // A thread that has just been joined may linger in /proc for a moment;
          // a leaked one never leaves. The bound is a hang guard only.
          let after = resources();
          for (let wait = 0; wait < 100 && (after.fds !== baseline.fds || after.threads !== baseline.threads); wait++) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            after = resources();
          }
          // The main thread still does I/O, with the right bytes.
          const file = await od.open(${JSON.stringify(patternFile)}, 'r');
          const buffer = od.allocAligned(65536);
          const read = await file.readAt(buffer, 8192);
          await file.close();
          console.log(JSON.stringify({ codes, pending, baseline, after, read, firstWrong: checkPattern(buffer, 8192, 0n) }));
        })().catch((error) => { console.error(error); process.exitCode = 1; });
      `;
    }

    // These run in a child process, so that a crash or a hang fails the test
    // instead of taking the whole test run down.
    it('terminating a worker 20 times with thousands of reads in flight leaves the process working', () => {
      const result = runChild(terminationScript(20, false), engine);
      expectCleanExit(result);
      const report = JSON.parse(result.stdout.trim()) as TerminationReport;
      // terminate() resolves with exit code 1.
      expect(report.codes).to.deep.equal(new Array(20).fill(1));
      // Each worker had thousands of ops outstanding when it was terminated.
      expect(report.pending.length).to.equal(20);
      for (const pending of report.pending) expect(pending).to.be.at.least(1000);
      // The workers' descriptors (files, rings) and threads went with them.
      expect(report.after).to.deep.equal(report.baseline);
      expect(report.read).to.equal(65536);
      expect(report.firstWrong).to.equal(-1);
    });

    it('a worker calling process.exit() with reads in flight ends with its code, 10 times over', () => {
      const result = runChild(terminationScript(10, true), engine);
      expectCleanExit(result);
      const report = JSON.parse(result.stdout.trim()) as TerminationReport;
      expect(report.codes).to.deep.equal(new Array(10).fill(0));
      expect(report.after).to.deep.equal(report.baseline);
      expect(report.read).to.equal(65536);
      expect(report.firstWrong).to.equal(-1);
    });
  });

  forEachEngine('process exit', ({ engine }) => {
    function ioScript(body: string): string {
      return `
        const od = require(${JSON.stringify(ENTRY)});
        ${PATTERN_JS}
        const PATH = ${JSON.stringify(tempPath(undefined, 'child'))};
        const PATTERN = ${JSON.stringify(patternFile)};
        (async () => {
          ${body}
        })().catch((error) => { console.error(error); process.exitCode = 1; });
      `;
    }

    const roundTrip = `
      const file = await od.open(PATH, 'w+');
      const out = fillPattern(od.allocAligned(65536), 0, 7n);
      const written = await file.writeAt(out, 0);
      const back = od.allocAligned(65536);
      const read = await file.readAt(back, 0);
      console.log('done', written, read, checkPattern(back, 0, 7n));
    `;

    it('a process that did I/O and closed its file exits by itself with status 0', () => {
      const result = runChild(ioScript(`${roundTrip}\nawait file.close();`), engine);
      expectCleanExit(result);
      expect(result.stdout.trim()).to.equal('done 65536 65536 -1');
    });

    it('a process that leaves a file open with no ops pending exits by itself with status 0', () => {
      const result = runChild(ioScript(roundTrip), engine);
      expectCleanExit(result);
      expect(result.stdout.trim()).to.equal('done 65536 65536 -1');
    });

    it('a process with a ring of its own, never closed, exits by itself with status 0', () => {
      const result = runChild(ioScript(`
        const ring = new od.Ring({ entries: 8 });
        const file = await od.open(PATTERN, 'r', { ring });
        const buffer = od.allocAligned(4096);
        console.log('done', ring.engine, await file.readAt(buffer, 4096), checkPattern(buffer, 4096, 0n));
      `), engine);
      expectCleanExit(result);
      expect(result.stdout.trim()).to.equal(`done ${engine} 4096 -1`);
    });

    it('an exception thrown while completions are delivered reaches uncaughtException; the batch settles and the ring goes on', () => {
      // opSettled() runs inside the addon's completion callback; an
      // exception there is reported as Node reports any callback's, after
      // the other ops of its batch have settled.
      const result = runChild(ioScript(`
        const file = await od.open(PATTERN, 'r');
        const seen = [];
        process.on('uncaughtException', (error) => seen.push(error instanceof Error ? error.message : String(error)));
        const settled = file.opSettled;
        let toThrow = [];
        file.opSettled = function () {
          settled.call(this);
          if (toThrow.length > 0) throw toThrow.shift();
        };
        // 8 reads at once: the first to settle throws.
        toThrow = [new Error('thrown in delivery')];
        const buffers = Array.from({ length: 8 }, () => od.allocAligned(4096));
        const reads = await Promise.all(buffers.map((buffer, i) => file.readAt(buffer, (i + 1) * 4096)));
        const wrong = buffers.map((buffer, i) => checkPattern(buffer, (i + 1) * 4096, 0n));
        await new Promise((resolve) => setImmediate(resolve));
        // A thrown null is reported too.
        toThrow = [null];
        const last = od.allocAligned(4096);
        reads.push(await file.readAt(last, 65536));
        wrong.push(checkPattern(last, 65536, 0n));
        await new Promise((resolve) => setImmediate(resolve));
        file.opSettled = settled;
        // Hangs (and the hang guard fails the test) if an op was left unsettled.
        await file.close();
        console.log(JSON.stringify({ seen, reads, wrong }));
      `), engine);
      expectCleanExit(result);
      expect(JSON.parse(result.stdout)).to.deep.equal({
        seen: ['thrown in delivery', 'null'],
        reads: new Array(9).fill(4096),
        wrong: new Array(9).fill(-1),
      });
    });

    const exitWhileBusy: [string, string][] = [
      ['from a completion handler, with reads in flight', `
        const file = await od.open(PATTERN, 'r');
        let completed = 0;
        for (let i = 0; i < 5000; i++) {
          file.readAt(od.allocAligned(4096), (i % ${PATTERN_BLOCKS}) * 4096).then(() => {
            if (++completed === 10) {
              const stats = od.defaultRing().stats();
              console.log('exiting', stats.inFlight + stats.queued > 0);
              process.exit(0);
            }
          });
        }
      `],
      ['right after queueing reads, before they are submitted', `
        const file = await od.open(PATTERN, 'r');
        for (let i = 0; i < 5000; i++) file.readAt(od.allocAligned(4096), (i % ${PATTERN_BLOCKS}) * 4096);
        const stats = od.defaultRing().stats();
        console.log('exiting', stats.inFlight + stats.queued > 0);
        process.exit(0);
      `],
      ['on the main thread while workers have reads in flight', `
        const { Worker } = require('worker_threads');
        // The workers reuse their buffers. With a fresh buffer per read,
        // thousands of dead external buffers wait to be swept when the
        // process exits, and Node.js itself then crashes about once in 1,400
        // runs: a race in its own cleanup of external buffers, with no
        // odirect frame on the crashing thread (docs/guide.md, Worker
        // threads). The test is of odirect's exit with reads in flight;
        // worker.terminate() with fresh buffers is tested above.
        const workerData = { entry: ${JSON.stringify(ENTRY)}, path: PATTERN, exitItself: false, reuse: true };
        const workers = [1, 2, 3].map(() => new Worker(${JSON.stringify(BUSY_WORKER_SOURCE)}, { eval: true, workerData }));
        await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('message', resolve))));
        const file = await od.open(PATTERN, 'r');
        for (let i = 0; i < 3000; i++) file.readAt(od.allocAligned(4096), (i % ${PATTERN_BLOCKS}) * 4096);
        setImmediate(() => {
          const stats = od.defaultRing().stats();
          console.log('exiting', stats.inFlight + stats.queued > 0);
          process.exit(0);
        });
      `],
      ['with writes submitted and in the kernel', `
        const file = await od.open(PATH, 'w+');
        const source = fillPattern(od.allocAligned(4096 * 2000), 0, 0n);
        for (let i = 0; i < 2000; i++) file.writeAt(source.subarray(i * 4096, (i + 1) * 4096), i * 4096);
        setImmediate(() => {
          const stats = od.defaultRing().stats();
          console.log('exiting', stats.inFlight + stats.queued > 0);
          process.exit(0);
        });
      `],
    ];
    for (const [when, body] of exitWhileBusy) {
      it(`process.exit(0) ${when} exits with status 0 and no signal (5 runs)`, () => {
        for (let run = 0; run < 5; run++) {
          const result = runChild(ioScript(body), engine);
          expectCleanExit(result);
          // It did exit with I/O outstanding.
          expect(result.stdout.trim(), describeChild(result)).to.equal('exiting true');
        }
      });
    }
  });

  describe('defaultRing()', () => {
    it('returns the same ring every time until it is closed, then a new one that works', async () => {
      const first = defaultRing();
      expect(defaultRing()).to.equal(first);
      expect(first.closed).to.equal(false);
      const file = await open(patternFile, 'r');
      expect(file.ring).to.equal(first);
      await file.close();
      await first.close();
      expect(first.closed).to.equal(true);
      const second = defaultRing();
      expect(second).to.not.equal(first);
      expect(second.closed).to.equal(false);
      expect(defaultRing()).to.equal(second);
      // Files and raw-descriptor I/O now go through the new ring.
      const again: DirectFile = await open(patternFile, 'r');
      try {
        expect(again.ring).to.equal(second);
        const buffer = allocAligned(BLOCK);
        expect(await again.readAt(buffer, 3 * BLOCK)).to.equal(BLOCK);
        expect(checkPattern(buffer, 3 * BLOCK)).to.equal(-1);
        const completedBefore = second.stats().completed;
        const fd = fs.openSync(patternFile, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
        try {
          const raw = allocAligned(BLOCK);
          expect(await readAt(fd, raw, 5 * BLOCK)).to.equal(BLOCK);
          expect(checkPattern(raw, 5 * BLOCK)).to.equal(-1);
        } finally {
          fs.closeSync(fd);
        }
        expect(second.stats().completed).to.equal(completedBefore + 1);
      } finally {
        await again.close();
      }
    });
  });
});
