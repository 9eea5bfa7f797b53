// BufferPool: aligned buffers, registered with io_uring rings as fixed
// buffers (reads and writes into them go out as READ_FIXED/WRITE_FIXED), and
// plain buffers elsewhere, saying why.
import { expect } from 'chai';
import childProcess = require('child_process');
import fs = require('fs');
import { BufferPool, isAligned, open, Ring } from 'odirect';
import {
  availableEngines, checkPattern, cleanup, fillPattern, forEachEngine, isRoot, noIoUringReason, packageForAnyUser, skipBecause, tempPath,
} from './helpers';

const BLOCK = 4096;

forEachEngine('BufferPool', ({ ring, engine }) => {
  after(cleanup);

  it('hands out aligned buffers of its size until none is left, and takes them back', () => {
    const pool = new BufferPool({ size: 2 * BLOCK, count: 3, alignment: BLOCK, ring: ring() });
    try {
      const buffers = [pool.acquire(), pool.acquire(), pool.acquire()];
      expect(pool.available).to.equal(0);
      expect(pool.acquire()).to.equal(undefined);
      for (const buffer of buffers) {
        expect(buffer!.length).to.equal(2 * BLOCK);
        expect(isAligned(buffer!, BLOCK)).to.equal(true);
      }
      // Distinct memory: writing one leaves the others alone.
      buffers[0]!.fill(1);
      buffers[1]!.fill(2);
      expect(buffers[0]!.every((byte) => byte === 1)).to.equal(true);
      pool.release(buffers[1]!);
      expect(pool.available).to.equal(1);
      expect(pool.acquire()).to.equal(buffers[1]);
    } finally {
      pool.close();
    }
  });

  it('refuses foreign buffers, double releases, and acquire after close', () => {
    const pool = new BufferPool({ size: BLOCK, count: 2, ring: ring() });
    const other = new BufferPool({ size: BLOCK, count: 2, ring: ring() });
    const mine = pool.acquire()!;
    expect(() => pool.release(other.acquire()!)).to.throw(TypeError).with.property('code', 'ERR_INVALID_ARG_VALUE');
    expect(() => pool.release(Buffer.alloc(BLOCK))).to.throw(TypeError);
    expect(() => pool.release(mine.subarray(0, 512))).to.throw(TypeError);
    pool.release(mine);
    expect(() => pool.release(mine)).to.throw(TypeError, /released already/);
    pool.close();
    other.close();
    expect(() => pool.acquire()).to.throw().with.property('code', 'EBADF');
  });

  it('checks its options', () => {
    expect(() => new BufferPool({ size: 0, count: 1, ring: ring() })).to.throw(RangeError);
    expect(() => new BufferPool({ size: BLOCK, count: 0, ring: ring() })).to.throw(RangeError);
    expect(() => new BufferPool({ size: 1000, count: 1, ring: ring() })).to.throw(TypeError, /multiple of the alignment/);
    expect(() => new BufferPool({ size: BLOCK, count: 1, alignment: 3000, ring: ring() })).to.throw(TypeError);
    expect(() => new BufferPool({ size: BLOCK, count: 1, ring: {} as Ring })).to.throw(TypeError);
    expect(() => new BufferPool(null as never)).to.throw(TypeError);
  });

  it(engine === 'io_uring'
    ? 'is registered, and every read and write into it goes out as a fixed-buffer op'
    : 'works with plain buffers, saying why it is not registered', async () => {
    const pool = new BufferPool({ size: BLOCK, count: 32, ring: ring() });
    const path = tempPath(undefined, 'pool');
    const file = await open(path, 'w+', { ring: ring() });
    try {
      const before = ring().stats();
      if (engine === 'io_uring') {
        expect(pool.registered).to.equal(true);
        expect(pool.registrationError).to.equal(null);
        expect(before.registeredBuffers).to.be.at.least(1);
      } else {
        expect(pool.registered).to.equal(false);
        expect(pool.registrationError!.code).to.equal('ENOTSUP');
        expect(pool.registrationError!.message).to.contain('plain buffers');
      }
      const buffers = Array.from({ length: 32 }, () => pool.acquire()!);
      const written = await Promise.all(buffers.map((buffer, i) => file.writeAt(fillPattern(buffer, i * BLOCK), i * BLOCK)));
      expect(written).to.deep.equal(Array(32).fill(BLOCK));
      for (const buffer of buffers) buffer.fill(0xee);
      const read = await Promise.all(buffers.map((buffer, i) => file.readAt(buffer, i * BLOCK)));
      expect(read).to.deep.equal(Array(32).fill(BLOCK));
      buffers.forEach((buffer, i) => expect(checkPattern(buffer, i * BLOCK), `buffer ${i}`).to.equal(-1));
      expect(checkPattern(fs.readFileSync(path), 0)).to.equal(-1);
      const fixed = ring().stats().fixedOps - before.fixedOps;
      expect(fixed).to.equal(engine === 'io_uring' ? 64 : 0);
    } finally {
      await file.close();
      const registered = ring().stats().registeredBuffers;
      pool.close();
      expect(ring().stats().registeredBuffers).to.equal(engine === 'io_uring' ? registered - 1 : registered);
    }
  });

  it('stays usable as plain buffers after close(), and a closed pool\'s memory is not fixed any more', async () => {
    const pool = new BufferPool({ size: BLOCK, count: 2, ring: ring() });
    const buffer = pool.acquire()!;
    pool.close();
    const path = tempPath(undefined, 'pool-closed');
    const file = await open(path, 'w+', { ring: ring() });
    try {
      const before = ring().stats().fixedOps;
      expect(await file.writeAt(fillPattern(buffer, 0), 0)).to.equal(BLOCK);
      buffer.fill(0);
      expect(await file.readAt(buffer, 0)).to.equal(BLOCK);
      expect(checkPattern(buffer, 0)).to.equal(-1);
      expect(ring().stats().fixedOps).to.equal(before);
    } finally {
      await file.close();
    }
  });

  it('close() with ops on its buffers queued: they complete with their bytes, and the slot is given back after them', async () => {
    const path = tempPath(undefined, 'pool-close');
    const file = await open(path, 'w+', { ring: ring() });
    const registeredBefore = ring().stats().registeredBuffers;
    const pool = new BufferPool({ size: BLOCK, count: 16, ring: ring() });
    const buffers = Array.from({ length: 16 }, (_, i) => fillPattern(pool.acquire()!, i * BLOCK, 6n));
    // Queued (not yet submitted) when the pool closes.
    const writes = buffers.map((buffer, i) => file.writeAt(buffer, i * BLOCK));
    pool.close();
    expect(ring().stats().registeredBuffers).to.equal(registeredBefore);
    expect(await Promise.all(writes)).to.deep.equal(new Array(16).fill(BLOCK));
    expect(checkPattern(fs.readFileSync(path), 0, 6n)).to.equal(-1);
    // Every slot is usable again: as many new pools register as before.
    const pools: BufferPool[] = [];
    for (let i = 0; i < 64; i++) {
      const next = new BufferPool({ size: BLOCK, count: 1, ring: ring() });
      pools.push(next);
      if (!next.registered) break;
    }
    const registered = pools.filter((p) => p.registered).length;
    for (const p of pools) p.close();
    await file.close();
    if (engine === 'io_uring') expect(registered).to.equal(64 - registeredBefore);
    else expect(registered).to.equal(0);
  });

  it('gives its registration slot back when collected without close()', async function () {
    if (typeof global.gc !== 'function') this.skip(); // needs --expose-gc (set in .mocharc.json)
    // A ring has 64 slots: 200 pools only fit if collected ones free theirs.
    let registered = 0;
    for (let i = 0; i < 200; i++) {
      const pool = new BufferPool({ size: BLOCK, count: 1, ring: ring() });
      if (pool.registered) registered++;
      if (i % 16 === 15) {
        global.gc!();
        await new Promise(setImmediate);
        await new Promise(setImmediate);
      }
    }
    expect(registered).to.equal(engine === 'io_uring' ? 200 : 0);
  });
});

describe('BufferPool under a small locked-memory limit', () => {
  after(cleanup);

  it('falls back to plain buffers with ENOMEM, and I/O works', async function () {
    // An unprivileged user with RLIMIT_MEMLOCK of 64 KiB, as on many systems:
    // root has CAP_IPC_LOCK, which lifts the limit, so the child drops it.
    const tools = ['setpriv', 'prlimit'].every((tool) => childProcess.spawnSync('which', [tool]).status === 0);
    if (!isRoot) skipBecause(this, 'needs root to run a child as nobody');
    if (!tools) skipBecause(this, 'needs setpriv and prlimit (util-linux)');
    if (!availableEngines.includes('io_uring')) skipBecause(this, noIoUringReason());
    // The child is nobody, who may not enter the repository: it loads a copy of the package.
    const entry = await packageForAnyUser();
    const path = tempPath(undefined, 'memlock');
    fs.writeFileSync(path, fillPattern(Buffer.alloc(1 << 20), 0));
    fs.chmodSync(path, 0o644);
    const asNobody = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'];
    if (childProcess.spawnSync(asNobody[0], [...asNobody.slice(1), 'test', '-r', path]).status !== 0) {
      skipBecause(this, `nobody cannot read ${path} (ODIRECT_TEST_DIR must be reachable by every user for this test)`);
    }
    const script = `const { BufferPool, Ring, open } = require(${JSON.stringify(entry)});
      (async () => {
        const ring = new Ring({ engine: 'io_uring' });
        const pool = new BufferPool({ size: 1 << 20, count: 1, ring });
        const file = await open(${JSON.stringify(path)}, 'r', { ring });
        const buffer = pool.acquire();
        const bytes = await file.readAt(buffer, 0);
        console.log(JSON.stringify({ registered: pool.registered, code: pool.registrationError && pool.registrationError.code,
          message: pool.registrationError && pool.registrationError.message, bytes, word: buffer.readUInt32LE(4096),
          fixed: ring.stats().fixedOps }));
        await file.close(); await ring.close();
      })();`;
    const result = childProcess.spawnSync('prlimit', ['--memlock=65536:65536', ...asNobody, process.execPath, '-e', script],
      { encoding: 'utf8', timeout: 60_000, cwd: '/' });
    expect(result.status, result.stderr).to.equal(0);
    const report = JSON.parse(result.stdout);
    expect(report.registered).to.equal(false);
    expect(report.code).to.equal('ENOMEM');
    expect(report.message).to.contain('RLIMIT_MEMLOCK');
    expect(report.bytes).to.equal(1 << 20);
    expect(report.word).to.equal(4096);
    expect(report.fixed).to.equal(0);
  });
});
