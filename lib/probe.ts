// What this machine supports, and why not where it does not.
import { binding } from './native';
import { chooseEngine, ENGINES, EngineName, readSysctl } from './engines';
import { Ring } from './ring';

export interface EngineReport {
  engine: EngineName;
  available: boolean;
  /** Engine features when available ("nodrop fast_poll", "user_ring"...). */
  features?: string;
  /** Why it cannot start, when it cannot. */
  reason?: string;
  /** The errno code behind `reason` ('ENOSYS', 'EPERM', 'EAGAIN'...). */
  code?: string;
}

export interface ProbeReport {
  /** uname -r */
  kernel: string | null;
  /** The liburing the addon runs with ("2.3"), or null when built without it. */
  liburing: string | null;
  /** Whether the addon was built with liburing (liburing-dev present at install). */
  builtWithLiburing: boolean;
  /** What engine: 'auto' picks here. */
  defaultEngine: EngineName | null;
  engines: EngineReport[];
  /** /proc/sys/kernel/io_uring_disabled (Linux 6.6+), when readable. */
  ioUringDisabled?: number;
  /** fs.aio-nr and fs.aio-max-nr: AIO events in use and allowed, machine-wide. */
  aioNr?: number;
  aioMaxNr?: number;
}

/** Starts each engine once on a small ring (then closes it) and reports what happened. */
export async function probe(): Promise<ProbeReport> {
  const engines: EngineReport[] = [];
  for (const engine of ENGINES) {
    try {
      const ring = new Ring({ engine, entries: 4 });
      engines.push({ engine, available: true, features: ring.features });
      await ring.close();
    } catch (error) {
      const { code, message } = error as { code: string; message: string };
      engines.push({ engine, available: false, code, reason: message.replace(/^\w+: the \w+ engine cannot start: /, '') });
    }
  }
  const usable = engines.filter((report) => report.available).map((report) => report.engine);
  // The engine a ring made with the defaults would run on (none where ODIRECT_ENGINE is not a name).
  let choice: EngineName | 'auto' | null;
  try {
    choice = chooseEngine('auto');
  } catch {
    choice = null;
  }
  const defaultEngine = choice === 'auto' ? usable[0] ?? null : choice !== null && usable.includes(choice) ? choice : null;
  const report: ProbeReport = {
    kernel: binding.kernelRelease(),
    liburing: binding.liburingVersion(),
    builtWithLiburing: binding.builtWithLiburing,
    defaultEngine,
    engines,
  };
  const disabled = readSysctl('kernel/io_uring_disabled');
  if (disabled !== undefined) report.ioUringDisabled = disabled;
  const aioNr = readSysctl('fs/aio-nr');
  const aioMaxNr = readSysctl('fs/aio-max-nr');
  if (aioNr !== undefined) report.aioNr = aioNr;
  if (aioMaxNr !== undefined) report.aioMaxNr = aioMaxNr;
  return report;
}
