// The commit path: N writers, each writing its own 4 KiB block and then
// making it durable before the next, as a server that answers each request
// once its data is on the device. Contenders, each in a fresh child process
// per turn, in interleaved rounds (A B C A B C ...):
//
//   odirect datasync   writeAt(block), then datasync() (group commit shares it)
//   odirect dsync      writeAt(block, { dsync: true }) (RWF_DSYNC: FUA where the device has it)
//   fs.promises        FileHandle.write(block) on an O_DIRECT descriptor, then FileHandle.datasync()
//   baseline datasync  (with --baseline DIR) writeAt + datasync() of another odirect build, such as
//                      the one before group commit, for a same-run comparison
//
// Reports commits per second (median over rounds) and ratios per round to
// fs.promises and to the baseline, as medians.
//
//   node build/bench/commit.js [--rounds 5] [--seconds 3] [--writers 1,8,64]
//        [--dir /tmp,/dev/shm] [--baseline /path/to/other/odirect] [--json] [--out results.json]
import childProcess = require('child_process');
import fs = require('fs');
import os = require('os');
import path = require('path');
import { parseArgs } from 'util';
import { describeMachine, listOf, markdownTable, median, parsePositive } from './common';

const BLOCK = 4096;
const CONTENDERS = ['odirect datasync', 'odirect dsync', 'fs.promises', 'baseline datasync'] as const;
type Contender = typeof CONTENDERS[number];

interface Turn {
  contender: Contender;
  dir: string;
  writers: number;
  round: number;
  commits: number;
  seconds: number;
  commitsPerSecond: number;
  cpuUsPerCommit: number;
  /** odirect: datasync() calls, and the fdatasync system calls they cost. */
  syncsRequested?: number;
  syncsIssued?: number;
}

/** One turn, in this (child) process: prints a Turn as JSON. */
async function runTurn(contender: Contender, file: string, writers: number, seconds: number,
  entry: string): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const odirect = require(entry) as typeof import('odirect');
  fs.writeFileSync(file, Buffer.alloc(writers * BLOCK));  // every block allocated: no write extends the file
  const fd = fs.openSync(file, 'r+');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  const blocks = Array.from({ length: writers }, (_, i) => odirect.allocAligned(BLOCK).fill(i & 0xff));
  let commit: (i: number) => Promise<unknown>;
  let close: () => Promise<void>;
  let stats = (): { syncsRequested?: number; syncsIssued?: number } => ({});
  if (contender === 'fs.promises') {
    const handle = await fs.promises.open(file, fs.constants.O_RDWR | fs.constants.O_DIRECT);
    commit = async (i) => {
      await handle.write(blocks[i], 0, BLOCK, i * BLOCK);
      await handle.datasync();
    };
    close = () => handle.close();
  } else {
    const direct = await odirect.open(file, 'r+');
    commit = contender === 'odirect dsync'
      ? (i) => direct.writeAt(blocks[i], i * BLOCK, { dsync: true })
      : async (i) => {
        await direct.writeAt(blocks[i], i * BLOCK);
        await direct.datasync();
      };
    close = () => direct.close();
    stats = () => {
      const { syncsRequested, syncsIssued } = direct.ring.stats() as { syncsRequested?: number; syncsIssued?: number };
      return { syncsRequested, syncsIssued };
    };
  }
  const run = async (ms: number): Promise<number> => {
    const end = performance.now() + ms;
    let commits = 0;
    await Promise.all(blocks.map(async (_, i) => {
      while (performance.now() < end) {
        await commit(i);
        commits++;
      }
    }));
    return commits;
  };
  await run(300);  // warm-up, untimed
  const before = stats();
  const cpu = process.cpuUsage();
  const start = performance.now();
  const commits = await run(seconds * 1000);
  const elapsed = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  const after = stats();
  await close();
  fs.rmSync(file, { force: true });
  const turn: Omit<Turn, 'contender' | 'dir' | 'writers' | 'round'> = {
    commits, seconds: elapsed, commitsPerSecond: commits / elapsed, cpuUsPerCommit: (used.user + used.system) / commits,
  };
  if (after.syncsRequested !== undefined && before.syncsRequested !== undefined) {
    turn.syncsRequested = after.syncsRequested - before.syncsRequested;
    turn.syncsIssued = after.syncsIssued! - before.syncsIssued!;
  }
  process.stdout.write(`${JSON.stringify(turn)}\n`);
}

const HELP = `Usage: node build/bench/commit.js [options]

  --writers LIST   writers, each committing one block at a time (default 1,8,64)
  --dir LIST       directories of the data files (default ${os.tmpdir()},/dev/shm)
  --seconds S      length of each turn (default 3)
  --rounds N       rounds (default 5)
  --baseline DIR   another odirect package directory (its dist/ and build/ built) to run as 'baseline datasync'
  --json           print the results as JSON instead of the tables
  --out PATH       also write the JSON to PATH
  --help`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      writers: { type: 'string', multiple: true },
      dir: { type: 'string', multiple: true },
      seconds: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '5' },
      baseline: { type: 'string' },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
      turn: { type: 'string' },  // internal: contender,file,writers,seconds,entry
    },
    strict: true,
  });
  if (values.turn !== undefined) {
    const [contender, file, writers, seconds, entry] = JSON.parse(values.turn) as [Contender, string, number, number, string];
    return runTurn(contender, file, writers, seconds, entry);
  }
  if (values.help === true) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const writersList = (listOf(values.writers).length > 0 ? listOf(values.writers) : ['1', '8', '64'])
    .map((v) => parsePositive(v, 'writers'));
  const dirs = listOf(values.dir).length > 0 ? listOf(values.dir) : [os.tmpdir(), '/dev/shm'];
  const seconds = Number(values.seconds);
  const rounds = parsePositive(values.rounds!, 'rounds');
  const entries: Partial<Record<Contender, string>> = {
    'odirect datasync': require.resolve('odirect'),
    'odirect dsync': require.resolve('odirect'),
    'fs.promises': require.resolve('odirect'),
  };
  if (values.baseline !== undefined) entries['baseline datasync'] = require.resolve(path.resolve(values.baseline));
  const contenders = CONTENDERS.filter((c) => entries[c] !== undefined);
  const turns: Turn[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const dir of dirs) {
      for (const writers of writersList) {
        for (const contender of contenders) {
          const file = path.join(dir, `odirect-bench-commit-${process.pid}`);
          const child = childProcess.spawnSync(process.execPath,
            [__filename, '--turn', JSON.stringify([contender, file, writers, seconds, entries[contender]])],
            { encoding: 'utf8', env: { ...process.env, ODIRECT_ENGINE: process.env.ODIRECT_ENGINE ?? '' } });
          fs.rmSync(file, { force: true });
          if (child.status !== 0) throw new Error(`${contender} in ${dir} with ${writers} writers failed: ${child.stderr}`);
          const turn = { contender, dir, writers, round, ...JSON.parse(child.stdout) } as Turn;
          turns.push(turn);
          process.stderr.write(`round ${round} ${dir} ${writers} writers ${contender}: ` +
            `${Math.round(turn.commitsPerSecond)} commits/s${turn.syncsIssued !== undefined
              ? `, ${turn.syncsRequested} datasync() in ${turn.syncsIssued} system calls` : ''}\n`);
        }
      }
    }
  }
  const rows: string[][] = [['directory', 'writers', 'contender', 'commits/s (median)', 'datasync() per system call',
    '× fs.promises', '× baseline']];
  const groups: unknown[] = [];
  for (const dir of dirs) {
    for (const writers of writersList) {
      const mine = turns.filter((t) => t.dir === dir && t.writers === writers);
      const ratio = (contender: Contender, baseline: Contender): number | null => {
        const perRound = mine.filter((t) => t.contender === contender).flatMap((t) => {
          const base = mine.find((b) => b.contender === baseline && b.round === t.round);
          return base === undefined ? [] : [t.commitsPerSecond / base.commitsPerSecond];
        });
        return perRound.length === 0 ? null : median(perRound);
      };
      for (const contender of contenders) {
        const own = mine.filter((t) => t.contender === contender);
        const sharing = own.filter((t) => t.syncsIssued !== undefined && t.syncsIssued > 0)
          .map((t) => t.syncsRequested! / t.syncsIssued!);
        const summary = {
          dir, writers, contender,
          medianCommitsPerSecond: median(own.map((t) => t.commitsPerSecond)),
          medianCpuUsPerCommit: median(own.map((t) => t.cpuUsPerCommit)),
          datasyncPerSystemCall: sharing.length > 0 ? median(sharing) : null,
          ratioToFsPromises: contender === 'fs.promises' ? null : ratio(contender, 'fs.promises'),
          ratioToBaseline: contender === 'baseline datasync' || entries['baseline datasync'] === undefined
            ? null : ratio(contender, 'baseline datasync'),
        };
        groups.push(summary);
        const fmt = (value: number | null, digits = 2): string => (value === null ? '' : value.toFixed(digits));
        rows.push([dir, String(writers), contender, `${Math.round(summary.medianCommitsPerSecond)}`,
          fmt(summary.datasyncPerSystemCall, 1), fmt(summary.ratioToFsPromises), fmt(summary.ratioToBaseline)]);
      }
    }
  }
  const result = { machine: describeMachine(path.join(dirs[0], '.')), options: { rounds, seconds, writers: writersList, dirs },
    summary: groups, turns };
  if (values.out !== undefined) fs.writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
  if (values.json === true) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(`${markdownTable(rows, (c) => c >= 3)}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
