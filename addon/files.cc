#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

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
  uint64_t spare3[12];
};
static_assert(sizeof(KernelStatx) == 256, "struct statx is 256 bytes");

constexpr unsigned kStatxDioAlign = 0x00002000U;  // STATX_DIOALIGN, Linux 6.1
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

}  // namespace odirect
