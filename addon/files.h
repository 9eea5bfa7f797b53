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

// What statx(STATX_WRITE_ATOMIC) says of a file (Linux 6.11): the range of
// lengths of an untorn write (RWF_ATOMIC), the iovecs it may have, and the
// largest length the filesystem does fast (hardware, Linux 6.16); all 0
// where it has none. `reported` is 0 where the kernel does not know the
// request. `filesystem` is statfs' f_type, for errors to name.
struct AtomicWrite {
  uint32_t unit_min;
  uint32_t unit_max;
  uint32_t segments_max;
  uint32_t unit_max_opt;
  uint32_t reported;
  uint64_t filesystem;
};

// Fills *out. Returns 0 or -errno (of statx).
int ProbeAtomicWrite(int fd, AtomicWrite* out);

// Whether reads and writes of this descriptor take RWF_DONTCACHE: 0, or
// -EOPNOTSUPP where the kernel (before 6.14) or the filesystem does not.
// The descriptor must be open for reading.
int ProbeDontcache(int fd);

}  // namespace odirect

#endif  // ODIRECT_FILES_H_
