// fio, run as a child process with JSON output: the reference that odirect's
// figures are compared with, in `odirect bench --compare` and in bench/.
import { spawnSync } from 'child_process';
import { runToEnd } from './child';

/** fio's version ("fio-3.33"), or null when fio is not on PATH. */
export function fioVersion(): string | null {
  const probe = spawnSync('fio', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : null;
}

/** fio's read/write section for the direction a workload uses. */
export type Direction = 'read' | 'write';

/** The figures of one direction of fio's job, as its JSON report has them. */
export interface FioSide {
  runtime: number;
  total_ios: number;
  io_bytes: number;
  iops: number;
  /** Percentiles ("50.000000": ns) of the total latency with --lat_percentiles=1, else of the completion latency. */
  lat_ns?: { percentile?: Record<string, number> };
  clat_ns?: { percentile?: Record<string, number> };
}

/** One job of fio's JSON report: the fields read here. */
export interface FioJob {
  read: FioSide;
  write: FioSide;
  usr_cpu: number;
  sys_cpu: number;
}

export interface FioResult {
  iops: number;
  /** Completed reads (or writes) over fio's own runtime. */
  ops: number;
  runtimeMs: number;
  /** fio job's user+system CPU time per op, µs (from its usr_cpu/sys_cpu percentages). */
  cpuUsPerOp: number;
  /**
   * User+system CPU seconds of fio's whole process tree (its main process, the
   * job process and every thread of it), from the rusage of the children of
   * the shell that ran it. Unlike cpuUsPerOp, this includes the kernel's
   * io_uring workers (io-wq threads belong to the job process; fio's own
   * figure is its job thread's) and fio's start-up (0.15 s on this machine
   * on 2026-11-22, kernel build v595).
   */
  processCpuSeconds: number | null;
  args: string[];
}

/**
 * fio's --runtime for a turn of `seconds`: fio reads "0.5" as 0 (no limit at
 * all, one pass over the file), so a fraction goes in milliseconds.
 */
export function fioRuntime(seconds: number): string {
  return Number.isInteger(seconds) ? `${seconds}` : `${Math.round(seconds * 1000)}ms`;
}

/** bash's `times`: the shell's, then its children's, user and system time ("0m0.263s 0m0.551s"). */
function childrenCpuSeconds(stderr: string): number | null {
  const lines = stderr.trimEnd().split('\n');
  const match = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(lines[lines.length - 1] ?? '');
  if (match === null) return null;
  return Number(match[1]) * 60 + Number(match[2]) + Number(match[3]) * 60 + Number(match[4]);
}

/** Runs fio with `args` plus JSON output; resolves to its first job and the CPU time of its processes. */
export async function runFioJob(args: string[]): Promise<{ job: FioJob; processCpuSeconds: number | null; args: string[] }> {
  const fullArgs = [...args, '--output-format=json'];
  // Through bash, whose `times` (to stderr, last) gives the CPU time of the fio processes it waited for.
  const { stdout, stderr } = await runToEnd('bash', ['-c', 'fio "$@"; status=$?; times >&2; exit $status', 'fio', ...fullArgs],
    `fio ${fullArgs.join(' ')}`);
  try {
    // fio can print notes before the JSON document.
    const report = JSON.parse(stdout.slice(stdout.indexOf('{')));
    return { job: report.jobs[0] as FioJob, processCpuSeconds: childrenCpuSeconds(stderr), args: fullArgs };
  } catch (error) {
    throw new Error(`cannot read fio's JSON output: ${(error as Error).message}\n${stdout.slice(0, 500)}`);
  }
}

/**
 * Runs fio with `args` (plus JSON output) and takes `direction`'s figures;
 * without `direction`, only its process CPU time (a run with no timed part,
 * to measure fio's start-up).
 */
export function runFio(args: string[], direction: Direction): Promise<FioResult>;
export function runFio(args: string[]): Promise<Pick<FioResult, 'processCpuSeconds' | 'args'>>;
export async function runFio(args: string[], direction?: Direction,
): Promise<FioResult | Pick<FioResult, 'processCpuSeconds' | 'args'>> {
  const { job, processCpuSeconds, args: fullArgs } = await runFioJob(args);
  if (direction === undefined) return { processCpuSeconds, args: fullArgs };
  const side = job[direction];
  const runtimeMs = side.runtime;
  const ops = side.total_ios;
  const cpuSeconds = ((job.usr_cpu + job.sys_cpu) / 100) * (runtimeMs / 1000);
  return { iops: side.iops, ops, runtimeMs, cpuUsPerOp: (cpuSeconds * 1e6) / ops, processCpuSeconds, args: fullArgs };
}
