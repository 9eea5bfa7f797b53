// Engine selection and fallback under the mechanisms users meet: a seccomp
// filter denying io_uring (as container runtimes do), AIO denied too, and
// ODIRECT_ENGINE forcing an engine.
import { expect } from 'chai';
import childProcess = require('child_process');
import fs = require('fs');
import os = require('os');
import path = require('path');
import { allocAligned, ENGINES, open, probe, Ring } from 'odirect';
import { addonWithoutLiburing, ioUringCodeFor, noIoUringReason, skipBecause } from './helpers';

const entry = require.resolve('odirect');
const root = path.resolve(path.dirname(entry), '..');

/** Builds test/fixtures/seccomp-exec.c once; null (with the reason) where it cannot. */
function buildSeccompExec(): { path: string } | { reason: string } {
  const source = path.join(root, 'test', 'fixtures', 'seccomp-exec.c');
  const binary = path.join(root, 'build', 'seccomp-exec');
  const result = childProcess.spawnSync('cc', ['-O2', '-o', binary, source], { encoding: 'utf8' });
  if (result.status !== 0) return { reason: `cannot compile the seccomp helper: ${result.stderr || result.error}` };
  const check = childProcess.spawnSync(binary, ['--deny', 'io_uring_setup=EPERM', '--', 'true']);
  if (check.status !== 0) return { reason: 'this kernel does not let a process install a seccomp filter' };
  return { path: binary };
}

interface ChildReport {
  engine?: string;
  passedOver?: { engine: string; code: string; message: string }[];
  error?: { code: string; syscall: string; message: string };
  probe?: Awaited<ReturnType<typeof probe>>;
  bytes?: number;
  ok?: boolean;
}

/** Runs a script in a child Node under `deny` rules; it prints one JSON line. */
function runDenied(helper: string, deny: string[], script: string, env: NodeJS.ProcessEnv = {}): ChildReport {
  const args = deny.flatMap((rule) => ['--deny', rule]);
  const result = childProcess.spawnSync(helper, [...args, '--', process.execPath, '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, ODIRECT_ENGINE: '', ...env, ODIRECT_ENTRY: entry },
    timeout: 60_000,
  });
  expect(result.signal, `child killed: ${result.stderr}`).to.equal(null);
  expect(result.status, `child failed: ${result.stderr}`).to.equal(0);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as ChildReport;
}

// In the child: open a file on the default ring, write and read a block, report.
const ROUND_TRIP = `
  const { open, allocAligned, defaultRing, probe } = require(process.env.ODIRECT_ENTRY);
  (async () => {
    const report = {};
    try {
      const ring = defaultRing();
      report.engine = ring.engine;
      report.passedOver = ring.passedOver.map((a) => ({ engine: a.engine, code: a.error.code, message: a.error.message }));
      const file = await open(require('path').join(require('os').tmpdir(), 'odirect-seccomp-' + process.pid), 'w+');
      const out = allocAligned(4096).fill(0x5a);
      await file.writeAt(out, 0);
      const back = allocAligned(4096);
      report.bytes = await file.readAt(back, 0);
      report.ok = back.equals(out);
      await file.close();
      require('fs').rmSync(file.path);
    } catch (error) {
      report.error = { code: error.code, syscall: error.syscall, message: error.message };
    }
    report.probe = await probe();
    console.log(JSON.stringify(report));
  })();
`;

describe('engine selection', () => {
  it('probe() reports every engine, the kernel and the liburing version', async () => {
    const report = await probe();
    expect(report.engines.map((e) => e.engine)).to.deep.equal([...ENGINES]);
    expect(report.kernel).to.equal(os.release());
    for (const engine of report.engines) {
      if (engine.available) expect(engine.reason).to.equal(undefined);
      else expect(engine.reason).to.be.a('string').and.not.equal('');
    }
    expect(report.engines.find((e) => e.engine === 'threadpool')!.available).to.equal(true);
    if (report.builtWithLiburing) expect(report.liburing).to.match(/^\d+\.\d+/);
    else expect(report.liburing).to.equal(null);
    expect(report.defaultEngine).to.equal(report.engines.find((e) => e.available)!.engine);
  });

  it('probe() names the addon file in use and how it has liburing, as the binary itself says', async function () {
    const report = await probe();
    expect(fs.existsSync(report.addon.path), report.addon.path).to.equal(true);
    expect(report.addon.prebuilt).to.equal(report.addon.path.startsWith(path.join(root, 'prebuilds') + path.sep));
    expect(report.addon.liburing).to.equal(report.builtWithLiburing ? report.addon.liburing ?? 'missing' : null);
    if (report.builtWithLiburing) expect(report.notice).to.equal(undefined);
    else expect(report.notice).to.match(/^this odirect addon was built without liburing, .*install liburing-dev.*npm rebuild$/);
    const readelf = childProcess.spawnSync('readelf', ['-d', report.addon.path], { encoding: 'utf8' });
    if (readelf.error !== undefined) skipBecause(this, `readelf cannot run (${readelf.error.message}; Debian: binutils)`);
    const needsLiburing = /\(NEEDED\).*\[liburing\.so/.test(readelf.stdout);
    expect(needsLiburing, readelf.stdout).to.equal(report.addon.liburing === 'shared');
  });

  it('probe(path) on a FIFO reports nothing offered, and why, without opening it (which would wait for a writer)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'odirect-probe-fifo-'));
    try {
      const fifo = path.join(dir, 'fifo');
      childProcess.execFileSync('mkfifo', [fifo]);
      // In a child with a timeout: an open(2) that waits blocks its whole thread.
      const script = `require(process.env.ODIRECT_ENTRY).probe(process.argv[1])
        .then((report) => console.log(JSON.stringify(report.path)))`;
      const run = childProcess.spawnSync(process.execPath, ['-e', script, fifo],
        { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL', env: { ...process.env, ODIRECT_ENTRY: entry } });
      expect(run.signal, 'probe(fifo) still running after 30 s').to.equal(null);
      expect(run.status, run.stderr).to.equal(0);
      const report = JSON.parse(run.stdout);
      const why = 'a FIFO, not a regular file, block device or directory';
      expect(report).to.deep.equal({
        path: fifo, probedFile: fifo, filesystem: (await probe(dir)).path!.filesystem, atomicWrite: null,
        atomicWriteReason: why, uncached: false, uncachedReason: why,
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('probe(path) on a character device names it, not the tmpfs its node lies on', async () => {
    const why = 'a character device, not a regular file, block device or directory';
    expect((await probe('/dev/null')).path).to.deep.equal({
      path: '/dev/null', probedFile: '/dev/null', filesystem: 'the character device', atomicWrite: null,
      atomicWriteReason: why, uncached: false, uncachedReason: why,
    });
  });

  it('new Ring({ engine }) runs on the engine asked for, and rejects unknown names', async () => {
    for (const engine of ENGINES) {
      let ring: Ring;
      try {
        ring = new Ring({ engine });
      } catch (error) {
        // Only an engine this machine lacks may fail, and then with a reason.
        expect((error as Error).message).to.contain(`the ${engine} engine cannot start`);
        continue;
      }
      expect(ring.engine).to.equal(engine);
      expect(ring.passedOver).to.deep.equal([]);
      await ring.close();
    }
    expect(() => new Ring({ engine: 'spdk' as never })).to.throw(TypeError).with.property('code', 'ERR_INVALID_ARG_VALUE');
    expect(() => new Ring({ entries: 0 })).to.throw(RangeError);
    expect(() => new Ring({ entries: 1.5 })).to.throw(RangeError);
  });

  it('sqpoll: an io_uring ring whose SQ a kernel thread polls does correct I/O, and other engines refuse it', async function () {
    let ring: Ring;
    try {
      ring = new Ring({ engine: 'io_uring', sqpoll: 20 });
    } catch (error) {
      if (!(error as Error).message.includes('the io_uring engine cannot start')) throw error;
      skipBecause(this, noIoUringReason());
    }
    expect(ring.features.split(' ')).to.include('sqpoll');
    const sqpollPath = path.join(os.tmpdir(), `odirect-sqpoll-${process.pid}`);
    const file = await open(sqpollPath, 'w+', { ring });
    try {
      const blocks = 64;
      const out = Array.from({ length: blocks }, (_, i) => allocAligned(4096).fill(i));
      expect(await Promise.all(out.map((b, i) => file.writeAt(b, i * 4096)))).to.deep.equal(Array(blocks).fill(4096));
      const back = Array.from({ length: blocks }, () => allocAligned(4096));
      expect(await Promise.all(back.map((b, i) => file.readAt(b, i * 4096)))).to.deep.equal(Array(blocks).fill(4096));
      back.forEach((b, i) => expect(b.every((byte) => byte === i), `block ${i}`).to.equal(true));
      expect(ring.stats().submittedInline).to.equal(2 * blocks);
    } finally {
      await file.close();
      await ring.close();
      fs.rmSync(sqpollPath, { force: true });
    }
    expect(() => new Ring({ engine: 'aio', sqpoll: true })).to.throw(/sqpoll is an io_uring option/);
    expect(() => new Ring({ sqpoll: 'yes' as never })).to.throw(TypeError);
    expect(() => new Ring({ sqpoll: 0 })).to.throw(RangeError);
  });

  it('ODIRECT_ENGINE forces the engine for the whole process, and a bad value is a clear error', () => {
    const script = `const { defaultRing } = require(process.env.ODIRECT_ENTRY);
      try { console.log(JSON.stringify({ engine: defaultRing().engine })); }
      catch (e) { console.log(JSON.stringify({ error: { code: e.code, message: e.message } })); }`;
    for (const engine of ['aio', 'threadpool']) {
      const result = childProcess.spawnSync(process.execPath, ['-e', script],
        { encoding: 'utf8', env: { ...process.env, ODIRECT_ENGINE: engine, ODIRECT_ENTRY: entry } });
      expect(JSON.parse(result.stdout)).to.deep.equal({ engine });
    }
    const bad = childProcess.spawnSync(process.execPath, ['-e', script],
      { encoding: 'utf8', env: { ...process.env, ODIRECT_ENGINE: 'fast', ODIRECT_ENTRY: entry } });
    const report = JSON.parse(bad.stdout) as ChildReport;
    expect(report.error!.code).to.equal('ERR_INVALID_ARG_VALUE');
    expect(report.error!.message).to.contain('ODIRECT_ENGINE');
  });

  describe('under seccomp, as in containers', () => {
    let helper = '';
    before(function () {
      const built = buildSeccompExec();
      if ('reason' in built) {
        // The machine cannot run the helper: nothing here can be checked.
        console.log(`      (skipped: ${built.reason})`);
        this.skip();
      }
      helper = built.path;
    });

    for (const errno of ['EPERM', 'ENOSYS']) {
      it(`io_uring_setup failing with ${errno}: auto picks aio, says why, and I/O works`, () => {
        const report = runDenied(helper, [`io_uring_setup=${errno}`], ROUND_TRIP);
        expect(report.error).to.equal(undefined);
        expect(report.engine).to.equal('aio');
        expect(report.passedOver).to.have.length(1);
        expect(report.passedOver![0].engine).to.equal('io_uring');
        // An addon built without liburing refuses io_uring itself, before the kernel is asked.
        expect(report.passedOver![0].code).to.equal(ioUringCodeFor(errno));
        expect(report.passedOver![0].message).to.contain(addonWithoutLiburing ? 'built without liburing'
          : errno === 'EPERM' ? 'seccomp' : 'does not have it');
        expect(report.bytes).to.equal(4096);
        expect(report.ok).to.equal(true);
        const ioUring = report.probe!.engines.find((e) => e.engine === 'io_uring')!;
        expect(ioUring.available).to.equal(false);
        expect(ioUring.code).to.equal(ioUringCodeFor(errno));
        expect(report.probe!.defaultEngine).to.equal('aio');
      });
    }

    it('with io_setup denied too, auto picks threadpool and I/O works', () => {
      const report = runDenied(helper, ['io_uring_setup=EPERM', 'io_setup=ENOSYS'], ROUND_TRIP);
      expect(report.error).to.equal(undefined);
      expect(report.engine).to.equal('threadpool');
      expect(report.passedOver!.map((a) => [a.engine, a.code])).to.deep.equal([['io_uring', ioUringCodeFor('EPERM')], ['aio', 'ENOSYS']]);
      expect(report.ok).to.equal(true);
      expect(report.probe!.defaultEngine).to.equal('threadpool');
    });

    it('io_setup failing with EAGAIN (fs.aio-max-nr exhausted) is named as such', () => {
      const report = runDenied(helper, ['io_uring_setup=EPERM', 'io_setup=EAGAIN'], ROUND_TRIP);
      expect(report.engine).to.equal('threadpool');
      expect(report.passedOver![1].code).to.equal('EAGAIN');
      expect(report.passedOver![1].message).to.contain('fs.aio-max-nr');
    });

    it('a forced engine that cannot start is an error, not a silent fallback', () => {
      const report = runDenied(helper, ['io_uring_setup=EPERM'], ROUND_TRIP, { ODIRECT_ENGINE: 'io_uring' });
      expect(report.engine).to.equal(undefined);
      expect(report.error!.code).to.equal(ioUringCodeFor('EPERM'));
      expect(report.error!.syscall).to.equal('io_uring_setup');
      expect(report.error!.message).to.contain('the io_uring engine cannot start');
    });
  });
});

describe('a build without liburing', function () {
  // Compiling the addon takes a while on two cores.
  this.timeout(300_000);
  let dir = '';
  after(() => {
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  it('builds with aio and threadpool only, and says so in probe()', function () {
    const gyp = path.join(root, 'node_modules', '.bin', 'node-gyp');
    if (!fs.existsSync(gyp)) this.skip(); // node-gyp comes with the dev dependencies
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'odirect-noliburing-'));
    for (const item of ['addon', 'scripts', 'dist', 'binding.gyp', 'package.json']) {
      fs.cpSync(path.join(root, item), path.join(dir, item), { recursive: true });
    }
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    const build = childProcess.spawnSync(process.execPath, [path.join(root, 'scripts', 'gyp.js'), 'rebuild'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, ODIRECT_NO_LIBURING: '1', PATH: `${path.dirname(gyp)}:${process.env.PATH}` },
    });
    expect(build.stderr).to.contain('building with the aio and threadpool engines only');
    expect(build.status, build.stderr).to.equal(0);
    // The whole package from that directory, in a child so that this
    // process keeps its own addon.
    const script = `require(${JSON.stringify(dir)}).probe().then(async (report) => {
      const { Ring, open, allocAligned } = require(${JSON.stringify(dir)});
      const ring = new Ring();
      const file = await open(${JSON.stringify(path.join(dir, 'data'))}, 'w+', { ring });
      const bytes = await file.writeAt(allocAligned(4096), 0);
      await file.close(); await ring.close();
      console.log(JSON.stringify({ report, engine: ring.engine, bytes }));
    })`;
    // The source build just made, even where this process runs the prebuilt addon.
    const { PREBUILDS_ONLY: _prebuildsOnly, ...env } = process.env;
    const run = childProcess.spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env });
    expect(run.status, run.stderr).to.equal(0);
    const { report, engine, bytes } = JSON.parse(run.stdout);
    expect(report.builtWithLiburing).to.equal(false);
    expect(report.liburing).to.equal(null);
    expect(report.addon).to.deep.equal({ path: path.join(dir, 'build', 'Release', 'odirect.node'), prebuilt: false, liburing: null });
    expect(report.notice).to.match(/built without liburing.*install liburing-dev.*npm rebuild/);
    const ioUring = report.engines.find((e: { engine: string }) => e.engine === 'io_uring');
    expect(ioUring.available).to.equal(false);
    expect(ioUring.code).to.equal('ENOSYS');
    expect(ioUring.reason).to.contain('built without liburing');
    expect(engine).to.equal('aio');
    expect(bytes).to.equal(4096);
  });
});
