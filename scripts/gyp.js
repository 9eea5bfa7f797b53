#!/usr/bin/env node
// Runs node-gyp against the headers of the Node that runs this script, when
// they are installed beside it (Debian's nodejs and the official tarballs
// ship include/node/), so that building never downloads anything.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
// node-gyp: the dev dependency when present, else the one npm puts on PATH
// for install scripts.
let command = 'node-gyp';
let commandArgs = args;
try {
  commandArgs = [require.resolve('node-gyp/bin/node-gyp.js'), ...args];
  command = process.execPath;
} catch {
  // not installed here: rely on PATH
}
const result = spawnSync(command, commandArgs, { stdio: 'inherit', shell: false });
if (result.error) {
  console.error(`odirect: could not run node-gyp: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
