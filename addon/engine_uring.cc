// The io_uring engine (liburing). One ring; the completion thread waits on its
// completion queue. To be woken for new work it keeps one read of an eventfd
// in the ring: a write to the eventfd completes that read (tag kWakeTag), and
// the next Submit() re-arms it.
#include "engine.h"

#ifdef ODIRECT_HAVE_LIBURING

#include <errno.h>
#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace odirect {
namespace {

class UringEngine final : public Engine {
 public:
  ~UringEngine() override {
    if (ring_ready_) io_uring_queue_exit(&ring_);
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  int Init(const EngineOptions& options) {
    wake_fd_ = eventfd(0, EFD_CLOEXEC);
    if (wake_fd_ < 0) return -errno;
    io_uring_params params;
    memset(&params, 0, sizeof(params));
    // One extra SQ entry for the wake-up read; the CQ holds twice as many so
    // that the JS side's cap (entries in flight) can never overflow it.
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = 2 * (options.entries + 1);
    int ret = io_uring_queue_init_params(options.entries + 1, &ring_, &params);
    if (ret < 0) return ret;
    ring_ready_ = true;
    features_ = params.features;
    // IORING_OP_READ/WRITE and the probe itself came in Linux 5.6; a ring
    // that starts but cannot read would fail every op with EINVAL, so an
    // older kernel is treated as one without io_uring (auto moves on to aio).
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (probe == nullptr) return -ENOSYS;
    bool complete = true;
    for (int opcode : {IORING_OP_READ, IORING_OP_WRITE, IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC}) {
      if (!io_uring_opcode_supported(probe, opcode)) complete = false;
    }
    io_uring_free_probe(probe);
    if (!complete) return -ENOSYS;
    wake_armed_ = false;
    return 0;
  }

  const char* name() const override { return "io_uring"; }

  bool CanSubmitInline() const override { return true; }

  std::string Features() const override {
    std::string out;
    if (features_ & IORING_FEAT_NODROP) out += "nodrop ";
    if (features_ & IORING_FEAT_FAST_POLL) out += "fast_poll ";
    if (!out.empty()) out.pop_back();
    return out;
  }

  int Submit(const Op* ops, int count, std::vector<Completion>* failed) override {
    (void)failed;  // io_uring reports every refusal as a completion
    if (!wake_armed_) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      if (sqe != nullptr) {
        io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof(wake_value_), 0);
        io_uring_sqe_set_data64(sqe, kWakeTag);
        wake_armed_ = true;
      }
    }
    int taken = 0;
    for (; taken < count; taken++) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      if (sqe == nullptr) break;
      Prepare(sqe, ops[taken]);
    }
    // Submit what is in the SQ (ours, and any left by an earlier EAGAIN).
    for (;;) {
      int ret = io_uring_submit(&ring_);
      if (ret >= 0 || ret != -EINTR) break;
    }
    // On EAGAIN/EBUSY the entries stay in the SQ and go with the next submit.
    return taken;
  }

  int Reap(Completion* out, int max, bool wait) override {
    if (wait) {
      io_uring_cqe* cqe;
      int ret = io_uring_wait_cqe(&ring_, &cqe);
      if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -ETIME) return ret;
    }
    int n = 0;
    unsigned seen = 0;
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      if (n == max) break;
      seen++;
      uint64_t tag = io_uring_cqe_get_data64(cqe);
      if (tag == kWakeTag) {
        wake_armed_ = false;  // re-armed by the next Submit()
        continue;
      }
      out[n].id = static_cast<uint32_t>(tag);
      out[n].result = cqe->res;
      n++;
    }
    io_uring_cq_advance(&ring_, seen);
    return n;
  }

  void Wake() override {
    uint64_t one = 1;
    // A full counter (EAGAIN) already means "wake up".
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));
    (void)ignored;
  }

 private:
  static void Prepare(io_uring_sqe* sqe, const Op& op) {
    switch (op.code) {
      case kOpRead:
        io_uring_prep_read(sqe, op.fd, op.addr, op.len, op.offset);
        sqe->rw_flags = op.rw_flags;
        break;
      case kOpWrite:
        io_uring_prep_write(sqe, op.fd, op.addr, op.len, op.offset);
        sqe->rw_flags = op.rw_flags;
        break;
      case kOpReadv:
        io_uring_prep_readv(sqe, op.fd, static_cast<const iovec*>(op.addr), op.len, op.offset);
        sqe->rw_flags = op.rw_flags;
        break;
      case kOpWritev:
        io_uring_prep_writev(sqe, op.fd, static_cast<const iovec*>(op.addr), op.len, op.offset);
        sqe->rw_flags = op.rw_flags;
        break;
      case kOpFsync:
        io_uring_prep_fsync(sqe, op.fd, 0);
        break;
      case kOpFdatasync:
        io_uring_prep_fsync(sqe, op.fd, IORING_FSYNC_DATASYNC);
        break;
      default:
        io_uring_prep_nop(sqe);  // unreachable: the binding checks op codes
        break;
    }
    io_uring_sqe_set_data64(sqe, op.id);
  }

  io_uring ring_;
  bool ring_ready_ = false;
  unsigned features_ = 0;
  int wake_fd_ = -1;
  // Set by the submission side (under the Ring's sq_mutex_) when it arms the
  // wake-up read, cleared by the completion thread when that read completes.
  // A stale "armed" seen by the JS thread is harmless: the completion thread
  // always calls Submit() before it waits, and re-arms there.
  std::atomic<bool> wake_armed_{false};
  uint64_t wake_value_ = 0;  // written by the kernel's read of wake_fd_
};

}  // namespace

std::unique_ptr<Engine> CreateUringEngine(const EngineOptions& options, int* err) {
  std::unique_ptr<UringEngine> engine(new UringEngine());
  int ret = engine->Init(options);
  if (ret < 0) {
    *err = ret;
    return nullptr;
  }
  *err = 0;
  return engine;
}

}  // namespace odirect

#else  // !ODIRECT_HAVE_LIBURING

#include <errno.h>

namespace odirect {
std::unique_ptr<Engine> CreateUringEngine(const EngineOptions&, int* err) {
  *err = -ENOSYS;
  return nullptr;
}
}  // namespace odirect

#endif
