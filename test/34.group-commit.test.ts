// Group commit: datasync()/sync() calls that arrive while one is in flight on
// a file share the next one, and every caller is settled by a sync that
// started after it called. And a sync that failed is remembered by the file:
// the kernel reports a writeback error once, so a later sync that succeeded
// would lie.
//
// Shown from outside the library: on the threadpool engine every sync is one
// fdatasync(2)/fsync(2) call through libc, which an LD_PRELOAD shim
// (test/fixtures/sync-shim.c) logs with its times; on every engine, the FUSE
// fault filesystem (test/fixtures/fault-fs.c) receives one request per sync,
// can hold it, and can fail it.
import { expect } from 'chai';
import childProcess = require('child_process');
import events = require('events');
import fs = require('fs');
import path = require('path');
import { allocAligned, open, Ring } from 'odirect';
import { availableEngines, checkPattern, cleanup, DISK_DIR, fillPattern, forEachEngine, SHM_DIR, tempPath } from './helpers';
import { ENTRY } from './reliability-helpers';
import { BLOCK, FaultFs, withFaultFs } from './fault-fs';

const root = path.resolve(path.dirname(ENTRY), '..');

/** Compiles the LD_PRELOAD shim; its path, or why it cannot. */
function buildShim(): { path: string } | { reason: string } {
  const source = path.join(root, 'test', 'fixtures', 'sync-shim.c');
  const library = path.join(root, 'build', 'sync-shim.so');
  const result = childProcess.spawnSync('cc', ['-O2', '-Wall', '-shared', '-fPIC', '-o', library, source, '-ldl'],
    { encoding: 'utf8' });
  if (result.error !== undefined) return { reason: `cannot run cc: ${result.error.message}` };
  if (result.status !== 0) return { reason: `cannot compile the shim: ${result.stderr}` };
  return { path: library };
}

interface SyncCall { name: string; start: bigint; end: bigint; errno: number; path: string }

/**
 * Runs `body` (the text of an async function of `odirect`, `ring` and `say`,
 * the last printing a JSON line) in a child process on the threadpool engine
 * with the shim preloaded. Resolves to what it said and the syncs the shim saw.
 */
function runWithShim(shim: string, body: string, env: Record<string, string> = {}): { said: unknown[]; calls: SyncCall[] } {
  const log = tempPath(SHM_DIR, 'shim-log');
  const script = `
    const odirect = require(${JSON.stringify(ENTRY)});
    const ring = new odirect.Ring({ engine: 'threadpool' });
    const say = (value) => console.log(JSON.stringify(value, (k, v) => typeof v === 'bigint' ? String(v) : v));
    (async () => { ${body} })().then(() => ring.close(), (error) => { console.error(error); process.exitCode = 1; });`;
  const result = childProcess.spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, LD_PRELOAD: shim, SYNC_SHIM_LOG: log, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.status !== 0) throw new Error(`the child failed: ${result.status} ${result.signal}\n${result.stderr}`);
  const calls = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).map((line) => {
    const [name, start, end, errno, ...file] = line.split(' ');
    return { name, start: BigInt(start), end: BigInt(end), errno: Number(errno), path: file.join(' ') };
  }) : [];
  return { said: result.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line)), calls };
}

describe('group commit, counted by an LD_PRELOAD shim around fdatasync(2) and fsync(2) [threadpool]', function () {
  this.timeout(120_000);
  after(cleanup);
  let shim = '';
  before(function () {
    if (!availableEngines.includes('threadpool')) {
      console.log('      (skipped: the threadpool engine cannot start here)');
      this.skip();
    }
    const built = buildShim();
    if ('reason' in built) {
      console.log(`      (skipped: ${built.reason})`);
      this.skip();
    }
    shim = (built as { path: string }).path;
  });

  it('64 writers whose writes have all completed, calling datasync() in one tick, cost one fdatasync call, ' +
    'which started after they called and returned before each was settled', () => {
    const file = tempPath(DISK_DIR, 'group');
    const writers = 64;
    const { said, calls } = runWithShim(shim, `
      const file = await odirect.open(${JSON.stringify(file)}, 'w+', { ring });
      // Every write completes first (a barrier), so that the callers arrive together whatever the timing;
      // the FUSE tests below cover callers arriving while a sync is in flight.
      await Promise.all(Array.from({ length: ${writers} }, (_, i) => {
        const block = odirect.allocAligned(${BLOCK});
        for (let j = 0; j < ${BLOCK}; j += 8) block.writeBigUInt64LE(BigInt(i * ${BLOCK} + j), j);
        return file.writeAt(block, i * ${BLOCK});
      }));
      const called = process.hrtime.bigint();
      const callers = await Promise.all(Array.from({ length: ${writers} },
        () => file.datasync().then(() => ({ called, settled: process.hrtime.bigint() }))));
      const { syncsRequested, syncsIssued } = ring.stats();
      await file.close();
      say({ callers, syncsRequested, syncsIssued });`, { SYNC_SHIM_DELAY_US: '2000' });
    const { callers, syncsRequested, syncsIssued } = said[0] as {
      callers: { called: string; settled: string }[]; syncsRequested: number; syncsIssued: number };
    const syncs = calls.filter((call) => call.path === file);
    expect(syncs.map((call) => call.name)).to.deep.equal(syncs.map(() => 'fdatasync'));
    expect(syncs.length, 'fdatasync calls for 64 callers in one tick').to.equal(1);
    expect(syncsRequested).to.equal(writers);
    expect(syncsIssued).to.equal(syncs.length);
    callers.forEach(({ called, settled }, i) => {
      const covering = syncs.find((call) => call.errno === 0 && call.start >= BigInt(called) && call.end <= BigInt(settled));
      expect(covering, `caller ${i}: no fdatasync both started after it called and returned before it was settled ` +
        `(called ${called}, settled ${settled}; calls ${syncs.map((c) => `${c.start}-${c.end}`).join(', ')})`).to.not.equal(undefined);
    });
    const bytes = fs.readFileSync(file);
    expect(bytes.length).to.equal(writers * BLOCK);
    expect(checkPattern(bytes, 0)).to.equal(-1);
  });

  it('a sync() waiting with datasync() callers makes the shared call an fsync; a datasync() never settles a sync()', () => {
    const file = tempPath(DISK_DIR, 'mixed');
    const { said, calls } = runWithShim(shim, `
      const file = await odirect.open(${JSON.stringify(file)}, 'w+', { ring });
      await file.writeAt(odirect.allocAligned(${BLOCK}), 0);
      const order = [];
      const first = file.datasync().then(() => order.push('first'));
      await new Promise((resolve) => setImmediate(resolve));  // the first is in flight (2 ms)
      const calledAt = process.hrtime.bigint();
      await Promise.all([
        file.datasync().then(() => order.push('datasync')),
        file.sync().then(() => order.push('sync')),
        file.datasync().then(() => order.push('datasync')),
        first,
      ]);
      await file.close();
      say({ order, calledAt });`, { SYNC_SHIM_DELAY_US: '2000' });
    const { order, calledAt } = said[0] as { order: string[]; calledAt: string };
    const syncs = calls.filter((call) => call.path === file);
    expect(syncs.map((call) => call.name)).to.deep.equal(['fdatasync', 'fsync']);
    expect(syncs[1].start >= BigInt(calledAt), 'the fsync started after the callers called').to.equal(true);
    expect(order).to.deep.equal(['first', 'datasync', 'sync', 'datasync']);
  });

  it('many files on one ring: callers in one tick cost one fdatasync per file', () => {
    const files = [0, 1, 2, 3].map((i) => tempPath(i % 2 === 0 ? DISK_DIR : SHM_DIR, `many-${i}`));
    const { said, calls } = runWithShim(shim, `
      const files = await Promise.all(${JSON.stringify(files)}.map((p) => odirect.open(p, 'w+', { ring })));
      await Promise.all(files.map((f) => f.writeAt(odirect.allocAligned(${BLOCK}), 0)));
      await Promise.all(files.flatMap((f) => Array.from({ length: 16 }, () => f.datasync())));
      const { syncsRequested, syncsIssued } = ring.stats();
      await Promise.all(files.map((f) => f.close()));
      say({ syncsRequested, syncsIssued });`);
    const perFile = files.map((file) => calls.filter((call) => call.path === file).map((call) => call.name));
    expect(perFile).to.deep.equal(files.map(() => ['fdatasync']));
    expect(said[0]).to.deep.equal({ syncsRequested: 64, syncsIssued: 4 });
  });

  it('a failed fdatasync is remembered: every caller that shared it gets the error, and later syncs fail ' +
    'with it although the kernel now succeeds, until the file is closed', () => {
    const file = tempPath(DISK_DIR, 'remembered');
    const { said, calls } = runWithShim(shim, `
      const file = await odirect.open(${JSON.stringify(file)}, 'w+', { ring });
      await file.writeAt(odirect.allocAligned(${BLOCK}), 0);
      const shape = (e) => ({ code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, message: e.message,
        cause: e.cause && { code: e.cause.code, syscall: e.cause.syscall }, causeIsFirst: e.cause === first });
      const shared = await Promise.allSettled(Array.from({ length: 8 }, () => file.datasync()));
      const first = shared[0].reason;
      const sameError = shared.every((s) => s.status === 'rejected' && s.reason === first);
      const later = [await file.datasync().catch(shape), await file.sync().catch(shape)];
      await file.close();
      const again = await odirect.open(${JSON.stringify(file)}, 'r+', { ring });
      const reopened = await again.datasync().then(() => 'resolved', shape);
      await again.close();
      say({ first: shape(first), sameError, later, reopened });`, { SYNC_SHIM_FAIL_FIRST: '5' });
    const { first, sameError, later, reopened } = said[0] as {
      first: Record<string, unknown>; sameError: boolean; later: Record<string, unknown>[]; reopened: string };
    expect(first).to.include({ code: 'EIO', errno: -5, syscall: 'fdatasync', path: file });
    expect(sameError, 'all 8 callers got the same error').to.equal(true);
    for (const [i, syscall] of ['fdatasync', 'fsync'].entries()) {
      expect(later[i], syscall).to.include({ code: 'EIO', errno: -5, syscall, path: file, causeIsFirst: true });
      expect(later[i].message, syscall).to.match(/^EIO: /);
      expect(later[i].message, syscall).to.include('may not be on the device');
      expect(later[i].cause).to.deep.equal({ code: 'EIO', syscall: 'fdatasync' });
    }
    expect(reopened).to.equal('resolved');
    // One failed call for the 8 callers, none for the two refused, one for the reopened file.
    expect(calls.filter((call) => call.path === file).map((call) => `${call.name} ${call.errno}`))
      .to.deep.equal(['fdatasync 5', 'fdatasync 0']);
  });

  // On NFS or FUSE a failed writeback can surface once as EROFS or EPERM: the
  // kernel returned it from the sync itself, so it is remembered like EIO.
  for (const [code, errno] of [['EROFS', 30], ['EPERM', 1], ['EINVAL', 22]] as const) {
    it(`a sync the kernel failed with ${code} is remembered too: the next datasync() rejects without a system call`, () => {
      const file = tempPath(DISK_DIR, `remembered-${code}`);
      const { said, calls } = runWithShim(shim, `
        const file = await odirect.open(${JSON.stringify(file)}, 'w+', { ring });
        await file.writeAt(odirect.allocAligned(${BLOCK}), 0);
        const shape = (e) => ({ code: e.code, syscall: e.syscall, cause: e.cause && e.cause.code });
        const first = await file.datasync().then(() => 'resolved', shape);
        const later = await file.datasync().then(() => 'resolved', shape);
        await file.close();
        say({ first, later });`, { SYNC_SHIM_FAIL_FIRST: String(errno) });
      expect(said[0]).to.deep.equal({
        first: { code, syscall: 'fdatasync' },
        later: { code, syscall: 'fdatasync', cause: code },
      });
      expect(calls.filter((call) => call.path === file).map((call) => `${call.name} ${call.errno}`))
        .to.deep.equal([`fdatasync ${errno}`]);
    });
  }
});

describe('group commit with one long-lived signal', function () {
  after(cleanup);
  forEachEngine('syncs', ({ ring }) => {
    it('watches a signal shared by many datasync() and sync() calls with one listener, and leaves none behind', async () => {
      const file = await open(tempPath(DISK_DIR, 'listeners'), 'w+', { ring: ring() });
      const { signal } = new AbortController();
      try {
        await file.writeAt(allocAligned(BLOCK), 0);
        for (let i = 0; i < 20; i++) await file.datasync({ signal });
        expect(events.getEventListeners(signal, 'abort')).to.have.length(0);
        const calls = Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? file.sync({ signal }) : file.datasync({ signal })));
        expect(events.getEventListeners(signal, 'abort'), 'listeners while 100 calls wait').to.have.length(1);
        await Promise.all(calls);
        expect(events.getEventListeners(signal, 'abort')).to.have.length(0);
        // Aborted while they wait: every caller rejects, and the listener is gone.
        const controller = new AbortController();
        const aborted = Array.from({ length: 30 }, () => file.datasync({ signal: controller.signal }).then(() => 'resolved', (e: Error) => e.name));
        controller.abort();
        expect(new Set(await Promise.all(aborted))).to.deep.equal(new Set(['AbortError']));
        expect(events.getEventListeners(controller.signal, 'abort')).to.have.length(0);
      } finally {
        await file.close();
      }
    });
  });
});

/**
 * The end of a test on a fault-fs that may hold syncs: stops the daemon first
 * (which answers a held sync, and holds no other), so that a failed assertion
 * shows its message instead of a close() waiting for a held sync until the
 * timeout; then closes what the test opened (a test that passed closed it
 * already; after a failure, what close() says of the stopped mount is not
 * the point).
 */
async function closeAfter(mounted: FaultFs, ...opened: { close(): Promise<void> }[]): Promise<void> {
  await mounted.stop();
  await Promise.allSettled(opened.map((each) => each.close()));
}

/** Whether `promise` has settled, after the callbacks already due have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => { done = true; }, () => { done = true; });
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('group commit and sync errors on a FUSE filesystem that holds and fails fsync requests', function () {
  // A hang guard: a library that does not share syncs leaves a request held at the device.
  this.timeout(20_000);
  withFaultFs((helper) => {
    forEachEngine('syncs', ({ ring, engine }) => {
      it('ring.close() waits for the syncs already asked for: one asked for in the same tick reaches the device and ' +
        'resolves, and those waiting behind a sync in flight share the next', async () => {
        const mounted = await FaultFs.mount(helper(), 8, 1n, ['--fsync-hold']);
        const hold = (line: string): boolean => line.startsWith('hold ');
        // Rings of their own, closed by the test.
        const rings = [new Ring({ engine, entries: 8 }), new Ring({ engine, entries: 8 })];
        const files = [await open(mounted.file, 'r+', { ring: rings[0] }), await open(mounted.file, 'r+', { ring: rings[1] })];
        try {
          await files[0].writeAt(fillPattern(allocAligned(BLOCK), 0, 2n), 0);
          const synced = files[0].datasync();
          const closing = rings[0].close();
          // A sync refused by the closing ring rejects here rather than never reaching the device.
          await Promise.race([mounted.waitFor(hold), synced]);
          expect(await settled(closing), 'ring.close() while its sync is at the device').to.equal(false);
          mounted.release();
          await synced;
          await closing;
          expect(mounted.syncs).to.deep.equal(['fdatasync']);

          const first = files[1].datasync();
          await mounted.waitFor(hold);
          const behind = Promise.all([files[1].datasync(), files[1].sync()]);
          const closingSecond = rings[1].close();
          mounted.release();
          await first;
          await Promise.race([mounted.waitFor(hold), behind]);
          expect(await settled(closingSecond), 'ring.close() while the shared sync is at the device').to.equal(false);
          mounted.release();
          await behind;
          await closingSecond;
          expect(mounted.syncs).to.deep.equal(['fdatasync', 'fdatasync', 'fsync']);
          // Once closed, the ring refuses a sync before any system call.
          const refused = await files[1].datasync().then(() => null, (error: NodeJS.ErrnoException) => error);
          expect(refused).to.include({ code: 'EBADF', syscall: 'fdatasync', path: mounted.file });
          expect(mounted.syncs).to.have.length(3);
          await Promise.all(files.map((f) => f.close()));
        } finally {
          await closeAfter(mounted, ...rings, ...files);
        }
      });

      it('a dsync write the device failed with EIO is remembered as a failed sync (it took the kernel\'s one report); ' +
        'a failed write without dsync is not', async () => {
        const mounted = await FaultFs.mount(helper(), 8, 1n, ['--write-eio', '1']);
        const files = [
          await open(mounted.file, 'r+', { ring: ring(), dsync: true }),
          await open(mounted.file, 'r+', { ring: ring() }),
          await open(mounted.file, 'r+', { ring: ring() }),
        ];
        try {
          const block = fillPattern(allocAligned(BLOCK), BLOCK, 2n);
          const failed = await Promise.all([
            files[0].writeAt(block, BLOCK),
            files[1].writeAt(block, BLOCK, { dsync: true }),
            files[2].writeAt(block, BLOCK),
          ].map((write) => write.then(() => null, (error: NodeJS.ErrnoException) => error)));
          for (const error of failed) expect(error).to.include({ code: 'EIO', path: mounted.file });
          for (const [i, file] of files.slice(0, 2).entries()) {
            const error = await file.datasync().then(() => null, (e: NodeJS.ErrnoException) => e);
            expect(error, `file ${i}`).to.include({ code: 'EIO', errno: -5, syscall: 'fdatasync', path: mounted.file });
            expect(error!.cause, `file ${i}`).to.equal(failed[i]);
            expect(error!.message, `file ${i}`).to.include(`refused: an earlier dsync ${failed[i]!.syscall} of this file failed (EIO)`);
          }
          // The file whose write had no dsync syncs as usual, and its sync is the only one the device saw
          // (the daemon reports in order, so its line comes after any of the refused ones).
          const seen = mounted.waitFor((line) => line.startsWith('sync '));
          await files[2].datasync();
          await seen;
          expect(mounted.syncs).to.deep.equal(['fdatasync']);
          await Promise.all(files.map((file) => file.close()));
        } finally {
          await closeAfter(mounted, ...files);
        }
      });

      it('a gathering batch whose callers all aborted is dropped: no sync is issued, none reaches the device', async () => {
        const mounted = await FaultFs.mount(helper(), 8, 1n, ['--fsync-hold']);
        const file = await open(mounted.file, 'r+', { ring: ring() });
        const hold = (line: string): boolean => line.startsWith('hold ');
        try {
          const before = ring().stats().syncsIssued;
          // Alone: aborted in the tick it called.
          const alone = new AbortController();
          const dropped = file.datasync({ signal: alone.signal }).then(() => 'resolved', (e: Error) => e.name);
          alone.abort();
          expect(await dropped).to.equal('AbortError');
          await new Promise((resolve) => setImmediate(resolve));
          expect(ring().stats().syncsIssued - before, 'syncs issued for the aborted caller').to.equal(0);

          // Behind a sync in flight: every caller of the next batch aborts before it starts.
          const first = file.datasync();
          await mounted.waitFor(hold);
          const controllers = [new AbortController(), new AbortController()];
          const behind = controllers.map((c) => file.sync({ signal: c.signal }).then(() => 'resolved', (e: Error) => e.name));
          for (const c of controllers) c.abort();
          expect(await Promise.all(behind)).to.deep.equal(['AbortError', 'AbortError']);
          mounted.release();
          await first;
          await new Promise((resolve) => setImmediate(resolve));
          expect(ring().stats().syncsIssued - before, 'syncs issued: the first only').to.equal(1);
          // A last sync, whose line the daemon prints after any earlier one: the device saw it and the first only.
          const last = file.datasync();
          await mounted.waitFor(hold);
          mounted.release();
          await last;
          expect(mounted.syncs).to.deep.equal(['fdatasync', 'fdatasync']);
          await file.close();
        } finally {
          await closeAfter(mounted, file);
        }
      });

      it('close() in the same tick as datasync() waits for that sync, which reaches the device and resolves', async () => {
        const mounted = await FaultFs.mount(helper(), 8, 1n, ['--fsync-hold']);
        const file = await open(mounted.file, 'r+', { ring: ring() });
        let closing: Promise<void> | undefined;
        try {
          await file.writeAt(fillPattern(allocAligned(BLOCK), 0, 2n), 0);
          const synced = file.datasync();
          closing = file.close();
          await Promise.race([mounted.waitFor((line) => line.startsWith('hold ')), synced]);
          expect(await settled(closing), 'close() while its sync is at the device').to.equal(false);
          mounted.release();
          await synced;
          await closing;
          expect(mounted.syncs).to.deep.equal(['fdatasync']);
        } finally {
          await closeAfter(mounted, file);
        }
      });

      it('callers that arrive while a sync is held at the device share the next one, and are not settled by the held one', async () => {
        const mounted = await FaultFs.mount(helper(), 8, 1n, ['--fsync-hold']);
        const file = await open(mounted.file, 'r+', { ring: ring() });
        try {
          await file.writeAt(fillPattern(allocAligned(BLOCK), 0, 2n), 0);
          const before = ring().stats();
          const first = file.datasync();
          await mounted.waitFor((line) => line.startsWith('hold '));
          const waiting = [...Array.from({ length: 16 }, () => file.datasync()), file.sync()];
          const all = Promise.all(waiting);
          mounted.release();
          await first;
          // The next sync is at the device now, held: none of those who called during the first is settled.
          await mounted.waitFor((line) => line.startsWith('hold '));
          expect(await settled(all), 'settled by the sync that started before they called').to.equal(false);
          mounted.release();
          await all;
          expect(mounted.syncs).to.deep.equal(['fdatasync', 'fsync']);
          const after = ring().stats();
          expect(after.syncsRequested - before.syncsRequested).to.equal(18);
          expect(after.syncsIssued - before.syncsIssued).to.equal(2);
          await file.close();
        } finally {
          await closeAfter(mounted, file);
        }
      });

      it('{ signal }: an aborted caller leaves the shared sync to the others; close() waits for the sync in flight', async () => {
        const mounted = await FaultFs.mount(helper(), 8, 1n, ['--fsync-hold']);
        const file = await open(mounted.file, 'r+', { ring: ring() });
        const events: string[] = [];
        const note = (what: string) => (outcome: unknown): void => {
          events.push(outcome instanceof Error ? `${what} ${outcome.name} ${(outcome as { where?: string }).where}` : what);
        };
        let closing: Promise<void> | undefined;
        try {
          // Alone, aborted before its sync starts: nothing reaches the device.
          const alone = new AbortController();
          const dropped = file.datasync({ signal: alone.signal });
          alone.abort();
          await dropped.then(note('dropped'), note('dropped'));

          const first = file.datasync().then(note('first'));
          await mounted.waitFor((line) => line.startsWith('hold '));
          const queued = new AbortController();
          const inFlight = new AbortController();
          const b = file.datasync({ signal: queued.signal }).then(note('b'), note('b'));
          const c = file.datasync({ signal: inFlight.signal }).then(note('c'), note('c'));
          const d = file.datasync().then(note('d'), note('d'));
          queued.abort();
          await b;
          mounted.release();
          await first;
          await mounted.waitFor((line) => line.startsWith('hold '));
          inFlight.abort();
          await c;
          closing = file.close().then(note('closed'));
          expect(await settled(closing), 'close() while a sync is in flight').to.equal(false);
          mounted.release();
          await Promise.all([d, closing]);
          expect(events).to.deep.equal([
            'dropped AbortError queue', 'b AbortError queue', 'first', 'c AbortError shared', 'd', 'closed']);
          expect(mounted.syncs).to.deep.equal(['fdatasync', 'fdatasync']);
        } finally {
          await closeAfter(mounted, file);
        }
      });

      it('a failed sync is remembered: those who shared it get its error, those who waited for the next get it ' +
        'as a remembered failure, and no later sync reaches the device until the file is closed', async () => {
        const mounted = await FaultFs.mount(helper(), 8, 1n, ['--fsync-hold', '--fsync-eio-first', '1']);
        const file = await open(mounted.file, 'r+', { ring: ring() });
        let again: Awaited<ReturnType<typeof open>> | undefined;
        try {
          await file.writeAt(fillPattern(allocAligned(BLOCK), 0, 2n), 0);
          const failing = Promise.allSettled([file.datasync(), file.datasync(), file.sync()]);
          await mounted.waitFor((line) => line.startsWith('hold '));
          const next = Promise.allSettled([file.datasync(), file.sync()]);
          mounted.release();
          const shared = await failing;
          const first = (shared[0] as PromiseRejectedResult).reason as NodeJS.ErrnoException;
          expect(first).to.include({ code: 'EIO', errno: -5, syscall: 'fsync', path: mounted.file });
          for (const outcome of shared) expect((outcome as PromiseRejectedResult).reason).to.equal(first);
          const later = [...await next, ...await Promise.allSettled([file.datasync(), file.sync()])];
          later.forEach((outcome, i) => {
            const syscall = i % 2 === 0 ? 'fdatasync' : 'fsync';
            expect(outcome.status, `${syscall} ${i}`).to.equal('rejected');
            const error = (outcome as PromiseRejectedResult).reason as NodeJS.ErrnoException;
            expect(error, `${syscall} ${i}`).to.include({ code: 'EIO', errno: -5, syscall, path: mounted.file });
            expect(error.cause, `${syscall} ${i}`).to.equal(first);
            expect(error.message).to.equal(`EIO: ${syscall} '${mounted.file}' refused: an earlier fsync of this file ` +
              'failed (EIO), so data written before that failure may not be on the device; the kernel reports a ' +
              'writeback error only once, so every later sync of this file fails the same way until it is closed ' +
              '(reopen the file, write that data again, then sync)');
          });
          // The device would now succeed, as the kernel would: an fsync through another descriptor does.
          const fd = fs.openSync(mounted.file, 'r+');
          const other = new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
          await mounted.waitFor((line) => line.startsWith('hold '));
          mounted.release();
          await other;
          fs.closeSync(fd);
          expect(mounted.syncs).to.deep.equal(['fsync', 'fsync']);
          expect(mounted.faults).to.deep.equal(['fsync EIO']);
          await file.close();
          // A new DirectFile of the same file starts afresh.
          again = await open(mounted.file, 'r+', { ring: ring() });
          const synced = again.datasync();
          await mounted.waitFor((line) => line.startsWith('hold '));
          mounted.release();
          await synced;
          await again.close();
        } finally {
          await closeAfter(mounted, file, ...(again === undefined ? [] : [again]));
        }
      });
    });
  });
});
