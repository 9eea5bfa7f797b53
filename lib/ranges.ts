// Reads of any position and length: each range is rounded out to the file's
// direct-I/O alignment, neighbouring ranges are read together, and each
// caller gets exactly the bytes it asked for.
import { allocAligned } from './alloc';
import { checkInteger, checkPosition, checkSignal, MAX_POSITION, MAX_TRANSFER } from './checks';
import { invalidArgType, outOfRange } from './errors';

/** A byte range of a file, at any alignment. */
export interface ReadRange {
  position: number | bigint;
  /** Bytes; 0 gives an empty Buffer. */
  length: number;
}

export interface ReadOptions {
  /** Aborting it aborts every read of the call, as for readAt; the call then rejects with an AbortError. */
  signal?: AbortSignal;
}

export interface ReadManyOptions extends ReadOptions {
  /**
   * The largest read, in bytes, that two or more ranges are merged into.
   * Ranges that overlap or touch once rounded out to the alignment are read
   * together while the merged read stays within this; a range inside a read
   * already planned always joins it. 0 merges only such contained ranges.
   * Default 1 MiB.
   */
  maxMerge?: number;
}

export const DEFAULT_MAX_MERGE = 1 << 20;
/** Buffers for the reads are aligned to at least a page, as allocAligned's default. */
const PAGE = 4096;

/** One aligned read of the plan. */
interface Span {
  start: bigint;
  end: bigint;
}

/** Where each asked range's bytes lie: in which span, at what offset. span -1: an empty range. */
interface Piece {
  span: number;
  offset: number;
  length: number;
}

/** What readMany() and read() will do, decided before anything reaches the kernel. */
export interface ReadPlan {
  spans: Span[];
  pieces: Piece[];
  signal: AbortSignal | undefined;
}

/**
 * The longest range whose aligned read (rounded out on both sides) still fits
 * in one transfer: MAX_TRANSFER rounded down to the alignment, less the
 * alignment, plus one.
 */
function maxRangeLength(alignment: number): number {
  return MAX_TRANSFER - (MAX_TRANSFER % alignment) - alignment + 1;
}

function roundUp(value: bigint, align: bigint): bigint {
  return (value + align - 1n) / align * align;
}

/** A checked range as [position, length], its names used in the errors. */
function checkRange(position: unknown, length: unknown, alignment: number, positionName: string,
  lengthName: string): [bigint, number] {
  const start = checkPosition(position, positionName);
  const bytes = checkInteger(length, lengthName, 0, maxRangeLength(alignment));
  // The read, rounded out to the alignment, must end by 2^63-1.
  const align = BigInt(alignment);
  const lastEnd = MAX_POSITION / align * align;
  if (roundUp(BigInt(start) + BigInt(bytes), align) > lastEnd) {
    throw outOfRange(positionName, `<= ${lastEnd - BigInt(bytes)} for a length of ${bytes} ` +
      `(the read around it, rounded out to the ${alignment}-byte alignment, must end by 2^63-1)`, position);
  }
  return [BigInt(start), bytes];
}

/** Rounds each range out to `alignment` and merges neighbours into reads of at most `maxMerge` bytes. */
function plan(ranges: [bigint, number][], alignment: number, maxMerge: number, signal: AbortSignal | undefined): ReadPlan {
  const align = BigInt(alignment);
  const limit = BigInt(maxMerge);
  const aligned = ranges.map(([position, length], index) => ({
    index,
    start: position / align * align,
    end: roundUp(position + BigInt(length), align),
  }));
  const pieces: Piece[] = ranges.map(() => ({ span: -1, offset: 0, length: 0 }));
  const spans: Span[] = [];
  const order = aligned.filter(({ index }) => ranges[index][1] > 0)
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.end < b.end ? -1 : a.end > b.end ? 1 : 0));
  for (const range of order) {
    const last = spans[spans.length - 1];
    if (last !== undefined && range.start <= last.end && (range.end <= last.end || range.end - last.start <= limit)) {
      if (range.end > last.end) last.end = range.end;
    } else {
      spans.push({ start: range.start, end: range.end });
    }
    pieces[range.index].span = spans.length - 1;
  }
  ranges.forEach(([position, length], index) => {
    const piece = pieces[index];
    if (piece.span >= 0) {
      piece.offset = Number(position - spans[piece.span].start);
      piece.length = length;
    }
  });
  return { spans, pieces, signal };
}

function checkOptions(options: unknown): ReadManyOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  return options as ReadManyOptions;
}

/** The plan of file.read(position, length, options). Throws on bad arguments. */
export function planRead(position: unknown, length: unknown, options: unknown, alignment: number): ReadPlan {
  const range = checkRange(position, length, alignment, 'position', 'length');
  return plan([range], alignment, 0, checkSignal(checkOptions(options).signal));
}

/** The plan of file.readMany(ranges, options). Throws on bad arguments. */
export function planReadMany(ranges: unknown, options: unknown, alignment: number): ReadPlan {
  if (!Array.isArray(ranges)) throw invalidArgType('ranges', 'an instance of Array', ranges);
  const opts = checkOptions(options);
  const maxMerge = checkInteger(opts.maxMerge ?? DEFAULT_MAX_MERGE, 'options.maxMerge', 0, MAX_TRANSFER);
  const signal = checkSignal(opts.signal);
  const checked = ranges.map((range: unknown, i) => {
    if (range === null || typeof range !== 'object') throw invalidArgType(`ranges[${i}]`, 'of type object', range);
    const { position, length } = range as ReadRange;
    return checkRange(position, length, alignment, `ranges[${i}].position`, `ranges[${i}].length`);
  });
  return plan(checked, alignment, maxMerge, signal);
}

/** What a plan is read from: a DirectFile (file.ts). */
export interface PlanSource {
  readonly alignment: { readonly memory: number };
  readAt(buffer: Buffer, position: number | bigint, options?: { signal: AbortSignal }): Promise<number>;
}

/**
 * Issues every read of `readPlan` at once, each into a buffer of its own, and
 * resolves to each range's bytes in the order asked: subarrays of those
 * buffers, short where the file ends inside a range. If reads fail, rejects
 * with the first one's error (in file order), once all have settled.
 */
export async function runReadPlan(file: PlanSource, readPlan: ReadPlan): Promise<Buffer[]> {
  const memory = Math.max(file.alignment.memory, PAGE);
  const buffers = readPlan.spans.map(({ start, end }) => allocAligned(Number(end - start), memory));
  const options = readPlan.signal === undefined ? undefined : { signal: readPlan.signal };
  // Settled only when every read has: no read of the call is left running behind a rejection.
  const outcomes = await Promise.allSettled(readPlan.spans.map(({ start }, i) => file.readAt(buffers[i], start, options)));
  const failed = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  const counts = outcomes.map((outcome) => (outcome as PromiseFulfilledResult<number>).value);
  return readPlan.pieces.map(({ span, offset, length }) => {
    if (span < 0) return Buffer.alloc(0);
    const available = Math.min(length, Math.max(0, counts[span] - offset));
    return buffers[span].subarray(offset, offset + available);
  });
}
