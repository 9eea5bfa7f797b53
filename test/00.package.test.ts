// The package entry, as users load it: require('odirect') and import('odirect'),
// with its type declarations.
import { expect } from 'chai';
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
});
