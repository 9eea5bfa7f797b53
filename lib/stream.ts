// Node streams over direct I/O: a Readable that keeps several aligned reads in
// flight, and a Writable that gathers data into aligned blocks, keeps several
// block writes in flight, and ends the file at the exact size written.
import { addAbortSignal, Readable, Writable } from 'stream';
import fs = require('fs');
import { allocAligned } from './alloc';
import { checkInteger, checkSignal } from './checks';
import { errnoError, invalidArgType, invalidArgValue, outOfRange } from './errors';
import { DirectFile, open, PathLike } from './file';
import { parseFlags } from './flags';
import { Ring } from './ring';

export const DEFAULT_STREAM_HIGH_WATER_MARK = 1 << 20;
export const DEFAULT_STREAM_QUEUE_DEPTH = 4;
/** The largest read or write a stream issues; rounding up to the alignment stays within one transfer. */
const MAX_HIGH_WATER_MARK = 1 << 30;
const MAX_QUEUE_DEPTH = 4096;
/** Stream buffers are aligned to at least a page, as allocAligned's default. */
const PAGE = 4096;

export interface ReadStreamOptions {
  /** The first byte to read. Default 0. */
  start?: number;
  /** The last byte to read (inclusive), as in fs.createReadStream. Default: to the end of the file. */
  end?: number;
  /** Bytes in each read, rounded up to the file's alignment. Default 1 MiB. */
  highWaterMark?: number;
  /** Reads kept in flight at once. Default 4. */
  queueDepth?: number;
  /** The ring to open the path on (not used for a DirectFile). Default: defaultRing(). */
  ring?: Ring;
  /** Aborting it destroys the stream with an AbortError and aborts its reads in flight. */
  signal?: AbortSignal;
}

export interface WriteStreamOptions {
  /** Open flags, as open() takes them, without O_APPEND. Default 'w'. */
  flags?: string | number;
  /** Permission bits of a created file. Default 0o666 (before the umask). */
  mode?: number;
  /** Bytes in each block written, rounded up to the file's alignment. Default 1 MiB. */
  highWaterMark?: number;
  /** Block writes kept in flight at once. Default 4. */
  queueDepth?: number;
  /** datasync() the file before the stream finishes. Default false. */
  flush?: boolean;
  /** The ring to open the path on (not used for a DirectFile). Default: defaultRing(). */
  ring?: Ring;
  /** Aborting it destroys the stream with an AbortError and aborts its writes in flight. */
  signal?: AbortSignal;
}

function checkOptions(options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  return options as Record<string, unknown>;
}

/** How a stream issues its ops: bytes in each, how many in flight, and what each is given (the stream's signal). */
interface StreamOps {
  highWaterMark: number;
  queueDepth: number;
  io: { signal?: AbortSignal };
}

/** What both streams check first, in this order: their ops, then the file (its path or DirectFile, and the ring). */
function checkShared(target: unknown, options: Record<string, unknown>): { ops: StreamOps; file: StreamFile } {
  const highWaterMark = checkInteger(options.highWaterMark ?? DEFAULT_STREAM_HIGH_WATER_MARK, 'options.highWaterMark', 1,
    MAX_HIGH_WATER_MARK);
  const queueDepth = checkInteger(options.queueDepth ?? DEFAULT_STREAM_QUEUE_DEPTH, 'options.queueDepth', 1, MAX_QUEUE_DEPTH);
  const signal = checkSignal(options.signal);
  const io = signal === undefined ? {} : { signal };
  return { ops: { highWaterMark, queueDepth, io }, file: new StreamFile(target, options.ring) };
}

/**
 * The file of a stream: a path that the stream opens (on `ring`) and closes,
 * or an open DirectFile that it uses and leaves open.
 */
class StreamFile {
  readonly path: PathLike;
  file: DirectFile | null;
  readonly #owned: boolean;
  readonly #ring: Ring | undefined;

  constructor(target: unknown, ring: unknown) {
    if (target instanceof DirectFile) {
      this.path = target.path;
      this.file = target;
      this.#owned = false;
      return;
    }
    if (typeof target !== 'string' && !Buffer.isBuffer(target) && !(target instanceof URL)) {
      throw invalidArgType('path', 'of type string or an instance of Buffer, URL or DirectFile', target);
    }
    if (ring !== undefined && !(ring instanceof Ring)) throw invalidArgType('options.ring', 'an instance of Ring', ring);
    this.path = target;
    this.file = null;
    this.#owned = true;
    this.#ring = ring;
  }

  /**
   * For _construct: takes the DirectFile given or opens the path with
   * `flags`, runs `setup`, and ends _construct. Then, as fs streams do, emits
   * 'open' (with the descriptor) and 'ready', on the next tick, once the
   * stream has marked itself constructed: by 'ready', read() and write() go
   * straight to the stream.
   */
  construct(stream: Readable | Writable, flags: number | string, mode: number | undefined,
    setup: (file: DirectFile) => void, callback: (error?: Error | null) => void): void {
    const opening = this.file !== null ? Promise.resolve(this.file) : open(this.path, flags, { mode, ring: this.#ring });
    opening.then((file) => {
      this.file = file;
      setup(file);
    }).then(() => {
      callback();
      process.nextTick(() => {
        stream.emit('open', this.file!.fd);
        stream.emit('ready');
      });
    }, callback);
  }

  /**
   * For _destroy: once the stream's ops in flight have settled, closes the
   * file if the stream opened it, then calls back with the stream's error
   * (or else the close's).
   */
  release(inFlight: Iterable<Promise<void>>, error: Error | null, callback: (error?: Error | null) => void): void {
    Promise.all(inFlight)
      .then(() => (this.#owned && this.file !== null ? this.file.close() : undefined))
      .then(() => callback(error), (closeError: Error) => callback(error ?? closeError));
  }
}

function roundUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/** A read in flight or done, in the order the stream emits them. */
interface ChunkRead {
  position: number;
  length: number;
  buffer: Buffer;
  bytes: number;
  error: unknown;
  done: boolean;
}

/**
 * A Readable of a file's bytes from `start` to `end` (inclusive). It keeps
 * `queueDepth` aligned reads of `highWaterMark` bytes in flight, and emits
 * exactly the bytes asked for, each chunk a Buffer of its own.
 */
export class DirectReadStream extends Readable {
  /** Bytes emitted so far. */
  bytesRead = 0;
  readonly #target: StreamFile;
  readonly #start: number;
  /** One past the last byte to emit; Infinity: to the end of the file. */
  readonly #end: number;
  readonly #ops: StreamOps;
  #chunkSize = 0;
  #next = 0;          // the aligned position of the next read
  #readEnd = 0;       // the aligned end of the last read; Infinity: to the end of the file
  #reads: ChunkRead[] = [];
  #inFlight = new Set<Promise<void>>();
  #atEnd = false;     // a short read or the end of the range: no more reads
  #ended = false;     // push(null) done
  #wanted = false;    // the consumer asked for data that has not been pushed yet

  constructor(target: PathLike | DirectFile, options?: ReadStreamOptions) {
    // Everything is checked before super(): Readable schedules _construct as soon as it exists.
    const opts = checkOptions(options);
    const { ops, file } = checkShared(target, opts);
    const start = checkInteger(opts.start ?? 0, 'options.start', 0, Number.MAX_SAFE_INTEGER);
    let end = Infinity;
    if (opts.end !== undefined && opts.end !== Infinity) {
      end = checkInteger(opts.end, 'options.end', 0, Number.MAX_SAFE_INTEGER - 1) + 1;
      if (start >= end) throw outOfRange('options.start', `<= "end" (here: ${end - 1})`, start);
    }
    super({ highWaterMark: ops.highWaterMark });
    this.#target = file;
    this.#start = start;
    this.#end = end;
    this.#ops = ops;
    // Only now that the fields exist: an aborted signal destroys the stream at once, and _destroy uses them.
    if (ops.io.signal !== undefined) addAbortSignal(ops.io.signal, this);
  }

  /** The path given, or the DirectFile's path. */
  get path(): PathLike { return this.#target.path; }

  /** The file read, once open. */
  get file(): DirectFile | null { return this.#target.file; }

  override _construct(callback: (error?: Error | null) => void): void {
    this.#target.construct(this, 'r', undefined, (file) => {
      const { offset } = file.alignment;
      this.#chunkSize = roundUp(this.#ops.highWaterMark, offset);
      this.#next = this.#start - (this.#start % offset);
      this.#readEnd = this.#end === Infinity ? Infinity : roundUp(this.#end, offset);
    }, callback);
  }

  override _read(): void {
    this.#wanted = true;
    this.#pump();
  }

  /** Pushes the reads that are done, in order, while the consumer wants data; then issues more. */
  #pump(): void {
    if (this.destroyed) return;
    while (this.#wanted && this.#reads.length > 0 && this.#reads[0].done) {
      const read = this.#reads.shift()!;
      if (read.error !== null) {
        this.destroy(read.error as Error);
        return;
      }
      // A short read is the end of the file: the reads after it are not used.
      if (read.bytes < read.length) {
        this.#atEnd = true;
        this.#reads = [];
      }
      const from = Math.max(0, this.#start - read.position);
      const to = Math.max(from, Math.min(read.bytes, this.#end - read.position));
      if (to > from) {
        this.bytesRead += to - from;
        this.#wanted = this.push(read.buffer.subarray(from, to));
      }
    }
    // A 'data' listener may have destroyed the stream: no read may start after _destroy has waited.
    if (this.destroyed) return;
    while (!this.#atEnd && this.#reads.length < this.#ops.queueDepth) {
      if (this.#next >= this.#readEnd) {
        this.#atEnd = true;
        break;
      }
      try {
        this.#issue();
      } catch (error) {
        this.destroy(error as Error);  // no memory for the buffer
        return;
      }
    }
    if (this.#atEnd && this.#reads.length === 0 && !this.#ended) {
      this.#ended = true;
      this.push(null);
    }
  }

  #issue(): void {
    const file = this.#target.file!;
    const length = Math.min(this.#chunkSize, this.#readEnd - this.#next);
    const read: ChunkRead = {
      position: this.#next,
      length,
      buffer: allocAligned(length, Math.max(file.alignment.memory, PAGE)),
      bytes: 0,
      error: null,
      done: false,
    };
    this.#next += length;
    this.#reads.push(read);
    const settled = file.readAt(read.buffer, read.position, { ...this.#ops.io, length }).then(
      (bytes) => { read.bytes = bytes; },
      (error: unknown) => { read.error = error; },
    ).then(() => {
      read.done = true;
      this.#inFlight.delete(settled);
      this.#pump();
    });
    this.#inFlight.add(settled);
  }

  /** Waits for the reads in flight, then closes the file if the stream opened it. */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#reads = [];
    this.#target.release(this.#inFlight, error, callback);
  }
}

/**
 * A Writable that writes a file from its start: it gathers the data into
 * aligned blocks of `highWaterMark` bytes, keeps up to `queueDepth` block
 * writes in flight, and at the end writes the last block zero-padded to the
 * alignment, then truncates the file to the exact number of bytes written.
 */
export class DirectWriteStream extends Writable {
  /** Bytes whose writes have completed (the padding of the last block not counted). */
  bytesWritten = 0;
  readonly #target: StreamFile;
  readonly #flags: number;
  readonly #mode: number | undefined;
  readonly #ops: StreamOps;
  readonly #flush: boolean;
  #block: Buffer = Buffer.alloc(0);   // the block being filled
  #filled = 0;                        // bytes of data in #block
  #position = 0;                      // where #block goes in the file
  #spare: Buffer[] = [];              // blocks whose writes are done
  #inFlight = new Set<Promise<void>>(); // block writes; they never reject
  #error: Error | null = null;        // the first write that failed

  constructor(target: PathLike | DirectFile, options?: WriteStreamOptions) {
    // Everything is checked before super(): Writable schedules _construct as soon as it exists.
    const opts = checkOptions(options);
    const { ops, file } = checkShared(target, opts);
    const flags = parseFlags(opts.flags ?? 'w');
    // With O_APPEND the kernel places each block at the end of the file, in
    // the order the writes in flight complete, whatever position they name.
    const given = file.file;
    if (((given?.flags ?? flags) & fs.constants.O_APPEND) !== 0) {
      throw invalidArgValue(given !== null ? 'path' : 'options.flags',
        'must not append (O_APPEND): blocks written together would land in any order', given?.path ?? opts.flags);
    }
    const mode = opts.mode === undefined ? undefined : checkInteger(opts.mode, 'options.mode', 0, 0o7777);
    if (opts.flush !== undefined && typeof opts.flush !== 'boolean') {
      throw invalidArgValue('options.flush', 'must be a boolean', opts.flush);
    }
    super({ highWaterMark: ops.highWaterMark });
    this.#target = file;
    this.#flags = flags;
    this.#mode = mode;
    this.#flush = opts.flush === true;
    this.#ops = ops;
    // Only now that the fields exist: an aborted signal destroys the stream at once, and _destroy uses them.
    if (ops.io.signal !== undefined) addAbortSignal(ops.io.signal, this);
  }

  /** The path given, or the DirectFile's path. */
  get path(): PathLike { return this.#target.path; }

  /** The file written, once open. */
  get file(): DirectFile | null { return this.#target.file; }

  override _construct(callback: (error?: Error | null) => void): void {
    this.#target.construct(this, this.#flags, this.#mode, () => {
      this.#block = this.#allocBlock();
    }, callback);
  }

  #allocBlock(): Buffer {
    const { memory, offset } = this.#target.file!.alignment;
    return allocAligned(roundUp(this.#ops.highWaterMark, offset), Math.max(memory, PAGE));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#take(chunk).then(() => callback(), callback);
  }

  /** Copies `chunk` into blocks, writing each block as it fills (after waiting for room). */
  async #take(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const copied = chunk.copy(this.#block, this.#filled, offset);
      this.#filled += copied;
      offset += copied;
      if (this.#filled === this.#block.length) {
        // Blocks go out at once while there is room: the kernel gets queueDepth of them together.
        if (this.#inFlight.size >= this.#ops.queueDepth) await this.#room();
        this.#writeBlock(this.#block.length);
      }
    }
  }

  /** Resolves once fewer than queueDepth writes are in flight. */
  async #room(): Promise<void> {
    while (this.#inFlight.size >= this.#ops.queueDepth) await Promise.race(this.#inFlight);
  }

  /**
   * Throws the first write's error; and once the stream is destroyed, stops
   * what was waiting for writes from touching a file its owner still uses.
   */
  #checkUsable(): void {
    if (this.#error !== null) throw this.#error;
    if (this.destroyed) {
      throw Object.assign(new Error('Cannot call write after a stream was destroyed'), { code: 'ERR_STREAM_DESTROYED' });
    }
  }

  /** Writes the first `length` bytes of the current block at its place. Throws the first write's error. */
  #writeBlock(length: number): void {
    this.#checkUsable();
    const block = this.#block;
    const data = this.#filled;
    const position = this.#position;
    const write: Promise<void> = this.#writeFully(block, position, length).then(() => {
      this.bytesWritten += data;
      this.#spare.push(block);
    }, (error: Error) => {
      this.#error ??= error;
    }).then(() => {
      this.#inFlight.delete(write);
    });
    this.#inFlight.add(write);
    this.#position += length;
    this.#block = this.#spare.pop() ?? this.#allocBlock();
    this.#filled = 0;
  }

  /** A write that the kernel cut short (a full disk) goes on for the rest, to get the kernel's error. */
  async #writeFully(block: Buffer, position: number, length: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const written = await this.#target.file!.writeAt(block.subarray(done, length), position + done, this.#ops.io);
      if (written === 0) {
        throw errnoError(5, 'write', `write of ${length - done} bytes at offset ${position + done} of ` +
          `'${this.#target.file!.path}' wrote nothing`, this.#target.file!.path);
      }
      done += written;
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#finish().then(() => callback(), callback);
  }

  /** Writes the last block padded with zeros to the alignment, waits for every write, and cuts the padding. */
  async #finish(): Promise<void> {
    const size = this.#position + this.#filled;
    if (this.#filled > 0) {
      const length = roundUp(this.#filled, this.#target.file!.alignment.offset);
      this.#block.fill(0, this.#filled, length);
      await this.#room();
      this.#writeBlock(length);
    }
    await Promise.all(this.#inFlight);
    this.#checkUsable();
    await this.#target.file!.truncate(size);
    if (this.#flush) await this.#target.file!.datasync();
  }

  /** Waits for the writes in flight, then closes the file if the stream opened it. */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#target.release(this.#inFlight, error, callback);
  }
}

/** A Readable of the file at `path` (or of an open DirectFile), read with direct I/O. */
export function createReadStream(path: PathLike | DirectFile, options?: ReadStreamOptions): DirectReadStream {
  return new DirectReadStream(path, options);
}

/** A Writable to the file at `path` (or to an open DirectFile), written with direct I/O. */
export function createWriteStream(path: PathLike | DirectFile, options?: WriteStreamOptions): DirectWriteStream {
  return new DirectWriteStream(path, options);
}
