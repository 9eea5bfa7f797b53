// A progress line on stderr, redrawn on a timer: the work it reports on only
// bumps counters that the timer reads, so it costs the hot loop nothing.

/** "[=========>          ]" for `fraction` (0 to 1) in `width` cells. */
export function bar(fraction: number, width = 24): string {
  const clamped = Math.min(Math.max(fraction, 0), 1);
  const filled = Math.floor(clamped * width);
  const head = filled < width ? '>' : '';
  return `[${'='.repeat(filled)}${head}${' '.repeat(Math.max(0, width - filled - head.length))}]`;
}

export class Progress {
  readonly #render: () => string;
  readonly #intervalMs: number;
  readonly #stream: NodeJS.WriteStream;
  #timer: NodeJS.Timeout | null = null;

  /**
   * Shows `render()` every `intervalMs` on stderr while started, when
   * `enabled` (callers pass whether stderr is a terminal and the output is
   * not meant for a program); otherwise start and stop do nothing.
   */
  constructor(render: () => string, readonly enabled: boolean, intervalMs = 200) {
    this.#render = render;
    this.#intervalMs = intervalMs;
    this.#stream = process.stderr;
  }

  /** Whether progress should be shown: stderr is a terminal and the output is not JSON. */
  static wanted(json = false): boolean {
    return process.stderr.isTTY === true && !json;
  }

  start(): void {
    if (!this.enabled || this.#timer !== null) return;
    this.#draw();
    this.#timer = setInterval(() => this.#draw(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops redrawing and clears the line. */
  stop(): void {
    if (this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
    this.#stream.write('\r\x1b[K');
  }

  #draw(): void {
    const columns = this.#stream.columns > 0 ? this.#stream.columns : 80;
    this.#stream.write(`\r${this.#render().slice(0, Math.max(columns - 1, 20))}\x1b[K`);
  }
}
