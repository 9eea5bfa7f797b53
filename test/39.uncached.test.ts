// open(path, flags, { direct: 'uncached' }): no O_DIRECT and no alignment
// rules, but RWF_DONTCACHE (Linux 6.14) on every read and write, so the page
// cache does not keep what was read or written. The oracle is fincore
// (util-linux), which asks the kernel which pages of the file are cached.
import { expect } from 'chai';
import fs = require('fs');
import { pipeline } from 'stream/promises';
import { allocAligned, createReadStream, createWriteStream, open } from 'odirect';
import {
  cleanup, DISK_DIR, expectBytes, forEachEngine, patternBytes, rejectionOf, runTool, SHM_DIR, tempPath,
} from './helpers';

const MiB = 1024 * 1024;
const FILE_BYTES = 64 * MiB;

/** The bytes of `path` in the page cache, as fincore reports them, or null where fincore is missing. */
function cachedBytes(path: string): number | null {
  const result = runTool('fincore', ['--bytes', '--noheadings', '--output', 'RES', path]);
  if (!result.ok) return null;
  return Number(result.stdout);
}

const hasFincore = runTool('sh', ['-c', 'command -v fincore']).ok;

forEachEngine("open(..., { direct: 'uncached' })", ({ ring }) => {
  after(() => cleanup());

  it('says its mode, and has no alignment rules: any buffer, offset and length', async () => {
    const path = tempPath(DISK_DIR, 'uncached');
    const file = await open(path, 'w+', { ring: ring(), direct: 'uncached' });
    try {
      expect(file.mode).to.equal('uncached');
      expect(file.direct).to.equal(false);
      expect(file.alignment).to.deep.equal({ memory: 1, offset: 1 });
      expect(file.flags & fs.constants.O_DIRECT).to.equal(0);
      expect(file.atomicWrite).to.equal(null);
      const data = patternBytes(10_007);
      // An odd view into an odd offset of a plain Buffer, at an odd position.
      const view = Buffer.concat([Buffer.alloc(3), data]).subarray(3);
      expect(await file.writeAt(view, 13)).to.equal(data.length);
      expect(await file.writevAt([data.subarray(0, 5), data.subarray(5, 6)], 13 + data.length)).to.equal(6);
      const back = Buffer.alloc(data.length + 1);
      expect(await file.readAt(back.subarray(1), 13)).to.equal(data.length);
      expectBytes(back.subarray(1), data, 'readAt');
      expectBytes(await file.read(13, data.length), data, 'read()');
      const [first, second] = await file.readMany([{ position: 13, length: 100 }, { position: 5013, length: 7 }]);
      expectBytes(first, data.subarray(0, 100), 'readMany()[0]');
      expectBytes(second, data.subarray(5000, 5007), 'readMany()[1]');
      expectBytes(fs.readFileSync(path).subarray(13, 13 + data.length), data, 'the file as fs reads it');
    } finally {
      await file.close();
    }
  });

  it('the other modes say theirs', async () => {
    const path = tempPath(DISK_DIR, 'modes');
    fs.writeFileSync(path, Buffer.alloc(4096));
    for (const [direct, mode] of [[true, 'direct'], [false, 'buffered'], ['auto', 'direct'], [undefined, 'direct']] as const) {
      const file = await open(path, 'r', { ring: ring(), direct });
      expect(file.mode).to.equal(mode);
      expect(file.direct).to.equal(mode === 'direct');
      await file.close();
    }
    // /proc refuses O_DIRECT: 'auto' falls back to the page cache.
    const proc = await open('/proc/self/stat', 'r', { ring: ring(), direct: 'auto' });
    expect(proc.mode).to.equal('buffered');
    await proc.close();
  });

  it('streams work uncached', async () => {
    const source = tempPath(DISK_DIR, 'uncached-stream-src');
    const target = tempPath(DISK_DIR, 'uncached-stream-dst');
    const data = patternBytes(3 * MiB + 123);
    fs.writeFileSync(source, data);
    const sourceFile = await open(source, 'r', { ring: ring(), direct: 'uncached' });
    const targetFile = await open(target, 'w', { ring: ring(), direct: 'uncached' });
    await pipeline(createReadStream(sourceFile), createWriteStream(targetFile));
    await sourceFile.close();
    await targetFile.close();
    expectBytes(fs.readFileSync(target), data, 'the copy');
  });

  it('open rejects with EOPNOTSUPP where the filesystem does not take RWF_DONTCACHE (tmpfs), even write-only', async () => {
    for (const flags of ['w+', 'w']) {
      const path = tempPath(SHM_DIR, `uncached-${flags}`);
      const error = await rejectionOf(open(path, flags, { ring: ring(), direct: 'uncached' }));
      expect(error.code).to.equal('ENOTSUP');
      expect(error.errno).to.equal(-95);
      expect(error.syscall).to.equal('open');
      expect(error.path).to.equal(path);
      expect(error.message).to.match(/does not take uncached I\/O \(RWF_DONTCACHE, Linux 6\.14\+/);
      expect(error.message).to.match(/\{ direct: false \}/);
    }
  });

  it('a refused open leaves the file as it was: an existing file keeps its bytes, a new one is not left behind', async () => {
    const existing = tempPath(SHM_DIR, 'uncached-existing');
    const before = patternBytes(14000, 3n);
    fs.writeFileSync(existing, before);
    for (const flags of ['w', 'w+', 'a', 'r+', fs.constants.O_WRONLY | fs.constants.O_TRUNC]) {
      const error = await rejectionOf(open(existing, flags, { ring: ring(), direct: 'uncached' }));
      expect(error.code, String(flags)).to.equal('ENOTSUP');
      expectBytes(fs.readFileSync(existing), before, `the file after open(..., ${String(flags)})`);
    }
    for (const flags of ['w', 'w+', 'wx', 'a', 'ax+']) {
      const fresh = tempPath(SHM_DIR, 'uncached-fresh');
      const error = await rejectionOf(open(fresh, flags, { ring: ring(), direct: 'uncached' }));
      expect(error.code, flags).to.equal('ENOTSUP');
      expect(fs.existsSync(fresh), `${fresh} after open(..., '${flags}')`).to.equal(false);
    }
  });

  it('where it is taken, \'w\' still truncates an existing file and creates a missing one', async () => {
    const existing = tempPath(DISK_DIR, 'uncached-truncate');
    fs.writeFileSync(existing, patternBytes(14000, 4n));
    const file = await open(existing, 'w', { ring: ring(), direct: 'uncached' });
    try {
      expect(fs.statSync(existing).size).to.equal(0);
      expect(await file.writeAt(Buffer.from('new'), 0)).to.equal(3);
    } finally {
      await file.close();
    }
    expect(fs.readFileSync(existing, 'utf8')).to.equal('new');
    const fresh = tempPath(DISK_DIR, 'uncached-create');
    await (await open(fresh, 'w', { ring: ring(), direct: 'uncached', mode: 0o640 })).close();
    expect(fs.statSync(fresh).size).to.equal(0);
    expect(fs.statSync(fresh).mode & 0o777).to.equal(0o640 & ~process.umask());
  });

  it('checks options.direct', async () => {
    for (const direct of ['Uncached', 'dontcache', 1, {}]) {
      const error = await rejectionOf(open(tempPath(DISK_DIR, 'bad-direct'), 'w+', { ring: ring(), direct } as never));
      expect(error.code).to.equal('ERR_INVALID_ARG_VALUE');
      expect(error.message).to.match(/'uncached'/);
    }
  });

  (hasFincore ? it : it.skip)(
    `${hasFincore ? '' : 'skipped: fincore (util-linux) is not installed: '}64 MiB written and read back uncached leave (almost) nothing in the page cache (fincore); buffered, most of it`,
    async function () {
      this.timeout(300_000);
      const chunk = allocAligned(MiB);
      const results: Record<string, number | null> = {};
      for (const direct of ['uncached', false] as const) {
        const path = tempPath(DISK_DIR, `fincore-${String(direct)}`);
        const file = await open(path, 'w+', { ring: ring(), direct });
        try {
          for (let offset = 0; offset < FILE_BYTES; offset += MiB) {
            chunk.fill(offset / MiB);
            expect(await file.writeAt(chunk, offset)).to.equal(MiB);
          }
          await file.datasync();
          for (let offset = 0; offset < FILE_BYTES; offset += MiB) {
            expect(await file.readAt(chunk, offset)).to.equal(MiB);
            if (chunk[0] !== offset / MiB || chunk[MiB - 1] !== offset / MiB) throw new Error(`wrong bytes at ${offset}`);
          }
          results[String(direct)] = cachedBytes(path);
        } finally {
          await file.close();
          fs.rmSync(path, { force: true });
        }
      }
      const uncached = results.uncached!;
      const buffered = results.false!;
      console.log(`      fincore: uncached ${uncached} bytes cached, buffered ${buffered} of ${FILE_BYTES}`);
      expect(uncached).to.be.below(FILE_BYTES / 16);
      expect(buffered).to.be.above(FILE_BYTES / 2);
    });
});
