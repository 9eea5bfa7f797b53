#include "memory.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace odirect {
namespace {
// Large buffers are fresh anonymous mappings: already zero, and given back to
// the system when freed.
constexpr size_t kMapThreshold = 256 * 1024;
}  // namespace

BlockRegistry::~BlockRegistry() {
  // The environment is gone: no op can be in flight any more.
  for (auto& entry : blocks_) Free(entry.second);
}

AlignedBlock* BlockRegistry::Allocate(size_t size, size_t alignment, int* err) {
  void* memory = nullptr;
  bool mapped = false;
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (size >= kMapThreshold && alignment <= page) {
    memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
      *err = -errno;
      return nullptr;
    }
    mapped = true;
  } else {
    // posix_memalign(0) may return NULL; give every buffer a real address.
    int ret = posix_memalign(&memory, alignment, size == 0 ? alignment : size);
    if (ret != 0) {
      *err = -ret;
      return nullptr;
    }
    memset(memory, 0, size);
  }
  AlignedBlock* block = new AlignedBlock{memory, size, mapped, false, 0, 0, -1, 0, -1};
  blocks_[memory] = block;
  *err = 0;
  return block;
}

AlignedBlock* BlockRegistry::Find(void* base) const {
  auto found = blocks_.find(base);
  return found == blocks_.end() ? nullptr : found->second;
}

void BlockRegistry::Release(AlignedBlock* block) {
  blocks_.erase(block->data);
  if (block->pins == 0) {
    Free(block);
  } else {
    block->released = true;
  }
}

void BlockRegistry::Unpin(AlignedBlock* block) {
  if (--block->pins == 0 && block->released) Free(block);
}

void BlockRegistry::Free(AlignedBlock* block) {
  if (block->mapped) {
    munmap(block->data, block->size);
  } else {
    free(block->data);
  }
  delete block;
}

}  // namespace odirect
