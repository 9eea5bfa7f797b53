// Ops waiting in JS for a free slot of their ring: callers never see a full
// queue, their ops wait here and are handed over as completions free room.
import type { Op } from './op';

/** An op waiting in JS for a free slot, with the resolving functions of its Promise. */
export interface Waiting {
  op: Op;
  resolve: (value: number) => void;
  reject: (reason: unknown) => void;
  /** Set when its signal fired while it waited: the op was dropped. */
  dead: boolean;
}

/** A FIFO of waiting ops that does not copy on every shift; aborted ops are skipped. */
export class WaitQueue {
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
