#!/usr/bin/env node
// Builds the addon against the headers of the Node that runs this script, when
// they are installed beside it (Debian's nodejs and the official tarballs ship
// include/node/), so that building never downloads anything.
//
//   node scripts/gyp.js install   npm's install step: node-gyp-build, which keeps
//                                 a prebuilt addon (prebuilds/) that loads here and
//                                 otherwise builds from source (node-gyp rebuild)
//   node scripts/gyp.js ARGS...   node-gyp ARGS (rebuild, configure, build --debug...);
//                                 `build` in a tree never configured (the install
//                                 kept a prebuilt addon) configures first
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

/** The prefix whose include/node has the running Node's headers, or undefined. */
function localNodedir() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

/**
 * The environment for node-gyp and the tools that run it: node-gyp reads
 * npm_config_nodedir as --nodedir, also when node-gyp-build or prebuildify
 * starts it.
 */
function buildEnv(env = process.env) {
  const nodedir = localNodedir();
  return !env.npm_config_nodedir && nodedir !== undefined ? { ...env, npm_config_nodedir: nodedir } : env;
}

/** Runs a command in the package's folder (the current one, as npm runs scripts); exits with its status when it fails. */
function run(command, args, env) {
  const result = spawnSync(command, args, { stdio: 'inherit', shell: false, env });
  if (result.error) {
    console.error(`odirect: could not run ${path.basename(args[0] ?? command)}: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/** node-gyp: the dev dependency when present, else the one npm puts on PATH for install scripts. */
function nodeGyp(args) {
  try {
    return [process.execPath, [require.resolve('node-gyp/bin/node-gyp.js'), ...args]];
  } catch {
    return ['node-gyp', args];
  }
}

function main(args) {
  const env = buildEnv();
  if (args[0] === 'install') {
    // As `node-gyp rebuild` did: a build left from an earlier install does not
    // count (node-gyp-build would load it before any prebuilt addon), so that
    // `npm rebuild` after installing liburing-dev really builds again.
    fs.rmSync('build', { recursive: true, force: true });
    // It runs node-gyp-build-test by name: npm puts it on PATH for install
    // scripts; by hand, it is in the .bin beside node-gyp-build.
    const bin = path.join(path.dirname(require.resolve('node-gyp-build/package.json')), '..', '.bin');
    run(process.execPath, [require.resolve('node-gyp-build/bin.js'), ...args.slice(1)],
      { ...env, PATH: `${bin}${path.delimiter}${env.PATH ?? ''}` });
    return;
  }
  if (args[0] === 'build' && !fs.existsSync(path.join('build', 'config.gypi'))) {
    run(...nodeGyp(['configure']), env);
  }
  run(...nodeGyp(args), env);
}

if (require.main === module) main(process.argv.slice(2));

module.exports = { buildEnv, localNodedir };
