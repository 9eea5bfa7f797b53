#include "files.h"

#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace odirect {
namespace {

// The kernel's struct statx (include/uapi/linux/stat.h), defined here so the
// build does not depend on the host's headers knowing STATX_DIOALIGN.
struct KernelStatxTimestamp {
  int64_t tv_sec;
  uint32_t tv_nsec;
  int32_t reserved;
};
struct KernelStatx {
  uint32_t stx_mask;
  uint32_t stx_blksize;
  uint64_t stx_attributes;
  uint32_t stx_nlink;
  uint32_t stx_uid;
  uint32_t stx_gid;
  uint16_t stx_mode;
  uint16_t spare0;
  uint64_t stx_ino;
  uint64_t stx_size;
  uint64_t stx_blocks;
  uint64_t stx_attributes_mask;
  KernelStatxTimestamp stx_atime, stx_btime, stx_ctime, stx_mtime;
  uint32_t stx_rdev_major;
  uint32_t stx_rdev_minor;
  uint32_t stx_dev_major;
  uint32_t stx_dev_minor;
  uint64_t stx_mnt_id;
  uint32_t stx_dio_mem_align;
  uint32_t stx_dio_offset_align;
  uint64_t stx_subvol;                     // Linux 6.10
  uint32_t stx_atomic_write_unit_min;      // Linux 6.11
  uint32_t stx_atomic_write_unit_max;      // Linux 6.11
  uint32_t stx_atomic_write_segments_max;  // Linux 6.11
  uint32_t stx_dio_read_offset_align;      // Linux 6.14
  uint32_t stx_atomic_write_unit_max_opt;  // Linux 6.16
  uint32_t spare2;
  uint64_t spare3[8];
};
static_assert(sizeof(KernelStatx) == 256, "struct statx is 256 bytes");
static_assert(offsetof(KernelStatx, stx_atomic_write_unit_min) == 0xa8, "as in include/uapi/linux/stat.h");
static_assert(offsetof(KernelStatx, stx_atomic_write_unit_max_opt) == 0xb8, "as in include/uapi/linux/stat.h");

constexpr unsigned kStatxDioAlign = 0x00002000U;     // STATX_DIOALIGN, Linux 6.1
constexpr unsigned kStatxWriteAtomic = 0x00010000U;  // STATX_WRITE_ATOMIC, Linux 6.11
constexpr uint64_t kBdevMagic = 0x62646576;            // BDEVFS_MAGIC, include/uapi/linux/magic.h
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

// Reads a small decimal number from a sysfs file; 0 when absent.
uint32_t ReadSysfsNumber(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[32] = {0};
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (n <= 0) return 0;
  return static_cast<uint32_t>(strtoul(text, nullptr, 10));
}

// The logical block size of the block device holding a file: the device's
// own queue, or for a partition its parent disk's.
uint32_t DeviceLogicalBlockSize(dev_t dev) {
  if (major(dev) == 0) return 0;  // anonymous device: tmpfs, overlay, FUSE...
  char path[96];
  snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/logical_block_size", major(dev),
           minor(dev));
  uint32_t size = ReadSysfsNumber(path);
  if (size != 0) return size;
  snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/../queue/logical_block_size", major(dev),
           minor(dev));
  return ReadSysfsNumber(path);
}

}  // namespace

int ProbeAlignment(int fd, Alignment* out) {
  KernelStatx stx;
  memset(&stx, 0, sizeof(stx));
  long ret = syscall(SYS_statx, fd, "", AT_EMPTY_PATH, kStatxDioAlign, &stx);
  if (ret == 0 && (stx.stx_mask & kStatxDioAlign) && stx.stx_dio_mem_align != 0 &&
      stx.stx_dio_offset_align != 0) {
    out->memory = stx.stx_dio_mem_align;
    out->offset = stx.stx_dio_offset_align;
    out->source = kAlignStatx;
    return 0;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  uint32_t block = 0;
  if (S_ISBLK(st.st_mode)) {
    int size = 0;
    if (ioctl(fd, BLKSSZGET, &size) == 0 && size > 0) block = static_cast<uint32_t>(size);
  } else {
    block = DeviceLogicalBlockSize(st.st_dev);
  }
  if (block != 0) {
    out->memory = block;
    out->offset = block;
    out->source = kAlignBlockDevice;
    return 0;
  }
  out->memory = 512;
  out->offset = st.st_blksize > 0 ? static_cast<uint32_t>(st.st_blksize) : 512;
  out->source = kAlignDefault;
  return 0;
}

int ProbeAtomicWrite(int fd, AtomicWrite* out) {
  memset(out, 0, sizeof(*out));
  struct statfs fs;
  if (fstatfs(fd, &fs) != 0) return -errno;
  out->filesystem = static_cast<uint64_t>(fs.f_type);
  // A block device's node lies on devtmpfs; what counts is the device itself.
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) out->filesystem = kBdevMagic;
  KernelStatx stx;
  memset(&stx, 0, sizeof(stx));
  // A kernel before 6.11 ignores the bit it does not know, and leaves it out
  // of stx_mask (before 4.11 it has no statx: ENOSYS); a filesystem that has
  // no untorn writes reports it with zero units.
  if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, kStatxWriteAtomic, &stx) != 0) return 0;
  if ((stx.stx_mask & kStatxWriteAtomic) == 0) return 0;
  out->reported = 1;
  out->unit_min = stx.stx_atomic_write_unit_min;
  out->unit_max = stx.stx_atomic_write_unit_max;
  out->segments_max = stx.stx_atomic_write_segments_max;
  out->unit_max_opt = stx.stx_atomic_write_unit_max_opt;
  return 0;
}

int ProbeDontcache(int fd) {
  // RWF_DONTCACHE is checked (kiocb_set_rw_flags) before anything is read:
  // a kernel before 6.14, or a filesystem without FOP_DONTCACHE, answers
  // EOPNOTSUPP. The read of one byte at the largest position there is
  // touches no data on any filesystem (past s_maxbytes, past the end).
  char byte;
  iovec one = {&byte, 1};
  ssize_t ret;
  do {
    ret = preadv2(fd, &one, 1, static_cast<off_t>(INT64_MAX - 1), kRwfDontcache);
  } while (ret < 0 && errno == EINTR);
  return ret < 0 && errno == EOPNOTSUPP ? -EOPNOTSUPP : 0;
}

}  // namespace odirect
