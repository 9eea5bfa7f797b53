// The package entry, as users load it: require('odirect') and import('odirect'),
// with its type declarations.
import { expect } from 'chai';
import childProcess = require('child_process');
import fs = require('fs');
import path = require('path');
import odirect = require('odirect');

const EXPORTS = [
  'open', 'readAt', 'writeAt', 'alignmentOf', 'atomicWriteOf', 'DirectFile', 'allocAligned', 'isAligned',
  'Ring', 'defaultRing', 'ENGINES', 'probe', 'BufferPool',
  'createReadStream', 'createWriteStream', 'DirectReadStream', 'DirectWriteStream',
];

describe('the package entry', () => {
  it('require("odirect") has every export', () => {
    expect(Object.keys(odirect).sort()).to.deep.equal([...EXPORTS].sort());
  });

  it('import("odirect") has the same exports, by name and as default', async () => {
    // A real ESM import, not one TypeScript rewrites into require().
    const load = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<Record<string, unknown>>;
    const esm = await load('odirect');
    for (const name of EXPORTS) expect(esm[name], name).to.equal((odirect as Record<string, unknown>)[name]);
    expect(esm.default).to.equal(odirect);
  });

  it('ships type declarations for every export', () => {
    const root = path.dirname(require.resolve('odirect/package.json'));
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    const types = fs.readFileSync(path.join(root, manifest.types), 'utf8');
    for (const name of EXPORTS) expect(types, name).to.match(new RegExp(`\\b${name}\\b`));
  });

  it('exports the entry and package.json, nothing internal', () => {
    expect(() => require('odirect/cli/fio')).to.throw().with.property('code', 'ERR_PACKAGE_PATH_NOT_EXPORTED');
    expect(() => require('odirect/dist/native')).to.throw().with.property('code', 'ERR_PACKAGE_PATH_NOT_EXPORTED');
    expect(require('odirect/package.json').name).to.equal('odirect');
  });

  it('packs what a user needs to run and to build from source, and nothing else', function () {
    this.timeout(60_000);
    const root = path.dirname(require.resolve('odirect/package.json'));
    const pack = childProcess.spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
    expect(pack.status, pack.stderr).to.equal(0);
    const files: string[] = JSON.parse(pack.stdout)[0].files.map((file: { path: string }) => file.path);
    for (const needed of ['package.json', 'README.md', 'index.mjs', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js',
      'binding.gyp', 'addon/binding.cc', 'addon/engine_uring.cc', 'scripts/gyp.js', 'scripts/have-liburing.sh']) {
      expect(files, needed).to.include(needed);
    }
    // The repository's own tools: tests, benchmarks, sanitizer, valgrind and soak scripts, sources of dist/.
    const repositoryOnly = files.filter((file) => /^(test|bench|build|lib|docs)\//.test(file) ||
      (file.startsWith('scripts/') && !['scripts/gyp.js', 'scripts/have-liburing.sh'].includes(file)) || file.endsWith('.map'));
    expect(repositoryOnly).to.deep.equal([]);
    // A prebuilt addon, where npm run prebuild made one, is packed.
    const prebuilt = fs.existsSync(path.join(root, 'prebuilds')) ? fs.readdirSync(path.join(root, 'prebuilds'), { recursive: true }) : [];
    for (const file of prebuilt.map(String).filter((name) => name.endsWith('.node'))) expect(files).to.include(`prebuilds/${file}`);
  });
});
