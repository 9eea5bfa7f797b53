// Group commit for a file's datasync() and sync(), and the memory of a sync
// that failed.
//
// A sync covers the writes that completed before it started. So a caller who
// arrives while a sync is in flight cannot be settled by it (that sync may
// have started before the caller's write completed), but it can share the
// next one with everyone else who arrives meanwhile: one system call for
// all of them, as databases do for their commits. The next sync starts at the
// end of the tick in which the current one completes (or in which its first
// caller arrived, when none was in flight), so the callers that a batch of
// completions wakes all join it.
//
// The kernel reports a writeback error to a descriptor once (Linux 4.13,
// errseq_t): a later fsync of the same descriptor succeeds although the data
// never reached the device (PostgreSQL's "fsyncgate", 2018). So a file
// remembers the first sync that failed and fails every later sync with it;
// a dsync write syncs too, so its failure with EIO, ENOSPC or EDQUOT is
// remembered as well (lib/file.ts).
import { OP_FDATASYNC, OP_FSYNC } from './native';
import { abortError, ErrnoError, errnoError, isBeforeSyscall } from './errors';

/** What a SyncGroup needs of its file. */
export interface SyncTarget {
  readonly path: string;
  /** Counts a sync as in flight on the file, so that close() waits for it. */
  opStarted(): void;
  opSettled(): void;
  /**
   * Holds a place on the ring for a sync to be submitted later, so that
   * closing the ring waits for it: false if the ring is closed.
   */
  holdPlace(): boolean;
  /** Gives back a place held that no sync will use. */
  releasePlace(): void;
  /** Hands one fsync (OP_FSYNC) or fdatasync (OP_FDATASYNC) to the ring, in a place held. */
  submitSync(code: number): Promise<number>;
  /** The error of a sync refused because the ring is closed. */
  ringClosed(code: number): ErrnoError;
  /** Counts a datasync()/sync() call in the ring's stats. */
  syncRequested(): void;
}

interface Waiter {
  /** sync() rather than datasync(): only an fsync settles it. */
  readonly full: boolean;
  readonly resolve: () => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly batch: Batch;
}

/** The callers one system call settles. */
interface Batch {
  readonly waiters: Set<Waiter>;
  started: boolean;
}

/**
 * Whether a failed sync is remembered: every error the kernel returned from
 * the sync itself is, whatever its code (on NFS or FUSE a failed writeback
 * can surface once as EROFS or EPERM as well as EIO). Only the errors the
 * library made before any system call (a closed ring, changed credentials,
 * an abort: lib/errors.ts beforeSyscall()) show that nothing was written back.
 */
function isRemembered(error: unknown): error is ErrnoError {
  if (!(error instanceof Error) || isBeforeSyscall(error)) return false;
  const { code, errno } = error as Partial<ErrnoError>;
  return typeof code === 'string' && typeof errno === 'number';
}

/**
 * The codes of a failed dsync write that may mean a failed writeback: the
 * write's own sync consumed the kernel's one report of it. Other codes
 * (EINVAL, EFBIG, EBADF...) refuse the write before any writeback.
 */
const WRITEBACK_CODES = new Set(['EIO', 'ENOSPC', 'EDQUOT']);

/** The coalesced datasync()/sync() calls of one file. */
export class SyncGroup {
  readonly #target: SyncTarget;
  /** The batch whose system call is in flight. */
  #running: Batch | null = null;
  /** The batch gathering callers, started when #running completes. */
  #next: Batch | null = null;
  #startScheduled = false;
  /** The first sync of this file that failed, remembered until it is closed. */
  #failure: ErrnoError | null = null;
  /** The callers of each signal, watched by one listener per signal (as lib/aborts.ts does for ops). */
  readonly #watched = new Map<AbortSignal, { listener: () => void; waiters: Set<Waiter> }>();
  readonly #start = (): void => this.#startNext();

  constructor(target: SyncTarget) {
    this.#target = target;
  }

  /**
   * A dsync write of this file failed with `error`: remembered as a failed
   * sync if it may be a failed writeback (EIO, ENOSPC, EDQUOT from the kernel).
   */
  writeFailed(error: unknown): void {
    if (this.#failure === null && isRemembered(error) && WRITEBACK_CODES.has(error.code)) this.#failure = error;
  }

  /**
   * A datasync() (`full` false) or sync() (`full` true) call, arguments
   * checked and the file open: resolves once a sync that started after this
   * call has completed.
   */
  request(full: boolean, signal: AbortSignal | undefined): Promise<void> {
    const code = full ? OP_FSYNC : OP_FDATASYNC;
    if (signal?.aborted === true) return Promise.reject(abortError(signal, 'queue', code, this.#target));
    if (this.#failure !== null) return Promise.reject(this.#rememberedError(code));
    let batch = this.#next;
    if (batch === null) {
      // The batch holds a place on the ring, so that ring.close() waits for
      // it, and keeps the file's descriptor open until it settles.
      if (!this.#target.holdPlace()) return Promise.reject(this.#target.ringClosed(code));
      batch = this.#next = { waiters: new Set(), started: false };
      this.#target.opStarted();
      if (this.#running === null) this.#scheduleStart();
    }
    this.#target.syncRequested();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { full, resolve, reject, signal, batch };
      batch.waiters.add(waiter);
      if (signal !== undefined) this.#watch(signal, waiter);
    });
  }

  #watch(signal: AbortSignal, waiter: Waiter): void {
    let watched = this.#watched.get(signal);
    if (watched === undefined) {
      const entry = {
        listener: (): void => {
          this.#watched.delete(signal);
          for (const each of [...entry.waiters]) this.#abort(each);
          entry.waiters.clear();
        },
        waiters: new Set<Waiter>(),
      };
      watched = entry;
      this.#watched.set(signal, entry);
      signal.addEventListener('abort', entry.listener, { once: true });
    }
    watched.waiters.add(waiter);
  }

  /** Stops watching the signal of a settled caller once none of its callers is left. */
  #unwatch(waiter: Waiter): void {
    const signal = waiter.signal!;
    const watched = this.#watched.get(signal);
    if (watched === undefined) return;
    watched.waiters.delete(waiter);
    if (watched.waiters.size > 0) return;
    this.#watched.delete(signal);
    signal.removeEventListener('abort', watched.listener);
  }

  #scheduleStart(): void {
    if (this.#startScheduled) return;
    this.#startScheduled = true;
    process.nextTick(this.#start);
  }

  #startNext(): void {
    this.#startScheduled = false;
    const batch = this.#next;
    if (batch === null || this.#running !== null) return;
    this.#next = null;
    if (this.#failure !== null) {
      // A sync now would succeed and lie: the kernel has reported the error.
      this.#target.releasePlace();
      this.#settle(batch, (waiter) => this.#rememberedError(waiter.full ? OP_FSYNC : OP_FDATASYNC));
      return;
    }
    // A sync() among the callers makes it an fsync, which settles the datasync() callers too.
    let full = false;
    for (const waiter of batch.waiters) full ||= waiter.full;
    batch.started = true;
    this.#running = batch;
    this.#target.submitSync(full ? OP_FSYNC : OP_FDATASYNC).then(
      () => this.#completed(batch, null),
      (error: unknown) => this.#completed(batch, error));
  }

  #completed(batch: Batch, error: unknown): void {
    this.#running = null;
    if (error !== null && this.#failure === null && isRemembered(error)) this.#failure = error;
    // Every caller who shared the failed sync gets its error.
    this.#settle(batch, error === null ? null : () => error);
    if (this.#next !== null) this.#scheduleStart();
  }

  /** Settles every caller still waiting on `batch` (with `errorFor(waiter)` unless null), then the batch. */
  #settle(batch: Batch, errorFor: ((waiter: Waiter) => unknown) | null): void {
    for (const waiter of batch.waiters) {
      if (waiter.signal !== undefined) this.#unwatch(waiter);
      if (errorFor === null) waiter.resolve();
      else waiter.reject(errorFor(waiter));
    }
    batch.waiters.clear();
    this.#target.opSettled();
  }

  /**
   * A caller whose signal fired leaves its batch at once. A batch not yet
   * started that nobody is left waiting for is dropped; one in flight goes on
   * for the others (and a failure of it is still remembered).
   */
  #abort(waiter: Waiter): void {
    const { batch } = waiter;
    const code = waiter.full ? OP_FSYNC : OP_FDATASYNC;
    if (!batch.waiters.delete(waiter)) return;
    waiter.reject(abortError(waiter.signal!, batch.started ? 'shared' : 'queue', code, this.#target));
    if (!batch.started && batch.waiters.size === 0 && this.#next === batch) {
      this.#next = null;
      this.#target.releasePlace();
      this.#target.opSettled();
    }
  }

  /** The error of a sync after an earlier one failed: its code, and the first failure as `cause`. */
  #rememberedError(code: number): ErrnoError {
    const first = this.#failure!;
    const syscall = code === OP_FSYNC ? 'fsync' : 'fdatasync';
    const what = first.syscall === 'fsync' || first.syscall === 'fdatasync' ? first.syscall : `dsync ${first.syscall}`;
    const error = errnoError(-first.errno, syscall,
      `${syscall} '${this.#target.path}' refused: an earlier ${what} of this file failed ` +
      `(${first.code}), so data written before that failure may not be on the device; the kernel reports ` +
      'a writeback error only once, so every later sync of this file fails the same way until it is closed ' +
      '(reopen the file, write that data again, then sync)',
      this.#target.path);
    error.cause = first;
    return error;
  }
}
