// The odirect command (the package's bin), run as a child process, as users
// and scripts run it: its help, its exit statuses, its one-line errors, and
// what each subcommand does, on every engine this machine has.
import { expect } from 'chai';
import crypto = require('crypto');
import fs = require('fs');
import os = require('os');
import path = require('path');
import { spawn, spawnSync } from 'child_process';
import { alignmentOf, ENGINES } from 'odirect';
import { availableEngines, cleanup, DISK_DIR, SHM_DIR, tempPath } from './helpers';

const root = path.dirname(require.resolve('odirect/package.json'));
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const CLI = path.join(root, manifest.bin.odirect);
const COMMANDS = ['probe', 'bench', 'cp', 'read'];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function odirect(...args: string[]): Run {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** An error as the command must report it: one line on stderr, `odirect[ COMMAND]: ...`, no stack. */
function expectOneLineError(run: Run, status: number, pattern?: RegExp): void {
  expect(run.status, `exit status; stderr: ${run.stderr}`).to.equal(status);
  expect(run.stderr).to.match(/^odirect( \w+)?: [^\n]+\n$/);
  expect(run.stderr).to.not.match(/\n\s+at /);
  if (pattern !== undefined) expect(run.stderr).to.match(pattern);
}

function json<T = Record<string, any>>(run: Run): T {
  expect(run.status, `exit status; stderr: ${run.stderr}`).to.equal(0);
  return JSON.parse(run.stdout) as T;
}

/** The engines to run each engine-specific case on: those that start here. */
const engines = ENGINES.filter((engine) => availableEngines.includes(engine));

describe('odirect (the command)', function () {
  this.timeout(60_000);
  after(cleanup);

  describe('help, exit statuses and errors', () => {
    it('is the package\'s bin, built and starting with a #! line', () => {
      expect(manifest.bin).to.deep.equal({ odirect: 'dist/cli/main.js' });
      expect(fs.readFileSync(CLI, 'utf8')).to.match(/^#!\/usr\/bin\/env node\n/);
    });

    it('--help lists every subcommand and the exit statuses', () => {
      const run = odirect('--help');
      expect(run.status).to.equal(0);
      expect(run.stderr).to.equal('');
      for (const command of COMMANDS) expect(run.stdout).to.match(new RegExp(`^  ${command} `, 'm'));
      expect(run.stdout).to.match(/Exit status: 0 success; 1 a runtime failure .*; 2 a usage error/s);
    });

    it('--version prints the package version', () => {
      const run = odirect('--version');
      expect(run.status).to.equal(0);
      expect(run.stdout).to.equal(`${manifest.version}\n`);
    });

    for (const command of COMMANDS) {
      it(`${command} --help (and help ${command}) print its usage and exit statuses, exit 0`, () => {
        const run = odirect(command, '--help');
        expect(run.status).to.equal(0);
        expect(run.stderr).to.equal('');
        expect(run.stdout).to.match(new RegExp(`^Usage: odirect ${command} `));
        expect(run.stdout).to.match(/Exit status: 0 /);
        expect(odirect('help', command).stdout).to.equal(run.stdout);
      });
    }

    it('no command, an unknown command or an unknown global option: exit 2, one line', () => {
      expectOneLineError(odirect(), 2, /a command is needed/);
      expectOneLineError(odirect('copy', 'a', 'b'), 2, /unknown command 'copy'/);
      expectOneLineError(odirect('--frobnicate'), 2, /unknown option '--frobnicate'/);
    });

    const usageErrors: [string[], RegExp][] = [
      [['probe', '--nope'], /^odirect probe: unknown option '--nope'/],
      [['probe', 'a', 'b'], /unexpected argument 'b'/],
      [['bench', '--bs', '4x'], /--bs: cannot read a size from '4x'/],
      [['bench', '--rw', 'sideways'], /--rw: 'sideways' is not one of randread, randwrite, read, write, randrw/],
      [['bench', '--iodepth', '0'], /--iodepth: '0' is not a positive integer/],
      [['bench', '--runtime', 'soon'], /--runtime: 'soon' is not a positive number/],
      [['bench', '--engine', 'quantum'], /--engine: 'quantum' is not one of auto, io_uring, aio, threadpool/],
      [['bench', '--compare', '--engine', 'aio'], /--compare runs every engine/],
      [['bench', '--json=yes'], /option '--json' takes no value/],
      [['bench', '--size', '5000'], /--size: 5000 is not a multiple of --bs/],
      [['cp', '--iodepth'], /option '--iodepth' needs a value/],
      [['cp', 'only-one'], /missing DST/],
      [['cp', '--bs', '0', 'a', 'b'], /--bs: '0' is less than 1/],
      [['read', 'f'], /missing LENGTH/],
      [['read', 'f', 'x'], /LENGTH: cannot read a size from 'x'/],
      [['read', 'f', '4096', '-1'], /unknown option '-1'/],
      [['read', 'f', '4096', '0', '3'], /ALIGNMENT: 3 is not a power of two/],
    ];
    for (const [args, pattern] of usageErrors) {
      it(`${args.join(' ')}: exit 2, one line naming the mistake`, () => {
        const run = odirect(...args);
        expectOneLineError(run, 2, pattern);
        expect(run.stdout).to.equal('');
      });
    }
  });

  describe('probe', () => {
    it('names every engine, whether it starts, and the kernel', () => {
      const run = odirect('probe');
      expect(run.status).to.equal(0);
      expect(run.stdout).to.match(new RegExp(`^kernel +${os.release().replace(/[.+]/g, '\\$&')}$`, 'm'));
      for (const engine of ENGINES) {
        expect(run.stdout).to.match(new RegExp(`^${engine} +${availableEngines.includes(engine) ? 'yes' : 'no'} `, 'm'));
      }
    });

    it('--json: probe()\'s report', () => {
      const report = json(odirect('probe', '--json'));
      expect(report.kernel).to.equal(os.release());
      expect(report.engines.map((e: { engine: string }) => e.engine)).to.deep.equal([...ENGINES]);
      expect(report.engines.filter((e: { available: boolean }) => e.available).map((e: { engine: string }) => e.engine))
        .to.deep.equal(availableEngines);
      expect(report).to.have.property('builtWithLiburing').that.is.a('boolean');
      expect(report).to.not.have.property('path');
    });

    it('a directory on the disk: its filesystem, O_DIRECT, and the alignment open() finds', async () => {
      const report = json(odirect('probe', '--json', DISK_DIR)).path;
      expect(report).to.include({ path: DISK_DIR, kind: 'directory', direct: true });
      expect(report.filesystem).to.be.a('string').that.is.not.empty;
      // A file there has the alignment the probe reported.
      const file = tempPath(DISK_DIR, 'probe-alignment');
      const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_DIRECT, 0o600);
      try {
        expect(report.alignment).to.deep.equal(alignmentOf(fd));
      } finally {
        fs.closeSync(fd);
      }
      expect(fs.readdirSync(DISK_DIR).filter((name) => name.startsWith('.odirect-probe-'))).to.deep.equal([]);
      const text = odirect('probe', DISK_DIR).stdout;
      expect(text).to.match(/^O_DIRECT +yes/m);
      expect(text).to.match(new RegExp(`^alignment +memory ${report.alignment.memory}, offset ${report.alignment.offset} \\(from ${report.alignment.source}\\)$`, 'm'));
    });

    it('the disk (ext4): no untorn writes, and why; uncached I/O', () => {
      const report = json(odirect('probe', '--json', DISK_DIR)).path;
      expect(report.atomicWrite).to.equal(null);
      expect(report.atomicWriteReason).to.match(/^ext4 reports no atomic write unit/);
      expect(report.uncached).to.equal(true);
      const text = odirect('probe', DISK_DIR).stdout;
      expect(text).to.match(/^untorn +none: ext4 reports no atomic write unit .*Linux 6\.11\+/m);
      expect(text).to.match(/^uncached +yes \(RWF_DONTCACHE\)$/m);
    });

    it('tmpfs (/dev/shm) and a file on it', () => {
      const directory = json(odirect('probe', '--json', SHM_DIR)).path;
      expect(directory).to.include({ kind: 'directory', filesystem: 'tmpfs', device: null, direct: true });
      expect(directory).to.include({ atomicWrite: null, uncached: false });
      expect(directory.uncachedReason).to.match(/^tmpfs does not take RWF_DONTCACHE \(EOPNOTSUPP\)/);
      expect(odirect('probe', SHM_DIR).stdout).to.match(/^uncached +no: tmpfs does not take RWF_DONTCACHE/m);
      const file = tempPath(SHM_DIR, 'probe-file');
      fs.writeFileSync(file, 'x');
      expect(json(odirect('probe', '--json', file)).path).to.include({ kind: 'file', filesystem: 'tmpfs', direct: true });
    });

    it('a file whose filesystem refuses O_DIRECT: no, and why (exit 0: a finding)', () => {
      const run = odirect('probe', '/proc/self/status');
      expect(run.status).to.equal(0);
      expect(run.stdout).to.match(/^filesystem +proc /m);
      expect(run.stdout).to.match(/^O_DIRECT +no: EINVAL: the filesystem of '\/proc\/self\/status' does not support direct I\/O/m);
    });

    it('a FIFO: not opened (which would wait for a writer), nothing offered, and why (exit 0)', () => {
      const fifo = tempPath(DISK_DIR, 'probe-fifo');
      spawnSync('mkfifo', [fifo]);
      // SIGKILL after 30 s: a probe blocked in open(2) never runs the command's SIGTERM handler.
      const run = spawnSync(process.execPath, [CLI, 'probe', fifo], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
      expect(run.signal, 'odirect probe FIFO still running after 30 s').to.equal(null);
      expect(run.status, `exit status; stderr: ${run.stderr}`).to.equal(0);
      expect(run.stdout).to.match(new RegExp(`^path +${fifo} \\(other\\)$`, 'm'));
      expect(run.stdout).to.match(/^O_DIRECT +no: not a regular file, block device or directory$/m);
      expect(run.stdout).to.match(/^untorn +none: a FIFO, not a regular file, block device or directory$/m);
      expect(run.stdout).to.match(/^uncached +no: a FIFO, not a regular file, block device or directory$/m);
      const report = json(odirect('probe', '--json', fifo)).path;
      expect(report).to.include({ kind: 'other', direct: false, atomicWrite: null, uncached: false });
    });

    it('a path that does not exist: exit 1, one line', () => {
      expectOneLineError(odirect('probe', '/nonexistent/odirect'), 1, /ENOENT: no such file or directory/);
    });
  });

  describe('bench', () => {
    for (const engine of engines) {
      it(`[${engine}] random reads on a temporary file: --json with ops, rates, latencies and CPU; the file is gone`, () => {
        const report = json(odirect('bench', '--engine', engine, '--runtime', '0.3', '--size', '8m', '--iodepth', '16', '--json'));
        expect(report.config).to.include({ rw: 'randread', bs: 4096, iodepth: 16, size: 8 << 20, runtime: 0.3, temporary: true });
        expect(report.dataCheck).to.equal('last read of each worker');
        expect(report.results).to.have.length(1);
        const [result] = report.results;
        expect(result).to.include({ contender: `odirect ${engine}`, kind: 'odirect', engine });
        expect(result.ops).to.be.above(0);
        expect(result.write).to.equal(undefined);
        expect(result.read.ops).to.equal(result.ops);
        expect(result.iops).to.be.closeTo(result.ops / result.seconds, 1e-6);
        expect(result.mibps).to.be.closeTo((result.ops * 4096) / result.seconds / 2 ** 20, 1e-6);
        const { latencyUs } = result.read;
        expect(latencyUs.count).to.equal(result.ops);
        expect(latencyUs.min).to.be.above(0);
        expect(latencyUs.min).to.be.at.most(latencyUs.p50);
        expect(latencyUs.p50).to.be.at.most(latencyUs.p99);
        expect(latencyUs.p99).to.be.at.most(latencyUs.p999);
        expect(latencyUs.p999).to.be.at.most(latencyUs.max);
        expect(result.cpuPercent).to.be.above(0);
        expect(result.cpuUsPerOp).to.be.above(0);
        expect(fs.existsSync(report.config.file), report.config.file).to.equal(false);
      });

      it(`[${engine}] randrw with --verify on a --file in /dev/shm: both directions, the whole file checked`, () => {
        const file = tempPath(SHM_DIR, 'bench-randrw');
        const report = json(odirect('bench', '--engine', engine, '--rw', 'randrw', '--rwmixread', '70', '--file', file,
          '--size', '4m', '--runtime', '0.2', '--iodepth', '8', '--verify', '--json'));
        expect(report.config).to.include({ rw: 'randrw', rwmixread: 70, file, temporary: false, filesystem: 'tmpfs' });
        expect(report.dataCheck).to.equal('whole file after the writes');
        const [result] = report.results;
        expect(result.read.ops).to.be.above(0);
        expect(result.write.ops).to.be.above(0);
        expect(result.read.ops + result.write.ops).to.equal(result.ops);
        // The file is kept, and holds the bench's write pattern.
        const data = fs.readFileSync(file);
        expect(data.length).to.equal(4 << 20);
        expect(data.equals(Buffer.alloc(data.length, 'odirectW'))).to.equal(true);
      });
    }

    it('sequential 1 MiB writes with --verify, then reads of the same --file with --verify', () => {
      const file = tempPath(DISK_DIR, 'bench-seq');
      const written = json(odirect('bench', '--rw', 'write', '--bs', '1m', '--iodepth', '4', '--size', '8m',
        '--runtime', '0.2', '--file', file, '--verify', '--json'));
      expect(written.results[0].write.ops).to.be.above(0);
      expect(written.dataCheck).to.equal('whole file after the writes');
      const read = json(odirect('bench', '--rw', 'read', '--bs', '1m', '--iodepth', '4', '--runtime', '0.2',
        '--file', file, '--verify', '--json'));
      expect(read.config.size).to.equal(8 << 20);
      expect(read.results[0].read.ops).to.be.above(0);
      // The file holds the write pattern, not the read pattern: its content is unknown to a read run.
      expect(read.dataCheck).to.equal('no');
    });

    it('interrupted (SIGINT) while it runs: its temporary file is deleted, exit 130', async () => {
      const child = spawn(process.execPath, [CLI, 'bench', '--runtime', '60', '--size', '8m', '--json'], { stdio: 'ignore' });
      let running = true;
      const exited = new Promise<number | null>((resolve) => child.on('exit', (status) => {
        running = false;
        resolve(status);
      }));
      const file = path.join(os.tmpdir(), `odirect-bench-${child.pid}`);
      // The file gets its name once it is written; the timed run starts right after.
      while (running && !fs.existsSync(file)) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(running, 'the bench ended before its file was written').to.equal(true);
      await new Promise((resolve) => setTimeout(resolve, 200));
      child.kill('SIGINT');
      expect(await exited).to.equal(130);
      expect(fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith(`odirect-bench-${child.pid}`))).to.deep.equal([]);
    });

    it('a --bs that the file\'s alignment refuses: exit 2, naming the alignment', () => {
      expectOneLineError(odirect('bench', '--bs', '256', '--size', '1m', '--runtime', '0.1'), 2,
        /--bs: 256 is not a multiple of \d+, the direct-I\/O alignment of/);
    });

    it('--compare: every engine that starts, fs.promises, and fio when installed, side by side', () => {
      const report = json(odirect('bench', '--compare', '--runtime', '0.15', '--size', '4m', '--iodepth', '8', '--json'));
      const contenders = report.results.map((r: { contender: string }) => r.contender);
      const fio = spawnSync('fio', ['--version']).status === 0;
      expect(contenders.slice(0, engines.length + 1)).to.deep.equal([...engines.map((e) => `odirect ${e}`), 'fs.promises']);
      if (fio) expect(contenders).to.include('fio io_uring');
      for (const result of report.results) {
        expect(result.ops, result.contender).to.be.above(0);
        expect(result.read.latencyUs.p50, result.contender).to.be.above(0);
        expect(result.read.latencyUs.p99, result.contender).to.be.at.least(result.read.latencyUs.p50);
      }
      const text = odirect('bench', '--compare', '--runtime', '0.1', '--size', '4m', '--iodepth', '4');
      expect(text.status).to.equal(0);
      expect(text.stdout).to.match(/^contender +op +IOPS +MiB\/s +p50 +p99 +p99\.9 +CPU +CPU\/op +vs fs\.promises$/m);
      expect(text.stdout).to.match(/^fs\.promises +read /m);
    });
  });

  describe('cp', () => {
    const sizes = [10 * 2 ** 20 + 123, 0, 1];
    const sources = new Map<number, string>();
    before(() => {
      for (const size of sizes) {
        const file = tempPath(DISK_DIR, `cp-source-${size}`);
        fs.writeFileSync(file, crypto.randomBytes(size), { mode: 0o640 });
        fs.chmodSync(file, 0o640);
        sources.set(size, file);
      }
    });

    /** Same size, same bytes; a file cp created has SRC's permission bits (an existing one keeps its own, as with cp). */
    function expectCopy(source: string, target: string, mode = 0o640): void {
      const expected = fs.readFileSync(source);
      const actual = fs.readFileSync(target);
      expect(actual.length, 'size').to.equal(expected.length);
      expect(actual.equals(expected), 'bytes').to.equal(true);
      expect(fs.statSync(target).mode & 0o777).to.equal(mode);
    }

    for (const engine of engines) {
      for (const [place, dir] of [['ext4 temp dir', DISK_DIR], ['/dev/shm', SHM_DIR]]) {
        for (const size of sizes) {
          it(`[${engine}] ${size} bytes onto ${place}, --verify --sync: byte-identical, exact size`, () => {
            const target = tempPath(dir, `cp-${engine}-${size}`);
            const run = odirect('cp', '--engine', engine, '--verify', '--sync', '--bs', '256k', '--iodepth', '3',
              sources.get(size)!, target);
            expect(run.status, run.stderr).to.equal(0);
            expect(run.stderr).to.equal('');
            expect(run.stdout).to.match(new RegExp(`^copied .*\\(${engine}, 3 x 256\\.00 KiB in flight, direct I/O, synced, verified\\)\n$`));
            expectCopy(sources.get(size)!, target);
          });
        }
      }
    }

    it('into a directory: DST/basename(SRC); over an existing larger file: truncated to the exact size', () => {
      const source = sources.get(sizes[0])!;
      const dir = fs.mkdtempSync(path.join(SHM_DIR, 'odirect-test-cp-'));
      try {
        expect(odirect('cp', '-q', source, dir)).to.deep.include({ status: 0, stdout: '', stderr: '' });
        expectCopy(source, path.join(dir, path.basename(source)));
        const target = path.join(dir, 'larger');
        fs.writeFileSync(target, Buffer.alloc(20 << 20, 0xaa), { mode: 0o600 });
        expect(odirect('cp', '--verify', source, target).status).to.equal(0);
        expectCopy(source, target, 0o600);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('draws a progress bar on stderr when it is a terminal (and, above, none when it is not)', () => {
      // script(1) runs the command on a pseudo-terminal and copies what it shows.
      const quote = (arg: string): string => `'${arg.replace(/'/g, "'\\''")}'`;
      const command = [process.execPath, CLI, 'cp', sources.get(sizes[0])!, tempPath(SHM_DIR, 'cp-tty')].map(quote).join(' ');
      const run = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
      expect(run.status, run.stderr).to.equal(0);
      expect(run.stdout).to.match(/\rcopying \[[=> ]+\] \d+%  [\d.]+ \w+ of 10\.00 MiB/);
      expect(run.stdout).to.match(/copied 10\.00 MiB \(10485883 bytes\)/);
    });

    it('SRC onto itself: exit 1, the file untouched', () => {
      const source = sources.get(sizes[0])!;
      const before = fs.readFileSync(source);
      expectOneLineError(odirect('cp', source, source), 1, /are the same file/);
      expect(fs.readFileSync(source).equals(before)).to.equal(true);
    });

    it('a missing SRC, or a SRC that is not a file: exit 1, one line', () => {
      expectOneLineError(odirect('cp', '/nonexistent/odirect', tempPath()), 1, /ENOENT: no such file or directory/);
      expectOneLineError(odirect('cp', DISK_DIR, tempPath()), 1, /is not a regular file/);
    });
  });

  describe('read', () => {
    let file: string;
    let alignment: { memory: number; offset: number };
    let data: Buffer;
    before(() => {
      file = tempPath(DISK_DIR, 'read');
      data = crypto.randomBytes(64 * 1024);
      fs.writeFileSync(file, data);
      const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
      alignment = alignmentOf(fd);
      fs.closeSync(fd);
    });

    const hex = (bytes: Buffer): string => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');

    for (const engine of engines) {
      it(`[${engine}] an aligned read: the bytes, exit 0`, () => {
        const run = odirect('read', '--engine', engine, file, '8192', '4096');
        expect(run.status, run.stderr).to.equal(0);
        expect(run.stderr).to.equal('');
        expect(run.stdout).to.match(new RegExp(`^engine +${engine}$`, 'm'));
        expect(run.stdout).to.match(/^result +read 8192 bytes$/m);
        expect(run.stdout).to.include(`data       ${hex(data.subarray(4096, 4096 + 16))}`);
        expect(run.stdout).to.not.match(/^ +BAD /m);
      });

      it(`[${engine}] a misaligned offset: the kernel's EINVAL, and the offset named as the cause`, () => {
        const offset = alignment.offset / 2;
        const run = odirect('read', '--engine', engine, file, '4096', `${offset}`);
        expectOneLineError(run, 1,
          new RegExp(`^odirect read: EINVAL: the kernel refused the direct read: the offset ${offset} is not a multiple of ${alignment.offset} \\(the file's offset alignment\\)\n$`));
        expect(run.stdout).to.match(/^result +EINVAL: invalid argument, read of 4096 bytes/m);
        expect(run.stdout).to.match(new RegExp(`^  BAD +the offset ${offset} is not a multiple`, 'm'));
      });

      it(`[${engine}] a misaligned length: the length named`, () => {
        const length = alignment.offset + alignment.offset / 2;
        expectOneLineError(odirect('read', '--engine', engine, file, `${length}`), 1,
          new RegExp(`the kernel refused the direct read: the length ${length} is not a multiple of ${alignment.offset}\\b`));
      });

      it(`[${engine}] a misaligned buffer: the buffer address named`, () => {
        const run = odirect('read', '--engine', engine, file, '4096', '0', `${alignment.memory / 2}`);
        expectOneLineError(run, 1,
          new RegExp(`the kernel refused the direct read: the buffer address is not a multiple of ${alignment.memory} \\(the file's memory alignment\\)\n$`));
        expect(run.stdout).to.include(`a buffer whose address is a multiple of ${alignment.memory / 2} (not of ${alignment.memory})`);
      });
    }

    it('a read across the end of the file: a short read, exit 0', () => {
      const run = odirect('read', file, '8192', `${data.length - 4096}`);
      expect(run.status, run.stderr).to.equal(0);
      expect(run.stdout).to.match(new RegExp(`^result +read 4096 bytes \\(fewer than asked: the file ends at ${data.length}\\)$`, 'm'));
    });

    it('on tmpfs, which enforces no alignment: the read succeeds, and the command says so', () => {
      const shmFile = tempPath(SHM_DIR, 'read');
      fs.writeFileSync(shmFile, data);
      const run = odirect('read', shmFile, '4096', '100', '1');
      expect(run.status, run.stderr).to.equal(0);
      expect(run.stdout).to.include(`data       ${hex(data.subarray(100, 116))}`);
      expect(run.stdout).to.match(/^note +the kernel accepted it although/m);
    });

    it('a file whose filesystem refuses O_DIRECT, or that does not exist: exit 1, one line', () => {
      expectOneLineError(odirect('read', '/proc/self/status', '4096'), 1, /EINVAL: the filesystem of '\/proc\/self\/status' \(proc\) refuses O_DIRECT/);
      expectOneLineError(odirect('read', '/nonexistent/odirect', '4096'), 1, /ENOENT: no such file or directory/);
    });
  });
});
