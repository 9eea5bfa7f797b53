// ESM entry: the CommonJS build's exports, by name.
import odirect from './dist/index.js';

export const {
  open, readAt, writeAt, alignmentOf, atomicWriteOf, DirectFile, allocAligned, isAligned, Ring, defaultRing, ENGINES, probe, BufferPool,
  createReadStream, createWriteStream, DirectReadStream, DirectWriteStream,
} = odirect;
export default odirect;
