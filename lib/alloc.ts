// Aligned memory: JavaScript cannot see an address, so direct-I/O buffers
// come from here.
import { binding } from './native';
import { errnoError, invalidArgType, outOfRange } from './errors';
import { constants } from 'buffer';

/**
 * A zero-filled Buffer of `size` bytes whose address is a multiple of
 * `alignment` (a power of two; default 4096, which satisfies every
 * filesystem seen so far). The memory comes from posix_memalign and is
 * freed when the Buffer is garbage-collected.
 */
export function allocAligned(size: number, alignment = 4096): Buffer {
  if (typeof size !== 'number') throw invalidArgType('size', 'of type number', size);
  if (!Number.isInteger(size) || size < 0 || size > constants.MAX_LENGTH) {
    throw outOfRange('size', `an integer >= 0 and <= ${constants.MAX_LENGTH}`, size);
  }
  if (typeof alignment !== 'number') throw invalidArgType('alignment', 'of type number', alignment);
  if (!Number.isInteger(alignment) || alignment < 1 || alignment > 2 ** 30 || (alignment & (alignment - 1)) !== 0) {
    throw outOfRange('alignment', 'a power of two between 1 and 2^30', alignment);
  }
  // posix_memalign wants at least the size of a pointer.
  const result = binding.allocAligned(size, Math.max(alignment, 8));
  if (typeof result === 'number') {
    if (result === -95) {
      throw errnoError(95, 'allocAligned',
        'this runtime forbids external buffers, so aligned memory cannot be handed to JavaScript without a copy ' +
        '(which would lose the alignment)');
    }
    throw errnoError(-result, 'posix_memalign', `cannot allocate ${size} bytes aligned to ${alignment}`);
  }
  return result;
}

/**
 * Whether the first byte of `view` sits at a multiple of `alignment` (a power
 * of two): what direct I/O asks of a buffer's address. False for a detached
 * or empty buffer with no memory.
 */
export function isAligned(view: ArrayBufferView, alignment: number): boolean {
  if (!ArrayBuffer.isView(view)) throw invalidArgType('view', 'an instance of Buffer, TypedArray, or DataView', view);
  if (typeof alignment !== 'number') throw invalidArgType('alignment', 'of type number', alignment);
  if (!Number.isInteger(alignment) || alignment < 1 || alignment > 2 ** 30 || (alignment & (alignment - 1)) !== 0) {
    throw outOfRange('alignment', 'a power of two between 1 and 2^30', alignment);
  }
  return binding.isAligned(view, alignment);
}
