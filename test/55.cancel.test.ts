import { expect } from 'chai';
import events = require('events');
import fs = require('fs');
import { open, allocAligned, Ring, DirectFile } from 'odirect';
import {
  checkPattern, cleanup, DISK_DIR, fillPattern, forEachEngine, heldReadFifo, noIoUringReason, rejectionOf, SHM_DIR, skipBecause, tempPath,
} from './helpers';

const BLOCK = 4096;
const BLOCKS = 256;

interface Outcome { kind: 'done' | 'queue' | 'engine' | 'other'; error?: Error & { code?: string } }

/** How each op ended: resolved with its data checked, or rejected (and how). */
async function outcomes(ops: Promise<{ n: number; ok: boolean }>[]): Promise<Outcome[]> {
  return Promise.all(ops.map((op) => op.then(
    ({ n, ok }) => ({ kind: n === BLOCK && ok ? 'done' : 'other' } as Outcome),
    (error) => ({ kind: error.name === 'AbortError' ? error.where : 'other', error } as Outcome),
  )));
}

function count(list: Outcome[], kind: Outcome['kind']): number {
  return list.filter((outcome) => outcome.kind === kind).length;
}

async function patternFile(ring: Ring, dir: string): Promise<string> {
  const file = tempPath(dir, 'cancel');
  const handle = await open(file, 'w', { ring });
  await handle.writeAt(fillPattern(allocAligned(BLOCKS * BLOCK), 0), 0);
  await handle.close();
  return file;
}

/** `total` reads of random blocks, each checked against the pattern when it resolves. */
function reads(file: DirectFile, total: number, signal: AbortSignal): Promise<{ n: number; ok: boolean }>[] {
  return Array.from({ length: total }, (_, i) => {
    const buffer = allocAligned(BLOCK);
    const position = ((i * 7919) % BLOCKS) * BLOCK;
    return file.readAt(buffer, position, { signal }).then((n) => ({ n, ok: checkPattern(buffer, position) === -1 }));
  });
}

forEachEngine('cancellation', ({ ring, engine }) => {
  let path: string;
  before(async () => {
    path = await patternFile(ring(), engine === 'threadpool' ? DISK_DIR : SHM_DIR);
  });
  after(cleanup);

  it('rejects at once, submitting nothing, when the signal is already aborted', async () => {
    const file = await open(path, 'r', { ring: ring() });
    const submitted = ring().stats().submitted;
    const reason = new Error('stop');
    const signal = AbortSignal.abort(reason);
    for (const error of [
      await rejectionOf(file.readAt(allocAligned(BLOCK), 0, { signal })),
      await rejectionOf(file.writeAt(allocAligned(BLOCK), 0, { signal })),
      await rejectionOf(file.readvAt([allocAligned(BLOCK)], 0, { signal })),
      await rejectionOf(file.datasync({ signal })),
      await rejectionOf(file.sync({ signal })),
    ]) {
      expect(error.name).to.equal('AbortError');
      expect(error.code).to.equal('ABORT_ERR');
      expect((error as unknown as { where: string }).where).to.equal('queue');
      expect(error.cause).to.equal(reason);
    }
    expect(ring().stats().submitted).to.equal(submitted);
    await file.close();
  });

  it('drops the ops still waiting in JS, settles every op once, and leaves the ring working', async () => {
    const file = await open(path, 'r', { ring: ring() });
    const controller = new AbortController();
    const total = 2000;
    const ops = reads(file, total, controller.signal);
    controller.abort();
    const results = await outcomes(ops);
    expect(results.length).to.equal(total);
    expect(count(results, 'other'), String(results.find((r) => r.kind === 'other')?.error)).to.equal(0);
    // The ring holds `entries` ops; every op beyond them was still in JS.
    expect(count(results, 'queue')).to.be.at.least(total - ring().entries);
    expect(count(results, 'done') + count(results, 'queue') + count(results, 'engine')).to.equal(total);
    expect(ring().stats().inFlight).to.equal(0);
    expect(ring().stats().queued).to.equal(0);
    expect(events.getEventListeners(controller.signal, 'abort').length).to.equal(0);
    const buffer = allocAligned(BLOCK);
    expect(await file.readAt(buffer, 3 * BLOCK)).to.equal(BLOCK);
    expect(checkPattern(buffer, 3 * BLOCK)).to.equal(-1);
    await file.close();
  });

  it('does nothing to ops that completed before the abort, and removes its listeners', async () => {
    const file = await open(path, 'r', { ring: ring() });
    const controller = new AbortController();
    const results = await outcomes(reads(file, 50, controller.signal));
    expect(count(results, 'done')).to.equal(50);
    expect(events.getEventListeners(controller.signal, 'abort').length).to.equal(0);
    controller.abort();
    const buffer = allocAligned(BLOCK);
    expect(await file.readAt(buffer, 0, { signal: controller.signal }).catch((e) => e.name)).to.equal('AbortError');
    await file.close();
  });

  it('closes a file whose ops were aborted', async () => {
    const file = await open(path, 'r', { ring: ring() });
    const controller = new AbortController();
    const ops = reads(file, 500, controller.signal);
    const closed = file.close();
    controller.abort();
    await outcomes(ops);
    await closed;
    expect(file.closed).to.equal(true);
  });

  it('removes its listener when an op that waited for room is refused when started', async () => {
    const one = new Ring({ engine: ring().engine, entries: 1 });
    const file = await open(path, 'r', { ring: one });
    const controller = new AbortController();
    const first = file.readAt(allocAligned(4096), 0, { signal: controller.signal });
    // Waits for the one slot, then fails in the addon: its address is not aligned.
    const second = file.readAt(allocAligned(8192).subarray(8, 4104), 0, { signal: controller.signal });
    expect(await first).to.equal(4096);
    expect((await rejectionOf(second)).code).to.equal('EINVAL');
    expect(events.getEventListeners(controller.signal, 'abort').length).to.equal(0);
    await file.close();
    await one.close();
  });

  it('rejects a signal that is not an AbortSignal', async () => {
    const file = await open(path, 'r', { ring: ring() });
    const hostile = { aborted: false, addEventListener() { throw new Error('no'); }, removeEventListener() {} };
    for (const signal of [null, 1, 'x', {}, { aborted: false }, hostile]) {
      const error = await rejectionOf(file.readAt(allocAligned(BLOCK), 0, { signal: signal as never }));
      expect(error.code, String(signal)).to.equal('ERR_INVALID_ARG_TYPE');
      expect((await rejectionOf(file.datasync({ signal: signal as never }))).code).to.equal('ERR_INVALID_ARG_TYPE');
    }
    // The ring is untouched: nothing was queued for them.
    const buffer = allocAligned(4096);
    expect(await file.readAt(buffer, 4096)).to.equal(4096);
    expect(checkPattern(buffer, 4096)).to.equal(-1);
    await file.close();
  });

  if (engine === 'threadpool') {
    it('drops ops no worker has taken yet (engine), on a pool of one thread', async () => {
      const single = new Ring({ engine: 'threadpool', threads: 1, entries: 1024 });
      // The pool's one worker is kept busy first: fdatasync of 64 MiB of
      // dirty page-cache data must write them to the disk.
      const dirty = tempPath(DISK_DIR, 'dirty');
      fs.writeFileSync(dirty, Buffer.alloc(64 << 20, 1));
      const busy = await open(dirty, 'r+', { ring: single, direct: false });
      const synced = busy.datasync();
      const file = await open(path, 'r', { ring: single });
      const controller = new AbortController();
      const ops = reads(file, 256, controller.signal);  // handed to the pool 8 at a time
      controller.abort();
      const results = await outcomes(ops);
      await synced;
      expect(count(results, 'other')).to.equal(0);
      expect(count(results, 'engine')).to.be.greaterThan(128);
      expect(count(results, 'done') + count(results, 'engine') + count(results, 'queue')).to.equal(256);
      await busy.close();
      await file.close();
      await single.close();
    });
  }
});

describe('cancellation of ops the ring\'s submission thread holds (aio)', () => {
  after(cleanup);

  it('drops writes queued behind a fallocate on the submission thread, without blocking the event loop', async function () {
    let ring: Ring;
    try {
      ring = new Ring({ engine: 'aio' });
    } catch {
      this.skip();  // no Linux AIO on this machine
    }
    const path = tempPath(SHM_DIR, 'behind-fallocate');
    const file = await open(path, 'w+', { ring: ring! });
    // tmpfs zeroes the pages it allocates: the thread is busy for a while.
    const allocated = file.allocate(0, 512 << 20);
    const controller = new AbortController();
    const writes = Array.from({ length: 32 }, (_, i) =>
      file.writeAt(allocAligned(4096), i * 4096, { signal: controller.signal }).then(
        (n) => `written ${n}`, (error) => `${error.name} ${error.where ?? error.code}`));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    const outcomes = await Promise.all(writes);
    await allocated;
    clearInterval(timer);
    expect(ticks).to.be.greaterThan(0);  // the event loop ran while the thread was busy
    for (const outcome of outcomes) expect(['AbortError queue', 'written 4096']).to.include(outcome);
    expect(outcomes.filter((outcome) => outcome === 'AbortError queue').length).to.be.greaterThan(0);
    await file.close();
    await ring!.close();
  });
});

// Only io_uring can hold a read on a FIFO: aio would block io_submit on it,
// and the threadpool's pread(2) refuses it (ESPIPE).
describe('cancellation of a read the kernel holds (io_uring, a FIFO with no data)', () => {
  after(cleanup);

  it('cancels it in the kernel: AbortError, where "engine", and the FIFO works afterwards', async function () {
    const held = await heldReadFifo();
    if (held === null) skipBecause(this, noIoUringReason());
    const { ring, file } = held!;
    const controller = new AbortController();
    const pending = file.readAt(allocAligned(BLOCK), 0, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await rejectionOf(pending);
    expect(error.name).to.equal('AbortError');
    expect((error as unknown as { where: string }).where).to.equal('engine');
    const buffer = allocAligned(BLOCK);
    const next = file.readAt(buffer, 0);
    fs.writeSync(file.fd, 'after');
    expect(await next).to.equal(5);
    expect(buffer.subarray(0, 5).toString()).to.equal('after');
    await file.close();
    await ring.close();
  });
});
