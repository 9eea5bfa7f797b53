// A Ring: one engine instance and the JS side of its requests, the hot path
// of the package: the request table, the hand-over of queued ops to the
// addon, the queue of ops waiting for room, and the settling of Promises
// from the completions the JS thread reads itself (addon/ring.h). What is
// not per op lives beside it: engine choice (engines.ts), options
// (ring-options.ts), stats (ring-stats.ts), abort bookkeeping (aborts.ts),
// the aio engine's fallbacks (aio-fallback.ts), errors (op-errors.ts).
import { Aborts } from './aborts';
import { aioRefusal, runOnPool } from './aio-fallback';
import { watchCredentialChanges } from './credentials';
import { EngineAttempt, EngineName, startEngine } from './engines';
import { abortError, detachedError, ErrnoError, errnoError } from './errors';
import { credentialsError, misalignedMemoryError, opError, ringClosedError } from './op-errors';
import {
  DROPPED, MISALIGNED_MEMORY, NativeRing, OP_FDATASYNC, OP_FSYNC, SYSCALLS,
  QUEUE_ARG_CODE, QUEUE_ARG_FD, QUEUE_ARG_FILE_INDEX, QUEUE_ARG_FLUSH, QUEUE_ARG_ID, QUEUE_ARG_INLINE_MAX,
  QUEUE_ARG_LENGTH, QUEUE_ARG_MEMORY_ALIGNMENT, QUEUE_ARG_RW_FLAGS, QUEUE_ARG_SYNC_FILE,
} from './native';
import type { Op } from './op';
import { checkRingOptions, RingOptions } from './ring-options';
import { latencyStats, RingStats } from './ring-stats';
import { Waiting, WaitQueue } from './wait-queue';

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

export class Ring {
  /** The engine this ring runs on. */
  readonly engine: EngineName;
  /** Ops the ring keeps in the kernel at once. */
  readonly entries: number;
  /** Engines tried before this one, and why each was passed over. */
  readonly passedOver: readonly EngineAttempt[];

  #native: NativeRing;
  #results: Int32Array;
  #args: Float64Array;
  // The addon holds this only weakly while the ring is idle.
  readonly #onCompleteCallback = (count: number): void => this.#onComplete(count);
  // The request table: a slot per op in the engine, indexed by id.
  #free: Int32Array;
  #freeCount: number;
  #resolves: ((value: number) => void)[];
  #rejects: ((reason: unknown) => void)[];
  #ops: (Op | undefined)[];     // keeps each op's memory alive until it completes
  // Whether the signal of the op fired while the engine had it (1).
  #aborting: Uint8Array;
  readonly #aborts = new Aborts<Waiting>((started, waiting) => this.#abort(started, waiting));
  #waiting = new WaitQueue();
  #flushScheduled = false;
  #pendingCount = 0;         // ops queued since the last hand-over
  #flushAt: number;          // the count of pending ops that makes #start hand them over
  #submitBatch: number;
  /** Whether failures go to the aio engine's fallbacks (aio-fallback.ts). */
  #aio: boolean;
  #closed = false;
  #closing: Promise<void> | null = null;
  #idle: (() => void) | null = null;
  /** Places held for ops not yet submitted (a gathering sync batch, lib/sync.ts): close() waits for them. */
  #held = 0;
  #registeredBuffers = 0;
  #registeredFiles = 0;
  #registerFiles: boolean;
  #submitted = 0;
  #completed = 0;
  #errors = 0;
  #syncsRequested = 0;
  #syncsIssued = 0;
  readonly #flush = (): void => {
    this.#flushScheduled = false;
    this.#flushAt = this.#submitBatch;
    if (this.#pendingCount === 0) return;
    this.#pendingCount = 0;
    this.#native.flush();
  };

  constructor(options: RingOptions = {}) {
    // Every option is checked before an engine (and its thread) starts.
    const settings = checkRingOptions(options);
    watchCredentialChanges();
    const { native, passedOver } = startEngine(settings.engine, settings, this.#onCompleteCallback);
    this.#native = native;
    this.engine = native.engine as EngineName;
    this.entries = native.capacity;
    this.passedOver = passedOver;
    this.#results = native.results;
    this.#args = native.args;
    // The JS thread submits every op itself by default: it reads the
    // completions itself, and an op the ring's thread submitted would cost
    // that thread a wake-up in the kernel before its completion is posted
    // (docs/benchmarks.md has the figures). On aio it submits reads only,
    // with RWF_NOWAIT (but small reads of tmpfs files, which refuse it,
    // without; addon/engine_aio.cc).
    this.#args[QUEUE_ARG_INLINE_MAX] = settings.inlineMax ?? 0xffffffff;
    this.#submitBatch = settings.submitBatch;
    this.#flushAt = settings.submitBatch;
    this.#aio = this.engine === 'aio';
    this.#registerFiles = settings.registerFiles && this.engine === 'io_uring';
    const { entries } = this;
    this.#free = new Int32Array(entries);
    for (let i = 0; i < entries; i++) this.#free[i] = entries - 1 - i;
    this.#freeCount = entries;
    this.#resolves = new Array(entries).fill(undefined);
    this.#rejects = new Array(entries).fill(undefined);
    this.#ops = new Array(entries).fill(undefined);
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
      syncsRequested: this.#syncsRequested,
      syncsIssued: this.#syncsIssued,
    };
  }

  /** @internal lib/sync.ts: a datasync()/sync() call, counted in stats().syncsRequested */
  syncRequested(): void {
    this.#syncsRequested++;
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
   * Holds a place for an op to be submitted later (with `held` true), so that
   * a close() meanwhile waits for it rather than refusing it: false if the
   * ring is closed. Every place held is either used by submit() or given back
   * with releasePlace().
   * @internal lib/sync.ts
   */
  holdPlace(): boolean {
    if (this.#closed) return false;
    this.#held++;
    return true;
  }

  /** @internal lib/sync.ts: a place held that no op will use */
  releasePlace(): void {
    this.#held--;
    this.#checkIdle();
  }

  /**
   * Stops taking ops, waits for those in flight (and those that hold a place) to settle, then stops the
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
      if (this.#isIdle()) finish();
      else this.#idle = finish;
    });
    return this.#closing;
  }

  /**
   * Queues one op and returns its Promise. Its fields were checked by the
   * caller; the ring owns the record from here on. `op.buffer` stays
   * referenced until the op completes. `held`: the op uses a place held with
   * holdPlace(), and is taken even while the ring is closing.
   * @internal
   */
  submit(op: Op, held = false): Promise<number> {
    // A held place keeps a closing ring open (close() waits for it).
    if (held) this.#held--;
    else if (this.#closed) {
      return Promise.reject(ringClosedError(SYSCALLS[op.code], op.target.path));
    }
    const signal = op.signal;
    if (signal?.aborted === true) {
      if (held) this.#checkIdle();
      return Promise.reject(abortError(signal, 'queue', op.code, op.target));
    }
    const promise = new Promise<number>(capture);
    const resolve = nextResolve;
    const reject = nextReject;
    op.target.opStarted();
    if (this.#freeCount > 0) {
      this.#start(op, resolve, reject);
    } else {
      const item: Waiting = { op, resolve, reject, dead: false };
      if (signal !== undefined) this.#aborts.addWaiting(signal, item);
      this.#waiting.push(item);
    }
    return promise;
  }

  #start(op: Op, resolve: (value: number) => void, reject: (reason: unknown) => void): void {
    const id = this.#free[--this.#freeCount];
    // Hand over every submitBatch ops rather than only at the end of the
    // tick: at depth, a whole batch of completions is settled in one tick, and
    // waiting for its end kept the device idle (docs/benchmarks.md). The
    // addon hands them over as it queues this op (QUEUE_ARG_FLUSH), in the
    // same call.
    const flush = this.#pendingCount + 1 >= this.#flushAt;
    const status = this.#queue(op, id, flush);
    if (status !== 0) {
      this.#free[this.#freeCount++] = id;
      this.#errors++;
      reject(status === MISALIGNED_MEMORY ? misalignedMemoryError(op)
        : status === -ERANGE ? detachedError(op.code, op.target)
        : status === -EPERM && this.credentialsChanged ? this.#credentialsError(op)
        : errnoError(-status, SYSCALLS[op.code], undefined, op.target.path));
      // An op that waited for room was watched while it waited.
      if (op.signal !== undefined) this.#aborts.release(op.signal);
      op.target.opSettled();
      this.#checkIdle();
      return;
    }
    this.#resolves[id] = resolve;
    this.#rejects[id] = reject;
    this.#ops[id] = op;
    this.#submitted++;
    if (op.code === OP_FSYNC || op.code === OP_FDATASYNC) this.#syncsIssued++;
    // An aborted op that has an id is dropped if not yet submitted, else the
    // engine is asked to cancel it. Either way it settles when its
    // completion comes, so its memory stays referenced until then.
    if (op.signal !== undefined) this.#aborts.addStarted(op.signal, id);
    if (flush) {
      this.#pendingCount = 0;
      this.#flushAt = this.#submitBatch;
    } else if (++this.#pendingCount === 1 && !this.#flushScheduled) {
      // The rest go at the end of the tick. Nothing is scheduled while
      // nothing waits: at queue depth 1 every op goes at once, and a
      // process.nextTick per op cost a fifth of its user-space instructions.
      this.#flushScheduled = true;
      process.nextTick(this.#flush);
    }
  }

  /**
   * Hands `op` to the addon as request `id`: its fields in #args, then one
   * call; with `flush`, every op queued is handed to the engine after it.
   * 0, -errno or MISALIGNED_MEMORY (then nothing is handed over).
   */
  #queue(op: Op, id: number, flush: boolean): number {
    const args = this.#args;
    args[QUEUE_ARG_CODE] = op.code;
    args[QUEUE_ARG_FD] = op.fd;
    args[QUEUE_ARG_LENGTH] = op.length;
    args[QUEUE_ARG_ID] = id;
    args[QUEUE_ARG_MEMORY_ALIGNMENT] = op.memoryAlignment;
    args[QUEUE_ARG_RW_FLAGS] = op.rwFlags;
    args[QUEUE_ARG_FILE_INDEX] = op.target.fileIndex;
    args[QUEUE_ARG_SYNC_FILE] = op.target.syncFile ? 1 : 0;
    args[QUEUE_ARG_FLUSH] = flush ? 1 : 0;
    return this.#native.queue(op.buffer, op.position);
  }

  /** Called by the addon with `count` (id, result) pairs in #results. */
  #onComplete(count: number): void {
    // The first op queued from here on (by a caller's callback) is handed
    // over at once, with those already pending: at depth the device is idle
    // until a re-issued read reaches it (docs/benchmarks.md).
    this.#flushAt = this.#pendingCount + 1;
    const results = this.#results;
    // An op whose settling throws (a bug, or a handle patched by a test) does
    // not stop the others of the batch: the first error is rethrown once
    // they are all settled, and Node reports it as a callback's.
    let failure: { error: unknown } | undefined;
    for (let i = 0; i < count; i++) {
      try {
        this.#settle(results[2 * i], results[2 * i + 1]);
      } catch (error) {
        failure ??= { error };
      }
    }
    while (this.#freeCount > 0 && this.#waiting.length > 0) {
      const item = this.#waiting.shift()!;
      if (item.op.signal !== undefined) this.#aborts.deleteWaiting(item.op.signal, item);
      this.#start(item.op, item.resolve, item.reject);
    }
    this.#checkIdle();
    if (failure !== undefined) throw failure.error;
  }

  /** Settles op `id` with the engine's `result` (bytes, or -errno), and frees its slot. */
  #settle(id: number, result: number): void {
    const resolve = this.#resolves[id];
    const reject = this.#rejects[id];
    const op = this.#ops[id]!;
    this.#resolves[id] = undefined as never;
    this.#rejects[id] = undefined as never;
    this.#ops[id] = undefined;
    this.#free[this.#freeCount++] = id;
    this.#completed++;
    const signal = op.signal;
    let aborting = 0;
    if (signal !== undefined) {
      this.#aborts.deleteStarted(signal, id);
      aborting = this.#aborting[id];
      this.#aborting[id] = 0;
    }
    if (result >= 0) {
      resolve(result);
    } else if (result === DROPPED || (aborting !== 0 && (result === -ECANCELED || result === -EINTR))) {
      // DROPPED: the ring took it back before it was submitted.
      this.#errors++;
      reject(abortError(signal!, result === DROPPED ? 'queue' : 'engine', op.code, op.target));
    } else if (this.#aio && aioRefusal(result, op)) {
      runOnPool(op, (error, bytes) => {
        if (error === null) {
          resolve(bytes);
        } else {
          this.#errors++;
          reject(error);
        }
        op.target.opSettled();
      });
      return;
    } else {
      this.#errors++;
      reject(result === -EPERM && this.credentialsChanged ? this.#credentialsError(op) : opError(-result, op, this.engine));
    }
    op.target.opSettled();
  }

  /** The signal of these ops fired: the engine is asked to cancel those it has, those waiting are dropped. */
  #abort(started: ReadonlySet<number>, waiting: ReadonlySet<Waiting>): void {
    for (const id of started) {
      this.#native.cancel(id);
      this.#aborting[id] = 1;
    }
    for (const item of waiting) {
      if (item.dead) continue;
      this.#waiting.remove(item);
      const op = item.op;
      op.buffer = null;
      item.reject(abortError(op.signal!, 'queue', op.code, op.target));
      op.target.opSettled();
      this.#checkIdle();
    }
  }

  #isIdle(): boolean {
    return this.#freeCount === this.entries && this.#waiting.length === 0 && this.#held === 0;
  }

  #checkIdle(): void {
    if (this.#idle !== null && this.#isIdle()) {
      const idle = this.#idle;
      this.#idle = null;
      idle();
    }
  }

  /** The refusal of `op` by a ring whose process changed its credentials. */
  #credentialsError(op: Op): ErrnoError {
    // The default ring replaces itself: the next defaultRing() makes a new
    // one (its files keep this one, which refuses them with EPERM).
    if (defaultRingInstance === this) defaultRingInstance = undefined;
    return credentialsError(this.engine, op);
  }
}

// Each JS environment (the main thread, each worker) loads its own copy of
// this module, and so has its own default ring.
let defaultRingInstance: Ring | undefined;

/** The current environment's ring, created on first use. */
export function defaultRing(): Ring {
  if (defaultRingInstance === undefined || defaultRingInstance.closed) defaultRingInstance = new Ring();
  return defaultRingInstance;
}
