// Where the time of a queue-depth cycle goes on a disk, from the kernel's own
// tracepoints (tracefs; root). At depth the virtio disk here completes its
// whole queue at once and then idles until a read reaches it again, so a
// run of the disk is a string of cycles: the burst of completions, the gap
// until the first read is issued again, the spread of the issues, and the
// device's own time from the last issue to the next burst.
//
//   node build/bench/cycle.js [--delay S] [--seconds S] [--json] -- COMMAND [ARG...]
//
// Starts COMMAND, waits --delay seconds (default 1.5), records --seconds
// (default 1) of block_rq_issue and block_rq_complete events and of the
// system calls a reader sleeps and submits in (epoll_pwait, epoll_wait,
// io_uring_enter, io_submit, io_getevents), then waits for COMMAND to end.
// It prints the medians over the cycles, in µs:
//
//   burst     first to last completion of a run of at least 16 completions
//             with no issue between them
//   wake      last completion to the issuing thread's first return from a
//             system call (the kernel's part: the wake-up, and the
//             completion work io_uring runs in that thread before it returns)
//   gap       last completion to the first issue after it (wake, then the
//             program's own path to its next submission)
//   spread    first to last issue before the next burst
//   device    last issue to the next burst's first completion
//
// and the reads completed per second and the average number of reads in the
// device (issued, not yet completed) over the window. Only reads are
// counted; a write in the window is left out.
import fs = require('fs');
import { spawn } from 'child_process';

const TRACING = '/sys/kernel/tracing';
const EVENTS = [
  'block/block_rq_issue',
  'block/block_rq_complete',
  ...['epoll_pwait', 'epoll_wait', 'io_uring_enter', 'io_submit', 'io_getevents'].flatMap((call) => [
    `syscalls/sys_enter_${call}`,
    `syscalls/sys_exit_${call}`,
  ]),
];

interface Event {
  time: number;
  pid: number;
  kind: 'issue' | 'complete' | 'enter' | 'exit';
  /** Block events: the first sector and the rwbs field. */
  sector?: number;
  rwbs?: string;
}

export interface CycleReport {
  cycles: number;
  readsPerSecond: number;
  averageDepth: number;
  /** Medians in µs. */
  burst: number;
  wake: number;
  gap: number;
  spread: number;
  device: number;
}

// "  node-16645   [001] ..... 37241.945702: sys_epoll_pwait -> 0x0"
// "  <idle>-0     [001] .Ns1. 37241.968785: block_rq_complete: 254,0 RS () 71110976 + 8 be,0,4 [0]"
const LINE = /^\s*(.+)-(\d+)\s+\[\d+\]\s+\S+\s+(\d+\.\d+): (\S+?)(: | -> |\()(.*)$/;
const BLOCK = /^\d+,\d+ (\S+) (?:\d+ )?\(\S*\) (\d+) \+/;

export function parseTrace(text: string): Event[] {
  const events: Event[] = [];
  for (const line of text.split('\n')) {
    const match = LINE.exec(line);
    if (match === null) continue;
    const time = Number(match[3]) * 1e6;
    const pid = Number(match[2]);
    const name = match[4];
    if (name === 'block_rq_issue' || name === 'block_rq_complete') {
      const block = BLOCK.exec(match[6]);
      if (block === null || !block[1].includes('R')) continue;
      events.push({ time, pid, kind: name === 'block_rq_issue' ? 'issue' : 'complete', sector: Number(block[2]), rwbs: block[1] });
    } else if (name.startsWith('sys_')) {
      events.push({ time, pid, kind: match[5] === ' -> ' ? 'exit' : 'enter' });
    }
  }
  return events.sort((a, b) => a.time - b.time);
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function cycles(events: Event[]): CycleReport {
  const block = events.filter((event) => event.kind === 'issue' || event.kind === 'complete');
  // Reads in the device over time; a completion whose issue came before the
  // window is not counted down (its issue was never counted up). The same
  // sector may be in flight twice (random reads).
  const inFlight = new Map<number, number>();
  let depth = 0;
  let area = 0;
  let completed = 0;
  for (let i = 0; i < block.length; i++) {
    if (i > 0) area += depth * (block[i].time - block[i - 1].time);
    const { sector } = block[i];
    if (block[i].kind === 'issue') {
      inFlight.set(sector!, (inFlight.get(sector!) ?? 0) + 1);
      depth++;
    } else {
      completed++;
      const count = inFlight.get(sector!) ?? 0;
      if (count > 0) {
        inFlight.set(sector!, count - 1);
        depth--;
      }
    }
  }
  const span = block.length > 1 ? block[block.length - 1].time - block[0].time : NaN;
  // Runs of one kind of block event, in order.
  type Run = { kind: 'issue' | 'complete'; first: number; last: number; count: number; firstPid: number };
  const runs: Run[] = [];
  for (const event of block) {
    const kind = event.kind as 'issue' | 'complete';
    const last = runs[runs.length - 1];
    if (last !== undefined && last.kind === kind) {
      last.last = event.time;
      last.count++;
    } else {
      runs.push({ kind, first: event.time, last: event.time, count: 1, firstPid: event.pid });
    }
  }
  const bursts = runs.map((run, index) => ({ run, index })).filter(({ run }) => run.kind === 'complete' && run.count >= 16);
  const parts = { burst: [] as number[], wake: [] as number[], gap: [] as number[], spread: [] as number[], device: [] as number[] };
  const syscalls = events.filter((event) => event.kind === 'exit');
  let at = 0;
  for (let b = 0; b + 1 < bursts.length; b++) {
    const { run, index } = bursts[b];
    const next = bursts[b + 1];
    const issues = runs.slice(index + 1, next.index).filter((r) => r.kind === 'issue');
    if (issues.length === 0) continue;
    const firstIssue = issues[0];
    parts.burst.push(run.last - run.first);
    parts.gap.push(firstIssue.first - run.last);
    parts.spread.push(issues[issues.length - 1].last - firstIssue.first);
    parts.device.push(next.run.first - issues[issues.length - 1].last);
    // The issuing thread's first return from a system call after the burst.
    while (at < syscalls.length && syscalls[at].time < run.last) at++;
    for (let s = at; s < syscalls.length && syscalls[s].time <= firstIssue.first; s++) {
      if (syscalls[s].pid === firstIssue.firstPid) {
        parts.wake.push(syscalls[s].time - run.last);
        break;
      }
    }
  }
  return {
    cycles: parts.gap.length,
    readsPerSecond: (completed / span) * 1e6,
    averageDepth: area / span,
    burst: median(parts.burst),
    wake: median(parts.wake),
    gap: median(parts.gap),
    spread: median(parts.spread),
    device: median(parts.device),
  };
}

function write(file: string, value: string): void {
  fs.writeFileSync(`${TRACING}/${file}`, value);
}

function setEvents(on: boolean): void {
  for (const event of EVENTS) {
    try {
      write(`events/${event}/enable`, on ? '1' : '0');
    } catch (error) {
      // A kernel without one of the system calls' tracepoints: left out.
      if (on && !event.startsWith('syscalls/')) throw error;
    }
  }
}

const sleep = (seconds: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const split = args.indexOf('--');
  if (split < 0 || split === args.length - 1) {
    throw new Error('usage: cycle.js [--delay S] [--seconds S] [--json] -- COMMAND [ARG...]');
  }
  const options = args.slice(0, split);
  const option = (name: string, fallback: number): number => {
    const at = options.indexOf(name);
    return at < 0 ? fallback : Number(options[at + 1]);
  };
  const delay = option('--delay', 1.5);
  const seconds = option('--seconds', 1);
  if (!(delay >= 0) || !(seconds > 0)) throw new Error('--delay must be a number of seconds from 0, --seconds above 0');
  const [command, ...commandArgs] = args.slice(split + 1);
  if (!fs.existsSync(`${TRACING}/trace`)) throw new Error(`${TRACING} is not mounted (mount -t tracefs nodev ${TRACING})`);
  const child = spawn(command, commandArgs, { stdio: 'ignore' });
  // Settles with the exit code, or the reason the command could not start.
  const exited = new Promise<number | null | Error>((resolve) => {
    child.once('error', resolve);
    child.once('exit', (code) => resolve(code));
  });
  await sleep(delay);
  let text: string;
  try {
    write('tracing_on', '0');
    write('trace', '');
    write('buffer_size_kb', '131072');
    setEvents(true);
    write('tracing_on', '1');
    await sleep(seconds);
    write('tracing_on', '0');
    text = fs.readFileSync(`${TRACING}/trace`, 'utf8');
  } finally {
    // Never leave the tracepoints on, whatever failed.
    setEvents(false);
    write('trace', '');
  }
  const code = await exited;
  if (code instanceof Error) throw new Error(`${command} did not start: ${code.message}`);
  if (code !== 0) throw new Error(`${command} exited with ${code}`);
  const report = cycles(parseTrace(text));
  if (report.cycles === 0) throw new Error(`no cycle of a burst of at least 16 completed reads in the ${seconds} s traced`);
  if (options.includes('--json')) {
    console.log(JSON.stringify(report));
    return;
  }
  const us = (value: number): string => value.toFixed(1);
  console.log(`${report.cycles} cycles, ${report.readsPerSecond.toFixed(0)} reads/s, ${report.averageDepth.toFixed(1)} reads in the device on average`);
  console.log(`per cycle (medians, µs): burst ${us(report.burst)}, wake ${us(report.wake)}, gap ${us(report.gap)}, spread ${us(report.spread)}, device ${us(report.device)}`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
