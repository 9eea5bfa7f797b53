#!/usr/bin/env node
// Runs scripts/leak-workload.js under valgrind's memcheck and fails when any
// memory is "definitely lost" from an allocation made in odirect.node (the
// addon's own frames anywhere in the allocation's stack), or when memcheck
// reports any other error (invalid read or write, use of uninitialised
// memory, a bad free, a system call given bad memory) with odirect.node on
// its stack. Leaks and errors of Node and V8 alone are counted and printed,
// not judged: they are not ours.
//
//   node scripts/test-valgrind.js [--keep]    # ODIRECT_BUILD=Debug for line numbers
//
// The whole test suite under valgrind would take hours; the workload goes
// through every native path once per engine instead (see its header).
'use strict';
const childProcess = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const buildType = process.env.ODIRECT_BUILD === 'Debug' ? 'Debug' : 'Release';
const addon = path.join(root, 'build', buildType, 'odirect.node');
const keep = process.argv.includes('--keep');

function fail(message) {
  console.error(`test-valgrind: ${message}`);
  process.exit(1);
}

if (childProcess.spawnSync('valgrind', ['--version']).status !== 0) fail('valgrind is not installed (Debian: valgrind)');
if (!fs.existsSync(addon)) fail(`no addon at ${addon}: run npm install (or npm run build:debug) first`);

const xmlFile = path.join(os.tmpdir(), `odirect-valgrind-${process.pid}.xml`);
const started = Date.now();
const run = childProcess.spawnSync('valgrind', [
  '--tool=memcheck', '--leak-check=full', '--show-leak-kinds=definite,possible', '--errors-for-leak-kinds=definite',
  // V8 writes machine code into anonymous memory and runs it.
  '--smc-check=all-non-file', '--num-callers=40', '--xml=yes', `--xml-file=${xmlFile}`,
  process.execPath, path.join(__dirname, 'leak-workload.js'),
], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ODIRECT_BUILD: buildType } });
const seconds = Math.round((Date.now() - started) / 1000);
process.stdout.write(run.stdout);
if (run.status !== 0) {
  process.stderr.write(run.stderr);
  fail(`the workload exited with ${run.status ?? run.signal} under valgrind`);
}

const xml = fs.readFileSync(xmlFile, 'utf8');
if (!keep) fs.rmSync(xmlFile, { force: true });
const unescape = (text) => text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const field = (block, name) => {
  const match = new RegExp(`<${name}>([^<]*)</${name}>`).exec(block);
  return match === null ? undefined : unescape(match[1]);
};

const errors = [...xml.matchAll(/<error>([\s\S]*?)<\/error>/g)].map(([, block]) => {
  const stack = /<stack>([\s\S]*?)<\/stack>/.exec(block)?.[1] ?? '';
  const frames = [...stack.matchAll(/<frame>([\s\S]*?)<\/frame>/g)].map(([, frame]) => ({
    obj: field(frame, 'obj') ?? '?', fn: field(frame, 'fn') ?? '?', file: field(frame, 'file'), line: field(frame, 'line'),
  }));
  return {
    kind: field(block, 'kind'),
    what: field(block, 'text') ?? field(block, 'what') ?? '',
    bytes: Number(field(block, 'leakedbytes') ?? 0),
    frames,
    ours: frames.some((f) => f.obj.endsWith('/odirect.node')),
  };
});

const show = (error) => {
  console.error(`  ${error.kind}: ${error.what}`);
  for (const f of error.frames) {
    console.error(`    ${f.fn} (${f.file !== undefined ? `${f.file}:${f.line}` : path.basename(f.obj)})`);
  }
};
const sum = (list) => list.reduce((total, e) => total + e.bytes, 0);
const definite = errors.filter((e) => e.kind === 'Leak_DefinitelyLost');
const possible = errors.filter((e) => e.kind === 'Leak_PossiblyLost');
const others = errors.filter((e) => !e.kind.startsWith('Leak_'));
const ourDefinite = definite.filter((e) => e.ours);
const ourPossible = possible.filter((e) => e.ours);
const ourOthers = others.filter((e) => e.ours);

console.log(`test-valgrind: memcheck of scripts/leak-workload.js with build/${buildType}/odirect.node, ${seconds} s`);
console.log(`  definitely lost: ${sum(definite)} bytes in all, ${sum(ourDefinite)} bytes from odirect.node`);
console.log(`  possibly lost:   ${sum(possible)} bytes in all, ${sum(ourPossible)} bytes from odirect.node`);
console.log(`  other errors:    ${others.length} in all, ${ourOthers.length} with odirect.node on the stack`);
if (ourPossible.length > 0) {
  console.log('  possibly lost from odirect.node (not judged: an interior pointer may still reach it):');
  ourPossible.forEach(show);
}
if (ourDefinite.length > 0 || ourOthers.length > 0) {
  [...ourDefinite, ...ourOthers].forEach(show);
  fail(`odirect.node leaked ${sum(ourDefinite)} bytes and has ${ourOthers.length} memory error(s)`);
}
console.log('test-valgrind: ok');
