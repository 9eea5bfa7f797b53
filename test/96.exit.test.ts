// Ways a process or a worker ends with thousands of ops in flight, beyond
// what 50.lifecycle covers (process.exit(0) and worker.terminate() with
// reads): process.exit with a status of its own, an uncaught exception, an
// unhandled rejection of an op, SIGTERM and SIGINT from outside, each with
// reads and writes outstanding on two rings; and 30 workers ended four ways
// (terminated as soon as they are made, while busy, a moment later, or by
// their own uncaught exception) with pools, files and rings of their own, after which
// the process's threads, descriptors, io_uring instances, AIO contexts and
// eventfds are back to where they were.
import { expect } from 'chai';
import fs = require('fs');
import path = require('path');
import { EngineName } from 'odirect';
import { cleanup, DISK_DIR, fillPattern, forEachEngine, tempPath } from './helpers';
import { ChildOutcome, CRASH_SIGNALS, describeChild, ENTRY, runNode } from './reliability-helpers';

/** Hang guards: a child that does not end is killed and the test fails; nothing asserts on time. */
const CHILD_HANG_GUARD_MS = 90_000;
const PATTERN_BLOCKS = 2048;

/**
 * The start of every child: `busy(onCompletion)` keeps 3000 reads outstanding
 * on the default ring and 1000 writes on an 8-entry ring of its own (most of
 * them waiting in JS), each re-issued as it completes, and calls
 * onCompletion(count, ops outstanding) after each completion.
 */
function childSource(pattern: string, scratch: string, body: string): string {
  return `
    const od = require(${JSON.stringify(ENTRY)});
    const outstanding = (ring) => { const s = ring.stats(); return s.inFlight + s.queued; };
    async function busy(onCompletion) {
      const ring = new od.Ring({ entries: 8 });
      const reader = await od.open(${JSON.stringify(pattern)}, 'r');
      const writer = await od.open(${JSON.stringify(scratch)}, 'w+', { ring });
      const block = od.allocAligned(4096).fill(0x5a);
      let completed = 0;
      const done = () => onCompletion(++completed, outstanding(od.defaultRing()) + outstanding(ring));
      const read = (i) => reader.readAt(od.allocAligned(4096), (i % ${PATTERN_BLOCKS}) * 4096)
        .then(() => { done(); read(i + 3000); });
      const write = (i) => writer.writeAt(block, (i % 256) * 4096).then(() => { done(); write(i + 1000); });
      for (let i = 0; i < 3000; i++) read(i);
      for (let i = 0; i < 1000; i++) write(i);
      return { reader, writer, ring };
    }
    (async () => {
      ${body}
    })().catch((error) => { console.error('the child failed:', error); process.exit(70); });
  `;
}

/** The child did not crash: no crash signal, nothing from the hang guard. */
function expectNoCrash(outcome: ChildOutcome): void {
  expect(outcome.error, describeChild(outcome)).to.equal(undefined);
  expect(CRASH_SIGNALS, `crashed: ${describeChild(outcome)}`).to.not.include(outcome.signal);
}

/** It printed "ready N" with thousands of ops outstanding. */
function expectReadyWithOpsOutstanding(outcome: ChildOutcome): void {
  const ready = /^ready (\d+)$/m.exec(outcome.stdout);
  expect(ready, describeChild(outcome)).to.not.equal(null);
  expect(Number(ready![1]), 'ops outstanding when it ended').to.be.at.least(1000);
}

describe('ending with ops in flight', function () {
  this.timeout(CHILD_HANG_GUARD_MS + 30_000);

  let patternFile: string;
  before(() => {
    patternFile = tempPath(DISK_DIR, 'exit-pattern');
    fs.writeFileSync(patternFile, fillPattern(Buffer.alloc(PATTERN_BLOCKS * 4096), 0));
  });
  after(() => cleanup());

  function run(engine: EngineName, body: string, onLine?: Parameters<typeof runNode>[1]['onLine']): Promise<ChildOutcome> {
    return runNode(childSource(patternFile, tempPath(DISK_DIR, 'exit-scratch'), body),
      { env: { ...process.env, ODIRECT_ENGINE: engine }, timeoutMs: CHILD_HANG_GUARD_MS, onLine });
  }

  forEachEngine('a process', ({ engine }) => {
    // Each ending, started once the child has completed 500 ops and has thousands outstanding.
    // (A prelude is made when its test runs: a path made while the suites are being defined
    // could be taken by another file's cleanup before this test creates it.)
    const endings: { title: string; prelude?: () => string; end: string; status: number; stderr: string | RegExp }[] = [
      { title: 'process.exit(3) from a timer ends it with status 3, nothing on stderr',
        end: 'setTimeout(() => process.exit(3), 0);', status: 3, stderr: '' },
      { title: 'an uncaught exception ends it with status 1 and the exception on stderr',
        end: "setImmediate(() => { throw new Error('deliberately uncaught, with ops in flight'); });",
        status: 1, stderr: /deliberately uncaught, with ops in flight/ },
      { title: 'an unhandled rejection of an op (EBADF from the kernel) ends it with status 1, naming the error',
        prelude: () => `const writeOnly = await od.open(${JSON.stringify(tempPath(DISK_DIR, 'exit-write-only'))}, 'w');`,
        end: 'writeOnly.readAt(od.allocAligned(4096), 0);  // nobody handles its rejection',
        status: 1, stderr: /EBADF: bad file descriptor, read '.*exit-write-only'/ },
    ];
    for (const { title, prelude, end, status, stderr } of endings) {
      it(title, async () => {
        const outcome = await run(engine, `
          ${prelude?.() ?? ''}
          await busy((completed, pending) => {
            if (completed === 500) {
              console.log('ready', pending);
              ${end}
            }
          });
        `);
        expectNoCrash(outcome);
        expect(outcome.signal, describeChild(outcome)).to.equal(null);
        expect(outcome.status, describeChild(outcome)).to.equal(status);
        if (typeof stderr === 'string') expect(outcome.stderr).to.equal(stderr);
        else expect(outcome.stderr).to.match(stderr);
        expectReadyWithOpsOutstanding(outcome);
      });
    }

    /** A busy child that prints "ready" and waits for `signal` from this process. */
    async function signalled(signal: NodeJS.Signals, handler: string): Promise<ChildOutcome> {
      let sent = false;
      return run(engine, `
        ${handler}
        await busy((completed, pending) => { if (completed === 500) console.log('ready', pending); });
      `, (line, child) => {
        if (line.startsWith('ready') && !sent) {
          sent = true;
          child.kill(signal);
        }
      });
    }

    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      it(`${signal} from outside ends it by that signal, not a crash`, async () => {
        const outcome = await signalled(signal, '');
        expectNoCrash(outcome);
        expect(outcome.signal, describeChild(outcome)).to.equal(signal);
        expectReadyWithOpsOutstanding(outcome);
      });
    }

    it('SIGTERM caught by a handler that calls process.exit(0) ends it with status 0', async () => {
      const outcome = await signalled('SIGTERM', `
        process.on('SIGTERM', () => {
          console.log('caught', outstanding(od.defaultRing()));
          process.exit(0);
        });
      `);
      expectNoCrash(outcome);
      expect(outcome.signal, describeChild(outcome)).to.equal(null);
      expect(outcome.status, describeChild(outcome)).to.equal(0);
      expect(outcome.stderr).to.equal('');
      expectReadyWithOpsOutstanding(outcome);
      expect(outcome.stdout).to.match(/^caught [1-9]\d*$/m);
    });
  });

  forEachEngine('workers ended with I/O in flight, 30 times', ({ engine }) => {
    // A worker with a pool (registered on io_uring), a ring of its own with
    // queued writes, and reads on its default ring; it reports once busy, and
    // in mode 'throws' then throws an uncaught exception.
    const WORKER = `
      const { parentPort, workerData } = require('worker_threads');
      const od = require(workerData.entry);
      (async () => {
        const ring = new od.Ring({ entries: 8 });
        const pool = new od.BufferPool({ size: 4096, count: 64, ring });
        const reader = await od.open(workerData.pattern, 'r');
        const writer = await od.open(workerData.scratch, 'w+', { ring });
        let completed = 0;
        const done = () => {
          if (++completed !== 300) return;
          const a = od.defaultRing().stats();
          const b = ring.stats();
          if (workerData.mode === 'throws') setImmediate(() => { throw new Error('deliberate worker error'); });
          else parentPort.postMessage({ pending: a.inFlight + a.queued + b.inFlight + b.queued, fixed: b.fixedOps });
        };
        const read = (i) => reader.readAt(od.allocAligned(4096), (i % ${PATTERN_BLOCKS}) * 4096).then(() => { done(); read(i + 2000); });
        const write = (i) => {
          const pooled = pool.acquire();
          const buffer = pooled || od.allocAligned(4096);
          writer.writeAt(buffer, (i % 256) * 4096).then(() => {
            if (pooled) pool.release(pooled);
            done();
            write(i + 500);
          });
        };
        for (let i = 0; i < 2000; i++) read(i);
        for (let i = 0; i < 500; i++) write(i);
      })();
    `;

    it('threads, descriptors, io_uring instances, AIO contexts and eventfds return to their baseline', async () => {
      const scratchDir = fs.mkdtempSync(path.join(DISK_DIR, `odirect-test-${process.pid}-workers-`));
      try {
        const outcome = await run(engine, `
          const fs = require('fs');
          const { Worker } = require('worker_threads');
          const links = () => fs.readdirSync('/proc/self/fd').map((fd) => {
            try { return fs.readlinkSync('/proc/self/fd/' + fd); } catch { return ''; }
          });
          const resources = () => {
            const fds = links();
            return {
              threads: fs.readdirSync('/proc/self/task').length,
              fds: fds.length,
              ioUring: fds.filter((link) => link === 'anon_inode:[io_uring]').length,
              eventfds: fds.filter((link) => link === 'anon_inode:[eventfd]').length,
              aioContexts: fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((line) => line.includes('/[aio]')).length,
            };
          };
          const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
          const modes = ['as soon as it is made', 'while busy', 'a moment later', 'throws'];
          const report = { codes: {}, pending: [], errors: [] };
          let baseline;
          // Round 0 warms up what Node starts once per process; the counts after it are the baseline.
          for (let round = 0; round <= 30; round++) {
            const mode = round === 0 ? 'while busy' : modes[(round - 1) % modes.length];
            const workerData = { entry: ${JSON.stringify(ENTRY)}, pattern: ${JSON.stringify(patternFile)},
              scratch: ${JSON.stringify(scratchDir)} + '/w' + round, mode };
            const worker = new Worker(${JSON.stringify(WORKER)}, { eval: true, workerData });
            const exited = new Promise((resolve) => worker.once('exit', resolve));
            const failed = new Promise((resolve) => worker.once('error', resolve));
            let code;
            if (mode === 'as soon as it is made') {
              code = await worker.terminate();
            } else if (mode === 'throws') {
              const error = await failed;
              report.errors.push(error.message);
              code = await exited;
            } else {
              const message = await new Promise((resolve) => worker.once('message', resolve));
              if (round > 0) report.pending.push(message.pending);
              // What a busy worker holds, to show that the counts see it.
              if (mode === 'while busy') report.during = resources();
              if (mode === 'a moment later') for (let turn = 0; turn < 3; turn++) await new Promise(setImmediate);
              code = await worker.terminate();
            }
            await exited;
            if (round === 0) baseline = resources();
            else report.codes[mode] = (report.codes[mode] || []).concat(code);
          }
          // A thread just joined may linger in /proc a moment; a leaked one stays. The bound is a hang guard.
          let after = resources();
          for (let wait = 0; wait < 200 && !same(after, baseline); wait++) {
            await new Promise((resolve) => setTimeout(resolve, 25));
            after = resources();
          }
          Object.assign(report, { baseline, after });
          // The process still does I/O, with the right bytes.
          const file = await od.open(${JSON.stringify(patternFile)}, 'r');
          const buffer = od.allocAligned(8192);
          report.read = await file.readAt(buffer, 40960);
          report.word = Number(buffer.readBigUInt64LE(4096));
          await file.close();
          console.log(JSON.stringify(report));
        `);
        expectNoCrash(outcome);
        expect(outcome.signal, describeChild(outcome)).to.equal(null);
        expect(outcome.status, describeChild(outcome)).to.equal(0);
        const report = JSON.parse(outcome.stdout.trim().split('\n').pop()!);
        // terminate() of a running worker and an uncaught exception end it with exit code 1;
        // terminate() of a worker still starting up, with 0 or 1, as it got to run or not.
        const made = report.codes['as soon as it is made'] as number[];
        expect(made).to.have.length(8);
        for (const code of made) expect(code).to.be.oneOf([0, 1]);
        expect({ ...report.codes, 'as soon as it is made': undefined }).to.deep.equal({
          'as soon as it is made': undefined, 'while busy': new Array(8).fill(1),
          'a moment later': new Array(7).fill(1), 'throws': new Array(7).fill(1),
        });
        expect(report.errors).to.deep.equal(new Array(7).fill('deliberate worker error'));
        expect(report.pending).to.have.length(15);
        for (const pending of report.pending) expect(pending, 'ops outstanding when terminated').to.be.at.least(1000);
        expect(report.after, 'resources after 30 workers, against the baseline').to.deep.equal(report.baseline);
        // While a worker was busy, its two rings showed in the counts.
        const { baseline, during } = report;
        expect(during.threads, 'threads of a busy worker').to.be.at.least(baseline.threads + 2);
        // An io_uring ring is polled through its own descriptor; the other engines' through an eventfd each.
        if (engine === 'io_uring') expect(during.ioUring, 'io_uring instances').to.equal(baseline.ioUring + 2);
        else expect(during.eventfds, 'eventfds of a busy worker\'s rings').to.be.at.least(baseline.eventfds + 2);
        if (engine === 'aio') expect(during.aioContexts, 'AIO contexts').to.equal(baseline.aioContexts + 2);
        console.log(`      ${engine}: baseline ${JSON.stringify(baseline)}, with a worker busy ${JSON.stringify(during)}, ` +
          `after 30 workers ${JSON.stringify(report.after)}`);
        expect(report.read).to.equal(8192);
        expect(report.word).to.equal(40960 + 4096);
      } finally {
        fs.rmSync(scratchDir, { recursive: true, force: true });
      }
    });
  });
});
