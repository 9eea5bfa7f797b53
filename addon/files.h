// Opening files and learning their direct-I/O alignment. Runs on libuv's
// thread pool (open(2) and statx(2) may wait on the filesystem).
#ifndef ODIRECT_FILES_H_
#define ODIRECT_FILES_H_

#include <cstdint>

namespace odirect {

// Where an alignment figure came from, in the order they are tried.
enum AlignmentSource : int32_t {
  kAlignStatx = 0,          // statx(STATX_DIOALIGN), Linux 6.1+
  kAlignBlockDevice = 1,    // the block device's logical block size
  kAlignDefault = 2,        // 512 for memory, st_blksize for offsets
};

struct Alignment {
  uint32_t memory;
  uint32_t offset;
  AlignmentSource source;
};

// Fills *out for an open descriptor. Returns 0 or -errno.
int ProbeAlignment(int fd, Alignment* out);

}  // namespace odirect

#endif  // ODIRECT_FILES_H_
