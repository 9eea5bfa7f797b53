// `odirect cp SRC DST`: a pipelined direct-I/O copy. Several workers, each
// with its own aligned buffer, take the next block of SRC, read it and write
// it to DST, so that reads and writes are in flight together. The last block,
// when the size is not a multiple of DST's alignment, is written zero-padded
// to a whole block, and DST is then truncated to SRC's exact size.
import fs = require('fs');
import path = require('path');
import { promisify } from 'util';
import { allocAligned, DirectFile, open } from '../index';
import { expectPositionals, parseCommand, parsePositive, parseSize, UsageError } from './args';
import {
  Command, ENGINE_CHOICES, EXIT_OK, Failure, parseEngine, releaseRing, ringFor,
} from './command';
import { formatBytes, formatMiBps } from './format';
import { bar, Progress } from './progress';

const HELP = `Usage: odirect cp [options] SRC DST

Copies the file SRC to DST with direct I/O (O_DIRECT): no page cache on either
side, and several reads and writes in flight at once. When DST is a directory
the copy is DST/basename(SRC). DST is created with SRC's permission bits, or
truncated. Any size works: the last block, when not a multiple of DST's
direct-I/O alignment, is written zero-padded and DST is then truncated to the
exact size. Where a filesystem refuses O_DIRECT, that side goes through the
page cache instead (the summary says so).

Options:
  --bs SIZE        bytes per read and write (default 1m); a multiple of both files' alignment
  --iodepth N      blocks in flight at once, each read and then written (default 8)
  --engine NAME    ${ENGINE_CHOICES.join(', ')} (default auto: ODIRECT_ENGINE, else the first that starts)
  --sync           fdatasync DST before finishing: its data and size are on the device when cp exits
  --verify         read both files back (directly, not from the cache) and compare every byte
  -q, --quiet      no summary line on stdout
  -h, --help       this help

A progress bar with the throughput is drawn on stderr when it is a terminal.

Exit status: 0 when the copy (and the verification) succeeds; 1 on an I/O
error, when SRC and DST are the same file, or when --verify finds a
difference; 2 for a bad option or argument.`;

interface CopyOptions {
  bs: number;
  iodepth: number;
  onProgress: (bytes: number) => void;
}

const ftruncate = promisify(fs.ftruncate);

/** `value` rounded up to a multiple of `alignment`. */
const roundUp = (value: number, alignment: number): number => Math.ceil(value / alignment) * alignment;

/**
 * Copies `input` into `output` (both open) until a read comes back short: the
 * end of the file, wherever it is by then. Resolves to the bytes copied.
 */
async function pipeline(input: DirectFile, output: DirectFile, expectedSize: number, options: CopyOptions): Promise<number> {
  const { bs } = options;
  const memory = Math.max(input.alignment.memory, output.alignment.memory, 4096);
  const writeAlignment = output.alignment.offset;
  // Sized in advance, DST takes no write past its end: ext4 serializes those
  // (an extending direct write holds the inode lock exclusively and completes
  // synchronously), which would leave one write in flight at a time. Its
  // blocks are allocated in advance too (fallocate), so that every write is
  // an overwrite; a filesystem without fallocate is only sized.
  const sized = roundUp(expectedSize, writeAlignment);
  if (sized > 0) {
    await output.allocate(0, sized).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EOPNOTSUPP') throw error;
    });
  }
  await ftruncate(output.fd, sized);
  let next = 0;
  let end = Infinity; // where the file ended, once a read says so
  const worker = async (): Promise<void> => {
    const buffer = allocAligned(bs, memory);
    while (next < end) {
      const offset = next;
      next += bs;
      const bytes = await input.readAt(buffer, offset);
      if (bytes < bs) end = Math.min(end, offset + bytes);
      if (bytes === 0) break;
      const length = roundUp(bytes, writeAlignment);
      if (length > bytes) buffer.fill(0, bytes, length);
      const written = await output.writeAt(buffer, offset, { length });
      if (written !== length) throw new Failure(`short write to '${output.path}': ${written} of ${length} bytes at ${offset}`);
      options.onProgress(bytes);
    }
  };
  await Promise.all(Array.from({ length: options.iodepth }, worker));
  // The padding of the last block goes; a file that shrank since DST was sized loses its stale tail.
  await ftruncate(output.fd, end);
  return end;
}

/** Reads both files through and compares them; resolves to the first offset where they differ, or -1. */
async function compare(a: DirectFile, b: DirectFile, size: number, options: CopyOptions): Promise<number> {
  const { bs } = options;
  const memory = Math.max(a.alignment.memory, b.alignment.memory, 4096);
  let next = 0;
  let first = -1;
  const worker = async (): Promise<void> => {
    const left = allocAligned(bs, memory);
    const right = allocAligned(bs, memory);
    while (next < size && first === -1) {
      const offset = next;
      next += bs;
      const wanted = Math.min(bs, size - offset);
      const [got, expected] = await Promise.all([b.readAt(right, offset), a.readAt(left, offset)]);
      if (got !== wanted || expected !== wanted || !left.subarray(0, wanted).equals(right.subarray(0, wanted))) {
        let at = 0;
        while (at < Math.min(got, expected) && left[at] === right[at]) at++;
        const position = offset + at;
        if (first === -1 || position < first) first = position;
      }
      options.onProgress(wanted);
    }
  };
  await Promise.all(Array.from({ length: options.iodepth }, worker));
  return first;
}

/** DST, or DST/basename(SRC) when DST is a directory. */
function targetOf(source: string, destination: string): string {
  const stats = fs.statSync(destination, { throwIfNoEntry: false });
  return stats?.isDirectory() === true ? path.join(destination, path.basename(source)) : destination;
}

export const cpCommand: Command = {
  name: 'cp',
  synopsis: '[options] SRC DST',
  summary: 'copy a file with direct I/O, several reads and writes in flight',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommand(args, {
      bs: { type: 'string' },
      iodepth: { type: 'string' },
      engine: { type: 'string' },
      sync: { type: 'boolean' },
      verify: { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
    });
    expectPositionals(positionals, ['SRC', 'DST'], 2);
    const bs = parseSize((values.bs as string | undefined) ?? '1m', 'bs');
    if (bs > 2 ** 30) throw new UsageError(`--bs: ${bs} is more than 1g`);
    const iodepth = parsePositive((values.iodepth as string | undefined) ?? '8', 'iodepth');
    if (iodepth > 1024) throw new UsageError(`--iodepth: ${iodepth} is more than 1024`);
    const engine = parseEngine(values.engine as string | undefined);
    const [source, destination] = positionals;

    const sourceStats = fs.statSync(source);
    if (!sourceStats.isFile()) throw new Failure(`'${source}' is not a regular file`);
    const target = targetOf(source, destination);
    const targetStats = fs.statSync(target, { throwIfNoEntry: false });
    if (targetStats !== undefined && targetStats.dev === sourceStats.dev && targetStats.ino === sourceStats.ino) {
      throw new Failure(`'${source}' and '${target}' are the same file`);
    }

    const ring = ringFor(engine);
    const files: DirectFile[] = [];
    try {
      const input = await open(source, 'r', { ring, direct: 'auto' });
      files.push(input);
      // O_RDWR: --verify reads it back.
      const output = await open(target, 'w+', { ring, direct: 'auto', mode: sourceStats.mode & 0o7777 });
      files.push(output);
      const alignment = Math.max(input.alignment.offset, output.alignment.offset);
      if (bs % alignment !== 0) {
        throw new UsageError(`--bs: ${bs} is not a multiple of ${alignment}, the direct-I/O alignment of ` +
          `'${input.alignment.offset >= output.alignment.offset ? source : target}'`);
      }

      const total = sourceStats.size;
      let done = 0;
      let phase = 'copying';
      let phaseStarted = process.hrtime.bigint();
      const progress = new Progress(() => {
        const seconds = Number(process.hrtime.bigint() - phaseStarted) / 1e9;
        return `${phase} ${bar(total > 0 ? done / total : 1)} ${total > 0 ? Math.floor((done / total) * 100) : 100}%  ` +
          `${formatBytes(done)} of ${formatBytes(total)}  ${seconds > 0 ? formatMiBps(done / seconds) : ''}`;
      }, Progress.wanted());
      const options: CopyOptions = { bs, iodepth, onProgress: (bytes) => { done += bytes; } };

      progress.start();
      let size: number;
      let seconds: number;
      let difference = -1;
      try {
        size = await pipeline(input, output, total, options);
        if (values.sync === true) await output.datasync();
        seconds = Number(process.hrtime.bigint() - phaseStarted) / 1e9;
        if (values.verify === true) {
          phase = 'verifying';
          done = 0;
          phaseStarted = process.hrtime.bigint();
          difference = await compare(input, output, size, options);
          const sizes = [(await input.stat()).size, (await output.stat()).size];
          if (difference === -1 && sizes[0] !== sizes[1]) difference = Math.min(sizes[0], sizes[1]);
        }
      } finally {
        progress.stop();
      }
      if (difference !== -1) throw new Failure(`verify: '${target}' differs from '${source}' at byte ${difference}`);
      if (values.quiet !== true) {
        const mode = (file: DirectFile): string => (file.direct ? 'direct' : 'page cache');
        const notes = [`${ring.engine}, ${iodepth} x ${formatBytes(bs)} in flight`,
          input.direct && output.direct ? 'direct I/O' : `read ${mode(input)}, write ${mode(output)}`];
        if (values.sync === true) notes.push('synced');
        if (values.verify === true) notes.push('verified');
        process.stdout.write(`copied ${formatBytes(size)}${size >= 1024 ? ` (${size} bytes)` : ''} in ${seconds.toFixed(2)} s, ` +
          `${formatMiBps(seconds > 0 ? size / seconds : 0)} (${notes.join(', ')})\n`);
      }
      return EXIT_OK;
    } finally {
      for (const file of files) await file.close();
      await releaseRing(ring);
    }
  },
};
