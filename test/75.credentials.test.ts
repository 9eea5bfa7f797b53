import { expect } from 'chai';
import childProcess = require('child_process');
import fs = require('fs');
import path = require('path');
import { Ring } from 'odirect';
import { cleanup, isRoot, noIoUringReason, SHM_DIR, skipBecause, tempPath } from './helpers';

const PACKAGE = path.resolve(__dirname, '../..');

/** Runs `body` (an async function's text) in a child Node as root; returns what it printed as JSON. */
function child(body: string): Record<string, unknown> {
  const script = `
    const { open, readAt, Ring, defaultRing, allocAligned } = require(${JSON.stringify(PACKAGE)});
    (async () => { ${body} })().then((report) => console.log(JSON.stringify(report)),
      (error) => { console.error(error); process.exit(3); });`;
  const result = childProcess.spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  expect(result.status, result.stderr).to.equal(0);
  return JSON.parse(result.stdout.trim().split('\n').pop()!);
}

describe('credentials: a process that gives up its rights after making a ring', () => {
  let file: string;
  before(function () {
    if (!isRoot) this.skip();  // needs to change user
    file = tempPath(SHM_DIR, 'secret');
    fs.writeFileSync(file, Buffer.alloc(8192, 0x5a), { mode: 0o600 });
  });
  after(cleanup);

  const ioUring = ((): boolean => {
    try {
      void new Ring({ engine: 'io_uring', entries: 4 }).close();
      return true;
    } catch {
      return false;
    }
  })();

  it('an io_uring ring refuses every op after setuid()/setgid() with EPERM, and the default ring replaces itself', function () {
    if (!ioUring) skipBecause(this, `${noIoUringReason()} (only io_uring keeps the creator's rights)`);
    const report = child(`
      const ring = new Ring({ engine: 'io_uring' });
      const file = await open(${JSON.stringify(file)}, 'r', { ring });
      const before = await file.readAt(allocAligned(4096), 0);
      const fd = require('fs').openSync(${JSON.stringify(file)}, require('fs').constants.O_RDONLY);
      const rawBefore = await readAt(fd, allocAligned(4096), 0);
      const oldDefault = defaultRing();
      const defaultFile = await open(${JSON.stringify(file)}, 'r');
      process.setgroups([65534]);
      process.setgid(65534);
      process.setuid(65534);
      const buffer = allocAligned(4096);
      const refused = await file.readAt(buffer, 0).then(() => null, (e) => ({ code: e.code, message: e.message }));
      const again = await file.readAt(buffer, 4096).then(() => null, (e) => e.code);
      // The default ring finds out at its next hand-over, then replaces itself.
      const firstRaw = await readAt(fd, allocAligned(4096), 0).then((n) => n, (e) => e.code);
      const newDefault = defaultRing();
      const raw = await readAt(fd, allocAligned(4096), 0);
      // A file opened on the old default ring keeps getting EPERM, not EBADF.
      const onOldDefault = [
        await defaultFile.readAt(allocAligned(4096), 0).then(() => 'read', (e) => e.code),
        await defaultFile.readAt(allocAligned(4096), 0).then(() => 'read', (e) => e.code),
      ];
      await defaultFile.close();
      await file.close();
      return {
        before, rawBefore, refused, again, untouched: buffer.every((b) => b === 0),
        changed: ring.credentialsChanged, oldChanged: oldDefault.credentialsChanged,
        firstRaw, replaced: newDefault !== oldDefault, newChanged: newDefault.credentialsChanged, raw, onOldDefault,
        reopen: await open(${JSON.stringify(file)}, 'r').then(() => 'opened', (e) => e.code),
      };`);
    expect(report.before).to.equal(4096);
    expect(report.rawBefore).to.equal(4096);
    expect(report.refused).to.deep.include({ code: 'EPERM' });
    expect((report.refused as { message: string }).message).to.include('changed its user or groups');
    expect(report.again).to.equal('EPERM');
    expect(report.untouched).to.equal(true);
    expect(report.changed).to.equal(true);
    expect(report.firstRaw).to.equal('EPERM');
    expect(report.oldChanged).to.equal(true);
    expect(report.replaced).to.equal(true);
    expect(report.newChanged).to.equal(false);
    expect(report.raw).to.equal(4096);
    expect(report.onOldDefault).to.deep.equal(['EPERM', 'EPERM']);
    expect(report.reopen).to.equal('EACCES');  // the new rights apply
  });

  it('a sync the io_uring ring refuses after setuid() is not remembered as a failed sync: nothing reached the kernel', function () {
    if (!ioUring) skipBecause(this, `${noIoUringReason()} (only io_uring keeps the creator's rights)`);
    const report = child(`
      const ring = new Ring({ engine: 'io_uring' });
      const file = await open(${JSON.stringify(file)}, 'r+', { ring });
      process.setgid(65534);
      process.setuid(65534);
      const shape = (e) => ({ code: e.code, syscall: e.syscall, credentials: e.message.includes('changed its user or groups'),
        remembered: e.message.includes('an earlier'), cause: e.cause === undefined ? 'none' : e.cause.code });
      const refused = [await file.datasync().then(() => 'resolved', shape), await file.sync().then(() => 'resolved', shape)];
      await file.close();
      return { refused };`);
    expect(report.refused).to.deep.equal([
      { code: 'EPERM', syscall: 'fdatasync', credentials: true, remembered: false, cause: 'none' },
      { code: 'EPERM', syscall: 'fsync', credentials: true, remembered: false, cause: 'none' },
    ]);
  });

  it('aio and threadpool rings keep working: their requests run with the process\'s current rights', () => {
    const report = child(`
      const out = {};
      for (const engine of ['aio', 'threadpool']) {
        let ring;
        try { ring = new Ring({ engine }); } catch { continue; }
        out[engine] = { file: await open(${JSON.stringify(file)}, 'r', { ring }), ring };
      }
      process.setgid(65534);
      process.setuid(65534);
      const result = {};
      for (const [engine, { file, ring }] of Object.entries(out)) {
        const buffer = allocAligned(4096);
        result[engine] = { n: await file.readAt(buffer, 0), byte: buffer[0], changed: ring.credentialsChanged };
        await file.close();
      }
      return result;`);
    expect(Object.keys(report).length).to.be.greaterThan(0);
    for (const [engine, outcome] of Object.entries(report)) {
      expect(outcome, engine).to.deep.equal({ n: 4096, byte: 0x5a, changed: false });
    }
  });
});
