import { expect } from 'chai';
import fs = require('fs');
import { open, allocAligned, Ring, DirectFile } from 'odirect';
import {
  checkPattern, cleanup, fillPattern, forEachEngine, heldReadFifo, noIoUringReason, SHM_DIR, skipBecause, tempPath,
} from './helpers';

const SIZE = 1 << 20;

function collect(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

// V8's own memory (new Uint8Array) is rarely aligned for O_DIRECT, so these
// files are opened through the page cache (alignment 1): the buffers a
// transfer can move are those.
forEachEngine('a V8-owned buffer transferred while an op on it is in flight', ({ ring }) => {
  let path: string;
  let file: DirectFile;
  before(async () => {
    path = tempPath(SHM_DIR, 'detach');
    fs.writeFileSync(path, fillPattern(Buffer.alloc(SIZE), 0, 77n));
    file = await open(path, 'r+', { ring: ring(), direct: false });
  });
  after(async () => {
    await file.close();
    cleanup();
  });

  it('the read lands in the memory the transferred ArrayBuffer now owns', async () => {
    const view = new Uint8Array(SIZE);
    const pending = file.readAt(view, 0);
    const moved = structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] });
    expect(view.byteLength).to.equal(0);  // detached
    expect(await pending).to.equal(SIZE);
    expect(checkPattern(Buffer.from(moved), 0, 77n)).to.equal(-1);
  });

  it('an op still waiting for room whose buffer is transferred is refused with ERR_INVALID_STATE', async () => {
    const one = new Ring({ engine: ring().engine, entries: 1 });
    const handle = await open(path, 'r', { ring: one, direct: false });
    const first = handle.readAt(new Uint8Array(4096), 0);
    const view = new Uint8Array(4096);
    const waiting = handle.readAt(view, 4096);
    structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] });
    expect(await first).to.equal(4096);
    const error = await waiting.then(() => null, (e) => e);
    expect(error).to.be.instanceOf(TypeError);
    expect(error.code).to.equal('ERR_INVALID_STATE');
    expect(error.message).to.include('transferred or detached');
    await handle.close();
    await one.close();
  });

  it('a write sends the bytes the buffer held when it was queued', async () => {
    const target = tempPath(SHM_DIR, 'detach-write');
    const out = await open(target, 'w', { ring: ring(), direct: false });
    const view = new Uint8Array(SIZE);
    fillPattern(Buffer.from(view.buffer), 0, 5n);
    const pending = out.writeAt(view, 0);
    structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] });
    expect(await pending).to.equal(SIZE);
    await out.close();
    expect(checkPattern(fs.readFileSync(target), 0, 5n)).to.equal(-1);
  });

  it('the memory outlives a new owner that is collected before the op completes (checked under ASan by test:asan)', async () => {
    const pending: Promise<number>[] = [];
    for (let i = 0; i < 32; i++) {
      const view = new Uint8Array(SIZE / 8);
      pending.push(file.readAt(view, (i % 8) * (SIZE / 8)));
      structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] });  // the copy is dropped at once
    }
    collect();
    const results = await Promise.all(pending);
    expect(results).to.deep.equal(new Array(32).fill(SIZE / 8));
    // Memory handed out afterwards holds what was written into it, not stray reads.
    const fresh = Array.from({ length: 64 }, () => new Uint8Array(SIZE / 8).fill(3));
    collect();
    expect(fresh.every((array) => array.every((byte) => byte === 3))).to.equal(true);
  });
});

describe('a V8-owned buffer transferred and collected while the kernel holds the read (io_uring, a FIFO)', () => {
  after(cleanup);

  it('completes into memory kept alive for it, and the process goes on', async function () {
    const held = await heldReadFifo();
    if (held === null) skipBecause(this, noIoUringReason());
    const { ring, file } = held!;
    let view: Uint8Array | null = new Uint8Array(4096);
    const pending = file.readAt(view, 0);
    structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] });
    view = null;
    for (let i = 0; i < 3; i++) {
      collect();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    fs.writeSync(file.fd, 'late');
    expect(await pending).to.equal(4);
    const check = allocAligned(4096);
    const next = file.readAt(check, 0);
    fs.writeSync(file.fd, 'next');
    expect(await next).to.equal(4);
    expect(check.subarray(0, 4).toString()).to.equal('next');
    await file.close();
    await ring.close();
  });
});
