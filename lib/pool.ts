// Pools of aligned buffers. A pool is one aligned allocation cut into equal
// buffers; on an io_uring ring it is registered with the kernel (a fixed
// buffer), and every read or write into one of its buffers then goes out as
// READ_FIXED/WRITE_FIXED, which skips the per-op pinning of user pages.
import { allocAligned } from './alloc';
import { checkInteger } from './checks';
import { ErrnoError, errnoError, invalidArgType, invalidArgValue } from './errors';
import { defaultRing, Ring } from './ring';

export interface BufferPoolOptions {
  /** Bytes in each buffer. */
  size: number;
  /** Number of buffers. */
  count: number;
  /** Address alignment of each buffer (a power of two). Default 4096. */
  alignment?: number;
  /** The ring to register the pool with. Default: defaultRing(). */
  ring?: Ring;
}

const REASONS: Record<string, string> = {
  ENOMEM: 'the locked-memory limit (RLIMIT_MEMLOCK, `ulimit -l`) is smaller than the pool',
  ENOTSUP: 'only the io_uring engine has registered buffers',
  ENOSPC: 'the ring already holds as many registered pools as it can (64)',
  EINVAL: 'the kernel refused it (sparse buffer registration needs Linux 5.19)',
  EBADF: 'the ring is closed',
};

// When a pool's memory is collected without close(), give its slot back.
const slots = new FinalizationRegistry<{ ring: Ring; index: number }>(({ ring, index }) => {
  if (!ring.closed) ring.unregisterBuffer(index, undefined);
});

export class BufferPool {
  readonly size: number;
  readonly count: number;
  readonly alignment: number;
  readonly ring: Ring;
  /** Why the pool is not registered with its ring, or null when it is. */
  readonly registrationError: ErrnoError | null;
  #memory: Buffer;
  #buffers: Buffer[];
  #free: number[];
  #inUse: Uint8Array;
  #index = -1;  // the ring's fixed-buffer slot, -1 when not registered
  #closed = false;

  constructor(options: BufferPoolOptions) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    this.size = checkInteger(options.size, 'options.size', 1, 2 ** 31 - 1);
    this.count = checkInteger(options.count, 'options.count', 1, 2 ** 20);
    this.alignment = checkInteger(options.alignment ?? 4096, 'options.alignment', 1, 2 ** 30);
    if ((this.alignment & (this.alignment - 1)) !== 0) {
      throw invalidArgValue('options.alignment', 'must be a power of two', this.alignment);
    }
    if (this.size % this.alignment !== 0) {
      throw invalidArgValue('options.size', `must be a multiple of the alignment (${this.alignment}), so that every buffer is aligned`, this.size);
    }
    if (this.size * this.count > 2 ** 32) throw invalidArgValue('options', 'size * count must be at most 4 GiB', options);
    const ring = options.ring ?? defaultRing();
    if (!(ring instanceof Ring)) throw invalidArgType('options.ring', 'an instance of Ring', ring);
    this.ring = ring;
    this.#memory = allocAligned(this.size * this.count, this.alignment);
    this.#buffers = Array.from({ length: this.count },
      (_, i) => this.#memory.subarray(i * this.size, (i + 1) * this.size));
    this.#free = Array.from({ length: this.count }, (_, i) => this.count - 1 - i);
    this.#inUse = new Uint8Array(this.count);
    const index = ring.registerBuffer(this.#memory);
    if (index >= 0) {
      this.#index = index;
      this.registrationError = null;
      slots.register(this.#memory.buffer, { ring, index }, this);
    } else {
      const error = errnoError(-index, ring.engine === 'io_uring' ? 'io_uring_register' : 'register');
      error.message = `${error.code}: the pool works with plain buffers, it is not registered with the ` +
        `${ring.engine} ring: ${REASONS[error.code] ?? error.message}`;
      this.registrationError = error;
    }
  }

  /** Whether the pool's memory is registered with its ring (io_uring fixed buffers). */
  get registered(): boolean { return this.#index >= 0; }

  /** Buffers not acquired. */
  get available(): number { return this.#free.length; }

  /** A free buffer of `size` bytes, or undefined when all are in use. Its contents are what was left in it. */
  acquire(): Buffer | undefined {
    if (this.#closed) throw errnoError(9, 'acquire', 'the buffer pool is closed');
    const index = this.#free.pop();
    if (index === undefined) return undefined;
    this.#inUse[index] = 1;
    return this.#buffers[index];
  }

  /** Gives back a buffer that acquire() returned. */
  release(buffer: Buffer): void {
    const index = Buffer.isBuffer(buffer) && buffer.buffer === this.#memory.buffer
      ? (buffer.byteOffset - this.#memory.byteOffset) / this.size : -1;
    if (!Number.isInteger(index) || index < 0 || index >= this.count || this.#buffers[index] !== buffer) {
      throw invalidArgValue('buffer', 'must be a buffer that this pool\'s acquire() returned', buffer);
    }
    if (this.#inUse[index] === 0) throw invalidArgValue('buffer', 'was released already', buffer);
    this.#inUse[index] = 0;
    this.#free.push(index);
  }

  /**
   * Unregisters the pool from its ring. Buffers already acquired stay usable
   * (as plain buffers); acquire() throws afterwards.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#index >= 0) {
      slots.unregister(this);
      if (!this.ring.closed) this.ring.unregisterBuffer(this.#index, this.#memory);
      this.#index = -1;
    }
  }
}
