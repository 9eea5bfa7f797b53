import { expect } from 'chai';
import { allocAligned, isAligned } from 'odirect';

describe('allocAligned', () => {
  it('returns a zero-filled Buffer whose address is a multiple of the alignment', () => {
    for (const alignment of [512, 4096, 65536, 1 << 21]) {
      const buffer = allocAligned(3 * alignment, alignment);
      expect(Buffer.isBuffer(buffer)).to.equal(true);
      expect(buffer.length).to.equal(3 * alignment);
      expect(buffer.every((byte) => byte === 0)).to.equal(true);
      expect(isAligned(buffer, alignment)).to.equal(true);
      // One byte in, no buffer is aligned to anything above 1.
      expect(isAligned(buffer.subarray(1), 2)).to.equal(false);
      expect(isAligned(buffer.subarray(alignment), alignment)).to.equal(true);
    }
  });

  it('isAligned checks its arguments', () => {
    expect(() => isAligned({} as Buffer, 512)).to.throw(TypeError);
    expect(() => isAligned(Buffer.alloc(1), 3)).to.throw(RangeError);
    expect(isAligned(Buffer.alloc(0), 512)).to.be.a('boolean');
  });

  it('defaults to 4096-byte alignment and accepts size 0', () => {
    expect(allocAligned(8192).length).to.equal(8192);
    expect(allocAligned(0).length).to.equal(0);
  });

  it('rejects bad sizes and alignments with TypeError/RangeError', () => {
    expect(() => allocAligned(-1)).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
    expect(() => allocAligned(1.5)).to.throw(RangeError);
    expect(() => allocAligned(NaN)).to.throw(RangeError);
    expect(() => allocAligned('4096' as unknown as number)).to.throw(TypeError).with.property('code', 'ERR_INVALID_ARG_TYPE');
    expect(() => allocAligned(4096, 3000)).to.throw(RangeError);
    expect(() => allocAligned(4096, 0)).to.throw(RangeError);
    expect(() => allocAligned(4096, 2 ** 31)).to.throw(RangeError);
  });

  it('is freed by the garbage collector (resident memory stays bounded)', async function () {
    if (typeof global.gc !== 'function') this.skip(); // needs --expose-gc (set in .mocharc.json)
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 2000; i++) allocAligned(1 << 20).fill(1);
    for (let i = 0; i < 3; i++) {
      global.gc!();
      await new Promise(setImmediate); // Node-API finalizers run after the collection
    }
    const grown = process.memoryUsage().rss - before;
    // 2000 MiB were allocated; far less may remain resident once collected.
    expect(grown).to.be.below(512 * 1024 * 1024);
  });
});
