import { expect } from 'chai';
import fs = require('fs');
import { open, allocAligned } from 'odirect';
import { cleanup, forEachEngine, heldReadFifo, noIoUringReason, SHM_DIR, skipBecause, tempPath } from './helpers';

const BLOCK = 4096;

forEachEngine('ring.stats()', ({ ring }) => {
  after(cleanup);

  it('counts ops, errors and a latency histogram of every op handed to the engine', async () => {
    const path = tempPath(SHM_DIR, 'stats');
    const file = await open(path, 'w+', { ring: ring() });
    await file.writeAt(allocAligned(64 * BLOCK), 0);
    const before = ring().stats();
    const buffer = allocAligned(BLOCK);
    await Promise.all(Array.from({ length: 500 }, (_, i) => file.readAt(allocAligned(BLOCK), (i % 64) * BLOCK)));
    // A write on a read-only descriptor: refused by the kernel, and counted as an error.
    const failing = await open(path, 'r', { ring: ring() });
    const refused = await failing.writeAt(buffer, 0).then(() => 'written', (error) => error.code);
    expect(refused).to.equal('EBADF');  // opened read-only
    await failing.close();
    const after = ring().stats();
    expect(after.submitted - before.submitted).to.equal(501);
    expect(after.completed - before.completed).to.equal(501);
    expect(after.errors - before.errors).to.equal(1);
    expect(after.inFlight).to.equal(0);
    expect(after.queued).to.equal(0);
    const latency = after.latency;
    expect(latency.count - before.latency.count).to.equal(501);
    expect(latency.p50).to.be.greaterThan(0);
    expect(latency.p50).to.be.at.most(latency.p90);
    expect(latency.p90).to.be.at.most(latency.p99);
    expect(latency.p99).to.be.at.most(latency.p999);
    expect(latency.p999).to.be.at.most(latency.max);
    expect(latency.mean).to.be.greaterThan(0);
    expect(latency.mean).to.be.at.most(latency.max);
    await file.close();
  });
});

describe('ring.stats() latency of an op the kernel holds (io_uring, a FIFO)', () => {
  after(cleanup);

  it('records at least the time the op was held', async function () {
    const held = await heldReadFifo();
    if (held === null) skipBecause(this, noIoUringReason());
    const { ring, file } = held!;
    const buffer = allocAligned(BLOCK);
    const pending = file.readAt(buffer, 0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    fs.writeSync(file.fd, 'x');
    expect(await pending).to.equal(1);
    const { latency } = ring.stats();
    expect(latency.count).to.equal(1);
    // The op waited about 100 ms for its byte (libuv's timers count whole
    // milliseconds, so allow one).
    expect(latency.max).to.be.at.least(99_000);
    expect(latency.p50).to.be.at.least(99_000);
    expect(latency.p50).to.be.at.most(latency.max);
    await file.close();
    await ring.close();
  });
});
