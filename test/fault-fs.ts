// A FUSE filesystem that fails chosen requests as a failing device does
// (test/fixtures/fault-fs.c), mounted and unmounted for the tests that need
// real device faults (97, and the sync errors of 65). Needs root, /dev/fuse
// and cc; missing() and buildFaultFs() say why not.
import childProcess = require('child_process');
import fs = require('fs');
import os = require('os');
import path = require('path');
import { fillPattern, isRoot, SHM_DIR } from './helpers';

export const BLOCK = 4096;
const root = path.resolve(path.dirname(require.resolve('odirect')), '..');

/** Why fault-fs cannot run here, or undefined. Compiling and mounting are checked by the suites' before(). */
export function missing(): string | undefined {
  if (!isRoot) return 'mounting a FUSE filesystem needs root';
  if (!fs.existsSync('/dev/fuse')) return 'this machine has no /dev/fuse';
  return undefined;
}

/** Compiles test/fixtures/fault-fs.c; the binary's path, or why it cannot. */
export function buildFaultFs(): { path: string } | { reason: string } {
  const source = path.join(root, 'test', 'fixtures', 'fault-fs.c');
  const binary = path.join(root, 'build', 'fault-fs');
  const result = childProcess.spawnSync('cc', ['-O2', '-Wall', '-o', binary, source], { encoding: 'utf8' });
  if (result.error !== undefined) return { reason: `cannot run cc: ${result.error.message}` };
  if (result.status !== 0) return { reason: `cannot compile the FUSE helper: ${result.stderr}` };
  return { path: binary };
}

export interface Served { reads: number; writes: number; fsyncs: number }

/** One mounted fault-fs: its file, the backing file behind it, and what it reported. */
export class FaultFs {
  /** Lines the daemon printed about injected faults: 'read EIO 12288 4096', 'hang read 0 4096'... */
  readonly faults: string[] = [];
  /** Each fsync request as it arrived: 'fdatasync' or 'fsync'. */
  readonly syncs: string[] = [];
  #served: Served | undefined;
  #exited: Promise<void>;
  #stopped: Promise<Served> | undefined;
  #stderr = '';
  #waiters: { match: (line: string) => boolean; resolve: () => void }[] = [];

  private constructor(readonly mountPoint: string, readonly backing: string, readonly child: childProcess.ChildProcess) {
    let pending = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        this.#line(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { this.#stderr += chunk; });
    this.#exited = new Promise((resolve) => child.once('close', () => resolve()));
  }

  /** The file every test reads and writes. */
  get file(): string { return path.join(this.mountPoint, 'disk'); }

  #line(line: string): void {
    const served = /^served reads=(\d+) writes=(\d+) fsyncs=(\d+)$/.exec(line);
    if (served !== null) this.#served = { reads: +served[1], writes: +served[2], fsyncs: +served[3] };
    else if (line.startsWith('fault ')) this.faults.push(line.slice('fault '.length));
    else if (line.startsWith('hang ')) this.faults.push(line);
    else if (line.startsWith('sync ')) this.syncs.push(line.slice('sync '.length));
    for (const waiter of this.#waiters.filter((w) => w.match(line))) {
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  }

  /** Resolves when the daemon prints a line that `match` accepts; rejects if it exits first. */
  waitFor(match: (line: string) => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiters.push({ match, resolve });
      void this.#exited.then(() => reject(new Error(`fault-fs exited (${this.child.exitCode ?? this.child.signalCode}): ${this.#stderr.trim()}`)));
    });
  }

  /** With --fsync-hold: answers the fsync request being held. */
  release(): void {
    this.child.kill('SIGUSR1');
  }

  /**
   * Mounts a fault-fs over a backing file of `blocks` blocks filled with the
   * pattern of `seed`; `options` are fault-fs's (--read-eio 3, ...).
   */
  static async mount(helper: string, blocks: number, seed: bigint, options: string[]): Promise<FaultFs> {
    const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), `odirect-test-${process.pid}-fuse-`));
    const backing = path.join(fs.existsSync(SHM_DIR) ? SHM_DIR : os.tmpdir(), `${path.basename(mountPoint)}-backing`);
    fs.writeFileSync(backing, fillPattern(Buffer.alloc(blocks * BLOCK), 0, seed));
    const child = childProcess.spawn(helper, [mountPoint, backing, ...options], { stdio: ['ignore', 'pipe', 'pipe'] });
    const mounted = new FaultFs(mountPoint, backing, child);
    all.push(mounted);
    await mounted.waitFor((line) => line === 'ready');
    return mounted;
  }

  /** Stops every fault-fs mounted so far (for after() and afterEach() hooks). */
  static async stopAll(): Promise<void> {
    await Promise.all(all.splice(0).map((mounted) => mounted.stop()));
  }

  /**
   * Ends the daemon (SIGTERM: it detaches the mount), makes sure nothing is
   * left mounted, removes the files, and resolves to the requests it served.
   * Safe to call again, and after a failure.
   */
  stop(): Promise<Served> {
    this.#stopped ??= (async () => {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
      // A hang guard only: a daemon that ignores SIGTERM is killed, and its requests end with it.
      const guard = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.#exited;
      clearTimeout(guard);
      if (fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === this.mountPoint)) {
        childProcess.spawnSync('umount', ['-l', this.mountPoint]);
      }
      fs.rmSync(this.mountPoint, { recursive: true, force: true });
      fs.rmSync(this.backing, { force: true });
      return this.#served ?? { reads: -1, writes: -1, fsyncs: -1 };
    })();
    return this.#stopped;
  }
}
const all: FaultFs[] = [];

/**
 * The body of a suite that needs fault-fs: skips it, saying why, where it
 * cannot run; compiles and test-mounts it in before(); unmounts everything
 * after each test. `suite` gets the path of the compiled helper.
 */
export function withFaultFs(suite: (helper: () => string) => void): void {
  const reason = missing();
  if (reason !== undefined) {
    it(`skipped: ${reason}`);
    return;
  }
  let helper = '';
  before(async function () {
    // Mocha has no skip message; say why on the console, then skip every test below.
    const skip = (why: string): void => {
      console.log(`      (skipped: ${why})`);
      this.skip();
    };
    const built = buildFaultFs();
    if ('reason' in built) return skip(built.reason);
    helper = built.path;
    // A container may refuse mount(2) even to root.
    try {
      await (await FaultFs.mount(helper, 1, 0n, [])).stop();
    } catch (error) {
      return skip(`cannot mount a FUSE filesystem here: ${(error as Error).message}`);
    } finally {
      await FaultFs.stopAll();
    }
  });
  // Unmounts and ends every daemon, whether the test passed or not.
  afterEach(() => FaultFs.stopAll());
  suite(() => helper);
}
