import { expect } from 'chai';
import childProcess = require('child_process');
import fs = require('fs');
import path = require('path');
import { allocAligned, open, Ring } from 'odirect';
import { availableEngines, tempPath, cleanup, fillPattern, SHM_DIR } from './helpers';

const root = path.resolve(path.dirname(require.resolve('odirect')), '..');

/** Builds test/fixtures/fork.c (fork, waitpid, _exit for JS) once; null with the reason where it cannot. */
function buildForkAddon(): { path: string } | { reason: string } {
  const headers = path.resolve(path.dirname(process.execPath), '..', 'include', 'node');
  if (!fs.existsSync(path.join(headers, 'node_api.h'))) return { reason: `no Node headers in ${headers}` };
  const output = path.join(root, 'build', 'fork.node');
  const result = childProcess.spawnSync('cc', ['-shared', '-fPIC', '-O2', `-I${headers}`, '-o', output,
    path.join(root, 'test', 'fixtures', 'fork.c')], { encoding: 'utf8' });
  if (result.status !== 0) return { reason: `cannot compile the fork helper: ${result.stderr || result.error}` };
  return { path: output };
}

describe('fork() of a process with active rings', () => {
  const addon = buildForkAddon();
  let data: string;
  before(async () => {
    data = tempPath(SHM_DIR, 'fork');
    const file = await open(data, 'w', { ring: new Ring({ entries: 4 }) });
    await file.writeAt(fillPattern(allocAligned(1 << 20), 0, 9n), 0);
    await file.close();
  });
  after(cleanup);

  for (const engine of availableEngines) {
    it(`[${engine}] a child forked with I/O in flight exits cleanly, and the parent's ops complete`, function () {
      if ('reason' in addon) this.skip();
      const script = `
        const { open, allocAligned, Ring } = require(${JSON.stringify(root)});
        const native = require(${JSON.stringify(addon.path)});
        const good = (b, at) => { for (let i = 0; i < b.length; i += 8) if (b.readBigUInt64LE(i) !== BigInt(at + i) + 9n) return false; return true; };
        (async () => {
          const ring = new Ring({ engine: ${JSON.stringify(engine)}, entries: 64 });
          const file = await open(${JSON.stringify(data)}, 'r', { ring });
          // 100 reads: 64 handed to the engine, some not yet flushed, the rest waiting in JS.
          const inflight = Array.from({ length: 100 }, (_, i) => {
            const b = allocAligned(4096);
            const at = (i % 256) * 4096;
            return file.readAt(b, at).then((n) => n === 4096 && good(b, at));
          });
          const statuses = [native.forkExit(0), native.forkExit(7)];
          const results = await Promise.all(inflight);
          const b = allocAligned(4096);
          const n = await file.readAt(b, 8192);
          await file.close();
          await ring.close();
          console.log(JSON.stringify({ statuses, good: results.filter(Boolean).length, after: n === 4096 && good(b, 8192) }));
        })().catch((e) => { console.error(e); process.exit(3); });`;
      const result = childProcess.spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
      expect(result.status, result.stderr).to.equal(0);
      const outcome = JSON.parse(result.stdout.trim().split('\n').pop()!);
      // Raw wait statuses: exit code << 8, no signal.
      expect(outcome.statuses).to.deep.equal([0, 7 << 8]);
      expect(outcome.good).to.equal(100);
      expect(outcome.after).to.equal(true);
    });

    it(`[${engine}] a process spawned with I/O in flight inherits no descriptor of the ring or its files`, async () => {
      const ring = new Ring({ engine, entries: 64 });
      const file = await open(data, 'r', { ring });
      const inflight = Array.from({ length: 64 }, (_, i) => file.readAt(allocAligned(4096), i * 4096));
      // The child lists its own descriptors and where they lead.
      const listing = childProcess.execFileSync('sh', ['-c', 'for f in /proc/$$/fd/*; do readlink "$f"; done; true'],
        { encoding: 'utf8' });
      expect(await Promise.all(inflight)).to.deep.equal(new Array(64).fill(4096));
      await file.close();
      await ring.close();
      expect(listing).to.not.include('io_uring');
      expect(listing).to.not.include('eventfd');
      expect(listing).to.not.include(data);
    });
  }
});
