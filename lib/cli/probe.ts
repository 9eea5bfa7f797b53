// `odirect probe [PATH]`: what works here and why the rest does not; for a
// path, its filesystem, whether it takes O_DIRECT, and its alignment.
import fs = require('fs');
import path = require('path');
import { allocAligned, AlignmentSource, AtomicWriteLimits, open, PathProbe, probe, ProbeReport } from '../index';
import { expectPositionals, parseCommand } from './args';
import { Command, EXIT_FAILURE, EXIT_OK } from './command';
import { table } from './format';
import { blockDeviceOf, mountOf } from './machine';

const HELP = `Usage: odirect probe [--json] [PATH]

Which engines start on this machine (io_uring, aio, threadpool) and why the
others do not, the kernel release, the liburing version, and the engine that
'auto' picks (ODIRECT_ENGINE in the environment decides it when set).

With PATH (a file, a block device, or a directory): the filesystem it is on
and the device under it, whether it takes O_DIRECT (a file is opened and its
first block read; in a directory a scratch file is made, written, read back
and deleted), and the direct-I/O alignment of its memory and offsets, with
where that figure comes from (statx, the block device, or defaults). Also
what it offers beyond that: untorn writes (RWF_ATOMIC: the range of lengths
statx reports, or why there are none) and uncached I/O (RWF_DONTCACHE).

Options:
  --json      the report as JSON on stdout
  -h, --help  this help

Exit status: 0 when the report is made, whatever it says (an engine or
O_DIRECT missing is a finding, not a failure); 1 when no engine can start, or
PATH cannot be examined (it does not exist, a directory is not writable...);
2 for a bad option.`;

export interface PathReport {
  path: string;
  kind: 'file' | 'directory' | 'block device' | 'other';
  filesystem: string | null;
  mountPoint: string | null;
  /** The block device under it ("vda", "loop0"), or null (tmpfs, overlay...). */
  device: string | null;
  /** Whether a file there opens with O_DIRECT and a direct read (and, in a directory, a write) works. */
  direct: boolean;
  /** Why not, when it does not. */
  reason?: string;
  /** The file probed: PATH itself, or the scratch file made in the directory. */
  probedFile: string;
  alignment?: { memory: number; offset: number; source: AlignmentSource };
  /** Untorn writes with O_DIRECT (RWF_ATOMIC), or null. */
  atomicWrite: AtomicWriteLimits | null;
  /** Why `atomicWrite` is null. */
  atomicWriteReason?: string;
  /** Whether open(..., { direct: 'uncached' }) works there (RWF_DONTCACHE). */
  uncached: boolean;
  uncachedReason?: string;
}

function kindOf(stats: fs.Stats): PathReport['kind'] {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'directory';
  if (stats.isBlockDevice()) return 'block device';
  return 'other';
}

/**
 * Opens `file` with O_DIRECT through odirect and moves one block: a read of
 * the first block, and in a scratch file a write before it.
 */
async function tryDirect(file: string, scratch: boolean): Promise<Pick<PathReport, 'direct' | 'reason' | 'alignment'>> {
  let handle;
  try {
    handle = await open(file, scratch ? 'wx+' : 'r', { mode: 0o600 });
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    if (code === 'EINVAL') return { direct: false, reason: message };
    throw error;
  }
  try {
    const alignment = { ...handle.alignment, source: handle.alignmentSource };
    const block = allocAligned(Math.max(handle.alignment.offset, 4096), Math.max(handle.alignment.memory, 4096));
    if (scratch) {
      block.fill(0x6f);
      await handle.writeAt(block, 0);
    }
    const bytes = await handle.readAt(block, 0);
    if (scratch && (bytes !== block.length || block.some((byte) => byte !== 0x6f))) {
      return { direct: false, reason: `a direct write read back wrong (${bytes} bytes)`, alignment };
    }
    return { direct: true, alignment };
  } catch (error) {
    return { direct: false, reason: (error as Error).message };
  } finally {
    await handle.close();
  }
}

/** `offers`: what probe(target) found beyond direct I/O (untorn writes, uncached I/O). */
export async function probePath(target: string, offers: PathProbe): Promise<PathReport> {
  const stats = fs.statSync(target);
  const kind = kindOf(stats);
  const mount = mountOf(target);
  const report: PathReport = {
    path: target,
    kind,
    filesystem: mount?.filesystem ?? null,
    mountPoint: mount?.mountPoint ?? null,
    device: (kind === 'block device' ? path.basename(fs.realpathSync(target)) : blockDeviceOf(target)?.name) ?? null,
    direct: false,
    probedFile: target,
    atomicWrite: offers.atomicWrite,
    uncached: offers.uncached,
  };
  if (offers.atomicWriteReason !== undefined) report.atomicWriteReason = offers.atomicWriteReason;
  if (offers.uncachedReason !== undefined) report.uncachedReason = offers.uncachedReason;
  if (kind === 'directory') {
    const scratch = path.join(target, `.odirect-probe-${process.pid}-${Date.now()}`);
    report.probedFile = scratch;
    try {
      Object.assign(report, await tryDirect(scratch, true));
    } finally {
      fs.rmSync(scratch, { force: true });
    }
  } else if (kind === 'other') {
    // Opening a FIFO would wait for a writer; a character device has no direct I/O.
    report.reason = 'not a regular file, block device or directory';
  } else {
    Object.assign(report, await tryDirect(target, false));
  }
  return report;
}

function printReport(report: ProbeReport, pathReport: PathReport | null): void {
  const out: string[] = [];
  const forced = process.env.ODIRECT_ENGINE;
  out.push(`kernel      ${report.kernel ?? 'unknown'}`);
  const linkage = { static: 'linked into the addon', shared: 'liburing.so, the addon is built with it' };
  out.push(`addon       ${report.addon.path} (${report.addon.prebuilt ? 'prebuilt' : 'built from source'})`);
  out.push(`liburing    ${report.liburing ?? (report.builtWithLiburing ? 'version unknown' : 'none')}` +
    (report.addon.liburing !== null ? ` (${linkage[report.addon.liburing]})` : ' (the addon was built without liburing: no io_uring engine)'));
  out.push(`default     ${report.defaultEngine ?? 'none'}` +
    (forced !== undefined && forced !== '' ? ` (ODIRECT_ENGINE=${forced})` : ' (what auto picks)'));
  const settings: string[] = [];
  if (report.ioUringDisabled !== undefined) settings.push(`kernel.io_uring_disabled=${report.ioUringDisabled}`);
  if (report.aioNr !== undefined && report.aioMaxNr !== undefined) settings.push(`fs.aio-nr=${report.aioNr} of fs.aio-max-nr=${report.aioMaxNr}`);
  if (settings.length > 0) out.push(`settings    ${settings.join(', ')}`);
  out.push('');
  const rows = [['engine', 'works', 'details']];
  for (const engine of report.engines) {
    rows.push([engine.engine, engine.available ? 'yes' : 'no',
      engine.available ? engine.features ?? '' : `${engine.code ?? 'error'}: ${engine.reason ?? 'cannot start'}`]);
  }
  out.push(table(rows, () => false));
  if (report.notice !== undefined) out.push('', `Note: ${report.notice}`);
  if (pathReport !== null) {
    const { alignment } = pathReport;
    out.push('');
    out.push(`path        ${pathReport.path} (${pathReport.kind})`);
    out.push(`filesystem  ${pathReport.filesystem ?? 'unknown'}` +
      `${pathReport.mountPoint !== null ? ` mounted on ${pathReport.mountPoint}` : ''}` +
      `${pathReport.device !== null ? `, device ${pathReport.device}` : ', no block device'}`);
    out.push(`O_DIRECT    ${pathReport.direct ? 'yes' : `no: ${pathReport.reason ?? 'unknown'}`}` +
      (pathReport.kind === 'directory' ? ` (tried on a scratch file there)` : ''));
    if (alignment !== undefined) {
      out.push(`alignment   memory ${alignment.memory}, offset ${alignment.offset} (from ${alignment.source})`);
    }
    const atomic = pathReport.atomicWrite;
    out.push(atomic !== null
      ? `untorn      ${atomic.min} to ${atomic.max} bytes, ${atomic.maxSegments} buffer${atomic.maxSegments === 1 ? '' : 's'} ` +
        `(RWF_ATOMIC with O_DIRECT${atomic.maxOptimized !== undefined ? `; fast up to ${atomic.maxOptimized}` : ''})`
      : `untorn      none: ${pathReport.atomicWriteReason ?? 'unknown'}`);
    out.push(`uncached    ${pathReport.uncached ? 'yes (RWF_DONTCACHE)' : `no: ${pathReport.uncachedReason ?? 'unknown'}`}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

export const probeCommand: Command = {
  name: 'probe',
  synopsis: '[--json] [PATH]',
  summary: 'engines, kernel and liburing here; for PATH: filesystem, O_DIRECT, alignment',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommand(args, { json: { type: 'boolean' } });
    expectPositionals(positionals, ['PATH'], 0);
    const target = positionals[0] ?? null;
    const report = await probe(target ?? undefined);
    const pathReport = target === null ? null : await probePath(target, report.path!);
    delete report.path;
    if (values.json === true) process.stdout.write(`${JSON.stringify({ ...report, path: pathReport ?? undefined }, null, 2)}\n`);
    else printReport(report, pathReport);
    return report.engines.some((engine) => engine.available) ? EXIT_OK : EXIT_FAILURE;
  },
};
