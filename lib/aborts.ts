// The ops of each AbortSignal on a ring, watched by one listener per signal:
// a signal shared by thousands of ops costs one listener, not thousands.

interface Watched<W> {
  listener: () => void;
  /** Ops still waiting in JS for room. */
  waiting: Set<W>;
  /** Ids of ops handed to the engine. */
  started: Set<number>;
}

export class Aborts<W> {
  readonly #watched = new Map<AbortSignal, Watched<W>>();
  /** Called once when a signal fires, with its ops at that moment; they are forgotten then. */
  readonly #onAbort: (started: ReadonlySet<number>, waiting: ReadonlySet<W>) => void;

  constructor(onAbort: (started: ReadonlySet<number>, waiting: ReadonlySet<W>) => void) {
    this.#onAbort = onAbort;
  }

  #watch(signal: AbortSignal): Watched<W> {
    let watched = this.#watched.get(signal);
    if (watched === undefined) {
      const entry: Watched<W> = {
        listener: () => {
          this.#watched.delete(signal);
          this.#onAbort(entry.started, entry.waiting);
          entry.started.clear();
          entry.waiting.clear();
        },
        waiting: new Set(),
        started: new Set(),
      };
      watched = entry;
      this.#watched.set(signal, entry);
      signal.addEventListener('abort', entry.listener, { once: true });
    }
    return watched;
  }

  /** An op of `signal` waits for room. */
  addWaiting(signal: AbortSignal, item: W): void { this.#watch(signal).waiting.add(item); }

  /** It stops waiting: to be started (addStarted) or refused (release). */
  deleteWaiting(signal: AbortSignal, item: W): void { this.#watched.get(signal)?.waiting.delete(item); }

  /** The engine has op `id` of `signal`. */
  addStarted(signal: AbortSignal, id: number): void { this.#watch(signal).started.add(id); }

  /** Op `id` of `signal` has settled. */
  deleteStarted(signal: AbortSignal, id: number): void {
    const watched = this.#watched.get(signal);
    if (watched === undefined) return;
    watched.started.delete(id);
    this.#release(signal, watched);
  }

  /** Stops watching `signal` if none of its ops is left. */
  release(signal: AbortSignal): void {
    const watched = this.#watched.get(signal);
    if (watched !== undefined) this.#release(signal, watched);
  }

  #release(signal: AbortSignal, watched: Watched<W>): void {
    if (watched.waiting.size === 0 && watched.started.size === 0) {
      signal.removeEventListener('abort', watched.listener);
      this.#watched.delete(signal);
    }
  }
}
