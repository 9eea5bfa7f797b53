import { expect } from 'chai';
import childProcess = require('child_process');
import fs = require('fs');
import path = require('path');
import { open, allocAligned, Ring, DirectFile } from 'odirect';
import {
  checkPattern, cleanup, DISK_DIR, fillPattern, forEachEngine, noIoUringReason, rejectionOf, SHM_DIR, skipBecause, tempPath,
} from './helpers';

const BLOCK = 4096;

/** The ring's fixed-file slot of `file` (-1: none); an internal field. */
function slotOf(file: DirectFile): number {
  return (file as unknown as { fileIndex: number }).fileIndex;
}

/** A file of `blocks` pattern blocks (seeded), written through `ring`. */
async function patternFile(ring: Ring, dir: string, blocks: number, seed: bigint): Promise<string> {
  const file = tempPath(dir, 'fixed');
  const handle = await open(file, 'w', { ring });
  const buffer = fillPattern(allocAligned(blocks * BLOCK), 0, seed);
  expect(await handle.writeAt(buffer, 0)).to.equal(blocks * BLOCK);
  await handle.close();
  return file;
}

forEachEngine('registered files', ({ ring, engine }) => {
  after(cleanup);
  const registers = engine === 'io_uring';

  it(registers ? 'registers each open file, and gives its slot back at close' : 'registers none, and I/O works', async () => {
    const before = ring().stats().registeredFiles;
    const paths = await Promise.all([1n, 2n, 3n].map((seed) => patternFile(ring(), SHM_DIR, 4, seed << 32n)));
    const files = await Promise.all(paths.map((file) => open(file, 'r', { ring: ring() })));
    expect(ring().stats().registeredFiles).to.equal(before + (registers ? 3 : 0));
    const buffer = allocAligned(BLOCK);
    for (const [i, file] of files.entries()) {
      for (let block = 0; block < 4; block++) {
        expect(await file.readAt(buffer, block * BLOCK)).to.equal(BLOCK);
        expect(checkPattern(buffer, block * BLOCK, BigInt(i + 1) << 32n)).to.equal(-1);
      }
    }
    await Promise.all(files.map((file) => file.close()));
    expect(ring().stats().registeredFiles).to.equal(before);
  });

  it('never sends a closed file\'s I/O to the file that reuses its slot and descriptor number', async () => {
    const first = await patternFile(ring(), DISK_DIR, 8, 11n << 32n);
    const second = await patternFile(ring(), DISK_DIR, 8, 22n << 32n);
    const a = await open(first, 'r', { ring: ring() });
    const slot = slotOf(a);
    const reads = Array.from({ length: 8 }, (_, block) => {
      const buffer = allocAligned(BLOCK);
      return a.readAt(buffer, block * BLOCK).then((n) => ({ n, buffer, block }));
    });
    const closed = a.close();
    const b = await open(second, 'r', { ring: ring() });
    await closed;
    for (const { n, buffer, block } of await Promise.all(reads)) {
      expect(n).to.equal(BLOCK);
      expect(checkPattern(buffer, block * BLOCK, 11n << 32n)).to.equal(-1);
    }
    // b or c (whichever registers first once a is closed) takes a's slot,
    // and maybe its descriptor number: each must read its own file.
    const c = await open(await patternFile(ring(), DISK_DIR, 8, 33n << 32n), 'r', { ring: ring() });
    if (registers) expect([slotOf(b), slotOf(c)]).to.include(slot);
    const buffer = allocAligned(BLOCK);
    for (let block = 0; block < 8; block++) {
      await b.readAt(buffer, block * BLOCK);
      expect(checkPattern(buffer, block * BLOCK, 22n << 32n)).to.equal(-1);
      await c.readAt(buffer, block * BLOCK);
      expect(checkPattern(buffer, block * BLOCK, 33n << 32n)).to.equal(-1);
    }
    await b.close();
    await c.close();
    expect((await rejectionOf(a.readAt(buffer, 0))).code).to.equal('EBADF');
  });

  if (registers) {
    it('reads, vectored reads and syncs go through the registered file, not the descriptor number', async () => {
      const first = await patternFile(ring(), DISK_DIR, 4, 44n << 32n);
      const second = await patternFile(ring(), DISK_DIR, 4, 55n << 32n);
      const handle = await open(first, 'r', { ring: ring() });
      expect(slotOf(handle)).to.be.at.least(0);
      // The descriptor number now names another file; the kernel's slot still holds the first.
      const fd = handle.fd;
      fs.closeSync(fd);
      expect(fs.openSync(second, 'r')).to.equal(fd);
      const buffer = allocAligned(BLOCK);
      expect(await handle.readAt(buffer, BLOCK)).to.equal(BLOCK);
      expect(checkPattern(buffer, BLOCK, 44n << 32n)).to.equal(-1);
      const parts = [allocAligned(BLOCK), allocAligned(2 * BLOCK)];
      expect(await handle.readvAt(parts, BLOCK)).to.equal(3 * BLOCK);
      expect(checkPattern(parts[0], BLOCK, 44n << 32n)).to.equal(-1);
      expect(checkPattern(parts[1], 2 * BLOCK, 44n << 32n)).to.equal(-1);
      await handle.datasync();
      await handle.close();  // closes the second file's descriptor, which has its number
    });
  }

  it('writes and syncs through a registered file', async () => {
    const file = tempPath(DISK_DIR, 'fixed-write');
    const handle = await open(file, 'w+', { ring: ring() });
    const data = fillPattern(allocAligned(16 * BLOCK), 0, 5n << 40n);
    await Promise.all(Array.from({ length: 16 }, (_, i) =>
      handle.writeAt(data.subarray(i * BLOCK, (i + 1) * BLOCK), i * BLOCK)));
    await handle.datasync();
    await handle.sync();
    const back = allocAligned(16 * BLOCK);
    expect(await handle.readAt(back, 0)).to.equal(16 * BLOCK);
    expect(checkPattern(back, 0, 5n << 40n)).to.equal(-1);
    await handle.close();
  });
});

describe('registered files: options and limits', () => {
  after(cleanup);

  it('registerFiles: false keeps descriptors unregistered', async function () {
    let ring: Ring;
    try {
      ring = new Ring({ engine: 'io_uring', registerFiles: false });
    } catch (error) {
      skipBecause(this, `${noIoUringReason()} (the forEachEngine suites above cover the others)`);
    }
    const file = await patternFile(ring!, SHM_DIR, 2, 3n << 32n);
    const handle: DirectFile = await open(file, 'r', { ring: ring! });
    expect(ring!.stats().registeredFiles).to.equal(0);
    const buffer = allocAligned(BLOCK);
    await handle.readAt(buffer, BLOCK);
    expect(checkPattern(buffer, BLOCK, 3n << 32n)).to.equal(-1);
    await handle.close();
    await ring!.close();
  });

  it('rejects a registerFiles that is not a boolean', () => {
    expect(() => new Ring({ registerFiles: 1 as unknown as boolean })).to.throw(TypeError)
      .with.property('code', 'ERR_INVALID_ARG_VALUE');
  });

  it('falls back to descriptors once the table of 1024 slots is full, and I/O still works', function () {
    if (childProcess.spawnSync('which', ['prlimit']).status !== 0) this.skip();
    // Node raises its soft descriptor limit to the hard one (1200 here), so
    // the table gets its full 1024 slots and 1100 files fit.
    const script = `
      const { open, allocAligned, Ring } = require(${JSON.stringify(path.resolve(__dirname, '../..'))});
      (async () => {
        let ring;
        try { ring = new Ring({ engine: 'io_uring' }); } catch { console.log(JSON.stringify({ skip: true })); return; }
        const name = ${JSON.stringify(tempPath(SHM_DIR, 'limit'))};
        const first = await open(name, 'w+', { ring });
        const block = allocAligned(4096);
        for (let i = 0; i < 4096; i += 8) block.writeBigUInt64LE(BigInt(i) + 77n, i);
        await first.writeAt(block, 0);
        const files = [first];
        for (let i = 1; i < 1100; i++) files.push(await open(name, 'r', { ring }));
        const registered = ring.stats().registeredFiles;
        const unregistered = files.filter((f) => f.fileIndex < 0).length;
        let good = 0;
        const b = allocAligned(4096);
        for (const f of files) {
          b.fill(0);
          if (await f.readAt(b, 0) === 4096 && b.equals(block)) good++;
        }
        for (const f of files) await f.close();
        console.log(JSON.stringify({ registered, unregistered, good, after: ring.stats().registeredFiles }));
        await ring.close();
      })().catch((e) => { console.error(e); process.exit(3); });`;
    const result = childProcess.spawnSync('prlimit', ['--nofile=1200:1200', process.execPath, '-e', script],
      { encoding: 'utf8', timeout: 60_000 });
    expect(result.status, result.stderr).to.equal(0);
    const report = JSON.parse(result.stdout.trim().split('\n').pop()!);
    if (report.skip === true) this.skip();
    expect(report).to.deep.equal({ registered: 1024, unregistered: 1100 - 1024, good: 1100, after: 0 });
  });
});
