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
// counted, on one device: --device MAJOR,MINOR, or the device with the most
// reads issued in the window. Times are from the trace clock `mono`, which
// orders events across CPUs. The split assumes what the disk here does:
// bursts that no issue interrupts. Where issues interleave with a burst
// (a reader on another CPU than the interrupts), a burst splits into
// several and the parts no longer mean the same. Tracing state (buffer
// size, clock, tracing_on) is put back as it was, also on SIGINT/SIGTERM.
// A trace that lost events is refused.
import fs = require('fs');
import { spawn } from 'child_process';
import { median } from './common';

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
  /** Block events: the device (major,minor), the first sector and the rwbs field. */
  device?: string;
  sector?: number;
  rwbs?: string;
}

export interface CycleReport {
  /** The disk counted (major,minor). */
  disk: string;
  cycles: number;
  /** Cycles whose first issue came from a thread seen returning from a system call first (the wake's samples). */
  wakeSamples: number;
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
// (with the record-tgid option, "(  16645)" follows the pid)
const LINE = /^\s*(.+)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[\d+\]\s+\S+\s+(\d+\.\d+): (\S+?)(: | -> |\()(.*)$/;
const BLOCK = /^(\d+,\d+) (\S+) (?:\d+ )?\(\S*\) (\d+) \+/;
const LOST = /LOST (\d+) EVENTS/;

export function parseTrace(text: string): Event[] {
  const events: Event[] = [];
  for (const line of text.split('\n')) {
    const lost = LOST.exec(line);
    if (lost !== null) throw new Error(`the trace lost ${lost[1]} events (a larger buffer, or a shorter --seconds)`);
    const match = LINE.exec(line);
    if (match === null) continue;
    const time = Number(match[3]) * 1e6;
    const pid = Number(match[2]);
    const name = match[4];
    if (name === 'block_rq_issue' || name === 'block_rq_complete') {
      const block = BLOCK.exec(match[6]);
      if (block === null || !block[2].includes('R')) continue;
      events.push({
        time, pid, kind: name === 'block_rq_issue' ? 'issue' : 'complete', device: block[1], sector: Number(block[3]), rwbs: block[2],
      });
    } else if (name.startsWith('sys_')) {
      events.push({ time, pid, kind: match[5] === ' -> ' ? 'exit' : 'enter' });
    }
  }
  return events.sort((a, b) => a.time - b.time);
}

/** The device with the most reads issued among `events`. */
export function busiestDevice(events: Event[]): string | undefined {
  const counts = new Map<string, number>();
  for (const event of events) {
    if (event.kind === 'issue') counts.set(event.device!, (counts.get(event.device!) ?? 0) + 1);
  }
  let best: string | undefined;
  for (const [device, count] of counts) if (best === undefined || count > counts.get(best)!) best = device;
  return best;
}

export function cycles(events: Event[], device: string): CycleReport {
  const block = events.filter((event) => (event.kind === 'issue' || event.kind === 'complete') && event.device === device);
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
    disk: device,
    cycles: parts.gap.length,
    wakeSamples: parts.wake.length,
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

function read(file: string): string {
  return fs.readFileSync(`${TRACING}/${file}`, 'utf8').trim();
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

/** What tracing looked like before: put back by restore(). */
interface Saved {
  tracingOn: string;
  bufferSizeKb: string;
  /** The selected clock: "local [global] mono ..." names it in brackets. */
  clock: string;
}

function save(): Saved {
  const clocks = read('trace_clock');
  return { tracingOn: read('tracing_on'), bufferSizeKb: read('buffer_size_kb'), clock: /\[(\S+)\]/.exec(clocks)?.[1] ?? 'local' };
}

function restore(saved: Saved): void {
  write('tracing_on', '0');
  setEvents(false);
  write('trace', '');
  write('buffer_size_kb', saved.bufferSizeKb);
  write('trace_clock', saved.clock);
  write('tracing_on', saved.tracingOn);
}

const sleep = (seconds: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const split = args.indexOf('--');
  if (split < 0 || split === args.length - 1) {
    throw new Error('usage: cycle.js [--delay S] [--seconds S] [--device MAJOR,MINOR] [--json] -- COMMAND [ARG...]');
  }
  const options = args.slice(0, split);
  const value = (name: string): string | undefined => {
    const at = options.indexOf(name);
    return at < 0 ? undefined : options[at + 1];
  };
  const delay = Number(value('--delay') ?? 1.5);
  const seconds = Number(value('--seconds') ?? 1);
  if (!(delay >= 0) || !(seconds > 0)) throw new Error('--delay must be a number of seconds from 0, --seconds above 0');
  const device = value('--device');
  if (device !== undefined && !/^\d+,\d+$/.test(device)) throw new Error(`--device takes MAJOR,MINOR (as in /proc/partitions), not ${device}`);
  const [command, ...commandArgs] = args.slice(split + 1);
  if (!fs.existsSync(`${TRACING}/trace`)) throw new Error(`${TRACING} is not mounted (mount -t tracefs nodev ${TRACING})`);
  const saved = save();

  const child = spawn(command, commandArgs, { stdio: 'ignore' });
  // Settles with the exit code (or the signal's name), or the reason the command could not start.
  let ended = false;
  const exited = new Promise<number | string | Error>((resolve) => {
    child.once('error', (error) => {
      ended = true;
      resolve(error);
    });
    child.once('exit', (code, signal) => {
      ended = true;
      resolve(code ?? signal ?? 'unknown');
    });
  });
  // Interrupted: tracing as it was, and the command stopped.
  const onSignal = (signal: NodeJS.Signals): void => {
    try {
      restore(saved);
    } finally {
      if (!ended) child.kill('SIGKILL');
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let text: string;
  try {
    await sleep(delay);
    if (ended) throw new Error(`${command} ended before the trace began (--delay ${delay})`);
    write('tracing_on', '0');
    write('trace', '');
    write('buffer_size_kb', '131072');
    write('trace_clock', 'mono');
    setEvents(true);
    write('tracing_on', '1');
    await sleep(seconds);
    write('tracing_on', '0');
    if (ended) throw new Error(`${command} ended before the ${seconds} s traced were over`);
    text = fs.readFileSync(`${TRACING}/trace`, 'utf8');
  } catch (error) {
    if (!ended) child.kill('SIGKILL');
    throw error;
  } finally {
    // Never leave the tracepoints on, whatever failed.
    restore(saved);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  const code = await exited;
  if (code instanceof Error) throw new Error(`${command} did not start: ${code.message}`);
  if (code !== 0) throw new Error(`${command} exited with ${code}`);
  const events = parseTrace(text);
  const counted = device ?? busiestDevice(events);
  if (counted === undefined) throw new Error(`no read was issued in the ${seconds} s traced`);
  const report = cycles(events, counted);
  if (report.cycles === 0) throw new Error(`no cycle of a burst of at least 16 completed reads on ${counted} in the ${seconds} s traced`);
  if (options.includes('--json')) {
    console.log(JSON.stringify(report));
    return;
  }
  const us = (value: number): string => value.toFixed(1);
  console.log(`disk ${report.disk}: ${report.cycles} cycles, ${report.readsPerSecond.toFixed(0)} reads/s, ` +
    `${report.averageDepth.toFixed(1)} reads in the device on average`);
  console.log(`per cycle (medians, µs): burst ${us(report.burst)}, wake ${us(report.wake)} (${report.wakeSamples} cycles), ` +
    `gap ${us(report.gap)}, spread ${us(report.spread)}, device ${us(report.device)}`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
