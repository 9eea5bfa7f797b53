// The Linux AIO engine: raw io_setup/io_submit/io_getevents/io_destroy
// system calls and <linux/aio_abi.h>; no libaio. For where io_uring is missing
// (ENOSYS) or forbidden (EPERM: container seccomp profiles,
// kernel.io_uring_disabled).
//
// The completion thread waits in io_getevents(). To be woken for new work it
// keeps one IOCB_CMD_POLL (Linux 4.18) on an eventfd in the context.
// io_submit(2) can block on filesystem metadata, so it only ever runs on the
// completion thread (CanSubmitInline() is false).
#include <errno.h>
#include <linux/aio_abi.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
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
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  int Init(const EngineOptions& options) {
    // One more slot for the wake-up poll.
    if (SysIoSetup(options.entries + 1, &ctx_) != 0) {
      int err = -errno;
      ctx_ = 0;
      return err;
    }
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return -errno;
    iocbs_.resize(options.entries);
    pointers_.resize(options.entries + 1);
    events_.resize(2 * options.entries + 2);
    memset(&wake_iocb_, 0, sizeof(wake_iocb_));
    wake_iocb_.aio_lio_opcode = IOCB_CMD_POLL;
    wake_iocb_.aio_fildes = static_cast<uint32_t>(wake_fd_);
    wake_iocb_.aio_buf = POLLIN;
    wake_iocb_.aio_data = kWakeTag;
    AioRing* ring = reinterpret_cast<AioRing*>(ctx_);
    user_ring_ = ring->magic == kAioRingMagic && ring->incompat_features == 0;
    return 0;
  }

  const char* name() const override { return "aio"; }
  bool CanSubmitInline() const override { return false; }
  std::string Features() const override { return user_ring_ ? "user_ring" : ""; }

  int Submit(const Op* ops, int count, std::vector<Completion>* failed) override {
    size_t n = 0;
    bool wake_first = poll_supported_ && !wake_armed_.load(std::memory_order_relaxed);
    if (wake_first) pointers_[n++] = &wake_iocb_;
    for (int i = 0; i < count; i++) {
      iocb* cb = &iocbs_[ops[i].id];
      Prepare(cb, ops[i]);
      pointers_[n++] = cb;
    }
    size_t done = 0;
    int consumed = 0;
    while (done < n) {
      long ret = SysIoSubmit(ctx_, static_cast<long>(n - done), &pointers_[done]);
      if (ret > 0) {
        for (long i = 0; i < ret; i++) {
          if (pointers_[done + i] == &wake_iocb_) {
            wake_armed_.store(true);
          } else {
            consumed++;
          }
        }
        done += static_cast<size_t>(ret);
        continue;
      }
      int err = ret == 0 ? EAGAIN : errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) break;  // the context is full: a normal state
      // The first iocb was refused: report it, go on with the rest.
      iocb* bad = pointers_[done];
      if (bad == &wake_iocb_) {
        // No IOCB_CMD_POLL (kernel < 4.18): the thread will poll with a timeout.
        poll_supported_ = false;
      } else {
        failed->push_back({static_cast<uint32_t>(bad->aio_data), -err});
        consumed++;
      }
      done++;
    }
    return consumed;
  }

  int Reap(Completion* out, int max, bool wait) override {
    int got = UserReap(max);
    if (got == 0 && (wait || !user_ring_)) {
      timespec timeout = {0, 10 * 1000 * 1000};  // without a wake-up poll, look again every 10 ms
      long ret = SysIoGetevents(ctx_, wait ? 1 : 0, std::min<long>(max, static_cast<long>(events_.size())),
                                events_.data(), wait && !poll_supported_ ? &timeout : nullptr);
      if (ret < 0) {
        if (errno == EINTR) return 0;
        return -errno;
      }
      got = static_cast<int>(ret);
    }
    int n = 0;
    for (int i = 0; i < got; i++) {
      if (events_[i].data == kWakeTag) {
        uint64_t value;
        ssize_t ignored = read(wake_fd_, &value, sizeof(value));  // reset the eventfd
        (void)ignored;
        wake_armed_.store(false);
        continue;
      }
      out[n].id = static_cast<uint32_t>(events_[i].data);
      out[n].result = static_cast<int32_t>(events_[i].res);
      n++;
    }
    return n;
  }

  void Wake() override {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));
    (void)ignored;
  }

 private:
  // Completion thread only: the single consumer of the ring's head.
  int UserReap(int max) {
    if (!user_ring_) return 0;
    AioRing* ring = reinterpret_cast<AioRing*>(ctx_);
    int limit = std::min<int>(max, static_cast<int>(events_.size()));
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

  static void Prepare(iocb* cb, const Op& op) {
    memset(cb, 0, sizeof(*cb));
    cb->aio_data = op.id;
    cb->aio_fildes = static_cast<uint32_t>(op.fd);
    cb->aio_buf = reinterpret_cast<uintptr_t>(op.addr);
    cb->aio_nbytes = op.len;
    cb->aio_offset = static_cast<int64_t>(op.offset);
    cb->aio_rw_flags = op.rw_flags;
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
  int wake_fd_ = -1;
  bool user_ring_ = false;
  bool poll_supported_ = true;
  iocb wake_iocb_;
  // Armed under the Ring's sq_mutex_, cleared by the completion thread.
  std::atomic<bool> wake_armed_{false};
  std::vector<iocb> iocbs_;      // one per slot id; the kernel copies it at io_submit
  std::vector<iocb*> pointers_;  // submission side
  std::vector<io_event> events_;  // completion thread
};

}  // namespace

std::unique_ptr<Engine> CreateAioEngine(const EngineOptions& options, int* err) {
  std::unique_ptr<AioEngine> engine(new AioEngine());
  int ret = engine->Init(options);
  if (ret < 0) {
    *err = ret;
    return nullptr;
  }
  *err = 0;
  return engine;
}

}  // namespace odirect
