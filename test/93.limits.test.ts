// Resource limits: far more ops than a ring holds, the descriptor limit, the
// machine's AIO event limit (fs.aio-max-nr), and a full filesystem. At each
// limit the caller gets a clean error with the right code, the process does
// not crash, and what was done before the limit is intact and keeps working.
import { expect } from 'chai';
import fs = require('fs');
import os = require('os');
import path = require('path');
import { allocAligned, open, DirectFile, Ring } from 'odirect';
import {
  addonWithoutLiburing, availableEngines, checkPattern, cleanup, DISK_DIR, fillPattern, forEachEngine, ioUringCodeFor, isRoot, SHM_DIR,
  tempPath,
} from './helpers';
import { describeChild, ENTRY, runSync } from './reliability-helpers';

// losetup, mkfs.ext4, mount and prlimit live in /sbin and /usr/sbin, which a non-login PATH may lack.
const PATH_WITH_SBIN = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`;
const toolEnv = { ...process.env, PATH: PATH_WITH_SBIN };

/** Whether `tool` is on the PATH (with the sbin directories). */
function have(tool: string): boolean {
  return runSync('sh', ['-c', `command -v ${tool}`], { env: toolEnv, timeoutMs: 30_000 }).status === 0;
}

/** Runs a command; fails the test, naming it, when it does not succeed. */
function mustRun(command: string, args: string[]): string {
  const result = runSync(command, args, { env: toolEnv, timeoutMs: 60_000 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${describeChild(result)}`);
  return result.stdout.trim();
}

/** The block size for per-op I/O on `file`: its direct-I/O alignment, at least 512. */
function blockOf(file: DirectFile): number {
  return Math.max(512, file.alignment.offset, file.alignment.memory);
}

describe('resource limits', function () {
  // Hang guards: each child and command has its own, shorter.
  this.timeout(180_000);
  after(() => cleanup());

  forEachEngine('50,000 ops through an 8-entry ring', ({ engine }) => {
    // On tmpfs: what is tested is the queue in front of the engine, not the device.
    it('reads, writes and datasyncs queued in one tick all settle once, each with its own bytes', async () => {
      const ops = 50_000;
      const fileBlocks = 2048;
      const ring = new Ring({ engine, entries: 8 });
      const sourcePath = tempPath(SHM_DIR, 'limits-source');
      const targetPath = tempPath(SHM_DIR, 'limits-target');
      const seed = 0x50000n << 40n;
      try {
        const probe = await open(targetPath, 'w+', { ring });
        const block = blockOf(probe);
        await probe.close();
        fs.writeFileSync(sourcePath, fillPattern(Buffer.alloc(fileBlocks * block), 0));
        const source = await open(sourcePath, 'r', { ring });
        const target = await open(targetPath, 'r+', { ring });
        // Half the ops read a block of the source, each into a region of its own; half write a
        // block of the target (the same bytes for the same block, so their order does not
        // matter); a datasync every 5,000.
        const reads = ops / 2;
        const readInto = allocAligned(reads * block).fill(0xa5);
        const writeFrom = fillPattern(allocAligned(fileBlocks * block), 0, seed);
        const settled = new Uint8Array(ops);
        let wrongCounts = 0;
        let syncs = 0;
        const promises: Promise<unknown>[] = [];
        for (let i = 0; i < ops; i++) {
          const n = i >> 1;
          const b = n % fileBlocks;
          const op = i % 2 === 0
            ? source.readAt(readInto.subarray(n * block, (n + 1) * block), b * block)
            : target.writeAt(writeFrom.subarray(b * block, (b + 1) * block), b * block);
          promises.push(op.then((bytes) => {
            settled[i]++;
            if (bytes !== block) wrongCounts++;
          }));
          if (i % 5000 === 4999) {
            syncs++;
            promises.push(target.datasync());
          }
        }
        const afterQueueing = ring.stats();
        await Promise.all(promises);
        await new Promise(setImmediate);  // room for a stray second settlement to show
        await source.close();
        await target.close();
        expect(afterQueueing.inFlight, 'ops in the engine').to.be.at.most(8);
        // The datasyncs, all called in one tick, start one shared sync at its end (group commit).
        expect(afterQueueing.inFlight + afterQueueing.queued, 'ops accepted').to.equal(ops);
        expect(settled.every((count) => count === 1), 'every op settled exactly once').to.equal(true);
        expect(wrongCounts).to.equal(0);
        for (let n = 0; n < reads; n++) {
          const at = (n % fileBlocks) * block;
          const wrong = checkPattern(readInto.subarray(n * block, (n + 1) * block), at);
          if (wrong !== -1) expect.fail(`read ${n} (block ${n % fileBlocks}) holds the wrong bytes at file offset ${wrong}`);
        }
        const written = fs.readFileSync(targetPath);
        expect(written.length).to.equal(fileBlocks * block);
        expect(checkPattern(written, 0, seed), 'first wrong byte written').to.equal(-1);
        const stats = ring.stats();
        expect(stats.syncsRequested).to.equal(syncs);
        expect(stats.syncsIssued).to.equal(1);
        expect(stats.completed).to.equal(ops + 1);
        expect(stats.errors).to.equal(0);
        expect(stats.inFlight + stats.queued).to.equal(0);
      } finally {
        await ring.close();
      }
    });
  });

  describe('the descriptor limit (RLIMIT_NOFILE)', () => {
    const usePrlimit = have('prlimit');
    const LIMIT = 64;

    forEachEngine(`open() until EMFILE in a child with ${LIMIT} descriptors`, ({ engine }) => {
      it('rejects with EMFILE, starts no engine without leaking, and I/O on open files goes on', () => {
        const patternPath = tempPath(DISK_DIR, 'emfile');
        fs.writeFileSync(patternPath, fillPattern(Buffer.alloc(64 * 4096), 0));
        const script = `
          const fs = require('fs');
          const od = require(${JSON.stringify(ENTRY)});
          const PATH = ${JSON.stringify(patternPath)};
          const ENGINE = ${JSON.stringify(engine)};
          const shape = (e) => ({ isError: e instanceof Error, code: e.code, errno: e.errno, syscall: e.syscall,
            path: e.path, message: e.message });
          function checkPattern(buffer, fileOffset) {
            for (let i = 0; i + 8 <= buffer.length; i += 8) {
              if (buffer.readBigUInt64LE(i) !== BigInt(fileOffset + i)) return fileOffset + i;
            }
            return -1;
          }
          async function readBlock(file, k) {
            const buffer = od.allocAligned(4096);
            const bytes = await file.readAt(buffer, k * 4096);
            return bytes === 4096 && checkPattern(buffer, k * 4096) === -1;
          }
          (async () => {
            const report = {};
            const ring = new od.Ring({ engine: ENGINE, entries: 16 });
            const files = [];
            for (let i = 0; i < 1000 && report.openError === undefined; i++) {
              try { files.push(await od.open(PATH, 'r', { ring })); } catch (error) { report.openError = shape(error); }
            }
            report.opened = files.length;
            // At the limit: a new ring of every kind, auto (every engine tried, as without
            // ODIRECT_ENGINE), and the default ring (ODIRECT_ENGINE's engine) fail cleanly.
            report.ringErrors = {};
            for (const engine of ['io_uring', 'aio', 'threadpool', 'auto']) {
              if (engine === 'auto') delete process.env.ODIRECT_ENGINE;
              try { new od.Ring({ engine, entries: 4 }); report.ringErrors[engine] = 'started'; }
              catch (error) { report.ringErrors[engine] = shape(error); }
            }
            process.env.ODIRECT_ENGINE = ENGINE;
            try { await od.open(PATH, 'r'); report.defaultRingOpen = 'opened'; }
            catch (error) { report.defaultRingOpen = shape(error); }
            // I/O on the files already open goes on, at the limit, many reads at once.
            const reads = await Promise.all(files.map((file, k) => readBlock(file, k % 64)));
            report.readsAtLimit = reads.filter(Boolean).length;
            // With one descriptor free, an io_uring ring starts: the ring's own descriptor is
            // all it takes (no eventfd). Closed, it gives that one back.
            await files.pop().close();
            try {
              const one = new od.Ring({ engine: 'io_uring', entries: 4 });
              report.oneFree = 'started';
              try { fs.openSync(PATH, 'r'); report.besideOne = 'opened'; } catch (error) { report.besideOne = error.code; }
              await one.close();
            } catch (error) { report.oneFree = shape(error); }
            let reopened = 0;
            const extra = [];
            try { for (;;) { extra.push(fs.openSync(PATH, 'r')); reopened++; } } catch (error) { report.afterOneFree = error.code; }
            for (const fd of extra) fs.closeSync(fd);
            report.reopened = reopened;
            // Close a few: open() works again, on this ring, with the right bytes.
            for (const file of files.splice(-4)) await file.close();
            const again = await od.open(PATH, 'r', { ring });
            report.againRead = await readBlock(again, 7);
            await again.close();
            for (const file of files) await file.close();
            await ring.close();
            console.log(JSON.stringify(report));
          })().catch((error) => { console.error(error); process.exitCode = 1; });
        `;
        const node = [process.execPath, '-e', script];
        const result = usePrlimit
          ? runSync('prlimit', [`--nofile=${LIMIT}:${LIMIT}`, ...node], { env: { ...toolEnv, ODIRECT_ENGINE: engine }, timeoutMs: 60_000 })
          : runSync('sh', ['-c', `ulimit -n ${LIMIT} && exec "$0" "$@"`, ...node],
            { env: { ...process.env, ODIRECT_ENGINE: engine }, timeoutMs: 60_000 });
        expect(result.signal, describeChild(result)).to.equal(null);
        expect(result.status, describeChild(result)).to.equal(0);
        const report = JSON.parse(result.stdout.trim().split('\n').pop()!);
        expect(report.opened, 'files opened before the limit').to.be.within(1, LIMIT);
        expect(report.openError).to.include({ isError: true, code: 'EMFILE', errno: -24, syscall: 'open', path: patternPath });
        const emfile = { isError: true, code: 'EMFILE', errno: -24 };
        // An addon built without liburing refuses io_uring with ENOSYS before it needs a descriptor.
        const uringRefusal = addonWithoutLiburing ? { isError: true, code: 'ENOSYS', errno: -38 } : emfile;
        expect(report.ringErrors.io_uring).to.include({ ...uringRefusal, syscall: 'io_uring_setup' });
        expect(report.ringErrors.aio).to.include({ ...emfile, syscall: 'io_setup' });
        expect(report.ringErrors.threadpool).to.include(emfile);
        expect(report.ringErrors.auto).to.include({ ...emfile, syscall: 'ring' });
        expect(report.ringErrors.auto.message).to.include('no engine can start here');
        expect(report.defaultRingOpen).to.include(emfile);
        expect(report.defaultRingOpen.message).to.include(`the ${engine} engine cannot start`);
        expect(report.readsAtLimit, 'reads at the limit with the right bytes').to.equal(report.opened);
        // io_uring needs one descriptor, the ring's own: it took the last one free.
        if (addonWithoutLiburing) {
          expect(report.oneFree).to.include({ ...uringRefusal, syscall: 'io_uring_setup' });
        } else {
          expect(report.oneFree).to.equal('started');
          expect(report.besideOne, 'a descriptor beside the ring').to.equal('EMFILE');
        }
        expect(report.reopened, 'descriptors free once that ring is closed').to.equal(1);
        expect(report.afterOneFree).to.equal('EMFILE');
        expect(report.againRead).to.equal(true);
        console.log(`        ${engine}: ${report.opened} files opened, then EMFILE; ${report.readsAtLimit} reads at the limit`);
      });
    });
  });

  describe('fs.aio-max-nr exhausted', () => {
    const MAX = '/proc/sys/fs/aio-max-nr';
    let original: string | undefined;
    let helper: string | undefined;
    let skipReason: string | undefined;

    before(() => {
      if (!isRoot) skipReason = 'needs root to lower fs.aio-max-nr';
      else if (!availableEngines.includes('aio')) skipReason = 'the aio engine cannot start here';
      else if (!have('cc')) skipReason = 'needs cc to build the seccomp helper that keeps io_uring from starting';
      if (skipReason !== undefined) return;
      const binary = path.join(os.tmpdir(), `odirect-test-${process.pid}-seccomp-exec`);
      const built = runSync('cc', ['-O2', '-o', binary, path.join(path.dirname(ENTRY), '..', 'test', 'fixtures', 'seccomp-exec.c')],
        { timeoutMs: 120_000 });
      const check = runSync(binary, ['--deny', 'io_uring_setup=EPERM', '--', 'true'], { timeoutMs: 30_000 });
      if (built.status !== 0) skipReason = `cannot build the seccomp helper: ${built.stderr}`;
      else if (check.status !== 0) skipReason = 'this kernel does not let a process install a seccomp filter';
      else helper = binary;
      original = fs.readFileSync(MAX, 'utf8').trim();
    });

    // Whatever happened, the machine gets its limit back.
    after(() => {
      if (original !== undefined && fs.readFileSync(MAX, 'utf8').trim() !== original) fs.writeFileSync(MAX, original);
      if (helper !== undefined) fs.rmSync(helper, { force: true });
    });

    it('new Ring({ engine: \'aio\' }) fails with EAGAIN naming fs.aio-max-nr, and \'auto\' falls back to threadpool', function () {
      if (skipReason !== undefined) {
        console.log(`      (skipped: ${skipReason})`);
        this.skip();
      }
      const patternPath = tempPath(DISK_DIR, 'aio-max-nr');
      fs.writeFileSync(patternPath, fillPattern(Buffer.alloc(16 * 4096), 0));
      // The child lowers the limit only around the ring starts, and restores it in a finally;
      // the test restores it too, in case the child dies in between.
      const script = `
        const fs = require('fs');
        const od = require(${JSON.stringify(ENTRY)});
        const shape = (e) => ({ isError: e instanceof Error, code: e.code, errno: e.errno, syscall: e.syscall, message: e.message });
        (async () => {
          const report = {};
          const original = fs.readFileSync(${JSON.stringify(MAX)}, 'utf8').trim();
          let auto;
          let fallback;
          // A context of its own in use, so that the limit is exhausted by what exists.
          const held = new od.Ring({ engine: 'aio', entries: 64 });
          try {
            report.lowered = fs.readFileSync('/proc/sys/fs/aio-nr', 'utf8').trim();
            fs.writeFileSync(${JSON.stringify(MAX)}, report.lowered);
            try { new od.Ring({ engine: 'aio', entries: 32768 }); report.aio = 'started'; }
            catch (error) { report.aio = shape(error); }
            auto = new od.Ring({ engine: 'auto', entries: 32768 });
            fallback = od.defaultRing();
          } finally {
            fs.writeFileSync(${JSON.stringify(MAX)}, original);
          }
          report.restored = fs.readFileSync(${JSON.stringify(MAX)}, 'utf8').trim() === original;
          report.auto = { engine: auto.engine, passedOver: auto.passedOver.map((a) => ({ engine: a.engine, ...shape(a.error) })) };
          report.defaultRing = { engine: fallback.engine, passedOver: fallback.passedOver.map((a) => a.engine + ' ' + a.error.code) };
          // The ring it fell back to, and the aio ring that existed before, both do I/O.
          for (const [name, ring] of [['auto', auto], ['held', held]]) {
            const file = await od.open(${JSON.stringify(patternPath)}, 'r', { ring });
            const buffer = od.allocAligned(4096);
            report[name] = { ...report[name], bytes: await file.readAt(buffer, 4096), word: Number(buffer.readBigUInt64LE(8)) };
            await file.close();
            await ring.close();
          }
          console.log(JSON.stringify(report));
        })().catch((error) => { console.error(error); process.exitCode = 1; });
      `;
      let result: ReturnType<typeof runSync>;
      try {
        result = runSync(helper!, ['--deny', 'io_uring_setup=EPERM', '--', process.execPath, '-e', script],
          { env: { ...process.env, ODIRECT_ENGINE: '' }, timeoutMs: 60_000 });
      } finally {
        if (fs.readFileSync(MAX, 'utf8').trim() !== original) fs.writeFileSync(MAX, original!);
      }
      expect(fs.readFileSync(MAX, 'utf8').trim(), 'fs.aio-max-nr restored').to.equal(original);
      expect(result.signal, describeChild(result)).to.equal(null);
      expect(result.status, describeChild(result)).to.equal(0);
      const report = JSON.parse(result.stdout.trim().split('\n').pop()!);
      expect(report.restored).to.equal(true);
      expect(report.aio).to.include({ isError: true, code: 'EAGAIN', errno: -11, syscall: 'io_setup' });
      expect(report.aio.message).to.match(/^EAGAIN: the aio engine cannot start: fs\.aio-max-nr is exhausted \(\d+ of \d+ in use\)$/);
      expect(report.auto.engine).to.equal('threadpool');
      expect(report.auto.passedOver.map((a: { engine: string; code: string }) => `${a.engine} ${a.code}`))
        .to.deep.equal([`io_uring ${ioUringCodeFor('EPERM')}`, 'aio EAGAIN']);
      expect(report.auto.passedOver[1].message).to.include('fs.aio-max-nr');
      expect(report.defaultRing).to.deep.equal({ engine: 'threadpool', passedOver: [`io_uring ${ioUringCodeFor('EPERM')}`, 'aio EAGAIN'] });
      expect(Number(report.lowered), 'fs.aio-nr with the held context').to.be.at.least(64);
      for (const name of ['auto', 'held']) {
        expect(report[name].bytes, name).to.equal(4096);
        expect(report[name].word, name).to.equal(4096 + 8);
      }
      console.log(`      fs.aio-max-nr lowered to ${report.lowered}: ${report.aio.message}`);
    });
  });

  describe('a full filesystem (ENOSPC)', () => {
    const IMAGE_BYTES = 16 * 1024 * 1024;
    let image: string | undefined;
    let device: string | undefined;
    let mountPoint: string | undefined;
    let skipReason: string | undefined;

    before(() => {
      if (!isRoot) skipReason = 'needs root for losetup and mount';
      else {
        const missing = ['losetup', 'mkfs.ext4', 'mount', 'umount'].filter((tool) => !have(tool));
        if (missing.length > 0) skipReason = `${missing.join(', ')} not installed (Debian: mount, e2fsprogs)`;
      }
      if (skipReason !== undefined) return;
      image = path.join(os.tmpdir(), `odirect-test-${process.pid}-enospc.img`);
      fs.writeFileSync(image, '');
      fs.truncateSync(image, IMAGE_BYTES);
      const attached = runSync('losetup', ['--find', '--show', image], { env: toolEnv, timeoutMs: 60_000 });
      if (attached.status !== 0 || !attached.stdout.startsWith('/dev/')) {
        skipReason = `no loop device: ${attached.stderr.trim()}`;
        return;
      }
      device = attached.stdout.trim();
      mustRun('mkfs.ext4', ['-q', '-F', device]);
      mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), `odirect-test-${process.pid}-enospc-`));
      mustRun('mount', [device, mountPoint]);
    });

    after(() => {
      // Undo whatever before() got to, after a failure too.
      if (mountPoint !== undefined) {
        if (runSync('umount', [mountPoint], { env: toolEnv, timeoutMs: 60_000 }).status !== 0) {
          runSync('umount', ['-l', mountPoint], { env: toolEnv, timeoutMs: 60_000 });
        }
        fs.rmSync(mountPoint, { recursive: true, force: true });
      }
      if (device !== undefined) runSync('losetup', ['-d', device], { env: toolEnv, timeoutMs: 60_000 });
      if (image !== undefined) fs.rmSync(image, { force: true });
    });

    forEachEngine('writing until ENOSPC', ({ ring }) => {
      it('the error reaches the caller as ENOSPC, the data written before is intact, and the ring goes on', async function () {
        if (skipReason !== undefined) {
          console.log(`      (skipped: ${skipReason})`);
          this.skip();
        }
        const chunk = 64 * 1024;
        const inFlight = 16;
        const filePath = path.join(mountPoint!, 'fill');
        const keepPath = path.join(mountPoint!, 'keep');
        const afterPath = path.join(mountPoint!, 'after');
        const seed = 0xe05bcn << 40n;
        // A small file written first, to be read back after the filesystem is full.
        const keep = await open(keepPath, 'w+', { ring: ring() });
        const kept = fillPattern(allocAligned(chunk), 0, seed + 1n);
        expect(await keep.writeAt(kept, 0)).to.equal(chunk);
        const file = await open(filePath, 'w+', { ring: ring() });
        try {
          // Waves of concurrent writes at rising offsets, until some fail.
          const written = new Map<number, number>();   // offset -> bytes the write reported
          const errors: (Error & { code?: string; errno?: number; syscall?: string; path?: string })[] = [];
          for (let wave = 0; errors.length === 0; wave++) {
            expect(wave * inFlight * chunk, 'bytes written without ENOSPC').to.be.below(2 * IMAGE_BYTES);
            const writes = Array.from({ length: inFlight }, (_, k) => {
              const at = (wave * inFlight + k) * chunk;
              return file.writeAt(fillPattern(allocAligned(chunk), at, seed), at).then(
                (bytes) => { written.set(at, bytes); },
                (error: Error) => { errors.push(error); });
            });
            await Promise.all(writes);
          }
          for (const error of errors) {
            expect(error).to.be.instanceOf(Error);
            expect(error).to.include({ code: 'ENOSPC', errno: -28, syscall: 'write', path: filePath });
            expect(error.message).to.match(/^ENOSPC: no space left on device, write /);
          }
          // Every write that succeeded, in full or in part, reads back intact.
          const back = allocAligned(chunk);
          let bytesChecked = 0;
          for (const [at, bytes] of written) {
            expect(bytes % 512, `write at ${at} reported ${bytes}`).to.equal(0);
            back.fill(0xa5);
            expect(await file.readAt(back, at, bytes)).to.equal(bytes);
            expect(checkPattern(back, at, seed, bytes), `data written at ${at}`).to.equal(-1);
            bytesChecked += bytes;
          }
          expect(bytesChecked).to.be.above(IMAGE_BYTES / 2);
          console.log(`        ${(bytesChecked / 2 ** 20).toFixed(1)} MiB written and read back intact, ` +
            `${[...written.values()].filter((bytes) => bytes < chunk).length} short writes, ${errors.length} writes rejected with ENOSPC`);
          expect(await keep.readAt(back, 0)).to.equal(chunk);
          expect(checkPattern(back, 0, seed + 1n)).to.equal(-1);
          // Room again: a new file on the same ring takes writes, and they read back.
          await keep.close();
          fs.rmSync(keepPath);
          const after = await open(afterPath, 'w+', { ring: ring() });
          try {
            const fresh = fillPattern(allocAligned(4096), 0, seed + 2n);
            expect(await after.writeAt(fresh, 0)).to.equal(4096);
            back.fill(0xa5);
            expect(await after.readAt(back, 0, 4096)).to.equal(4096);
            expect(checkPattern(back, 0, seed + 2n, 4096)).to.equal(-1);
          } finally {
            await after.close();
          }
          const stats = ring().stats();
          expect(stats.inFlight + stats.queued).to.equal(0);
        } finally {
          await file.close();
          if (!keep.closed) await keep.close();
          for (const leftover of [filePath, keepPath, afterPath]) fs.rmSync(leftover, { force: true });
        }
      });
    });
  });
});
