// Aligned memory handed to JavaScript as external Buffers, and the rule that
// keeps it alive while the kernel may still write into it.
//
// At environment teardown (worker.terminate(), process end), Node runs each
// external Buffer's cleanup hook, which calls our finalizer, in reverse order
// of creation; a Buffer made after the ring would be freed before the ring's
// own cleanup hook has waited for the kernel. So every in-flight op pins the
// block it uses, and a finalizer that finds its block pinned only marks it
// released: the last unpin frees it.
//
// JS thread only: blocks are made, pinned, unpinned and finalized there.
#ifndef ODIRECT_MEMORY_H_
#define ODIRECT_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <unordered_map>

namespace odirect {

struct AlignedBlock {
  void* data;
  size_t size;
  bool mapped;     // mmap'd (large) rather than posix_memalign'd
  bool released;   // the Buffer is gone; free at the last unpin
  uint32_t pins;   // in-flight ops using this block
  // Where the block is registered as a fixed buffer: the ring's serial (0:
  // nowhere) and its slot there (-1: none).
  uint64_t fixed_owner;
  int fixed_index;
  // Unregistered while ops on it were still queued or in flight (some may
  // name the slot): the ring with this serial empties slot `retired_index`
  // when the last of them is delivered.
  uint64_t retired_owner;
  int retired_index;
};

class BlockRegistry {
 public:
  // Zero-filled memory of `size` bytes at a multiple of `alignment`.
  // Returns nullptr and sets *err (-errno) on failure.
  AlignedBlock* Allocate(size_t size, size_t alignment, int* err);
  // The block whose memory starts at `base`, or nullptr (memory not ours).
  AlignedBlock* Find(void* base) const;
  // The Buffer's finalizer: frees now, or at the last unpin.
  void Release(AlignedBlock* block);

  static void Pin(AlignedBlock* block) { block->pins++; }
  static void Unpin(AlignedBlock* block);

  ~BlockRegistry();

 private:
  static void Free(AlignedBlock* block);
  std::unordered_map<void*, AlignedBlock*> blocks_;
};

}  // namespace odirect

#endif  // ODIRECT_MEMORY_H_
