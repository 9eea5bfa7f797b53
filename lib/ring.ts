// A Ring: one engine instance (one kernel queue, and a thread that submits
// for it at depth) and the JS side of its requests: the request table, the
// hand-over of queued ops, the queue of ops waiting for room, and the
// settling of Promises from the completions the JS thread reads itself.
import fs = require('fs');
import util = require('util');
import {
  binding, DROPPED, NativeRing, LATENCY_BUCKETS, MISALIGNED_MEMORY, SYSCALLS,
  OP_FALLOCATE, OP_FSYNC, OP_FDATASYNC, OP_READ, OP_READV, OP_WRITE, OP_WRITEV,
  QUEUE_ARG_CODE, QUEUE_ARG_FD, QUEUE_ARG_ID, QUEUE_ARG_LENGTH, QUEUE_ARG_MEMORY_ALIGNMENT, QUEUE_ARG_RW_FLAGS,
  QUEUE_ARG_FILE_INDEX, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, RWF_ATOMIC, RWF_DONTCACHE, RWF_DSYNC,
} from './native';
import { kernelAtomicWriteError } from './atomic';
import { abortError, detachedError, ErrnoError, errnoError, invalidArgValue } from './errors';
import { checkInteger } from './checks';

export type EngineName = 'io_uring' | 'aio' | 'threadpool';
export const ENGINES: readonly EngineName[] = ['io_uring', 'aio', 'threadpool'];

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
   * every op (measured fastest). The aio engine submits only reads from the
   * JS thread, with RWF_NOWAIT; the rest, and reads that would block, go to
   * the submission thread, since io_submit(2) can block.
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

/** Why an engine was passed over. */
export interface EngineAttempt {
  engine: EngineName;
  error: ErrnoError;
}

export interface RingStats {
  engine: EngineName;
  entries: number;
  /** Ops handed to the engine and not yet settled. */
  inFlight: number;
  /** Ops waiting in JS for room in the ring. */
  queued: number;
  submitted: number;
  completed: number;
  errors: number;
  /** Of `submitted`, how many the JS thread submitted itself. */
  submittedInline: number;
  /**
   * aio: of `submittedInline`, the reads that could not complete without
   * blocking (RWF_NOWAIT said EAGAIN, or they came back short) and that the
   * submission thread submitted again. 0 on the other engines.
   */
  resubmitted: number;
  /** Times the JS thread woke the submission thread. */
  wakeups: number;
  /** Completion batches handed to JS (one call into JS each). */
  batches: number;
  /** Of `submitted`, the reads and writes into a registered BufferPool (READ_FIXED/WRITE_FIXED). */
  fixedOps: number;
  /** BufferPools registered with this ring now. */
  registeredBuffers: number;
  /** Files registered with this ring now (fixed files; `registerFiles`). */
  registeredFiles: number;
  /** Time from each op's hand-over to the engine until its completion reached JS. */
  latency: LatencyStats;
}

/**
 * Latencies in microseconds, from a histogram of 8 buckets per power of two:
 * each percentile is the upper bound of its bucket (at most 12.5 % above).
 */
export interface LatencyStats {
  /** Ops measured: every op that was handed to the engine. */
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** The upper bound, in ns, of histogram bucket `index` (addon/ring.cc, LatencyBucket). */
function bucketTop(index: number): number {
  if (index < 8) return index + 1;
  const exponent = Math.floor(index / 8) + 2;
  return (9 + (index % 8)) * 2 ** (exponent - 3);
}

function latencyStats(histogram: Float64Array): LatencyStats {
  let count = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) count += histogram[i];
  const max = histogram[LATENCY_BUCKETS];
  const percentile = (fraction: number): number => {
    if (count === 0) return 0;
    const rank = Math.ceil(fraction * count);
    let seen = 0;
    for (let i = 0; i < LATENCY_BUCKETS; i++) {
      seen += histogram[i];
      if (seen >= rank) return Math.min(bucketTop(i), max) / 1000;
    }
    return max / 1000;
  };
  return {
    count,
    mean: count === 0 ? 0 : histogram[LATENCY_BUCKETS + 1] / count / 1000,
    p50: percentile(0.5),
    p90: percentile(0.9),
    p99: percentile(0.99),
    p999: percentile(0.999),
    max: max / 1000,
  };
}

/** What a request is on behalf of: a DirectFile, or a bare descriptor. */
export interface OpTarget {
  readonly fd: number;
  readonly path: string | undefined;
  /** Whether the descriptor bypasses the page cache; undefined when unknown (a caller's descriptor). */
  readonly direct: boolean | undefined;
  /** The slot registerFile() gave this target's descriptor, or -1. */
  readonly fileIndex: number;
  /** Called when an op of this target is handed to the ring and when it settles. */
  opStarted(): void;
  opSettled(): void;
}

const EPERM = 1;
const ERANGE = 34;
const EINTR = 4;
const ECANCELED = 125;

// The resolving functions of the Promise being made, without a closure per op.
let nextResolve: (value: number) => void = () => {};
let nextReject: (reason: unknown) => void = () => {};
function capture(resolve: (value: number) => void, reject: (reason: unknown) => void): void {
  nextResolve = resolve;
  nextReject = reject;
}

/** An op waiting in JS for a free slot. */
interface Waiting {
  code: number;
  target: OpTarget | null;
  fd: number;
  buffer: ArrayBufferView | ArrayBufferView[] | null;
  position: number | bigint;
  length: number;
  memoryAlignment: number;
  rwFlags: number;
  resolve: (value: number) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  /** Set when its signal fired while it waited: the op was dropped. */
  dead: boolean;
}

/** The ops of one AbortSignal on a ring, watched by one listener. */
interface Watched {
  listener: () => void;
  waiting: Set<Waiting>;
  started: Set<number>;  // ids
}

/** A FIFO of waiting ops that does not copy on every shift; aborted ops are skipped. */
class WaitQueue {
  #items: (Waiting | undefined)[] = [];
  #head = 0;
  #dead = 0;
  get length(): number { return this.#items.length - this.#head - this.#dead; }
  push(item: Waiting): void { this.#items.push(item); }
  /** Marks a waiting op as dropped; shift() skips it. */
  remove(item: Waiting): void {
    item.dead = true;
    this.#dead++;
  }
  shift(): Waiting | undefined {
    while (this.#head < this.#items.length) {
      const item = this.#items[this.#head];
      this.#items[this.#head++] = undefined;
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      if (!item!.dead) return item;
      this.#dead--;
    }
    return undefined;
  }
}

function engineFromEnvironment(): EngineName | 'auto' {
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

export class Ring {
  /** The engine this ring runs on. */
  readonly engine: EngineName;
  /** Ops the ring keeps in the kernel at once. */
  readonly entries: number;
  /** Engines tried before this one, and why each was passed over. */
  readonly passedOver: readonly EngineAttempt[];

  #native: NativeRing;
  #results: Int32Array;
  #args: Int32Array;
  // The addon holds this only weakly while the ring is idle.
  readonly #onCompleteCallback = (count: number): void => this.#onComplete(count);
  #inlineMax: number;
  // The request table: a slot per op in the engine, indexed by id.
  #free: Int32Array;
  #freeCount: number;
  #resolves: ((value: number) => void)[];
  #rejects: ((reason: unknown) => void)[];
  #buffers: unknown[];          // keeps each op's memory alive until it completes
  #targets: (OpTarget | null)[];
  #codes: Uint8Array;
  #positions: (number | bigint)[];
  #lengths: Float64Array;
  #flags: Int32Array;           // each op's RWF_* flags (fallocate: its mode), for retries and errors
  // Only for ops given a signal: the signal, and whether it fired (1).
  #signals: (AbortSignal | undefined)[];
  #aborting: Uint8Array;
  #watched = new Map<AbortSignal, Watched>();
  #waiting = new WaitQueue();
  #flushScheduled = false;
  #pendingCount = 0;         // ops queued since the last hand-over
  #submitBatch: number;
  #closed = false;
  #closing: Promise<void> | null = null;
  #idle: (() => void) | null = null;
  #registeredBuffers = 0;
  #registeredFiles = 0;
  #registerFiles: boolean;
  #submitted = 0;
  #completed = 0;
  #errors = 0;
  readonly #flush = (): void => {
    this.#flushScheduled = false;
    this.#pendingCount = 0;
    this.#native.flush(this.#inlineMax);
  };

  constructor(options: RingOptions = {}) {
    if (options === null || typeof options !== 'object') throw invalidArgValue('options', 'must be an object', options);
    // Every option is checked before an engine (and its thread) starts.
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
    let requested: EngineName | 'auto' = options.engine ?? 'auto';
    if (requested !== 'auto' && !(ENGINES as readonly string[]).includes(requested)) {
      throw invalidArgValue('engine', `must be one of ${ENGINES.join(', ')} or auto`, requested);
    }
    // ODIRECT_ENGINE decides what 'auto' means for the whole process.
    if (requested === 'auto') requested = engineFromEnvironment();
    const candidates = requested === 'auto' ? ENGINES : [requested];
    const passedOver: EngineAttempt[] = [];
    let native: NativeRing | undefined;
    for (const engine of candidates) {
      if (sqpollIdleMs > 0 && engine !== 'io_uring') {
        passedOver.push({ engine, error: errnoError(95, 'ring', `the ${engine} engine cannot start: sqpoll is an io_uring option`) });
        continue;
      }
      const attempt = new binding.NativeRing(engine, entries, submitBatch, threads, this.#onCompleteCallback, sqpollIdleMs);
      if (attempt.error === 0) {
        native = attempt;
        break;
      }
      passedOver.push({ engine, error: engineError(engine, -attempt.error) });
    }
    if (native === undefined) {
      const last = passedOver[passedOver.length - 1];
      if (requested !== 'auto') throw last.error;
      const error = errnoError(-last.error.errno, 'ring',
        `no engine can start here: ${passedOver.map((a) => a.error.message).join('; ')}`);
      throw error;
    }
    this.#native = native;
    this.engine = native.engine as EngineName;
    this.entries = native.capacity;
    this.passedOver = passedOver;
    this.#results = native.results;
    this.#args = native.args;
    // Who submits, as measured (docs/benchmarks.md): on io_uring the JS
    // thread submits every op itself. Since the JS thread reads completions
    // itself, an op submitted by the ring's thread costs that thread a
    // wake-up to run the request's completion work in the kernel before the
    // completion is posted; at QD 64 the JS thread alone did 97k IOPS on the
    // disk against 92k, and 433-442k on tmpfs against 287-303k. On aio the
    // JS thread submits reads with RWF_NOWAIT (addon/engine_aio.cc).
    this.#inlineMax = inlineMax ?? 0xffffffff;
    this.#submitBatch = submitBatch;
    this.#registerFiles = registerFiles && this.engine === 'io_uring';
    this.#free = new Int32Array(entries);
    for (let i = 0; i < entries; i++) this.#free[i] = entries - 1 - i;
    this.#freeCount = entries;
    this.#resolves = new Array(entries).fill(undefined);
    this.#rejects = new Array(entries).fill(undefined);
    this.#buffers = new Array(entries).fill(undefined);
    this.#targets = new Array(entries).fill(null);
    this.#codes = new Uint8Array(entries);
    this.#positions = new Array(entries).fill(0);
    this.#lengths = new Float64Array(entries);
    this.#flags = new Int32Array(entries);
    this.#signals = new Array(entries).fill(undefined);
    this.#aborting = new Uint8Array(entries);
  }

  /** Engine features in use ("nodrop fast_poll", "user_ring", "4 threads"...). */
  get features(): string { return this.#native.features; }

  get closed(): boolean { return this.#closed; }

  /**
   * True once the process has changed its user or groups (process.setuid(),
   * setgid(), setgroups()...) since this ring was made, on an engine whose
   * requests would keep the old rights (io_uring). The ring then refuses
   * every op with EPERM; make a new Ring. The default ring is replaced by
   * itself.
   */
  get credentialsChanged(): boolean { return this.#native.credentialsChanged(); }

  stats(): RingStats {
    const [submittedInline, wakeups, batches, fixedOps, resubmitted] = this.#native.counters();
    return {
      engine: this.engine,
      entries: this.entries,
      inFlight: this.entries - this.#freeCount,
      queued: this.#waiting.length,
      submitted: this.#submitted,
      completed: this.#completed,
      errors: this.#errors,
      submittedInline,
      resubmitted,
      wakeups,
      batches,
      fixedOps,
      registeredBuffers: this.#registeredBuffers,
      registeredFiles: this.#registeredFiles,
      latency: latencyStats(this.#native.latency()),
    };
  }

  /**
   * Registers `fd` as a fixed file where the ring does that. Returns its
   * slot, or -1 (the descriptor is then used as it is).
   * @internal DirectFile
   */
  registerFile(fd: number): number {
    if (!this.#registerFiles || this.#closed) return -1;
    const index = this.#native.registerFile(fd);
    if (index < 0) return -1;
    this.#registeredFiles++;
    return index;
  }

  /** @internal DirectFile, once no op of the file is in flight */
  unregisterFile(index: number): void {
    if (this.#native.unregisterFile(index) === 0) this.#registeredFiles--;
  }

  /**
   * Registers the allocAligned block that `buffer` starts as a fixed buffer.
   * Returns its index or -errno.
   * @internal BufferPool
   */
  registerBuffer(buffer: Buffer): number {
    const index = this.#native.registerBuffer(buffer);
    if (index >= 0) this.#registeredBuffers++;
    return index;
  }

  /** @internal BufferPool */
  unregisterBuffer(index: number, buffer: Buffer | undefined): void {
    if (this.#native.unregisterBuffer(index, buffer) === 0) this.#registeredBuffers--;
  }

  /**
   * Stops taking ops, waits for those in flight to settle, then stops the
   * submission thread and frees the kernel queue. Files still open on this
   * ring cannot do I/O afterwards.
   */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closed = true;
    this.#closing = new Promise<void>((resolve) => {
      const finish = (): void => {
        this.#native.close();
        if (defaultRingInstance === this) defaultRingInstance = undefined;
        resolve();
      };
      if (this.#freeCount === this.entries && this.#waiting.length === 0) finish();
      else this.#idle = finish;
    });
    return this.#closing;
  }

  /**
   * Queues one op and returns its Promise. Arguments were checked by the
   * caller. `buffer` stays referenced until the op completes.
   * @internal
   */
  submit(code: number, target: OpTarget | null, fd: number, buffer: ArrayBufferView | ArrayBufferView[] | null,
    position: number | bigint, length: number, memoryAlignment: number, rwFlags: number,
    signal?: AbortSignal): Promise<number> {
    if (this.#closed) {
      return Promise.reject(errnoError(9, SYSCALLS[code], 'the ring this file uses is closed', target?.path));
    }
    if (signal?.aborted === true) return Promise.reject(abortError(signal, 'queue', code, target));
    const promise = new Promise<number>(capture);
    const resolve = nextResolve;
    const reject = nextReject;
    target?.opStarted();
    if (this.#freeCount > 0) {
      this.#start(code, target, fd, buffer, position, length, memoryAlignment, rwFlags, resolve, reject, signal);
    } else {
      const item: Waiting = {
        code, target, fd, buffer, position, length, memoryAlignment, rwFlags, resolve, reject, signal, dead: false,
      };
      if (signal !== undefined) this.#watch(signal).waiting.add(item);
      this.#waiting.push(item);
    }
    return promise;
  }

  /**
   * The ops of a signal, with the one listener that aborts them all: a
   * signal shared by thousands of ops costs one listener, not thousands.
   */
  #watch(signal: AbortSignal): Watched {
    let watched = this.#watched.get(signal);
    if (watched === undefined) {
      const entry: Watched = { listener: () => this.#abort(signal, entry), waiting: new Set(), started: new Set() };
      watched = entry;
      this.#watched.set(signal, entry);
      signal.addEventListener('abort', entry.listener, { once: true });
    }
    return watched;
  }

  /** Stops watching `signal` once none of its ops is left. */
  #unwatch(signal: AbortSignal, watched: Watched): void {
    if (watched.waiting.size === 0 && watched.started.size === 0) {
      signal.removeEventListener('abort', watched.listener);
      this.#watched.delete(signal);
    }
  }

  #abort(signal: AbortSignal, watched: Watched): void {
    this.#watched.delete(signal);
    for (const id of watched.started) {
      this.#native.cancel(id);
      this.#aborting[id] = 1;
    }
    watched.started.clear();
    for (const item of watched.waiting) this.#abortWaiting(item);
    watched.waiting.clear();
  }

  /** An aborted op that is still waiting in JS: dropped, never handed to the engine. */
  #abortWaiting(item: Waiting): void {
    if (item.dead) return;
    this.#waiting.remove(item);
    item.buffer = null;
    item.reject(abortError(item.signal!, 'queue', item.code, item.target));
    item.target?.opSettled();
    this.#checkIdle();
  }

  #start(code: number, target: OpTarget | null, fd: number, buffer: ArrayBufferView | ArrayBufferView[] | null,
    position: number | bigint, length: number, memoryAlignment: number, rwFlags: number,
    resolve: (value: number) => void, reject: (reason: unknown) => void, signal: AbortSignal | undefined): void {
    const id = this.#free[--this.#freeCount];
    const status = code === OP_READV || code === OP_WRITEV
      ? this.#native.queueVector(code, fd, buffer as ArrayBufferView[], position, id, memoryAlignment, rwFlags)
      : code === OP_FALLOCATE
        ? this.#native.queueFallocate(fd, target === null ? -1 : target.fileIndex, id, rwFlags, position, length)
        : this.#queue(code, target, fd, buffer as ArrayBufferView | null, position, length, id, memoryAlignment, rwFlags);
    if (status !== 0) {
      this.#free[this.#freeCount++] = id;
      this.#errors++;
      reject(status === -EPERM && this.credentialsChanged ? this.#credentialsError(code, target)
        : status === -ERANGE ? detachedError(code, target)
        : status === MISALIGNED_MEMORY
        ? errnoError(22, SYSCALLS[code], `${SYSCALLS[code]} buffer address is not a multiple of ${memoryAlignment}, ` +
          `the direct-I/O memory alignment${target?.path !== undefined ? ` of '${target.path}'` : ''}; ` +
          'allocate buffers with allocAligned()', target?.path)
        : errnoError(-status, SYSCALLS[code], undefined, target?.path));
      if (signal !== undefined) {
        // An op that waited for room was watched while it waited.
        const watched = this.#watched.get(signal);
        if (watched !== undefined) this.#unwatch(signal, watched);
      }
      target?.opSettled();
      this.#checkIdle();
      return;
    }
    this.#resolves[id] = resolve;
    this.#rejects[id] = reject;
    this.#buffers[id] = buffer;
    this.#targets[id] = target;
    this.#codes[id] = code;
    this.#positions[id] = position;
    this.#lengths[id] = length;
    this.#flags[id] = rwFlags;
    this.#submitted++;
    if (signal !== undefined) {
      // An aborted op that has an id is dropped if not yet submitted, else
      // the engine is asked to cancel it. Either way it settles when its
      // completion comes, so its memory stays referenced until then.
      this.#signals[id] = signal;
      this.#watch(signal).started.add(id);
    }
    // Hand over every submitBatch ops rather than only at the end of the
    // tick: at depth, a whole batch of completions is settled in one tick, and
    // waiting for its end kept the device idle (docs/benchmarks.md).
    if (++this.#pendingCount >= this.#submitBatch) {
      this.#pendingCount = 0;
      this.#native.flush(this.#inlineMax);
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(this.#flush);
    }
  }

  #queue(code: number, target: OpTarget | null, fd: number, buffer: ArrayBufferView | null, position: number | bigint, length: number,
    id: number, memoryAlignment: number, rwFlags: number): number {
    const args = this.#args;
    args[QUEUE_ARG_CODE] = code;
    args[QUEUE_ARG_FD] = fd;
    args[QUEUE_ARG_LENGTH] = length;
    args[QUEUE_ARG_ID] = id;
    args[QUEUE_ARG_MEMORY_ALIGNMENT] = memoryAlignment;
    args[QUEUE_ARG_RW_FLAGS] = rwFlags;
    args[QUEUE_ARG_FILE_INDEX] = target === null ? -1 : target.fileIndex;
    return this.#native.queue(buffer, position);
  }

  /** Called by the addon with `count` (id, result) pairs in #results. */
  #onComplete(count: number): void {
    // The first op queued from here on (by a caller's callback) is handed
    // over at once, with those already pending: at depth the device is idle
    // until a re-issued read reaches it (docs/benchmarks.md).
    if (this.#pendingCount < this.#submitBatch - 1) this.#pendingCount = this.#submitBatch - 1;
    const results = this.#results;
    for (let i = 0; i < count; i++) {
      const id = results[2 * i];
      const result = results[2 * i + 1];
      const resolve = this.#resolves[id];
      const reject = this.#rejects[id];
      const target = this.#targets[id];
      const buffer = this.#buffers[id];
      this.#resolves[id] = undefined as never;
      this.#rejects[id] = undefined as never;
      this.#buffers[id] = undefined;
      this.#targets[id] = null;
      this.#free[this.#freeCount++] = id;
      this.#completed++;
      const code = this.#codes[id];
      const signal = this.#signals[id];
      let aborting = 0;
      if (signal !== undefined) {
        this.#signals[id] = undefined;
        const watched = this.#watched.get(signal);
        if (watched !== undefined) {
          watched.started.delete(id);
          this.#unwatch(signal, watched);
        }
        aborting = this.#aborting[id];
        this.#aborting[id] = 0;
      }
      if (result >= 0) {
        resolve(result);
      } else if (result === DROPPED || (aborting !== 0 && (result === -ECANCELED || result === -EINTR))) {
        // DROPPED: the ring took it back before it was submitted.
        this.#errors++;
        reject(abortError(signal!, result === DROPPED ? 'queue' : 'engine', code, target));
      } else if (result === -22 && this.engine === 'aio' && (code === OP_FSYNC || code === OP_FDATASYNC) && target !== null) {
        // Linux before 4.18 has no IOCB_CMD_FSYNC/FDSYNC: sync on libuv's
        // pool instead, never on the JS thread. The target stays busy (its
        // descriptor open) until then.
        this.#syncOffThread(code, target, resolve, reject);
        continue;
      } else if (result === -22 && this.engine === 'aio' && target !== null && target.direct === false &&
        (code === OP_READ || code === OP_WRITE) && this.#flags[id] === 0) {
        // Linux AIO refuses files without read_iter/write_iter (procfs,
        // sysfs...) with EINVAL; a buffered file may be one: pread/pwrite it
        // on libuv's pool instead. Not an op with RWF_* flags, which
        // fs.read/fs.write would drop: an untorn, dsync or uncached write
        // is never done as a plain one.
        this.#transferOffThread(code, target, buffer as ArrayBufferView, this.#positions[id], this.#lengths[id],
          resolve, reject);
        continue;
      } else {
        this.#errors++;
        reject(this.#kernelError(-result, code, target, this.#positions[id], this.#lengths[id], this.#flags[id], buffer));
      }
      target?.opSettled();
    }
    while (this.#freeCount > 0 && this.#waiting.length > 0) {
      const op = this.#waiting.shift()!;
      if (op.signal !== undefined) this.#watched.get(op.signal)?.waiting.delete(op);
      this.#start(op.code, op.target, op.fd, op.buffer, op.position, op.length, op.memoryAlignment, op.rwFlags,
        op.resolve, op.reject, op.signal);
    }
    this.#checkIdle();
  }

  /** A Node-style callback that settles an op retried on libuv's pool. */
  #settleOffThread(code: number, target: OpTarget, resolve: (value: number) => void,
    reject: (reason: unknown) => void): (error: NodeJS.ErrnoException | null, bytes?: number) => void {
    return (error, bytes = 0) => {
      if (error) {
        this.#errors++;
        reject(errnoError(-(error.errno ?? -5), SYSCALLS[code], undefined, target.path));
      } else {
        resolve(bytes);
      }
      target.opSettled();
    };
  }

  #syncOffThread(code: number, target: OpTarget, resolve: (value: number) => void,
    reject: (reason: unknown) => void): void {
    const done = this.#settleOffThread(code, target, resolve, reject);
    if (code === OP_FSYNC) fs.fsync(target.fd, done);
    else fs.fdatasync(target.fd, done);
  }

  #transferOffThread(code: number, target: OpTarget, buffer: ArrayBufferView, position: number | bigint,
    length: number, resolve: (value: number) => void, reject: (reason: unknown) => void): void {
    const done = this.#settleOffThread(code, target, resolve, reject);
    const view = buffer as NodeJS.ArrayBufferView;
    if (code === OP_READ) {
      fs.read(target.fd, view, 0, length, position, done);
    } else if (typeof position === 'number') {
      fs.write(target.fd, view, 0, length, position, done);
    } else {
      // fs.write takes no bigint position (it would write at the file position instead).
      done(Object.assign(new Error('EFBIG'), { errno: -27 }));
    }
  }

  #checkIdle(): void {
    if (this.#idle !== null && this.#freeCount === this.entries && this.#waiting.length === 0) {
      const idle = this.#idle;
      this.#idle = null;
      idle();
    }
  }

  #credentialsError(code: number, target: OpTarget | null): ErrnoError {
    // The default ring replaces itself: the next defaultRing() makes a new
    // one (its files keep this one, which refuses them with EPERM).
    if (defaultRingInstance === this) defaultRingInstance = undefined;
    return errnoError(1, SYSCALLS[code],
      `the process changed its user or groups after this ring was made, and ${this.engine} would run ` +
      'the request with the old rights; make a new Ring (the default ring replaces itself)', target?.path);
  }

  #kernelError(errno: number, code: number, target: OpTarget | null, position: number | bigint,
    length: number, rwFlags = 0, buffer: unknown = undefined): ErrnoError {
    if (errno === EPERM && this.credentialsChanged) return this.#credentialsError(code, target);
    const syscall = SYSCALLS[code];
    const where = target?.path !== undefined ? `'${target.path}'` : `fd ${target?.fd ?? '?'}`;
    const transfer = code === OP_READ || code === OP_WRITE || code === OP_READV || code === OP_WRITEV;
    let error: ErrnoError | null = null;
    if ((rwFlags & RWF_ATOMIC) !== 0 && target !== null && transfer) {
      // Which rule of untorn writes the kernel saw broken, from what statx says now.
      error = kernelAtomicWriteError(errno, target.fd, length, Array.isArray(buffer) ? buffer.length : 1, position,
        target.path);
    }
    if (error !== null) {
      // Said above.
    } else if (errno === 22 && this.engine === 'aio' && target?.direct === false && (code === OP_READ || code === OP_WRITE) &&
      rwFlags !== 0) {
      // The EINVAL of a file Linux AIO refuses, which #onComplete does not
      // retry with pread/pwrite because they would drop the flags.
      const flags = ([[RWF_DSYNC, 'RWF_DSYNC (dsync)'], [RWF_ATOMIC, 'RWF_ATOMIC (atomic)'],
        [RWF_DONTCACHE, 'RWF_DONTCACHE (uncached)']] as const).filter(([bit]) => (rwFlags & bit) !== 0).map(([, name]) => name);
      error = errnoError(errno, syscall, `invalid argument, ${syscall} of ${length} bytes at offset ${position} on ` +
        `${where}: Linux AIO refuses this file (as it does files without read_iter/write_iter, such as in procfs ` +
        `and sysfs), and ${flags.join(' and ')} cannot be carried by the pread/pwrite fallback, which would drop ` +
        `${flags.length === 1 ? 'it' : 'them'}; leave ${flags.length === 1 ? 'it' : 'them'} out for this file`, target.path);
    } else if (errno === 95 && (rwFlags & RWF_DONTCACHE) !== 0 && transfer) {
      error = errnoError(errno, syscall, `the kernel or the filesystem of ${where} does not take uncached I/O ` +
        `(RWF_DONTCACHE, Linux 6.14+): ${syscall} of ${length} bytes at offset ${position}`, target?.path);
    } else if (errno === 95 && code === OP_FALLOCATE) {
      const mode = (rwFlags & FALLOC_FL_PUNCH_HOLE) !== 0 ? 'FALLOC_FL_PUNCH_HOLE (punchHole)'
        : (rwFlags & FALLOC_FL_ZERO_RANGE) !== 0 ? 'FALLOC_FL_ZERO_RANGE (zeroRange)' : `mode ${rwFlags}`;
      error = errnoError(errno, syscall, `the filesystem of ${where} does not support fallocate with ${mode} ` +
        `(${length} bytes at offset ${position})`, target?.path);
    } else if (errno === 22 && transfer && target?.direct !== false) {
      error = errnoError(errno, syscall,
        `invalid argument, ${syscall} of ${length} bytes at offset ${position} on ${where} ` +
        '(direct I/O needs the buffer address, the offset and the length to be multiples of the ' +
        `file's direct-I/O alignment; see ${target?.path !== undefined ? 'file.alignment' : 'alignmentOf(fd)'})`,
        target?.path);
    } else {
      error = errnoError(errno, syscall, undefined, target?.path);
      if (target?.path === undefined) error.message += ` on ${where}`;
      if (transfer) error.message += ` (${length} bytes at offset ${position})`;
      else if (code === OP_FALLOCATE) error.message += ` (${length} bytes at offset ${position})`;
    }
    if (target?.path === undefined && target !== null) error.fd = target.fd;
    return error;
  }
}

// io_uring rings check the process's credentials at most once per turn of
// the event loop (addon/ring.cc, CheckCredentials), and at once after any of
// these, which tell them so. Only the main thread has them.
for (const name of ['setuid', 'seteuid', 'setgid', 'setegid', 'setgroups', 'initgroups'] as const) {
  const original = (process as unknown as Record<string, unknown>)[name] as ((...args: unknown[]) => unknown) | undefined;
  if (typeof original !== 'function' || (original as { odirectWrapped?: boolean }).odirectWrapped) continue;
  const wrapped = Object.defineProperty(function (this: unknown, ...args: unknown[]): unknown {
    try {
      return original.apply(this, args);
    } finally {
      binding.credentialsMayHaveChanged();
    }
  }, 'name', { value: name });
  (wrapped as { odirectWrapped?: boolean }).odirectWrapped = true;
  (process as unknown as Record<string, unknown>)[name] = wrapped;
}

// Each JS environment (the main thread, each worker) loads its own copy of
// this module, and so has its own default ring.
let defaultRingInstance: Ring | undefined;

/** The current environment's ring, created on first use. */
export function defaultRing(): Ring {
  if (defaultRingInstance === undefined || defaultRingInstance.closed) defaultRingInstance = new Ring();
  return defaultRingInstance;
}

export { OP_READ, OP_WRITE, OP_FSYNC, OP_FDATASYNC, OP_READV, OP_WRITEV };
