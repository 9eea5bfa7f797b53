// Which engine a ring runs on: the choice ('auto', ODIRECT_ENGINE, or one
// engine), starting it, and why an engine could not start, in words that
// name the machine's own setting.
import fs = require('fs');
import util = require('util');
import { binding, NativeRing } from './native';
import { ErrnoError, errnoError, invalidArgValue } from './errors';

export type EngineName = 'io_uring' | 'aio' | 'threadpool';
export const ENGINES: readonly EngineName[] = ['io_uring', 'aio', 'threadpool'];

/** Why an engine was passed over. */
export interface EngineAttempt {
  engine: EngineName;
  error: ErrnoError;
}

/** What the addon needs to start an engine (checked by the Ring). */
export interface EngineSettings {
  entries: number;
  submitBatch: number;
  threads: number;
  /** 0: no SQPOLL. */
  sqpollIdleMs: number;
}

/**
 * What a ring asked for `requested` runs on: that engine, or for 'auto' the
 * one ODIRECT_ENGINE names in this process, else 'auto' (the first of
 * ENGINES that starts). Throws for an ODIRECT_ENGINE that names no engine.
 */
export function chooseEngine(requested: EngineName | 'auto'): EngineName | 'auto' {
  if (requested !== 'auto') return requested;
  const forced = process.env.ODIRECT_ENGINE;
  if (forced === undefined || forced === '' || forced === 'auto') return 'auto';
  if ((ENGINES as readonly string[]).includes(forced)) return forced as EngineName;
  throw invalidArgValue('ODIRECT_ENGINE', `must be one of ${ENGINES.join(', ')} or auto`, forced);
}

/** A number from /proc/sys, or undefined where it cannot be read. */
export function readSysctl(name: string): number | undefined {
  try {
    const value = Number.parseInt(fs.readFileSync(`/proc/sys/${name}`, 'utf8'), 10);
    return Number.isNaN(value) ? undefined : value;
  } catch {
    return undefined;
  }
}

/** Why `engine` could not start, from its -errno and what the machine says. */
function engineReason(engine: EngineName, code: string, description: string): string {
  if (code === 'ENOSYS') {
    return engine === 'io_uring' && !binding.builtWithLiburing
      ? 'odirect was built without liburing (install liburing-dev, then npm rebuild)'
      : 'the kernel does not have it (ENOSYS)';
  }
  if (code === 'EPERM' && engine === 'io_uring') {
    const disabled = readSysctl('kernel/io_uring_disabled');
    if (disabled === 2) return 'disabled on this machine (kernel.io_uring_disabled = 2)';
    if (disabled === 1) return 'disabled for this user (kernel.io_uring_disabled = 1 and not in kernel.io_uring_group)';
    return 'forbidden for this process (EPERM: a seccomp filter, as in containers)';
  }
  if (code === 'EPERM') return 'forbidden for this process (EPERM: a seccomp filter, as in containers)';
  if (code === 'EAGAIN' && engine === 'aio') {
    return `fs.aio-max-nr is exhausted (${readSysctl('fs/aio-nr') ?? '?'} of ${readSysctl('fs/aio-max-nr') ?? '?'} in use)`;
  }
  if (code === 'ENOMEM') return 'not enough locked memory (RLIMIT_MEMLOCK) or kernel memory (ENOMEM)';
  if (code === 'EINVAL') return 'the kernel refused its parameters (EINVAL)';
  return `${description} (${code})`;
}

function engineError(engine: EngineName, errno: number): ErrnoError {
  const code = errnoError(errno, 'ring').code;
  const description = util.getSystemErrorMap().get(-errno)?.[1] ?? 'unknown error';
  return errnoError(errno, engine === 'io_uring' ? 'io_uring_setup' : engine === 'aio' ? 'io_setup' : 'eventfd',
    `the ${engine} engine cannot start: ${engineReason(engine, code, description)}`);
}

/**
 * Starts the engine `requested` stands for (chooseEngine), or for 'auto' the
 * first that starts here, with the engines passed over and why. Throws the
 * engine's error when one engine was chosen, else an error that names each
 * engine's reason.
 */
export function startEngine(requested: EngineName | 'auto', settings: EngineSettings,
  onComplete: (count: number) => void): { native: NativeRing; passedOver: EngineAttempt[] } {
  const choice = chooseEngine(requested);
  const passedOver: EngineAttempt[] = [];
  for (const engine of choice === 'auto' ? ENGINES : [choice]) {
    if (settings.sqpollIdleMs > 0 && engine !== 'io_uring') {
      passedOver.push({ engine, error: errnoError(95, 'ring', `the ${engine} engine cannot start: sqpoll is an io_uring option`) });
      continue;
    }
    const native = new binding.NativeRing(engine, settings.entries, settings.submitBatch, settings.threads, onComplete,
      settings.sqpollIdleMs);
    if (native.error === 0) return { native, passedOver };
    passedOver.push({ engine, error: engineError(engine, -native.error) });
  }
  const last = passedOver[passedOver.length - 1];
  if (choice !== 'auto') throw last.error;
  throw errnoError(-last.error.errno, 'ring',
    `no engine can start here: ${passedOver.map((a) => a.error.message).join('; ')}`);
}
