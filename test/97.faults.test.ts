// Device faults injected for real: a FUSE filesystem (test/fixtures/fault-fs.c)
// whose one file fails reads and writes of chosen blocks with EIO (and writes
// of others with ENOSPC), as a failing disk does. The error must reach the
// caller of exactly the ops that touch a bad block, with Node's error shape;
// every other op must complete with its bytes; the ring must go on working.
// Needs root (mount(2) of a FUSE filesystem), /dev/fuse and cc; skips, saying
// why, without them.
import { expect } from 'chai';
import fs = require('fs');
import os = require('os');
import path = require('path');
import { allocAligned, open, Ring } from 'odirect';
import { checkPattern, fillPattern, forEachEngine, SHM_DIR } from './helpers';
import { BLOCK, FaultFs, withFaultFs } from './fault-fs';

/**
 * Seconds after which fault-fs ends a hang by itself. A hang test kills the
 * daemon long before; this bounds a regression that blocks the event loop
 * (then nothing in this process runs until the hang ends), so that it fails
 * (the order of events is wrong) instead of hanging the suite.
 */
const HANG_LIMIT = 60;

/** Whether [offset, offset + length) touches one of `blocks`. */
function touches(blocks: number[], offset: number, length: number): boolean {
  return blocks.some((block) => offset < (block + 1) * BLOCK && offset + length > block * BLOCK);
}

/** fault-fs's option for a list of blocks: '--read-eio 7 --read-eio 9'... */
function blockOptions(option: string, blocks: number[]): string[] {
  return blocks.flatMap((block) => [option, String(block)]);
}

interface ReadOp { offset: number; length: number; vectored: boolean }

/**
 * The reads of the storm: every block alone, then 16 KiB and 64 KiB reads at
 * every 3rd and 7th block (many straddling a bad block's edge), then
 * two-buffer readvAt calls.
 */
function readStorm(blocks: number): ReadOp[] {
  const ops: ReadOp[] = [];
  for (let b = 0; b < blocks; b++) ops.push({ offset: b * BLOCK, length: BLOCK, vectored: false });
  for (let b = 0; b + 4 <= blocks; b += 3) ops.push({ offset: b * BLOCK, length: 4 * BLOCK, vectored: false });
  for (let b = 0; b + 16 <= blocks; b += 7) ops.push({ offset: b * BLOCK, length: 16 * BLOCK, vectored: false });
  for (let b = 1; b + 2 <= blocks; b += 5) ops.push({ offset: b * BLOCK, length: 2 * BLOCK, vectored: true });
  return ops;
}

describe('device faults injected by a FUSE filesystem', function () {
  this.timeout(120_000);
  withFaultFs((faultFs) => {
    it('a direct open of the FUSE file works, and every read reaches the device (no page cache)', async () => {
      const mounted = await FaultFs.mount(faultFs(), 16, 7n, []);
      const file = await open(mounted.file, 'r+');
      try {
        expect(file.direct).to.equal(true);
        const buffer = allocAligned(BLOCK);
        for (let i = 0; i < 3; i++) {
          buffer.fill(0);
          expect(await file.readAt(buffer, 5 * BLOCK)).to.equal(BLOCK);
          expect(checkPattern(buffer, 5 * BLOCK, 7n)).to.equal(-1);
        }
      } finally {
        await file.close();
      }
      // Three reads of one block, three requests: nothing was served from a cache.
      expect((await mounted.stop()).reads).to.equal(3);
    });

    forEachEngine('faults', ({ ring, engine }) => {
      for (const syncDio of [false, true]) {
        const mode = syncDio ? 'synchronous direct I/O in the kernel (no FUSE_ASYNC_DIO)' : 'FUSE_ASYNC_DIO';
        it(`reads, ${mode}: exactly the reads touching a bad block reject with EIO, the others resolve with their bytes`, async () => {
          const blocks = 256;
          const seed = 0x97n << 40n;
          const bad = [7, 64, 65, 66, 200, 255];
          const mounted = await FaultFs.mount(faultFs(), blocks, seed,
            [...blockOptions('--read-eio', bad), ...(syncDio ? ['--sync-dio'] : [])]);
          const file = await open(mounted.file, 'r+', { ring: ring() });
          const before = ring().stats();
          const ops = readStorm(blocks);
          try {
            expect(file.alignment.offset).to.equal(BLOCK); // st_blksize: FUSE reports no direct-I/O alignment
            const buffers = ops.map((op) => allocAligned(op.length).fill(0xaa));
            const settled = await Promise.allSettled(ops.map((op, i) => op.vectored
              ? file.readvAt([buffers[i].subarray(0, BLOCK), buffers[i].subarray(BLOCK)], op.offset)
              : file.readAt(buffers[i], op.offset)));

            let failed = 0;
            settled.forEach((outcome, i) => {
              const { offset, length, vectored } = ops[i];
              const what = `${vectored ? 'readvAt' : 'readAt'} of ${length} at ${offset}`;
              if (touches(bad, offset, length)) {
                failed++;
                expect(outcome.status, what).to.equal('rejected');
                const error = (outcome as PromiseRejectedResult).reason as NodeJS.ErrnoException;
                expect(error, what).to.be.instanceOf(Error);
                expect(error.code, what).to.equal('EIO');
                expect(error.errno, what).to.equal(-5);
                expect(error.syscall, what).to.equal('read');
                expect(error.path, what).to.equal(mounted.file);
                expect(error.message, what).to.equal(`EIO: i/o error, read '${mounted.file}' (${length} bytes at offset ${offset})`);
              } else {
                expect(outcome.status, `${what}: ${String((outcome as PromiseRejectedResult).reason)}`).to.equal('fulfilled');
                expect((outcome as PromiseFulfilledResult<number>).value, what).to.equal(length);
                expect(checkPattern(buffers[i], offset, seed), what).to.equal(-1);
              }
            });
            expect(failed).to.be.greaterThan(bad.length); // the storm did hit every bad block, several times
            const after = ring().stats();
            expect(after.errors - before.errors).to.equal(failed);
            expect(after.completed - before.completed).to.equal(ops.length);

            // The same ring goes on: every good block once more, on the same file...
            const again = allocAligned(BLOCK);
            for (let b = 0; b < blocks; b++) {
              if (touches(bad, b * BLOCK, BLOCK)) continue;
              again.fill(0);
              expect(await file.readAt(again, b * BLOCK), `block ${b}`).to.equal(BLOCK);
              expect(checkPattern(again, b * BLOCK, seed), `block ${b}`).to.equal(-1);
            }
          } finally {
            await file.close();
          }
          // ...and on a file elsewhere.
          await roundTrip(ring(), engine);
          expect(ring().stats()).to.include({ inFlight: 0, queued: 0 });
          // Every op was exactly one request (direct, uncached, unsplit), and
          // each failed op was one request that the device failed: no retry.
          const served = await mounted.stop();
          expect(served.reads).to.equal(ops.length + blocks - bad.length);
          const expected = ops.filter((op) => touches(bad, op.offset, op.length))
            .map((op) => `read EIO ${op.offset} ${op.length}`);
          expect([...mounted.faults].sort()).to.deep.equal(expected.sort());
        });
      }

      it('writes: those touching a bad block reject with EIO, one in an ENOSPC range with ENOSPC, the others land', async () => {
        const blocks = 64;
        const old = 1n << 40n;
        const seed = 2n << 40n;
        const eio = [10, 11, 40];
        const enospc = [20];
        const mounted = await FaultFs.mount(faultFs(), blocks, old,
          [...blockOptions('--write-eio', eio), ...blockOptions('--write-enospc', enospc)]);
        const file = await open(mounted.file, 'r+', { ring: ring() });
        // One write per block, then 8 KiB writes at odd blocks (so several straddle a bad block).
        const ops: { offset: number; length: number }[] = [];
        for (let b = 0; b < blocks; b++) ops.push({ offset: b * BLOCK, length: BLOCK });
        for (let b = 1; b + 2 <= blocks; b += 4) ops.push({ offset: b * BLOCK, length: 2 * BLOCK });
        let settled: PromiseSettledResult<number>[];
        try {
          settled = await Promise.allSettled(ops.map((op) =>
            file.writeAt(fillPattern(allocAligned(op.length), op.offset, seed), op.offset)));
        } finally {
          await file.close();
        }
        const landed = new Set<number>();
        settled.forEach((outcome, i) => {
          const { offset, length } = ops[i];
          const what = `writeAt of ${length} at ${offset}`;
          const code = touches(eio, offset, length) ? 'EIO' : touches(enospc, offset, length) ? 'ENOSPC' : undefined;
          if (code === undefined) {
            expect(outcome.status, `${what}: ${String((outcome as PromiseRejectedResult).reason)}`).to.equal('fulfilled');
            expect((outcome as PromiseFulfilledResult<number>).value, what).to.equal(length);
            for (let b = offset / BLOCK; b < (offset + length) / BLOCK; b++) landed.add(b);
            return;
          }
          expect(outcome.status, what).to.equal('rejected');
          const error = (outcome as PromiseRejectedResult).reason as NodeJS.ErrnoException;
          expect(error.code, what).to.equal(code);
          expect(error.errno, what).to.equal(code === 'EIO' ? -5 : -28);
          expect(error.syscall, what).to.equal('write');
          expect(error.path, what).to.equal(mounted.file);
        });
        // Written blocks hold the new pattern, the others the old one, byte for byte.
        const onDevice = fs.readFileSync(mounted.backing);
        expect(onDevice.length).to.equal(blocks * BLOCK);
        for (let b = 0; b < blocks; b++) {
          const block = onDevice.subarray(b * BLOCK, (b + 1) * BLOCK);
          expect(checkPattern(block, b * BLOCK, landed.has(b) ? seed : old), `block ${b}`).to.equal(-1);
        }
        expect(landed.size).to.equal(blocks - eio.length - enospc.length);
        await roundTrip(ring(), engine);
        // One request per write, and each failed one failed at the device.
        expect((await mounted.stop()).writes).to.equal(ops.length);
        const expected = ops.flatMap((op) => touches(eio, op.offset, op.length) ? [`write EIO ${op.offset} ${op.length}`]
          : touches(enospc, op.offset, op.length) ? [`write ENOSPC ${op.offset} ${op.length}`] : []);
        expect([...mounted.faults].sort()).to.deep.equal(expected.sort());
      });

      it('fdatasync and fsync failing with EIO reject with their syscall; reads go on', async () => {
        const mounted = await FaultFs.mount(faultFs(), 8, 3n, ['--fsync-eio']);
        // A file remembers its first failed sync (test 34), so each syscall gets a file of its own.
        for (const [method, syscall] of [['datasync', 'fdatasync'], ['sync', 'fsync']] as const) {
          const file = await open(mounted.file, 'r+', { ring: ring() });
          try {
            expect(await file.writeAt(fillPattern(allocAligned(BLOCK), 0, 4n), 0)).to.equal(BLOCK);
            let error: NodeJS.ErrnoException | undefined;
            await file[method]().catch((e: NodeJS.ErrnoException) => { error = e; });
            expect(error, syscall).to.be.instanceOf(Error);
            expect(error!.code, syscall).to.equal('EIO');
            expect(error!.errno, syscall).to.equal(-5);
            expect(error!.syscall, syscall).to.equal(syscall);
            expect(error!.path, syscall).to.equal(mounted.file);
            const buffer = allocAligned(2 * BLOCK);
            expect(await file.readAt(buffer, 0)).to.equal(2 * BLOCK);
            expect(checkPattern(buffer.subarray(0, BLOCK), 0, 4n)).to.equal(-1);
            expect(checkPattern(buffer.subarray(BLOCK), BLOCK, 3n)).to.equal(-1);
          } finally {
            await file.close();
          }
        }
        await mounted.stop();
        expect(mounted.faults).to.deep.equal(['fdatasync EIO', 'fsync EIO']);
      });

      it('a device that stops answering: the stuck read fails when it goes away, other reads are unaffected', async () => {
        const blocks = 32;
        const seed = 5n << 40n;
        const mounted = await FaultFs.mount(faultFs(), blocks, seed, ['--read-hang', '9', '--hang-limit', String(HANG_LIMIT)]);
        const file = await open(mounted.file, 'r+', { ring: ring() });
        let closeOutcome: NodeJS.ErrnoException | undefined;
        try {
          const events: string[] = [];
          const stuck = file.readAt(allocAligned(BLOCK), 9 * BLOCK);
          const stuckOutcome = stuck.then(() => undefined, (error: NodeJS.ErrnoException) => error)
            .finally(() => events.push('the stuck read ended'));
          await mounted.waitFor((line) => line === `hang read ${9 * BLOCK} ${BLOCK}`);
          // While it is stuck, the other blocks of the same file still read, through the same ring.
          const buffers = Array.from({ length: blocks }, () => allocAligned(BLOCK));
          const others = [...Array(blocks).keys()].filter((b) => b !== 9);
          expect(await Promise.all(others.map((b) => file.readAt(buffers[b], b * BLOCK)))).to.deep.equal(
            others.map(() => BLOCK));
          for (const b of others) expect(checkPattern(buffers[b], b * BLOCK, seed), `block ${b}`).to.equal(-1);
          events.push('the other reads completed');
          expect(ring().stats().inFlight).to.equal(1);
          // The device goes away (its daemon is killed): the kernel ends the stuck request.
          mounted.child.kill('SIGKILL');
          const error = await stuckOutcome;
          expect(events).to.deep.equal(['the other reads completed', 'the stuck read ended']);
          expect(error, 'the stuck read resolved').to.be.instanceOf(Error);
          expect(error!.code).to.equal('ECONNABORTED');
          expect(error!.syscall).to.equal('read');
          expect(error!.path).to.equal(mounted.file);
          // Later ops on the dead mount fail at once, the same way.
          const later = await file.readAt(allocAligned(BLOCK), 0).catch((e: NodeJS.ErrnoException) => e);
          expect(later).to.be.instanceOf(Error).with.property('code', 'ENOTCONN');
        } finally {
          closeOutcome = await file.close().then(() => undefined, (e: NodeJS.ErrnoException) => e);
        }
        // close(2) flushes through the dead connection too, and says so; the descriptor is released all the same.
        expect(closeOutcome).to.be.instanceOf(Error);
        expect(closeOutcome).to.include({ code: 'ENOTCONN', syscall: 'close', path: mounted.file });
        await roundTrip(ring(), engine);
        expect(ring().stats()).to.include({ inFlight: 0, queued: 0 });
      });

      it('a device that stops answering, direct I/O synchronous in the kernel: with inlineMax 0 the event loop runs on', async () => {
        // Without FUSE_ASYNC_DIO the kernel waits for the device inside
        // io_submit(2) / io_uring_enter(2), so the thread that submits is stuck
        // until the device answers. inlineMax 0 makes that the ring's own thread.
        const mounted = await FaultFs.mount(faultFs(), 8, 6n,
          ['--read-hang', '2', '--sync-dio', '--hang-limit', String(HANG_LIMIT)]);
        const stuckRing = new Ring({ engine, entries: 8, inlineMax: 0 });
        try {
          const file = await open(mounted.file, 'r+', { ring: stuckRing });
          const events: string[] = [];
          const stuck = file.readAt(allocAligned(BLOCK), 2 * BLOCK).then(() => undefined, (e: NodeJS.ErrnoException) => e)
            .finally(() => events.push('the stuck read ended'));
          // Reading the daemon's line needs the event loop; so does I/O on another ring.
          await mounted.waitFor((line) => line === `hang read ${2 * BLOCK} ${BLOCK}`);
          await roundTrip(ring(), engine);
          events.push('I/O on another ring completed');
          expect(stuckRing.stats().inFlight).to.equal(1);
          mounted.child.kill('SIGKILL');
          const error = await stuck;
          // A blocked event loop would have run nothing until the daemon ended the hang by itself.
          expect(events).to.deep.equal(['I/O on another ring completed', 'the stuck read ended']);
          expect(error, 'the stuck read resolved').to.be.instanceOf(Error);
          expect(error).to.include({ code: 'ECONNABORTED', syscall: 'read', path: mounted.file });
          await file.close().catch(() => undefined); // ENOTCONN: the device is gone (see above)
        } finally {
          await mounted.stop();
          await stuckRing.close();
        }
      });
    });
  });
});

/** Writes and reads back 64 blocks on tmpfs (or the temporary directory) through `ring`. */
async function roundTrip(ring: Ring, engine: string): Promise<void> {
  const where = path.join(fs.existsSync(SHM_DIR) ? SHM_DIR : os.tmpdir(), `odirect-test-${process.pid}-${engine}-after`);
  const file = await open(where, 'w+', { ring });
  try {
    const out = fillPattern(allocAligned(64 * BLOCK), 0, 9n);
    const back = allocAligned(64 * BLOCK);
    const blocks = [...Array(64).keys()];
    expect(await Promise.all(blocks.map((b) => file.writeAt(out.subarray(b * BLOCK, (b + 1) * BLOCK), b * BLOCK))))
      .to.deep.equal(blocks.map(() => BLOCK));
    expect(await Promise.all(blocks.map((b) => file.readAt(back.subarray(b * BLOCK, (b + 1) * BLOCK), b * BLOCK))))
      .to.deep.equal(blocks.map(() => BLOCK));
    expect(checkPattern(back, 0, 9n)).to.equal(-1);
  } finally {
    await file.close();
    fs.rmSync(where, { force: true });
  }
}
