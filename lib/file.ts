// Files opened for direct I/O, and I/O on descriptors the caller opened.
import fs = require('fs');
import { fileURLToPath } from 'url';
import { binding, NativeAtomicWrite, OP_FALLOCATE, OP_READ, OP_READV, OP_WRITE, OP_WRITEV, SYSCALLS } from './native';
import { ringClosedError } from './op-errors';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, RWF_ATOMIC, RWF_DONTCACHE, RWF_DSYNC } from './kernel';
import { AtomicWriteInfo, atomicWriteInfo, AtomicWriteLimits, brokenAtomicWriteRule, noAtomicWriteError } from './atomic';
import { alignmentError, ErrnoError, errnoError, invalidArgType, invalidArgValue } from './errors';
import {
  checkAllocateLength, checkBuffer, checkBuffers, checkEnd, checkSignal, checkFd, checkInteger, checkIoOptions, checkLength, checkPosition, IoOptions, remainder,
} from './checks';
import type { OpTarget } from './op';
import { defaultRing, Ring } from './ring';
import { parseFlags } from './flags';
import { planRead, planReadMany, ReadManyOptions, ReadOptions, ReadPlan, ReadRange, runReadPlan } from './ranges';
import { checkTruncateLength } from './checks';
import { SyncGroup } from './sync';

const { O_DIRECT, O_CREAT, O_EXCL, O_TRUNC, O_ACCMODE, O_RDONLY, O_DSYNC, O_APPEND } = fs.constants as typeof fs.constants & { O_ACCMODE?: number };
const ACCESS_MODE = O_ACCMODE ?? 3;

/** Direct-I/O alignment, in bytes. */
export interface Alignment {
  /** Buffer addresses must be multiples of this. */
  readonly memory: number;
  /** File offsets and lengths must be multiples of this. */
  readonly offset: number;
}

/**
 * How a file's I/O meets the page cache: 'direct' (O_DIRECT: not at all,
 * with alignment rules), 'uncached' (through it, but every read and write
 * drops its pages when done: RWF_DONTCACHE), or 'buffered' (the page cache,
 * as fs does).
 */
export type FileMode = 'direct' | 'uncached' | 'buffered';

/** Where `alignment` came from: the filesystem, the block device, or the defaults. */
export type AlignmentSource = 'statx' | 'block-device' | 'default' | 'buffered';
const SOURCES: AlignmentSource[] = ['statx', 'block-device', 'default'];

export interface OpenOptions {
  /**
   * true (default): O_DIRECT; false: the page cache; 'auto': O_DIRECT where
   * the filesystem takes it; 'uncached': no O_DIRECT and no alignment rules,
   * but every read and write passes RWF_DONTCACHE (Linux 6.14), so the page
   * cache does not keep what it read or wrote (EOPNOTSUPP at open where the
   * kernel or the filesystem does not take it).
   */
  direct?: boolean | 'auto' | 'uncached';
  /** Permission bits for a created file. Default 0o666 (before the umask). */
  mode?: number;
  /** The ring this file's I/O goes through. Default: defaultRing(). */
  ring?: Ring;
  /**
   * Open with O_DSYNC: every write is durable (data, and the metadata needed
   * to read it back) when it completes, as if each were followed by
   * datasync(). Default false.
   */
  dsync?: boolean;
}

export type PathLike = string | Buffer | URL;

export function toPath(path: unknown): string {
  if (typeof path === 'string') {
    if (path.includes('\0')) throw invalidArgValue('path', 'must be a string without null bytes', path);
    return path;
  }
  if (Buffer.isBuffer(path)) return toPath(path.toString());
  if (path instanceof URL) return fileURLToPath(path);
  throw invalidArgType('path', 'of type string or an instance of Buffer or URL', path);
}

interface Opened {
  fd: number;
  alignment: Alignment;
  source: AlignmentSource;
  atomicWrite: NativeAtomicWrite;
}

/** The descriptor opened, or -errno; with `uncached`, UNCACHED_REFUSED where RWF_DONTCACHE is not taken. */
function openNative(path: string, flags: number, mode: number, uncached = false): Promise<Opened | number> {
  return new Promise((resolve) => {
    binding.openFile(path, flags, mode, (fd, memory, offset, source, atomicWrite, dontcache) => {
      if (dontcache < 0) resolve(UNCACHED_REFUSED);
      else resolve(fd < 0 ? fd : { fd, alignment: Object.freeze({ memory, offset }), source: SOURCES[source], atomicWrite });
    }, uncached);
  });
}

/** What openNative() resolves to when the file does not take RWF_DONTCACHE: not an errno. */
const UNCACHED_REFUSED = -(1 << 30);

function closeFd(fd: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => binding.closeFile(fd, (result) => {
    if (result < 0) reject(errnoError(-result, 'close', undefined, path));
    else resolve();
  }));
}

/**
 * Opens a file for direct I/O. `flags` are Node's ('r', 'r+', 'w', 'w+', 'a',
 * 'ax'...) or a number from fs.constants; O_DIRECT is added unless
 * `options.direct` is false.
 */
export async function open(path: PathLike, flags: string | number = 'r', options: OpenOptions = {}): Promise<DirectFile> {
  const filePath = toPath(path);
  let openFlags = parseFlags(flags);
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  const direct = options.direct ?? true;
  if (direct !== true && direct !== false && direct !== 'auto' && direct !== 'uncached') {
    throw invalidArgValue('options.direct', "must be true, false, 'auto' or 'uncached'", direct);
  }
  const mode = checkInteger(options.mode ?? 0o666, 'options.mode', 0, 0o7777);
  const dsync = options.dsync ?? false;
  if (typeof dsync !== 'boolean') throw invalidArgValue('options.dsync', 'must be a boolean', dsync);
  if (dsync) openFlags |= O_DSYNC;
  const ring = options.ring ?? defaultRing();
  if (!(ring instanceof Ring)) throw invalidArgType('options.ring', 'an instance of Ring', ring);
  if (ring.closed) throw errnoError(9, 'open', 'the ring given in options.ring is closed', filePath);

  if (direct === false) return buffered(filePath, openFlags, mode, ring, 'buffered');
  if (direct === 'uncached') return buffered(filePath, openFlags, mode, ring, 'uncached');
  const opened = await openNative(filePath, openFlags | O_DIRECT, mode);
  if (typeof opened !== 'number') {
    return new DirectFile(CONSTRUCT, opened.fd, filePath, openFlags, 'direct', opened.alignment, opened.source, ring,
      atomicWriteInfo(opened.atomicWrite, true, 'direct'));
  }
  if (opened === -22 && await refusesDirectIo(filePath, openFlags)) {
    if (direct === 'auto') return buffered(filePath, openFlags, mode, ring, 'buffered');
    throw errnoError(22, 'open',
      `the filesystem of '${filePath}' does not support direct I/O (O_DIRECT); ` +
      "open it with { direct: false } to use the page cache, or { direct: 'auto' }", filePath);
  }
  throw errnoError(-opened, 'open', undefined, filePath);
}

/** After EINVAL: does the same open succeed without O_DIRECT (and without creating anything)? */
async function refusesDirectIo(path: string, flags: number): Promise<boolean> {
  const probe = await openNative(path, (flags & ~(O_DIRECT | O_CREAT | O_EXCL | O_TRUNC) & ~ACCESS_MODE) | O_RDONLY, 0);
  if (typeof probe === 'number') return false;
  await closeFd(probe.fd, path);
  return true;
}

/** Opens without O_DIRECT: through the page cache ('buffered'), or with RWF_DONTCACHE on every op ('uncached'). */
async function buffered(path: string, flags: number, mode: number, ring: Ring, fileMode: FileMode): Promise<DirectFile> {
  const opened = await openNative(path, flags & ~O_DIRECT, mode, fileMode === 'uncached');
  if (opened === UNCACHED_REFUSED) {
    throw errnoError(95, 'open',
      `the kernel (Linux ${binding.kernelRelease() ?? '?'}) or the filesystem of '${path}' does not take uncached ` +
      'I/O (RWF_DONTCACHE, Linux 6.14+, on filesystems that support it such as ext4, xfs and btrfs); open it with ' +
      '{ direct: true } to bypass the page cache, or { direct: false } to use it', path);
  }
  if (typeof opened === 'number') throw errnoError(-opened, 'open', undefined, path);
  return new DirectFile(CONSTRUCT, opened.fd, path, flags & ~O_DIRECT, fileMode, Object.freeze({ memory: 1, offset: 1 }),
    'buffered', ring, atomicWriteInfo(opened.atomicWrite, false, fileMode));
}

function badDescriptor(syscall: string, path: string): Promise<never> {
  return Promise.reject(errnoError(9, syscall, `bad file descriptor, ${syscall} '${path}' (the file is closed)`, path));
}

// Only open() makes DirectFiles: the class is exported for instanceof.
const CONSTRUCT = Symbol('DirectFile');

/** A file opened by open(). Its I/O goes through `ring`. */
export class DirectFile {
  /** The descriptor; -1 once closed. */
  #fd: number;
  readonly path: string;
  /** The flags it was opened with (including O_DIRECT when direct). */
  readonly flags: number;
  /** Whether I/O bypasses the page cache (O_DIRECT): `mode === 'direct'`. */
  readonly direct: boolean;
  /** 'direct' (O_DIRECT), 'uncached' (RWF_DONTCACHE on every read and write) or 'buffered' (the page cache). */
  readonly mode: FileMode;
  /**
   * The untorn writes this file takes (`writeAt(..., { atomic: true })`),
   * from statx(STATX_WRITE_ATOMIC); null where the kernel, the filesystem or
   * the device offers none, and on files not open for direct I/O.
   */
  readonly atomicWrite: AtomicWriteLimits | null;
  #atomic: AtomicWriteInfo;
  /** RWF_DONTCACHE for an uncached file, else 0: passed with every read and write. */
  #cacheFlags: number;
  /** Direct-I/O alignment for this file ({ memory: 1, offset: 1 } when not direct). */
  readonly alignment: Alignment;
  /** Where `alignment` came from. */
  readonly alignmentSource: AlignmentSource;
  readonly ring: Ring;
  #fileIndex: number;
  #inFlight = 0;
  #closing: Promise<void> | null = null;
  #idle: (() => void) | null = null;
  /** Its datasync()/sync() calls, shared (group commit), and the first that failed. */
  readonly #syncs: SyncGroup;

  /** @internal Use open(). */
  constructor(token: typeof CONSTRUCT, fd: number, path: string, flags: number, mode: FileMode, alignment: Alignment,
    alignmentSource: AlignmentSource, ring: Ring, atomic: AtomicWriteInfo) {
    if (token !== CONSTRUCT) {
      throw Object.assign(new TypeError('Illegal constructor: a DirectFile comes from open()'),
        { code: 'ERR_ILLEGAL_CONSTRUCTOR' });
    }
    const direct = mode === 'direct';
    this.#fd = fd;
    this.path = path;
    this.flags = direct ? flags | O_DIRECT : flags;
    this.direct = direct;
    this.mode = mode;
    this.#atomic = atomic;
    this.atomicWrite = atomic.limits;
    this.#cacheFlags = mode === 'uncached' ? RWF_DONTCACHE : 0;
    this.alignment = alignment;
    this.alignmentSource = alignmentSource;
    this.ring = ring;
    this.#fileIndex = ring.registerFile(fd);
    this.syncFile = direct && atomic.filesystem === 'tmpfs';
    this.#syncs = new SyncGroup({
      path,
      opStarted: () => this.opStarted(),
      opSettled: () => this.opSettled(),
      holdPlace: () => this.ring.holdPlace(),
      releasePlace: () => this.ring.releasePlace(),
      submitSync: (code) => this.ring.submit({
        code, target: this, fd: this.#fd, buffer: null, position: 0, length: 0, memoryAlignment: 1, rwFlags: 0,
        signal: undefined,
      }, true),
      ringClosed: (code) => ringClosedError(SYSCALLS[code], path),
      syncRequested: () => this.ring.syncRequested(),
    });
  }

  get fd(): number { return this.#fd; }

  /** @internal The ring's fixed-file slot for the descriptor, or -1. */
  get fileIndex(): number { return this.#fileIndex; }

  /** @internal OpTarget.syncFile: a tmpfs file opened for direct I/O. */
  readonly syncFile: boolean;

  /** Whether close() has been called. */
  get closed(): boolean { return this.#closing !== null; }

  /** @internal */
  opStarted(): void { this.#inFlight++; }

  /** @internal */
  opSettled(): void {
    if (--this.#inFlight === 0 && this.#idle !== null) {
      const idle = this.#idle;
      this.#idle = null;
      idle();
    }
  }

  /**
   * Reads into `buffer` (its own byte range, or its first `length` bytes) from
   * `position`. Resolves to the bytes read: fewer than asked at end of file,
   * 0 at or past it.
   */
  readAt(buffer: ArrayBufferView, position: number | bigint, options?: number | IoOptions): Promise<number> {
    return this.#io(OP_READ, 'read', buffer, position, options);
  }

  /** Writes `buffer` (or its first `length` bytes) at `position`. Resolves to the bytes written. */
  writeAt(buffer: ArrayBufferView, position: number | bigint, options?: number | IoOptions): Promise<number> {
    return this.#io(OP_WRITE, 'write', buffer, position, options);
  }

  /**
   * Reads into each of `buffers` in turn, from `position` (preadv2). Resolves
   * to the bytes read in all: fewer than their total at end of file.
   */
  readvAt(buffers: readonly ArrayBufferView[], position: number | bigint, options?: IoOptions): Promise<number> {
    return this.#vectored(OP_READV, 'read', buffers, position, options);
  }

  /** Writes each of `buffers` in turn, at `position` (pwritev2). Resolves to the bytes written in all. */
  writevAt(buffers: readonly ArrayBufferView[], position: number | bigint, options?: IoOptions): Promise<number> {
    return this.#vectored(OP_WRITEV, 'write', buffers, position, options);
  }

  #vectored(code: number, syscall: string, buffers: readonly ArrayBufferView[], position: number | bigint,
    options: IoOptions | undefined): Promise<number> {
    let total: number;
    let rwFlags = 0;
    let signal: AbortSignal | undefined;
    try {
      total = checkBuffers(buffers);
      position = checkPosition(position);
      if (typeof options === 'number') throw invalidArgType('options', 'of type object', options);
      const io = checkIoOptions(options, code === OP_WRITEV);
      if (io.length !== undefined) throw invalidArgValue('options.length', 'is not taken by vectored I/O', io.length);
      checkEnd(position, total);
      rwFlags = ioFlags(code === OP_WRITEV, io) | this.#cacheFlags;
      signal = io.signal;
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing !== null) return badDescriptor(syscall, this.path);
    if ((rwFlags & RWF_ATOMIC) !== 0) {
      const refused = this.#atomicRefusal(total, buffers.length, position);
      if (refused !== null) return Promise.reject(refused);
    }
    const { offset } = this.alignment;
    if (offset > 1) {
      if (remainder(position, offset) !== 0) {
        return Promise.reject(alignmentError(syscall, 'at offset', position, offset, this.path));
      }
      // Linux checks every buffer's length, not only the total.
      for (let i = 0; i < buffers.length; i++) {
        if (buffers[i].byteLength % offset !== 0) {
          return Promise.reject(alignmentError(syscall, `buffers[${i}] length`, buffers[i].byteLength, offset, this.path));
        }
      }
    }
    if (total === 0) return Promise.resolve(0);
    const written = this.ring.submit({
      code, target: this, fd: this.#fd, buffer: buffers.slice(), position, length: total,
      memoryAlignment: this.alignment.memory, rwFlags, signal,
    });
    return code === OP_WRITEV ? this.#watchDsync(written, rwFlags) : written;
  }

  #io(code: number, syscall: string, buffer: ArrayBufferView, position: number | bigint,
    options: number | IoOptions | undefined): Promise<number> {
    let length: number;
    let rwFlags = 0;
    let signal: AbortSignal | undefined;
    try {
      checkBuffer(buffer);
      position = checkPosition(position);
      const io = checkIoOptions(options, code === OP_WRITE);
      length = checkLength(io.length, buffer);
      checkEnd(position, length);
      rwFlags = ioFlags(code === OP_WRITE, io) | this.#cacheFlags;
      signal = io.signal;
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing !== null) return badDescriptor(syscall, this.path);
    if ((rwFlags & RWF_ATOMIC) !== 0) {
      const refused = this.#atomicRefusal(length, 1, position);
      if (refused !== null) return Promise.reject(refused);
    }
    const { offset, memory } = this.alignment;
    if (offset > 1) {
      if (remainder(position, offset) !== 0) {
        return Promise.reject(alignmentError(syscall, 'at offset', position, offset, this.path));
      }
      if (length % offset !== 0) {
        return Promise.reject(alignmentError(syscall, 'length', length, offset, this.path));
      }
    }
    if (length === 0) return Promise.resolve(0);
    const done = this.ring.submit({
      code, target: this, fd: this.#fd, buffer, position, length, memoryAlignment: memory, rwFlags, signal,
    });
    return code === OP_WRITE ? this.#watchDsync(done, rwFlags) : done;
  }

  /**
   * A dsync write (RWF_DSYNC, or any write of a file opened with O_DSYNC)
   * syncs, and so takes the kernel's one report of a failed writeback: its
   * failure is remembered as a failed sync's is (lib/sync.ts).
   */
  #watchDsync(written: Promise<number>, rwFlags: number): Promise<number> {
    if ((rwFlags & RWF_DSYNC) === 0 && (this.flags & O_DSYNC) === 0) return written;
    return written.catch((error: unknown) => {
      this.#syncs.writeFailed(error);
      throw error;
    });
  }

  /**
   * Why an untorn write of `length` bytes in `segments` buffers at
   * `position` cannot go to the kernel (the file has none, or a rule is
   * broken), or null. Never done as a plain write instead.
   */
  #atomicRefusal(length: number, segments: number, position: number | bigint): ErrnoError | null {
    const limits = this.atomicWrite;
    if (limits === null) return noAtomicWriteError(this.#atomic, length, position, this.path);
    if ((this.flags & O_APPEND) !== 0) {
      // The kernel checks natural alignment against the position given, but
      // writes at end of file: Linux AIO and pwritev2 put a 16 KiB untorn
      // write at 4096 (io_uring refuses it with EINVAL).
      return errnoError(22, 'write', `untorn write (RWF_ATOMIC) of ${length} bytes at offset ${position} on ` +
        `'${this.path}' refused before the kernel: untorn writes need an explicit position, O_APPEND writes at ` +
        'end of file; open the file without O_APPEND (not \'a\' or \'a+\')', this.path);
    }
    const broken = brokenAtomicWriteRule(limits, length, segments, position, this.path);
    return broken === null ? null : errnoError(22, 'write', broken, this.path);
  }

  /**
   * Flushes the file's data (and the metadata needed to read it) to the
   * device: fdatasync(2), through the ring. Calls that arrive while one is in
   * flight share the next one (group commit); each resolves once a sync that
   * started after it was called has completed. After a sync of this file
   * failed, every later one rejects with that error (see docs/reliability.md).
   */
  datasync(options?: { signal?: AbortSignal }): Promise<void> {
    return this.#sync(false, 'fdatasync', options);
  }

  /** Flushes the file's data and all its metadata: fsync(2), through the ring. Otherwise as datasync(). */
  sync(options?: { signal?: AbortSignal }): Promise<void> {
    return this.#sync(true, 'fsync', options);
  }

  #sync(full: boolean, syscall: string, options: { signal?: AbortSignal } | undefined): Promise<void> {
    let signal: AbortSignal | undefined;
    try {
      if (options !== undefined && (options === null || typeof options !== 'object')) {
        throw invalidArgType('options', 'of type object', options);
      }
      signal = checkSignal(options?.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing !== null) return badDescriptor(syscall, this.path);
    return this.#syncs.request(full, signal);
  }

  /**
   * Allocates disk space for [offset, offset + length): fallocate(2), through
   * the ring (IORING_OP_FALLOCATE on io_uring). Later writes there cannot
   * fail for want of space, and the range reads as zeros until written.
   * The file grows to offset + length unless `keepSize` is true.
   */
  allocate(offset: number | bigint, length: number | bigint,
    options?: { keepSize?: boolean; signal?: AbortSignal }): Promise<void> {
    return this.#fallocate('allocate', 0, offset, length, options, true);
  }

  /**
   * Frees the file's blocks in [offset, offset + length): fallocate(2) with
   * FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, through the ring. The range
   * reads as zeros afterwards and the file's size is unchanged; partial
   * blocks at either end are zeroed, not freed. EOPNOTSUPP where the
   * filesystem cannot punch holes.
   */
  punchHole(offset: number | bigint, length: number | bigint, options?: { signal?: AbortSignal }): Promise<void> {
    return this.#fallocate('punchHole', FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length, options, false);
  }

  /**
   * Makes [offset, offset + length) read as zeros, keeping (or allocating) its
   * blocks: fallocate(2) with FALLOC_FL_ZERO_RANGE, through the ring. The
   * file grows to offset + length unless `keepSize` is true. EOPNOTSUPP
   * where the filesystem has no such mode.
   */
  zeroRange(offset: number | bigint, length: number | bigint,
    options?: { keepSize?: boolean; signal?: AbortSignal }): Promise<void> {
    return this.#fallocate('zeroRange', FALLOC_FL_ZERO_RANGE, offset, length, options, true);
  }

  #fallocate(what: string, mode: number, offset: number | bigint, length: number | bigint,
    options: { keepSize?: boolean; signal?: AbortSignal } | undefined, takesKeepSize: boolean): Promise<void> {
    let position: number | bigint;
    let size: number;
    let signal: AbortSignal | undefined;
    try {
      position = checkPosition(offset, 'offset');
      size = checkAllocateLength(length);
      checkEnd(position, size);
      if (options !== undefined && (options === null || typeof options !== 'object')) {
        throw invalidArgType('options', 'of type object', options);
      }
      const keepSize = options?.keepSize;
      if (keepSize !== undefined) {
        if (!takesKeepSize) throw invalidArgValue('options.keepSize', `is not taken by ${what}() (it never changes the size)`, keepSize);
        if (typeof keepSize !== 'boolean') throw invalidArgValue('options.keepSize', 'must be a boolean', keepSize);
        if (keepSize) mode |= FALLOC_FL_KEEP_SIZE;
      }
      signal = checkSignal(options?.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing !== null) return badDescriptor('fallocate', this.path);
    return this.ring.submit({
      code: OP_FALLOCATE, target: this, fd: this.#fd, buffer: null, position, length: size, memoryAlignment: 1,
      rwFlags: mode, signal,
    }).then(() => undefined);
  }

  /** fs.fstat() of the file. */
  stat(options?: { bigint?: false }): Promise<fs.Stats>;
  stat(options: { bigint: true }): Promise<fs.BigIntStats>;
  stat(options?: { bigint?: boolean }): Promise<fs.Stats | fs.BigIntStats> {
    if (this.#closing !== null) return badDescriptor('fstat', this.path);
    // Read before the op is counted: a getter that throws must not leave it counted.
    let bigint: boolean;
    try {
      bigint = options?.bigint === true;
    } catch (error) {
      return Promise.reject(error);
    }
    // Counted as an op in flight, so that close() cannot release the
    // descriptor (and its number be reused) before fstat runs on the pool.
    this.opStarted();
    return new Promise((resolve, reject) => {
      fs.fstat(this.#fd, { bigint }, (error, stats) => {
        this.opSettled();
        if (error) reject(error);
        else resolve(stats);
      });
    });
  }

  /**
   * Closes the file once its in-flight ops have settled, so that the
   * descriptor number is never reused while the kernel still holds I/O for it.
   * Calling it again returns the same Promise.
   */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    const fd = this.#fd;
    this.#closing = new Promise<void>((resolve) => {
      if (this.#inFlight === 0) resolve();
      else this.#idle = resolve;
    }).then(() => {
      this.#fd = -1;
      if (this.#fileIndex >= 0) {
        this.ring.unregisterFile(this.#fileIndex);
        this.#fileIndex = -1;
      }
      return closeFd(fd, this.path);
    });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Reads `length` bytes at `position`, at any alignment: the range is rounded
   * out to `alignment.offset` and read into an aligned buffer. Resolves to a
   * Buffer of exactly those bytes: fewer where the file ends inside the
   * range, none past its end.
   */
  read(position: number | bigint, length: number, options?: ReadOptions): Promise<Buffer> {
    return this.#readRanges(() => planRead(position, length, options, this.alignment.offset)).then(([bytes]) => bytes);
  }

  /**
   * Reads many ranges at any alignment, all in flight at once: each is
   * rounded out to `alignment.offset`, and ranges that overlap or touch are
   * read together up to `options.maxMerge` bytes. Resolves to one Buffer per
   * range, in the order given; ranges read together are subarrays of one buffer.
   */
  readMany(ranges: readonly ReadRange[], options?: ReadManyOptions): Promise<Buffer[]> {
    return this.#readRanges(() => planReadMany(ranges, options, this.alignment.offset));
  }

  /** Checks the arguments (making the plan), then whether the file is closed, then reads. */
  #readRanges(makePlan: () => ReadPlan): Promise<Buffer[]> {
    let readPlan: ReadPlan;
    try {
      readPlan = makePlan();
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing !== null) return badDescriptor('read', this.path);
    return runReadPlan(this, readPlan);
  }

  /**
   * Sets the file's size to `length` bytes: ftruncate(2), on libuv's thread
   * pool. Bytes beyond it are dropped; a file grown reads as zeros there.
   */
  truncate(length: number | bigint): Promise<void> {
    let size: number;
    try {
      size = checkTruncateLength(length);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing !== null) return badDescriptor('ftruncate', this.path);
    // Counted as an op in flight, so that close() waits for it to leave the descriptor.
    this.opStarted();
    return new Promise<void>((resolve, reject) => fs.ftruncate(this.#fd, size, (error) => {
      this.opSettled();
      if (error) reject(errnoError(-(error.errno ?? -5), 'ftruncate', undefined, this.path));
      else resolve();
    }));
  }
}

/** A target for I/O on a descriptor the caller owns. */
class Descriptor implements OpTarget {
  readonly path = undefined;
  readonly fileIndex = -1;
  readonly syncFile = false;
  readonly direct = undefined;  // unknown: the caller chose the flags
  constructor(readonly fd: number) {}
  opStarted(): void {}
  opSettled(): void {}
}

/** The RWF_* flags an op's options ask for: dsync and atomic, for writes only. */
function ioFlags(write: boolean, io: IoOptions): number {
  if (!write) return 0;
  return (io.dsync === true ? RWF_DSYNC : 0) | (io.atomic === true ? RWF_ATOMIC : 0);
}

function rawIo(code: number, fd: unknown, buffer: unknown, position: unknown, options: unknown): Promise<number> {
  let length: number;
  let pos: number | bigint;
  let descriptor: number;
  let rwFlags = 0;
  let signal: AbortSignal | undefined;
  let ring: Ring;
  try {
    descriptor = checkFd(fd);
    const view = checkBuffer(buffer);
    pos = checkPosition(position);
    const io = checkIoOptions(options, code === OP_WRITE);
    length = checkLength(io.length, view);
    checkEnd(pos, length);
    rwFlags = ioFlags(code === OP_WRITE, io);
    signal = io.signal;
    ring = defaultRing();
  } catch (error) {
    return Promise.reject(error);
  }
  if (length === 0) return Promise.resolve(0);
  // The caller owns the descriptor and its alignment, and its untorn-write
  // rules: the kernel checks them (RWF_ATOMIC), and a refusal says which.
  return ring.submit({
    code, target: new Descriptor(descriptor), fd: descriptor, buffer: buffer as ArrayBufferView, position: pos, length,
    memoryAlignment: 1, rwFlags, signal,
  });
}

/** Reads on a descriptor the caller opened (with O_DIRECT for direct I/O), through the default ring. */
export function readAt(fd: number, buffer: ArrayBufferView, position: number | bigint,
  options?: number | IoOptions): Promise<number> {
  return rawIo(OP_READ, fd, buffer, position, options);
}

/** Writes on a descriptor the caller opened, through the default ring. */
export function writeAt(fd: number, buffer: ArrayBufferView, position: number | bigint,
  options?: number | IoOptions): Promise<number> {
  return rawIo(OP_WRITE, fd, buffer, position, options);
}

/**
 * The untorn writes an open descriptor takes, from statx(STATX_WRITE_ATOMIC):
 * `file.atomicWrite` for a descriptor the caller opened (which must be
 * O_DIRECT for them), or null where the kernel, the filesystem or the device
 * offers none.
 */
export function atomicWriteOf(fd: number): AtomicWriteLimits | null {
  const result = binding.atomicWriteOf(checkFd(fd));
  if (typeof result === 'number') throw errnoError(-result, 'statx');
  return atomicWriteInfo(result, true, '').limits;
}

/** The direct-I/O alignment of an open descriptor, as open() would report it. */
export function alignmentOf(fd: number): Alignment & { source: AlignmentSource } {
  const result = binding.alignmentOf(checkFd(fd));
  if (typeof result === 'number') throw errnoError(-result, 'statx');
  return { memory: result[0], offset: result[1], source: SOURCES[result[2]] };
}
