// A Ring is one engine instance, and a thread that submits what the JS
// thread may not.
//
// Completions go from the kernel to the JS thread with no thread between:
// the engine makes a descriptor readable (io_uring's own, or an eventfd)
// that the JS thread's event loop polls, and the JS thread reads the
// completions itself and settles them in one call into JS per batch. The JS thread submits the ops it
// flushes itself (Flush: no wake-up of anyone) whenever the engine can take
// them without blocking and at most `inline_max` ops would then be in the
// kernel; lib/ring.ts leaves that unlimited by default, so on io_uring and
// the threadpool it submits at every depth. The ring's submission thread
// takes the rest: ops beyond a smaller inlineMax, what the engine refuses
// inline (on aio, everything but reads, and reads RWF_NOWAIT sent back),
// and ops flushed while the thread holds the submission side.
// docs/design.md has the measurements behind this shape.
//
// Threads and what they own:
//  - the JS thread: pending_ (ops queued since the last flush), in_flight_,
//    the poll, async and idle handles, the results array, reaping (Reap), napi.
//  - the submission thread: the backlog it is working through.
//  - shared, under mu_: to_submit_ (JS -> thread), failed_ (ops refused at
//    submission by the thread, handed back through async_), stopping_.
//    Batches are swapped whole under the lock; nothing per op crosses.
//  - the engine's submission side: under sq_mu_, held by one thread at a time.
#ifndef ODIRECT_RING_H_
#define ODIRECT_RING_H_

#include <node_api.h>
#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "backing_store.h"
#include "engine.h"
#include "memory.h"

namespace odirect {

class Ring {
 public:
  // JS thread. `results` is the int32 array (2 * capacity entries: id, result)
  // that completions are copied into before `on_complete(count)` is called.
  static Ring* Create(napi_env env, std::unique_ptr<Engine> engine, unsigned capacity,
                      unsigned submit_batch, napi_value on_complete, int32_t* results,
                      napi_value results_buffer, int* err);

  const char* engine_name() const { return engine_->name(); }
  // A number no other ring of the process has had: what a registered block
  // records as its owner (an address could be reused by a later ring).
  uint64_t serial() const { return serial_; }
  Engine* engine() const { return engine_.get(); }
  std::string engine_features() const { return engine_->Features(); }
  unsigned capacity() const { return capacity_; }
  bool open() const { return state_ == State::kOpen; }

  // JS thread. Records one op; no system call. The op's memory must stay
  // valid until its completion is delivered (the JS side holds it).
  void Queue(Op op);
  // JS thread. Cancels op `id` (queued earlier and not yet delivered): one
  // not yet handed to the kernel is dropped and completes with -ECANCELED
  // (returns 1); one in the kernel is cancelled where the engine can, and
  // completes either way (returns 0); -errno when the engine cannot.
  int Cancel(uint32_t id);
  // JS thread. Keeps `block` (when not null) from being freed until op `id`
  // has completed.
  void Pin(uint32_t id, AlignedBlock* block) {
    if (block == nullptr) return;
    BlockRegistry::Pin(block);
    pins_[id].push_back(block);
  }
  // JS thread. Keeps the memory of a V8-owned ArrayBuffer alive until op
  // `id` has completed, even if the ArrayBuffer is transferred (detached)
  // meanwhile and its new owner is collected.
  void Hold(uint32_t id, KeepAlive store) { stores_[id].push_back(std::move(store)); }
  // JS thread. Storage for a vectored op's iovecs, kept until its completion.
  std::vector<iovec>& IovecsFor(uint32_t id) { return iovecs_[id]; }
  // JS thread. Whether the process's user, groups or supplementary groups
  // have changed since the ring was made, on an engine whose requests would
  // keep the old rights: the ring then refuses every op with -EPERM.
  bool credentials_changed() const { return credentials_changed_; }
  // Any thread: the process's credentials may have changed (process.setuid()
  // and the like call this); every ring checks at its next hand-over.
  static void CredentialsMayHaveChanged() { credentials_epoch_.fetch_add(1, std::memory_order_release); }

  // The result of an op dropped before it was submitted (cancelled); not an errno.
  static constexpr int32_t kDropped = -(1 << 30);

  // JS thread. Hands the ops queued since the last flush to the kernel:
  // submits them on this thread when at most `inline_max` ops would then be
  // in the kernel and the engine allows it, otherwise hands them to the
  // submission thread.
  void Flush(unsigned inline_max);
  // JS thread. Stops the submission thread, waits for every op still in the
  // kernel (memory stays valid until then), frees the engine and closes the
  // handles. Ops not yet submitted are dropped.
  void Shutdown();
  // JS thread. The JS wrapper is gone; frees the ring once it is closed.
  void ReleaseOwner();

  // Latency from Queue() to delivery, per op: a log-linear histogram of
  // nanoseconds, 2^kLatencySubBits buckets per power of two (12.5 % wide),
  // then the largest and the sum (lib/histogram.ts reads it with the same
  // layout, which binding.cc exports). JS thread.
  static constexpr int kLatencySubBits = 3;
  static constexpr int kLatencyBuckets = 320;
  static int LatencyBucket(uint64_t ns);
  const std::vector<double>& latency() const { return latency_; }

  // Counters for stats(); JS thread.
  uint64_t submitted_inline() const { return submitted_inline_; }
  uint64_t wakeups() const { return wakeups_; }
  uint64_t batches() const { return batches_; }
  uint64_t fixed_ops() const { return fixed_ops_; }
  uint64_t resubmitted() const { return resubmitted_; }
  void CountFixed() { fixed_ops_++; }

 private:
  enum class State { kOpen, kClosing, kClosed };

  Ring(napi_env env, std::unique_ptr<Engine> engine, unsigned capacity, unsigned submit_batch);
  ~Ring();

  void ThreadMain();
  static void OnPoll(uv_poll_t* handle, int status, int events);  // JS thread
  static void OnAsync(uv_async_t* handle);                        // JS thread
  static void OnReady(uv_idle_t* handle);                         // JS thread
  static void OnClosed(uv_handle_t* handle);                      // JS thread
  static void OnEnvCleanup(napi_async_cleanup_hook_handle handle, void* arg);
  void Deliver();                                             // JS thread
  bool CallJs(size_t count);                                  // JS thread
  // Reads the engine's completion eventfd to zero, where it has one (JS thread).
  void ResetCompletionFd();
  // Stops polling the completion descriptor once JavaScript can no longer
  // be called; Shutdown() closes the handle later (JS thread).
  void StopWatching();
  void Unpin(uint32_t id);                                    // JS thread
  void SetActive(bool active);                                // JS thread
  void CountBusy(bool busy);  // JS thread: this ring's part in BusyThreads() (engine.h)
  void HandOverRetries();  // JS thread: ops the engine took inline but needs submitted again
  std::vector<Op> retries_;

  // The process's credentials: ruid, euid, suid, fsuid, rgid, egid, sgid,
  // fsgid, then the supplementary groups.
  static std::vector<uint32_t> Credentials();
  bool CheckCredentials();  // JS thread; sets credentials_changed_
  static std::atomic<uint64_t> credentials_epoch_;
  uint64_t credentials_checked_at_ = 0;  // uv_now() of the last check
  uint64_t credentials_epoch_seen_ = 0;
  uv_loop_t* loop_ = nullptr;
  struct Environment* environment_ = nullptr;  // its JS environment's data (environment.h)
  void ApplyCancels(std::vector<Op>* backlog, size_t next);  // submission thread

  // Fixed at creation.
  napi_env env_;
  const std::vector<uint32_t> credentials_;
  std::unique_ptr<Engine> engine_;
  const unsigned capacity_;
  const unsigned submit_batch_;
  const uint64_t serial_;

  // JS thread.
  State state_ = State::kOpen;
  bool owner_gone_ = false;
  bool credentials_changed_ = false;
  int handles_open_ = 0;
  std::vector<Op> pending_;
  std::vector<Completion> reaped_;
  std::vector<std::vector<iovec>> iovecs_;
  std::vector<std::vector<AlignedBlock*>> pins_;  // per op id: the blocks it keeps alive
  std::vector<std::vector<KeepAlive>> stores_;    // per op id: V8 memory it holds
  std::vector<uint32_t> gens_;                    // per op id: the generation of its latest op
  std::vector<uint64_t> queued_ns_;               // per op id: when it was queued (CLOCK_MONOTONIC)
  std::vector<double> latency_;                   // kLatencyBuckets counts, max ns, sum ns
  void RecordLatency(uint32_t id, uint64_t now_ns);
  unsigned in_flight_ = 0;                        // queued and not yet delivered to JS
  bool active_ = false;                           // the poll handle and on_complete_ held (SetActive; Shutdown lets go)
  uv_poll_t poll_;                                // the engine's completion descriptor
  uv_async_t async_;                              // ops the submission thread could not submit
  uv_idle_t ready_;                               // results the engine has without a completion (HasReadyResults)
  napi_ref on_complete_ = nullptr;
  napi_ref results_ref_ = nullptr;
  int32_t* results_ = nullptr;
  napi_async_context async_context_ = nullptr;
  napi_async_cleanup_hook_handle cleanup_hook_ = nullptr;
  uint64_t submitted_inline_ = 0;
  uint64_t wakeups_ = 0;
  uint64_t batches_ = 0;
  uint64_t fixed_ops_ = 0;
  uint64_t resubmitted_ = 0;

  // Shared, under mu_.
  std::mutex mu_;
  std::condition_variable work_cv_;  // the submission thread waits for to_submit_
  std::vector<Op> to_submit_;
  std::vector<Completion> failed_;
  bool thread_waiting_ = false;
  std::vector<std::pair<uint32_t, uint32_t>> cancels_;  // (id, gen) the thread must drop or cancel
  std::atomic<bool> has_cancels_{false};
  bool stopping_ = false;

  // The engine's submission side.
  std::mutex sq_mu_;
  // Ops in the kernel: raised by whoever submits, lowered by the JS thread as it reaps.
  std::atomic<int> in_kernel_{0};

  std::thread thread_;
};

}  // namespace odirect

#endif  // ODIRECT_RING_H_
