// The Linux AIO engine: raw io_setup/io_submit/io_getevents/io_destroy
// system calls and <linux/aio_abi.h>; no libaio. For where io_uring is missing
// (ENOSYS) or forbidden (EPERM: container seccomp profiles,
// kernel.io_uring_disabled).
//
// Every iocb carries IOCB_FLAG_RESFD (Linux 2.6.22): the kernel signals an
// eventfd as it completes them, the JS thread's event loop polls it, and the
// JS thread reads the completion ring the kernel maps at the context's
// address, as fio's libaio engine does.
//
// io_submit(2) can block (on filesystem metadata, on a full device queue), so
// the JS thread submits only reads, and only with RWF_NOWAIT (Linux 4.14): a
// read that would block completes at once with -EAGAIN, and one that comes
// back short (at the end of the file, or cut short) is not trusted either.
// Those are handed to the ring's submission thread (TakeRetries), which
// submits them again without RWF_NOWAIT, as it submits everything else: a
// result the caller sees always comes from a full read or a blocking one.
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "engine.h"

namespace odirect {
namespace {

long SysIoSetup(unsigned nr, aio_context_t* ctx) { return syscall(SYS_io_setup, nr, ctx); }
long SysIoDestroy(aio_context_t ctx) { return syscall(SYS_io_destroy, ctx); }
long SysIoSubmit(aio_context_t ctx, long n, iocb** iocbs) {
  return syscall(SYS_io_submit, ctx, n, iocbs);
}
long SysIoCancel(aio_context_t ctx, iocb* cb, io_event* result) { return syscall(SYS_io_cancel, ctx, cb, result); }
long SysIoGetevents(aio_context_t ctx, long min_nr, long max_nr, io_event* events, timespec* timeout) {
  return syscall(SYS_io_getevents, ctx, min_nr, max_nr, events, timeout);
}

// The completion ring the kernel maps at the context's address
// (fs/aio.c, struct aio_ring). Reading it directly saves an io_getevents()
// call when completions are already there, as fio's libaio engine does.
struct AioRing {
  unsigned id;
  unsigned nr;
  unsigned head;
  unsigned tail;
  unsigned magic;
  unsigned compat_features;
  unsigned incompat_features;
  unsigned header_length;
  io_event events[0];
};
constexpr unsigned kAioRingMagic = 0xa10a10a1;

class AioEngine final : public Engine {
 public:
  ~AioEngine() override {
    if (ctx_ != 0) SysIoDestroy(ctx_);
    if (completion_fd_ >= 0) close(completion_fd_);
  }

  int Init(const EngineOptions& options) {
    if (SysIoSetup(options.entries, &ctx_) != 0) {
      int err = -errno;
      ctx_ = 0;
      return err;
    }
    completion_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (completion_fd_ < 0) return -errno;
    iocbs_.resize(options.entries);
    nowait_.assign(options.entries, 0);
    saved_.resize(options.entries);
    retries_.reserve(options.entries);
    pointers_.resize(options.entries);
    events_.resize(2 * options.entries);
    AioRing* ring = reinterpret_cast<AioRing*>(ctx_);
    user_ring_ = ring->magic == kAioRingMagic && ring->incompat_features == 0;
    return 0;
  }

  const char* name() const override { return "aio"; }
  bool CanSubmitInline() const override { return true; }
  int CompletionFd() const override { return completion_fd_; }
  std::string Features() const override { return user_ring_ ? "user_ring" : ""; }

  // The leading reads only (plain or vectored), each with RWF_NOWAIT; but a
  // read of at most kSyncReadMax bytes in all of a file whose direct I/O
  // completes in the caller (op.sync_file: tmpfs, which refuses RWF_NOWAIT
  // with EOPNOTSUPP) goes without it, and io_submit(2) reads it from memory
  // before it returns, instead of the submission thread. A larger one is
  // refused, and goes to that thread.
  // They are not shared with the submission thread at depth, as io_uring's
  // are with io-wq (kSyncShareDepth): /dev/shm at QD 64, 3 rounds against
  // fio libaio, 0.91x either way, at 4.8 against 2.7 us of CPU per read.
  int SubmitInline(const Op* ops, int count, unsigned, std::vector<Completion>* failed) override {
    int reads = 0;
    while (reads < count && (ops[reads].code == kOpRead || ops[reads].code == kOpReadv)) reads++;
    return reads == 0 ? 0 : SubmitOps(ops, reads, failed, true);
  }

  void TakeRetries(std::vector<Op>* out) override {
    out->insert(out->end(), retries_.begin(), retries_.end());
    retries_.clear();
  }

  int Submit(const Op* ops, int count, std::vector<Completion>* failed) override {
    if (count > 0 && ops[0].code == kOpFallocate) {
      // AIO has no fallocate: it runs here, on the ring's thread (fallocate
      // is never submitted inline), and completes at once.
      int ret = fallocate(ops[0].fd, ops[0].rw_flags, static_cast<off_t>(ops[0].offset),
                          static_cast<off_t>(ops[0].extent));
      failed->push_back({ops[0].id, ret < 0 ? -errno : 0});
      return 1;
    }
    int n = 0;
    while (n < count && ops[n].code != kOpFallocate) n++;
    return SubmitOps(ops, n, failed, false);
  }

  // With the submission side held.
  int SubmitOps(const Op* ops, int count, std::vector<Completion>* failed, bool nowait) {
    size_t n = 0;
    for (int i = 0; i < count; i++) {
      iocb* cb = &iocbs_[ops[i].id];
      Prepare(cb, ops[i]);
      if (nowait && !SmallSyncRead(ops[i])) {
        cb->aio_rw_flags |= RWF_NOWAIT;
        nowait_[ops[i].id] = 1;
        saved_[ops[i].id] = ops[i];
      }
      pointers_[n++] = cb;
    }
    size_t done = 0;
    int consumed = 0;
    while (done < n) {
      long ret = SysIoSubmit(ctx_, static_cast<long>(n - done), &pointers_[done]);
      if (ret > 0) {
        consumed += static_cast<int>(ret);
        done += static_cast<size_t>(ret);
        continue;
      }
      int err = ret == 0 ? EAGAIN : errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) break;  // the context is full: a normal state
      // The first iocb was refused: report it, go on with the rest. A
      // RWF_NOWAIT read refused (a kernel or file without it) goes to the
      // submission thread instead, whose answer is the one that counts.
      uint32_t id = static_cast<uint32_t>(pointers_[done]->aio_data);
      if (nowait && nowait_[id]) {
        nowait_[id] = 0;
        retries_.push_back(saved_[id]);
      } else {
        failed->push_back({id, -err});
      }
      consumed++;
      done++;
    }
    if (nowait) {
      // What io_submit did not take goes to the submission thread as usual.
      for (size_t i = done; i < n; i++) nowait_[pointers_[i]->aio_data & 0xffffffffu] = 0;
    }
    return consumed;
  }

  // Only drivers with a cancel method (USB gadgets, not files or block
  // devices) take io_cancel(2): EINVAL here, and the op completes normally.
  // A cancelled op's event arrives through the ring like any other.
  int Cancel(uint32_t id, uint32_t gen) override {
    iocb* cb = &iocbs_[id];
    if (cb->aio_data != RequestTag(id, gen)) return -ENOENT;
    io_event ignored;
    long ret = SysIoCancel(ctx_, cb, &ignored);
    if (ret == 0 || errno == EINPROGRESS) return 0;
    return -errno;
  }

  int Reap(Completion* out, int max, bool wait) override {
    int limit = std::min<int>(max, static_cast<int>(events_.size()));
    int got = UserReap(limit);
    if (got == 0 && (wait || !user_ring_)) {
      long ret = SysIoGetevents(ctx_, wait ? 1 : 0, limit, events_.data(), nullptr);
      if (ret < 0) return errno == EINTR ? 0 : -errno;
      got = static_cast<int>(ret);
    }
    int n = 0;
    for (int i = 0; i < got; i++) {
      uint32_t id = static_cast<uint32_t>(events_[i].data);
      int64_t result = events_[i].res;
      if (nowait_[id]) {
        nowait_[id] = 0;
        // At teardown (wait) every result is taken as it is: nothing is
        // submitted again then.
        if (!wait && (result == -EAGAIN || (result >= 0 && static_cast<uint64_t>(result) < IoBytes(saved_[id])))) {
          retries_.push_back(saved_[id]);
          continue;
        }
      }
      out[n].id = id;
      out[n].result = static_cast<int32_t>(result);
      n++;
    }
    return n;
  }

 private:
  // JS thread only: the single consumer of the ring's head.
  int UserReap(int limit) {
    if (!user_ring_) return 0;
    AioRing* ring = reinterpret_cast<AioRing*>(ctx_);
    int n = 0;
    unsigned head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
    while (n < limit) {
      unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
      if (head == tail) break;
      events_[n++] = ring->events[head];
      head = (head + 1) % ring->nr;
      __atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
    }
    return n;
  }

  void Prepare(iocb* cb, const Op& op) const {
    memset(cb, 0, sizeof(*cb));
    cb->aio_data = RequestTag(op);
    cb->aio_fildes = static_cast<uint32_t>(op.fd);
    cb->aio_buf = reinterpret_cast<uintptr_t>(op.addr);
    cb->aio_nbytes = op.len;
    cb->aio_offset = static_cast<int64_t>(op.offset);
    cb->aio_rw_flags = op.rw_flags;
    cb->aio_flags = IOCB_FLAG_RESFD;
    cb->aio_resfd = static_cast<uint32_t>(completion_fd_);
    switch (op.code) {
      case kOpRead: cb->aio_lio_opcode = IOCB_CMD_PREAD; break;
      case kOpWrite: cb->aio_lio_opcode = IOCB_CMD_PWRITE; break;
      case kOpReadv: cb->aio_lio_opcode = IOCB_CMD_PREADV; break;
      case kOpWritev: cb->aio_lio_opcode = IOCB_CMD_PWRITEV; break;
      case kOpFsync: cb->aio_lio_opcode = IOCB_CMD_FSYNC; break;
      case kOpFdatasync: cb->aio_lio_opcode = IOCB_CMD_FDSYNC; break;
      default: cb->aio_lio_opcode = IOCB_CMD_NOOP; break;
    }
  }

  aio_context_t ctx_ = 0;
  int completion_fd_ = -1;
  bool user_ring_ = false;
  std::vector<iocb> iocbs_;       // one per slot id; the kernel copies it at io_submit
  std::vector<iocb*> pointers_;   // submission side
  std::vector<io_event> events_;  // JS thread
  // JS thread: per id, whether the op in flight was submitted inline with
  // RWF_NOWAIT, and a copy of it to submit again; the ops to submit again.
  std::vector<uint8_t> nowait_;
  std::vector<Op> saved_;
  std::vector<Op> retries_;
};

}  // namespace

std::unique_ptr<Engine> CreateAioEngine(const EngineOptions& options, int* err) {
  return StartEngine<AioEngine>(options, err);
}

}  // namespace odirect
