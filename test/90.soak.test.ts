// Integrity soak: random reads and writes at depth over several files on ext4
// and tmpfs, each checked against a model of what every block must hold.
//
// Every write stamps each block it covers with (file, block, generation) and
// fills the rest of the block with words derived from those three, so a read
// tells exactly which version of which block it got, and a torn or misplaced
// block shows. The model serializes per block: a write waits until no other
// op covers its blocks, a read until no write does. Direct I/O gives no
// atomicity between a read and an overlapping write (tmpfs copies with
// memcpy), so a racing read would have no single right answer; serialized,
// every read has exactly one.
//
// ODIRECT_SOAK_SECONDS (default 60) is the whole soak, shared out among the
// engines; ODIRECT_SOAK_SEED picks the random sequence.
import { expect } from 'chai';
import fs = require('fs');
import { allocAligned, open, DirectFile, Ring } from 'odirect';
import { cleanup, DISK_DIR, forEachEngine, SHM_DIR, tempPath } from './helpers';
import { enginesUnderTest, Random, seedFrom } from './reliability-helpers';

const SOAK_SECONDS = Number(process.env.ODIRECT_SOAK_SECONDS ?? 60);
const SEED = seedFrom('ODIRECT_SOAK_SEED', 0x50a1c);
const BLOCK = 4096;
const WORDS = BLOCK / 4;
const BLOCKS_PER_FILE = 256;    // 1 MiB a file: small enough that ops often meet on a block
const MAX_OP_BLOCKS = 4;
const IN_FLIGHT = 128;
const RING_ENTRIES = 100;       // fewer than in flight: some ops always wait in JS
const MAGIC = 0x0d1ec75a;
const FILES: [dir: string, label: string][] = [[DISK_DIR, 'disk-a'], [DISK_DIR, 'disk-b'], [SHM_DIR, 'shm-a'], [SHM_DIR, 'shm-b']];

/** The word at index `i` (4 and up) of the block stamped (file, block, generation). */
function stampWord(file: number, block: number, generation: number, i: number): number {
  return (Math.imul(generation + 1, 0x9e3779b1) ^ Math.imul(block + 1, 0x85ebca77) ^
    Math.imul(file + 1, 0xc2b2ae3d) ^ Math.imul(i, 0x27d4eb2f)) >>> 0;
}

function stamp(words: Uint32Array, at: number, file: number, block: number, generation: number): void {
  words[at] = MAGIC;
  words[at + 1] = file;
  words[at + 2] = block;
  words[at + 3] = generation;
  for (let i = 4; i < WORDS; i++) words[at + i] = stampWord(file, block, generation, i);
}

/** null when the block at word `at` is exactly the stamp (file, block, generation), else what it holds instead. */
function checkStamp(words: Uint32Array, at: number, file: number, block: number, generation: number): string | null {
  if (words[at] !== MAGIC || words[at + 1] !== file || words[at + 2] !== block || words[at + 3] !== generation) {
    return `holds header [${Array.from(words.subarray(at, at + 4), (w) => `0x${w.toString(16)}`).join(', ')}], ` +
      `expected file ${file} block ${block} generation ${generation}`;
  }
  for (let i = 4; i < WORDS; i++) {
    if (words[at + i] !== stampWord(file, block, generation, i)) {
      return `has the right header but word ${i} is 0x${words[at + i].toString(16)} (a torn or mixed block)`;
    }
  }
  return null;
}

interface SoakReport {
  reads: number;
  writes: number;
  /** Of the reads and writes, those done with readvAt/writevAt. */
  vectored: number;
  syncs: number;
  bytes: number;
  /** Blocks whose content was wrong, in reads and in the final check. */
  mismatchCount: number;
  /** The first of them, described. */
  mismatches: string[];
  /** Ops that rejected, or resolved with a count other than their length. */
  failures: string[];
  /** Blocks checked after the soak through Node's buffered fs. */
  finalBlocksChecked: number;
}

/** Per-block state of the model. */
class FileModel {
  /** The generation each block holds (its last completed write). */
  readonly committed = new Uint32Array(BLOCKS_PER_FILE);
  /** The last generation handed out for each block. */
  readonly issued = new Uint32Array(BLOCKS_PER_FILE);
  readonly readers = new Uint16Array(BLOCKS_PER_FILE);
  readonly writing = new Uint8Array(BLOCKS_PER_FILE);
  constructor(readonly index: number, readonly path: string, readonly file: DirectFile) {}

  canRead(first: number, count: number): boolean {
    for (let b = first; b < first + count; b++) if (this.writing[b] !== 0) return false;
    return true;
  }

  canWrite(first: number, count: number): boolean {
    for (let b = first; b < first + count; b++) if (this.writing[b] !== 0 || this.readers[b] !== 0) return false;
    return true;
  }
}

async function soak(ring: Ring, durationMs: number, random: Random): Promise<SoakReport> {
  const report: SoakReport = {
    reads: 0, writes: 0, vectored: 0, syncs: 0, bytes: 0, mismatchCount: 0, mismatches: [], failures: [], finalBlocksChecked: 0,
  };
  const models: FileModel[] = [];
  for (const [index, [dir, label]] of FILES.entries()) {
    const path = tempPath(dir, `soak-${label}`);
    // Generation 0 of every block, written through the page cache before the file is opened for direct I/O.
    const initial = new Uint32Array(BLOCKS_PER_FILE * WORDS);
    for (let b = 0; b < BLOCKS_PER_FILE; b++) stamp(initial, b * WORDS, index, b, 0);
    fs.writeFileSync(path, new Uint8Array(initial.buffer));
    models.push(new FileModel(index, path, await open(path, 'r+', { ring })));
  }
  // One buffer per op slot, reused: a completion landing in the wrong buffer shows as a wrong block.
  const free = Array.from({ length: IN_FLIGHT }, () => allocAligned(MAX_OP_BLOCKS * BLOCK));
  const deadline = Date.now() + durationMs;
  let inFlight = 0;
  let done!: () => void;
  const drained = new Promise<void>((resolve) => { done = resolve; });

  const fail = (list: string[], text: string): void => {
    if (list === report.mismatches) report.mismatchCount++;
    if (list.length < 20) list.push(text);
    else if (list.length === 20) list.push('(more left out)');
  };

  const settled = (buffer: Buffer | null): void => {
    if (buffer !== null) free.push(buffer);
    inFlight--;
    fill();
  };

  /** Starts one op on blocks nobody conflicts with; false when none was found in a few tries. */
  const launch = (): boolean => {
    const model = random.pick(models);
    const roll = random.next();
    if (roll < 0.02) {
      report.syncs++;
      inFlight++;
      model.file.datasync().then(() => settled(null), (error: Error) => {
        fail(report.failures, `datasync of ${model.path}: ${error.message}`);
        settled(null);
      });
      return true;
    }
    const isWrite = roll < 0.5;
    const count = 1 + random.below(MAX_OP_BLOCKS);
    const first = random.below(BLOCKS_PER_FILE - count + 1);
    if (isWrite ? !model.canWrite(first, count) : !model.canRead(first, count)) return false;
    const buffer = free.pop()!;
    const view = buffer.subarray(0, count * BLOCK);
    const words = new Uint32Array(view.buffer, view.byteOffset, count * WORDS);
    const length = count * BLOCK;
    // A vectored op takes one buffer per block, in reverse order in memory: the bytes of block
    // first + i go to or come from slot(i) of the op's buffer.
    const vectored = count > 1 && random.next() < 0.3;
    const slot = (i: number): number => (vectored ? count - 1 - i : i);
    const pieces = vectored ? Array.from({ length: count }, (_, i) => view.subarray(slot(i) * BLOCK, (slot(i) + 1) * BLOCK)) : [];
    if (vectored) report.vectored++;
    const where = `${count} block(s) at block ${first} of ${model.path}${vectored ? ', vectored' : ''}`;
    inFlight++;
    if (isWrite) {
      const generations: number[] = [];
      for (let i = 0; i < count; i++) {
        const generation = ++model.issued[first + i];
        generations.push(generation);
        model.writing[first + i] = 1;
        stamp(words, slot(i) * WORDS, model.index, first + i, generation);
      }
      report.writes++;
      const dsync = random.next() < 0.05;
      const written = vectored
        ? model.file.writevAt(pieces, first * BLOCK, { dsync })
        : model.file.writeAt(view, first * BLOCK, { dsync });
      written.then((bytes) => {
        if (bytes !== length) fail(report.failures, `write of ${where} resolved with ${bytes}, not ${length}`);
        else report.bytes += bytes;
        for (let i = 0; i < count; i++) {
          model.writing[first + i] = 0;
          // Only a write that completed is what the block holds.
          if (bytes === length) model.committed[first + i] = generations[i];
        }
        settled(buffer);
      }, (error: Error) => {
        fail(report.failures, `write of ${where}: ${error.message}`);
        for (let i = 0; i < count; i++) model.writing[first + i] = 0;
        settled(buffer);
      });
    } else {
      const expected: number[] = [];
      for (let i = 0; i < count; i++) {
        expected.push(model.committed[first + i]);
        model.readers[first + i]++;
      }
      // A read that does not fill its buffer is caught by this poison.
      view.fill(0xa5);
      report.reads++;
      const read = vectored ? model.file.readvAt(pieces, first * BLOCK) : model.file.readAt(view, first * BLOCK);
      read.then((bytes) => {
        if (bytes !== length) fail(report.failures, `read of ${where} resolved with ${bytes}, not ${length}`);
        else report.bytes += bytes;
        for (let i = 0; i < count; i++) {
          model.readers[first + i]--;
          const wrong = checkStamp(words, slot(i) * WORDS, model.index, first + i, expected[i]);
          if (wrong !== null) fail(report.mismatches, `read of block ${first + i} of ${model.path} ${wrong}`);
        }
        settled(buffer);
      }, (error: Error) => {
        fail(report.failures, `read of ${where}: ${error.message}`);
        for (let i = 0; i < count; i++) model.readers[first + i]--;
        settled(buffer);
      });
    }
    return true;
  };

  /** Tops the ops in flight up to IN_FLIGHT until the deadline, then lets them drain. */
  function fill(): void {
    if (Date.now() < deadline) {
      let misses = 0;
      while (inFlight < IN_FLIGHT && free.length > 0 && misses < 8) {
        if (!launch()) misses++;
      }
    }
    if (inFlight === 0) done();
  }

  fill();
  await drained;
  for (const model of models) await model.file.close();

  // What the files hold now, through the page cache, block by block.
  for (const model of models) {
    const bytes = fs.readFileSync(model.path);
    if (bytes.length !== BLOCKS_PER_FILE * BLOCK) {
      fail(report.mismatches, `${model.path} is ${bytes.length} bytes, not ${BLOCKS_PER_FILE * BLOCK}`);
      continue;
    }
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    for (let b = 0; b < BLOCKS_PER_FILE; b++) {
      const wrong = checkStamp(words, b * WORDS, model.index, b, model.committed[b]);
      if (wrong !== null) fail(report.mismatches, `after the soak, block ${b} of ${model.path} ${wrong}`);
      report.finalBlocksChecked++;
    }
  }
  return report;
}

describe('integrity soak', function () {
  const engines = enginesUnderTest();
  const perEngineMs = (SOAK_SECONDS * 1000) / Math.max(1, engines.length);
  // A hang guard: the soak itself stops launching ops at its deadline.
  this.timeout(perEngineMs + 120_000);

  after(() => cleanup());

  forEachEngine(`${IN_FLIGHT} random reads and writes in flight over ${FILES.length} files on ext4 and tmpfs`, ({ engine }) => {
    it(`every read returns the generation the model expects, and so does every block at the end (seed ${SEED})`, async () => {
      const ring = new Ring({ engine, entries: RING_ENTRIES });
      let report: SoakReport;
      try {
        report = await soak(ring, perEngineMs, new Random(SEED));
        const stats = ring.stats();
        const ops = report.reads + report.writes + report.syncs;
        console.log(`      ${engine}: ${ops} ops in ${(perEngineMs / 1000).toFixed(1)} s (${report.reads} reads, ` +
          `${report.writes} writes, ${report.vectored} of them vectored, ${report.syncs} datasyncs, ` +
          `${(report.bytes / 2 ** 20).toFixed(0)} MiB), ` +
          `${report.mismatchCount} mismatches, ${report.finalBlocksChecked} blocks checked at the end, seed ${SEED}`);
        expect(report.failures, 'ops that failed').to.deep.equal([]);
        expect(report.mismatches, 'blocks that held the wrong data').to.deep.equal([]);
        expect(report.mismatchCount).to.equal(0);
        expect(report.reads, 'reads done').to.be.above(0);
        expect(report.writes, 'writes done').to.be.above(0);
        expect(report.vectored, 'vectored reads and writes done').to.be.above(0);
        expect(report.finalBlocksChecked).to.equal(FILES.length * BLOCKS_PER_FILE);
        // The ring saw exactly the ops the model made (datasyncs that met share
        // one system call: group commit), and nothing is left behind.
        expect(stats.syncsRequested, 'datasyncs asked for').to.equal(report.syncs);
        expect(stats.syncsIssued, 'datasyncs issued').to.be.within(1, report.syncs);
        expect(stats.completed, 'completions').to.equal(ops - report.syncs + stats.syncsIssued);
        expect(stats.submitted, 'submissions').to.equal(ops - report.syncs + stats.syncsIssued);
        expect(stats.errors, 'errors').to.equal(0);
        expect(stats.inFlight + stats.queued, 'ops left in the ring').to.equal(0);
      } finally {
        await ring.close();
      }
    });
  });
});
