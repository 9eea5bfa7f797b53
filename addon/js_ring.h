// NativeRing's side of the boundary that lib/ must agree with: where queue()
// finds each field of an op, and what it answers for a misaligned buffer.
// binding.cc exports these to JavaScript at load (binding.constants).
#ifndef ODIRECT_JS_RING_H_
#define ODIRECT_JS_RING_H_

#include <cstdint>

namespace odirect {

// The fields of the next op, written by JS into NativeRing.args (a
// Float64Array: a fallocate's length takes more than 32 bits) before it
// calls queue(): one call with two arguments per op. kArgSyncFile is 1 for
// a file whose direct I/O completes in the caller, from memory (tmpfs: its
// small reads are done on the JS thread, lib/file.ts). kArgFlush (1: hand
// over every op queued so far, this one included, once it is queued) saves
// a second call when an op goes to the kernel at once; kArgInlineMax is the
// ring's inlineMax, written once, which flush() and queue() pass to
// Ring::Flush.
enum QueueArg : int {
  kArgCode,
  kArgFd,
  kArgLength,
  kArgId,
  kArgMemoryAlignment,
  kArgRwFlags,
  kArgFileIndex,
  kArgSyncFile,
  kArgFlush,
  kArgInlineMax,
  kArgCount
};

// queue()'s answer for a buffer address that is not a multiple of the
// memory alignment JS asked for: positive, so that JS can tell it from a
// -errno and say which argument was wrong.
constexpr int32_t kMisalignedMemory = 1;

}  // namespace odirect

#endif  // ODIRECT_JS_RING_H_
