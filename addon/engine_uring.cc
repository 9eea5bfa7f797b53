// The io_uring engine (liburing). One ring, whose own descriptor the JS
// thread's event loop polls: it is readable while the completion queue holds
// something, and the JS thread reads the completion queue itself.
#include "engine.h"

#ifdef ODIRECT_HAVE_LIBURING

#include <errno.h>
#include <liburing.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>

namespace odirect {
namespace {

class UringEngine final : public Engine {
 public:
  ~UringEngine() override {
    if (ring_ready_) io_uring_queue_exit(&ring_);
  }

  int Init(const EngineOptions& options) {
    // The CQ holds twice the SQ so that the JS side's cap (entries in flight)
    // can never overflow it.
    unsigned flags = IORING_SETUP_CQSIZE;
    if (options.sqpoll_idle_ms > 0) {
      // A kernel thread takes entries off the SQ as they are written, so
      // submitting costs no system call while it is awake; it sleeps after
      // sq_thread_idle ms without work. Opt-in: on a 2-core machine it
      // competes with JS for a core (docs/benchmarks.md).
      flags |= IORING_SETUP_SQPOLL;
      sqpoll_ = true;
    } else {
      // The kernel runs an op's completion work (posting its CQE) when the
      // thread that submitted it next enters the kernel, or wakes it if it
      // sleeps, instead of interrupting it while it runs JavaScript: on
      // /dev/shm, where io-wq workers complete every read, those interrupts
      // took much of the JS thread's time (docs/benchmarks.md has the
      // figures). Linux 5.19; an older kernel refuses the flag, and the ring
      // is made without it.
      flags |= IORING_SETUP_COOP_TASKRUN;
    }
    io_uring_params params;
    auto setup = [&](unsigned with) {
      memset(&params, 0, sizeof(params));
      params.flags = with;
      params.cq_entries = 2 * options.entries;
      params.sq_thread_idle = options.sqpoll_idle_ms;
      return io_uring_queue_init_params(options.entries, &ring_, &params);
    };
    int ret = setup(flags);
    if (ret == -EINVAL && (flags & IORING_SETUP_COOP_TASKRUN) != 0) ret = setup(flags & ~IORING_SETUP_COOP_TASKRUN);
    if (ret < 0) return ret;
    ring_ready_ = true;
    features_ = params.features;
    // IORING_OP_READ/WRITE and the probe itself came in Linux 5.6; a ring
    // that starts but cannot read would fail every op with EINVAL, so an
    // older kernel is treated as one without io_uring (auto moves on to aio).
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (probe == nullptr) return -ENOSYS;
    bool complete = true;
    for (int opcode : {IORING_OP_READ, IORING_OP_WRITE, IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
                       IORING_OP_FALLOCATE}) {
      if (!io_uring_opcode_supported(probe, opcode)) complete = false;
    }
    io_uring_free_probe(probe);
    if (!complete) return -ENOSYS;
    cpus_ = UsableCpus();
    return 0;
  }

  const char* name() const override { return "io_uring"; }
  bool CanSubmitInline() const override { return true; }
  bool KeepsCreatorCredentials() const override { return true; }
  // Polled, the ring's descriptor is readable while the completion queue
  // holds something (io_uring_poll): no eventfd to signal per completion,
  // and none to read per wake-up.
  int CompletionFd() const override { return ring_.ring_fd; }
  bool CompletionFdNeedsReset() const override { return false; }
  // Reads done in SubmitInline() post no completion: the Ring delivers them
  // on the event loop's next turn, without a wake-up through the kernel.
  bool HasReadyResults() const override { return sync_head_ < sync_done_.size(); }

  std::string Features() const override {
    std::string out;
    if (features_ & IORING_FEAT_NODROP) out += "nodrop ";
    if (features_ & IORING_FEAT_FAST_POLL) out += "fast_poll ";
    if (sqpoll_) out += "sqpoll ";
    if (!out.empty()) out.pop_back();
    return out;
  }

  int RegisterBuffer(void* addr, size_t len) override {
    if (buffer_slots_.empty()) {
      // A sparse table (Linux 5.19) that pools fill and empty one slot at a
      // time; registered buffers count against RLIMIT_MEMLOCK unless the
      // process has CAP_IPC_LOCK (ENOMEM).
      int ret = io_uring_register_buffers_sparse(&ring_, kBufferSlots);
      if (ret < 0) return ret;
      buffer_slots_.assign(kBufferSlots, false);
    }
    int index = -1;
    for (int i = 0; i < kBufferSlots; i++) {
      if (!buffer_slots_[i]) {
        index = i;
        break;
      }
    }
    if (index < 0) return -ENOSPC;
    iovec region = {addr, len};
    int ret = io_uring_register_buffers_update_tag(&ring_, static_cast<unsigned>(index), &region, nullptr, 1);
    if (ret < 0) return ret;
    buffer_slots_[index] = true;
    return index;
  }

  int UnregisterBuffer(int index) override {
    if (index < 0 || index >= static_cast<int>(buffer_slots_.size()) || !buffer_slots_[index]) return -EINVAL;
    // An empty iovec clears the slot; requests in flight keep their own
    // reference to the old buffer until they complete.
    iovec empty = {nullptr, 0};
    int ret = io_uring_register_buffers_update_tag(&ring_, static_cast<unsigned>(index), &empty, nullptr, 1);
    if (ret < 0) return ret;
    buffer_slots_[index] = false;
    return 0;
  }

  int RegisterFile(int fd) override {
    if (file_slots_.empty()) {
      // A sparse table (Linux 5.19) filled one slot per open file. Its size
      // counts against RLIMIT_NOFILE (EMFILE beyond it).
      rlimit limit;
      unsigned slots = kFileSlots;
      if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < slots) slots = static_cast<unsigned>(limit.rlim_cur);
      int ret = io_uring_register_files_sparse(&ring_, slots);
      if (ret < 0) return ret;
      file_slots_.assign(slots, false);
    }
    int index = -1;
    for (int i = next_file_slot_, n = static_cast<int>(file_slots_.size()); i < n; i++) {
      if (!file_slots_[i]) {
        index = i;
        break;
      }
    }
    if (index < 0) return -ENOSPC;
    int ret = io_uring_register_files_update(&ring_, static_cast<unsigned>(index), &fd, 1);
    if (ret < 0) return ret;
    file_slots_[index] = true;
    next_file_slot_ = index + 1;
    return index;
  }

  int UnregisterFile(int index) override {
    if (index < 0 || index >= static_cast<int>(file_slots_.size()) || !file_slots_[index]) return -EINVAL;
    // -1 clears the slot; requests in flight keep their own reference.
    int cleared = -1;
    int ret = io_uring_register_files_update(&ring_, static_cast<unsigned>(index), &cleared, 1);
    if (ret < 0) return ret;
    file_slots_[index] = false;
    if (index < next_file_slot_) next_file_slot_ = index;
    return 0;
  }

  int Submit(const Op* ops, int count, std::vector<Completion>*) override {
    int taken = 0;
    for (; taken < count; taken++) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      if (sqe == nullptr) break;
      Prepare(sqe, ops[taken]);
    }
    // Submit what is in the SQ (ours, and any left by an earlier EAGAIN/EBUSY,
    // which stays in the SQ and goes with the next submit).
    int ret;
    do {
      ret = io_uring_submit(&ring_);
    } while (ret == -EINTR);
    return taken;
  }

  // The JS thread's submission: as Submit(), except that a read (plain or
  // vectored) of at most kSyncReadMax bytes in all of a file whose direct
  // I/O completes in the caller (op.sync_file: tmpfs) is done here, with
  // preadv2(2), and its completion handed out by the next Reap(); the Ring
  // sees HasReadyResults() and delivers it on the event loop's next turn.
  // tmpfs has no non-blocking direct I/O (RWF_NOWAIT: EOPNOTSUPP), so
  // io_uring would hand every such read to an io-wq worker, and the JS
  // thread pay a cross-thread wake-up per read.
  //
  // Beyond kSyncShareDepth ops in the kernel, and while the process may run
  // on more CPUs than it has JS threads at work (BusyThreads), only the
  // first such read of a hand-over is done here: the others go to io_uring,
  // whose io-wq workers read them on a spare CPU meanwhile
  // (docs/benchmarks.md: from depth 32 the two CPUs beat the JS thread
  // alone; up to 16 a worker's wake-ups cost more than they give).
  //
  // Stops at the first op that finds the SQ full (the rest go to the
  // submission thread). An inline read is complete when this returns, so a
  // later Cancel() finds nothing in the kernel to cancel.
  int SubmitInline(const Op* ops, int count, unsigned depth, std::vector<Completion>*) override {
    int taken = 0;
    bool done_inline = false;
    const bool share = depth > kSyncShareDepth && BusyThreads() < cpus_;
    for (; taken < count; taken++) {
      const Op& op = ops[taken];
      if (!(share && done_inline) && SmallSyncRead(op)) {
        ssize_t ret = SyncRead(op);
        sync_done_.push_back({op.id, ret < 0 ? -errno : static_cast<int32_t>(ret)});
        done_inline = true;
        continue;
      }
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      if (sqe == nullptr) break;
      Prepare(sqe, op);
    }
    // As Submit(): what an earlier EAGAIN/EBUSY left in the SQ goes too.
    if (io_uring_sq_ready(&ring_) > 0) {
      int ret;
      do {
        ret = io_uring_submit(&ring_);
      } while (ret == -EINTR);
    }
    return taken;
  }

  // A read done here with preadv2(2): kOpRead over op.addr, kOpReadv over its
  // own iovecs. -1 and errno on failure.
  static ssize_t SyncRead(const Op& op) {
    const iovec single = {op.addr, op.len};
    const bool plain = op.code == kOpRead;
    const iovec* iov = plain ? &single : static_cast<const iovec*>(op.addr);
    const int count = plain ? 1 : static_cast<int>(op.len);
    ssize_t ret;
    do {
      ret = preadv2(op.fd, iov, count, static_cast<off_t>(op.offset), op.rw_flags);
    } while (ret < 0 && errno == EINTR);
    return ret;
  }

  int Cancel(uint32_t id, uint32_t gen) override {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      io_uring_submit(&ring_);  // make room: what is in the SQ goes now
      sqe = io_uring_get_sqe(&ring_);
      if (sqe == nullptr) return -EBUSY;
    }
    io_uring_prep_cancel64(sqe, RequestTag(id, gen), 0);
    io_uring_sqe_set_data64(sqe, kInternalTag);
    int ret;
    do {
      ret = io_uring_submit(&ring_);
    } while (ret == -EINTR);
    return ret < 0 ? ret : 0;
  }

  int Reap(Completion* out, int max, bool wait) override {
    // Reads done inline first; never wait for the kernel while any are left.
    int n = 0;
    while (n < max && sync_head_ < sync_done_.size()) out[n++] = sync_done_[sync_head_++];
    if (sync_head_ == sync_done_.size()) {
      sync_done_.clear();
      sync_head_ = 0;
    }
    if (n > 0) wait = false;
    if (wait) {
      // Teardown: what an earlier submit left in the SQ (EAGAIN, EBUSY) is
      // submitted too, or the wait for it would never end.
      int ret = io_uring_submit_and_wait(&ring_, 1);
      if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -ETIME) return ret;
    }
    unsigned seen = 0;
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      if (n == max) break;
      seen++;
      uint64_t tag = io_uring_cqe_get_data64(cqe);
      if (tag & kInternalTag) continue;  // a cancellation's own completion
      out[n].id = static_cast<uint32_t>(tag);
      out[n].result = cqe->res;
      n++;
    }
    io_uring_cq_advance(&ring_, seen);
    // Completions that found the queue full (cancellations' own can make it
    // overflow: they are not counted in the JS side's cap) wait in the
    // kernel's overflow list, and the ring's descriptor stays readable for
    // them: only entering the kernel moves them into the queue, where the
    // next look finds them. Without this the event loop would call Deliver
    // on every turn for nothing.
    if (n < max && io_uring_cq_has_overflow(&ring_)) io_uring_get_events(&ring_);
    return n;
  }

 private:
  // A read or a write: the same fields, with the _FIXED opcode when the
  // buffer lies in a registered one (what io_uring_prep_read_fixed and its
  // kin do, liburing.h).
  static inline void PrepareTransfer(io_uring_sqe* sqe, const Op& op, int opcode, int fixed_opcode) {
    const int buf_index = op.buf_index;  // read once: the stores to *sqe might alias op
    if (buf_index >= 0) {
      io_uring_prep_rw(fixed_opcode, sqe, op.fd, op.addr, op.len, op.offset);
      sqe->buf_index = static_cast<__u16>(buf_index);
    } else {
      io_uring_prep_rw(opcode, sqe, op.fd, op.addr, op.len, op.offset);
    }
    sqe->rw_flags = op.rw_flags;
  }

  static void Prepare(io_uring_sqe* sqe, const Op& op) {
    switch (op.code) {
      case kOpRead:
        PrepareTransfer(sqe, op, IORING_OP_READ, IORING_OP_READ_FIXED);
        break;
      case kOpWrite:
        PrepareTransfer(sqe, op, IORING_OP_WRITE, IORING_OP_WRITE_FIXED);
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
      case kOpFallocate:
        io_uring_prep_fallocate(sqe, op.fd, op.rw_flags, static_cast<off_t>(op.offset), static_cast<off_t>(op.extent));
        break;
      case kOpFdatasync:
        io_uring_prep_fsync(sqe, op.fd, IORING_FSYNC_DATASYNC);
        break;
      default:
        io_uring_prep_nop(sqe);  // unreachable: the binding checks op codes
        break;
    }
    if (op.file_index >= 0) {
      sqe->fd = op.file_index;
      sqe->flags |= IOSQE_FIXED_FILE;
    }
    io_uring_sqe_set_data64(sqe, RequestTag(op));
  }

  static constexpr int kBufferSlots = 64;
  // The depth beyond which such reads are shared with io-wq (SubmitInline).
  static constexpr unsigned kSyncShareDepth = 16;
  static constexpr unsigned kFileSlots = 1024;

  io_uring ring_;
  bool ring_ready_ = false;
  std::vector<bool> buffer_slots_;  // JS thread: which fixed-buffer slots hold a pool
  std::vector<bool> file_slots_;    // JS thread: which fixed-file slots hold a file
  int next_file_slot_ = 0;          // no free file slot below this one
  int cpus_ = 1;                    // the CPUs this process may run on, at Init
  std::vector<Completion> sync_done_;  // JS thread: reads done inline, not yet reaped
  size_t sync_head_ = 0;               // the first of sync_done_ not yet handed out
  unsigned features_ = 0;
  bool sqpoll_ = false;
};

}  // namespace

std::unique_ptr<Engine> CreateUringEngine(const EngineOptions& options, int* err) {
  return StartEngine<UringEngine>(options, err);
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
