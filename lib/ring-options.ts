// What a Ring can be asked for, checked before any engine (and its thread)
// starts.
import { checkInteger } from './checks';
import { invalidArgValue } from './errors';
import { ENGINES, EngineName, EngineSettings } from './engines';

export interface RingOptions {
  /** Ops the ring keeps in the kernel at once; more wait in JS. Default 256. */
  entries?: number;
  /** 'auto' (default: io_uring, then aio, then threadpool), or one engine, which must start. */
  engine?: EngineName | 'auto';
  /**
   * Ops handed over together. JS hands queued ops to the engine every
   * `submitBatch` ops and at the end of each tick (and the first op queued
   * after a batch of completions at once), and the submission thread
   * submits them in chunks of this size, so that the kernel gets work while
   * JS is still settling a batch of completions. Default 8.
   */
  submitBatch?: number;
  /**
   * Submit from the JS thread itself while at most this many ops would be in
   * the kernel; beyond that, the ring's submission thread submits. Default:
   * every op, the fastest measured (docs/benchmarks.md, decision log). The
   * aio engine submits only reads from the JS thread, with RWF_NOWAIT; the
   * rest, and reads that would block, go to the submission thread, since
   * io_submit(2) can block.
   */
  inlineMax?: number;
  /** threadpool engine: worker threads. Default 4. */
  threads?: number;
  /**
   * io_uring engine: a kernel thread polls the submission queue
   * (IORING_SETUP_SQPOLL), so submitting costs no system call while it is
   * awake. true, or the milliseconds it stays awake without work (default
   * 50). Off by default: it takes a core of its own (docs/benchmarks.md).
   * The JS thread then submits every op itself.
   */
  sqpoll?: boolean | number;
  /**
   * io_uring engine: register each file open()ed on this ring with the
   * kernel (fixed files, IOSQE_FIXED_FILE), so that its ops skip the
   * per-op lookup and reference count of the file. Default true. Files
   * past the table (1024, or RLIMIT_NOFILE if lower) use their descriptor.
   */
  registerFiles?: boolean;
}

/** RingOptions, checked, with the defaults filled in. */
export interface RingSettings extends EngineSettings {
  engine: EngineName | 'auto';
  /** Undefined: the library's default (every op from the JS thread). */
  inlineMax: number | undefined;
  registerFiles: boolean;
}

export function checkRingOptions(options: RingOptions): RingSettings {
  if (options === null || typeof options !== 'object') throw invalidArgValue('options', 'must be an object', options);
  // io_uring takes at most 32768 entries (IORING_MAX_ENTRIES).
  const entries = checkInteger(options.entries ?? 256, 'entries', 1, 32768);
  const submitBatch = checkInteger(options.submitBatch ?? 8, 'submitBatch', 1, 1024);
  const threads = checkInteger(options.threads ?? 4, 'threads', 1, 256);
  const inlineMax = options.inlineMax === undefined ? undefined
    : checkInteger(options.inlineMax, 'inlineMax', 0, 0xffffffff);
  const registerFiles = options.registerFiles ?? true;
  if (typeof registerFiles !== 'boolean') throw invalidArgValue('registerFiles', 'must be a boolean', registerFiles);
  const sqpoll = options.sqpoll ?? false;
  const sqpollIdleMs = sqpoll === false ? 0 : sqpoll === true ? 50 : checkInteger(sqpoll, 'sqpoll', 1, 60_000);
  const engine: EngineName | 'auto' = options.engine ?? 'auto';
  if (engine !== 'auto' && !(ENGINES as readonly string[]).includes(engine)) {
    throw invalidArgValue('engine', `must be one of ${ENGINES.join(', ')} or auto`, engine);
  }
  return { engine, entries, submitBatch, threads, inlineMax, registerFiles, sqpollIdleMs };
}
