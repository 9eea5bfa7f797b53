// The Node floor's addon (bench/node-floor.c): built with cc against Node's
// own headers into a temporary directory, removed at exit. Used by
// randread.ts (a contender) and fixed-ops.ts (whole processes).
import fs = require('fs');
import os = require('os');
import path = require('path');
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';

/** What bench/node-floor.c exports: one ring, a Promise per read. */
export interface NodeFloor {
  /** Opens `path` O_DIRECT on a ring of `entries`: 0 or -errno. */
  open(path: string, entries: number): number;
  read(buffer: Buffer, offset: number): Promise<number>;
  close(): void;
}

const source = path.join(__dirname, '..', '..', 'bench', 'node-floor.c');

/** The built addon's path (in a temporary directory removed at exit), or why it could not be built. */
export function buildNodeFloor(): { addon: string } | { error: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'odirect-node-floor-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return compile(path.join(dir, 'node-floor.node'));
}

function compile(addon: string): { addon: string } | { error: string } {
  const includes = [path.join(path.dirname(process.execPath), '..', 'include', 'node'),
    ...(process.env.npm_config_nodedir !== undefined ? [path.join(process.env.npm_config_nodedir, 'include', 'node')] : [])];
  const include = includes.find((dir) => fs.existsSync(path.join(dir, 'node_api.h')));
  if (include === undefined) return { error: `no node_api.h in ${includes.join(' or ')}` };
  try {
    execFileSync('cc', ['-O2', '-shared', '-fPIC', `-I${include}`, '-o', addon, source, '-luring'],
      { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return { error: stderr !== undefined && stderr !== '' ? stderr : (error as Error).message };
  }
  return { addon };
}

/**
 * The Node floor, loaded from a build kept in the temporary directory (named
 * by the source's hash and Node's version, built there on first use), so
 * that timing whole processes does not time the compiler; throws with the
 * reason where it cannot be built.
 */
export function loadNodeFloor(): NodeFloor {
  const hash = createHash('sha256').update(fs.readFileSync(source)).digest('hex').slice(0, 16);
  const addon = path.join(os.tmpdir(), `odirect-node-floor-${process.version}-${hash}.node`);
  let built: { addon: string } | { error: string } = { addon };
  if (!fs.existsSync(addon)) {
    // Built beside it, then renamed: a process started meanwhile never loads half a file.
    const partial = `${addon}.${process.pid}`;
    built = compile(partial);
    if (!('error' in built)) fs.renameSync(partial, addon);
  }
  if ('error' in built) throw new Error(`bench/node-floor.c could not be built (cc, liburing-dev, Node's headers): ${built.error}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(addon) as NodeFloor;
}
