// The threadpool engine: pread/pwrite/fdatasync on worker threads. The last
// resort where neither io_uring nor Linux AIO can start (gVisor and other
// sandboxes), and a baseline. Submitting only queues in memory, so the JS
// thread does it itself; workers signal an eventfd when they add to an empty
// completion list, and the JS thread takes the whole list.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "engine.h"

namespace odirect {
namespace {

class ThreadpoolEngine final : public Engine {
 public:
  ~ThreadpoolEngine() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& worker : workers_) worker.join();
    if (completion_fd_ >= 0) close(completion_fd_);
  }

  int Init(const EngineOptions& options) {
    completion_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (completion_fd_ < 0) return -errno;
    unsigned count = options.threads == 0 ? 1 : options.threads;
    for (unsigned i = 0; i < count; i++) workers_.emplace_back(&ThreadpoolEngine::WorkerMain, this);
    return 0;
  }

  const char* name() const override { return "threadpool"; }
  bool CanSubmitInline() const override { return true; }
  int CompletionFd() const override { return completion_fd_; }
  std::string Features() const override { return std::to_string(workers_.size()) + " threads"; }

  int Submit(const Op* ops, int count, std::vector<Completion>*) override {
    if (count == 0) return 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      work_.insert(work_.end(), ops, ops + count);
    }
    if (count == 1) {
      work_cv_.notify_one();
    } else {
      work_cv_.notify_all();
    }
    return count;
  }

  // An op no worker has taken yet is dropped, and completes with
  // -ECANCELED; one a worker is running cannot be stopped.
  int Cancel(uint32_t id, uint32_t gen) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = work_.begin(); it != work_.end(); ++it) {
      if (it->id == id && it->gen == gen) {
        work_.erase(it);
        Complete(id, -ECANCELED);
        return 0;
      }
    }
    return -ENOENT;
  }

  int Reap(Completion* out, int max, bool wait) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (wait) done_cv_.wait(lock, [this] { return !done_.empty(); });
    int n = 0;
    while (n < max && !done_.empty()) {
      out[n++] = done_.front();
      done_.pop_front();
    }
    return n;
  }

 private:
  void WorkerMain() {
    pthread_setname_np(pthread_self(), "odirect-pool");
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [this] { return !work_.empty() || stopping_; });
      if (work_.empty()) return;  // stopping, and nothing left to do
      Op op = work_.front();
      work_.pop_front();
      lock.unlock();
      int32_t result = Run(op);
      lock.lock();
      Complete(op.id, result);
    }
  }

  // With mu_ held.
  void Complete(uint32_t id, int32_t result) {
    bool was_empty = done_.empty();
    done_.push_back({id, result});
    if (was_empty) {
      // One signal per batch: the JS thread takes everything there is.
      uint64_t one = 1;
      ssize_t ignored = write(completion_fd_, &one, sizeof(one));
      (void)ignored;
      done_cv_.notify_one();
    }
  }

  static int32_t Run(const Op& op) {
    ssize_t ret;
    off_t offset = static_cast<off_t>(op.offset);
    iovec single = {op.addr, op.len};
    do {
      switch (op.code) {
        case kOpRead:
          ret = op.rw_flags ? preadv2(op.fd, &single, 1, offset, op.rw_flags)
                            : pread(op.fd, op.addr, op.len, offset);
          break;
        case kOpWrite:
          ret = op.rw_flags ? pwritev2(op.fd, &single, 1, offset, op.rw_flags)
                            : pwrite(op.fd, op.addr, op.len, offset);
          break;
        case kOpReadv:
          ret = preadv2(op.fd, static_cast<const iovec*>(op.addr), static_cast<int>(op.len), offset,
                        op.rw_flags);
          break;
        case kOpWritev:
          ret = pwritev2(op.fd, static_cast<const iovec*>(op.addr), static_cast<int>(op.len), offset,
                         op.rw_flags);
          break;
        case kOpFsync: ret = fsync(op.fd); break;
        case kOpFdatasync: ret = fdatasync(op.fd); break;
        case kOpFallocate:
          ret = fallocate(op.fd, op.rw_flags, static_cast<off_t>(op.offset), static_cast<off_t>(op.extent));
          break;
        default: ret = -1; errno = EINVAL; break;
      }
    } while (ret < 0 && errno == EINTR);
    return ret < 0 ? -errno : static_cast<int32_t>(ret);
  }

  std::mutex mu_;
  std::condition_variable work_cv_;  // workers wait for work_
  std::condition_variable done_cv_;  // Reap(wait) at teardown waits for done_
  std::deque<Op> work_;
  std::deque<Completion> done_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  int completion_fd_ = -1;
};

}  // namespace

std::unique_ptr<Engine> CreateThreadpoolEngine(const EngineOptions& options, int* err) {
  return StartEngine<ThreadpoolEngine>(options, err);
}

}  // namespace odirect
