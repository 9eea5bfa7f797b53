// Helpers for the reliability tests (90-96): a seeded random source, the
// engines a run covers, and child processes whose crash or hang fails a test
// instead of taking the test run down.
import { spawn, spawnSync, SpawnSyncReturns } from 'child_process';
import { EngineName } from 'odirect';
import { availableEngines } from './helpers';

/** The package entry, for child processes and workers to require by absolute path. */
export const ENTRY = require.resolve('odirect');

/** The engines forEachEngine runs suites on here (those that start, narrowed by ODIRECT_TEST_ENGINES). */
export function enginesUnderTest(): EngineName[] {
  const only = process.env.ODIRECT_TEST_ENGINES?.split(',').filter(Boolean);
  return availableEngines.filter((engine) => only === undefined || only.includes(engine));
}

/**
 * A small seeded generator (mulberry32): the same seed gives the same
 * sequence, so a failure names the seed that reproduces it.
 */
export class Random {
  #state: number;
  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }
}

/** A seed from the environment variable `name`, or `fallback`. */
export function seedFrom(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const seed = Number(value);
  if (!Number.isSafeInteger(seed)) throw new Error(`${name} must be an integer, not ${value}`);
  return seed;
}

/** Signals that mean the process crashed rather than ended. */
export const CRASH_SIGNALS = ['SIGSEGV', 'SIGABRT', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGTRAP', 'SIGSYS'];

/** How a child ended, and what it said: for the messages of failed expectations. */
export function describeChild(result: { status: number | null; signal: string | null; stdout: string; stderr: string;
  error?: Error }): string {
  const tail = (text: string | null): string => (text ?? '').slice(-3000);
  return `status ${result.status}, signal ${result.signal}${result.error ? `, ${result.error.message}` : ''}\n` +
    `stdout: ${tail(result.stdout)}\nstderr: ${tail(result.stderr)}`;
}

/**
 * Runs `command` to completion. `timeoutMs` is a hang guard only: a child
 * still running then is killed with SIGKILL, which the caller sees as
 * `signal` and `error`.
 */
export function runSync(command: string, args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs: number; cwd?: string }): SpawnSyncReturns<string> {
  return spawnSync(command, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    encoding: 'utf8',
    timeout: options.timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
  });
}

export interface ChildOutcome {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the hang guard had to kill the child. */
  error?: Error;
}

/**
 * Runs a Node script in a child process, asynchronously. `onLine` sees each
 * line the child prints on stdout as it comes (with the child, to signal
 * it). The hang guard kills a child that has not ended after `timeoutMs`.
 */
export function runNode(script: string, options: { env?: NodeJS.ProcessEnv; timeoutMs: number;
  onLine?: (line: string, child: ReturnType<typeof spawn>) => void }): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script], { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    let error: Error | undefined;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        options.onLine?.(line, child);
      }
    });
    child.stderr.on('data', (chunk: string) => { stderr += chunk; });
    const guard = setTimeout(() => {
      error = new Error(`the child did not end within ${options.timeoutMs} ms (hang guard)`);
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('close', (status, signal) => {
      clearTimeout(guard);
      resolve({ status, signal, stdout, stderr, ...(error !== undefined ? { error } : {}) });
    });
  });
}
