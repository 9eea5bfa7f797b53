#!/usr/bin/env node
// npm run prebuild: the prebuilt addon that the package ships, made with
// prebuildify: prebuilds/<platform>-<arch>/odirect.<tags>.node, one Node-API
// binary for every Node the package supports, with liburing.a linked in
// (ODIRECT_LIBURING=static), so that it needs no liburing where it runs and
// always has the io_uring engine. node-gyp-build loads it (lib/native.ts)
// wherever no source build (build/Release) exists.
//
// It builds in a copy of the sources (build/prebuild/), so build/Release, the
// source build the tests use, stays as it is. It then checks the binary: no
// liburing among its NEEDED libraries, and it loads with io_uring built in.
'use strict';
const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { buildEnv } = require('./gyp');

const root = path.resolve(__dirname, '..');

/**
 * npm runs a script named prebuild before `npm run build` as its "pre" hook,
 * with the same environment as `npm run prebuild`. Only the command line of
 * the npm that started this script tells them apart: as the hook of build,
 * there is nothing to do.
 */
function startedAsHookOfBuild() {
  if (process.env.npm_lifecycle_event !== 'prebuild') return false;
  let pid = process.ppid;
  for (let depth = 0; depth < 4 && pid > 1; depth++) {
    let args;
    let parent;
    try {
      // npm sets its process title to `npm run build`, over its own argv.
      args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().split(/\s+/);
      parent = Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
    } catch {
      return false;
    }
    const run = args.findIndex((arg) => ['run', 'run-script', 'rum', 'urn'].includes(arg));
    if (run !== -1 && args.some((arg) => /npm(-cli\.js)?$/.test(arg))) {
      const script = args.slice(run + 1).find((arg) => !arg.startsWith('-'));
      return script === 'build';
    }
    pid = parent;
  }
  return false;
}

function main() {
  if (startedAsHookOfBuild()) return;
  const platform = `${process.platform}-${process.arch}`;
  const source = path.join(root, 'build', 'prebuild');
  fs.rmSync(source, { recursive: true, force: true });
  fs.mkdirSync(source, { recursive: true });
  for (const entry of ['package.json', 'binding.gyp', 'addon', 'scripts']) {
    fs.cpSync(path.join(root, entry), path.join(source, entry), { recursive: true });
  }
  const out = path.join(root, 'prebuilds', platform);
  fs.rmSync(out, { recursive: true, force: true });

  const env = buildEnv({ ...process.env, ODIRECT_LIBURING: 'static' });
  delete env.ODIRECT_NO_LIBURING;
  delete env.ODIRECT_SANITIZE;
  // The copy lies inside the package, so node-addon-api and node-gyp resolve
  // from the package's node_modules.
  const prebuildify = require.resolve('prebuildify/bin.js');
  const result = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', '--tag-libc', `--out=${root}`, source],
    { stdio: 'inherit', env, cwd: source });
  if (result.status !== 0) {
    console.error('odirect: prebuildify failed');
    process.exit(result.status ?? 1);
  }

  const files = fs.readdirSync(out).filter((name) => name.endsWith('.node'));
  if (files.length !== 1) throw new Error(`expected one addon in ${out}, found ${files.join(', ') || 'none'}`);
  const addon = path.join(out, files[0]);
  const needed = [...execFileSync('readelf', ['-d', addon], { encoding: 'utf8' }).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)]
    .map((match) => match[1]);
  if (needed.some((name) => name.startsWith('liburing'))) {
    throw new Error(`${addon} needs ${needed.join(', ')}: liburing was not linked statically`);
  }
  const loaded = JSON.parse(execFileSync(process.execPath, ['-p',
    `const b = require(${JSON.stringify(addon)}); JSON.stringify([b.builtWithLiburing, b.liburingLinkage, b.liburingVersion()])`],
  { encoding: 'utf8' }));
  if (loaded[0] !== true || loaded[1] !== 'static') {
    throw new Error(`${addon} loads without a static liburing: ${JSON.stringify(loaded)}`);
  }
  const glibc = [...execFileSync('objdump', ['-T', addon], { encoding: 'utf8' }).matchAll(/GLIBC_([0-9.]+)/g)]
    .map((match) => match[1])
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  fs.rmSync(source, { recursive: true, force: true });
  console.log(`odirect: ${path.relative(root, addon)}: ${fs.statSync(addon).size} bytes, liburing ${loaded[2]} linked in, ` +
    `needs ${needed.join(' ')}, glibc ${glibc.at(-1) ?? 'unknown'} or later`);
}

main();
