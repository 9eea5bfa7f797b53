// What this machine supports, and why not where it does not.
import path = require('path');
import { addonPath, binding } from './native';
import { ENGINES, EngineName, readSysctl, Ring } from './ring';

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
  /** The addon file in use, whether it is the package's prebuilt one, and how it has liburing. */
  addon: { path: string; prebuilt: boolean; liburing: 'static' | 'shared' | null };
  /**
   * One line, when the addon has no io_uring engine because liburing was
   * missing when it was built, with the remedy; absent otherwise.
   */
  notice?: string;
  /** What engine: 'auto' picks here. */
  defaultEngine: EngineName | null;
  engines: EngineReport[];
  /** /proc/sys/kernel/io_uring_disabled (Linux 6.6+), when readable. */
  ioUringDisabled?: number;
  /** fs.aio-nr and fs.aio-max-nr: AIO events in use and allowed, machine-wide. */
  aioNr?: number;
  aioMaxNr?: number;
}

/** What probe() and the odirect command say when the addon was built without liburing. */
export const NO_LIBURING_NOTICE = 'this odirect addon was built without liburing, so it has no io_uring engine: '
  + 'install liburing-dev (liburing-devel on Fedora), then run npm rebuild';

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
  const forced = process.env.ODIRECT_ENGINE;
  const usable = engines.filter((report) => report.available).map((report) => report.engine);
  const defaultEngine = forced !== undefined && forced !== '' && forced !== 'auto'
    ? (usable.includes(forced as EngineName) ? forced as EngineName : null)
    : usable[0] ?? null;
  const report: ProbeReport = {
    kernel: binding.kernelRelease(),
    liburing: binding.liburingVersion(),
    builtWithLiburing: binding.builtWithLiburing,
    addon: {
      path: addonPath,
      prebuilt: addonPath.split(path.sep).includes('prebuilds'),
      liburing: binding.liburingLinkage,
    },
    defaultEngine,
    engines,
  };
  if (!binding.builtWithLiburing) report.notice = NO_LIBURING_NOTICE;
  const disabled = readSysctl('kernel/io_uring_disabled');
  if (disabled !== undefined) report.ioUringDisabled = disabled;
  const aioNr = readSysctl('fs/aio-nr');
  const aioMaxNr = readSysctl('fs/aio-max-nr');
  if (aioNr !== undefined) report.aioNr = aioNr;
  if (aioMaxNr !== undefined) report.aioMaxNr = aioMaxNr;
  return report;
}
