#include "ring.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/fsuid.h>
#include <unistd.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "environment.h"

namespace odirect {

namespace {
std::atomic<uint64_t> next_serial{1};
// JS threads with a busy ring (BusyThreads, engine.h).
std::atomic<int> busy_threads{0};

// How many completions the first pass of Deliver hands JS (see Deliver).
constexpr int kFirstBatch = 4;

uint64_t NowNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
}
}  // namespace

int BusyThreads() { return busy_threads.load(std::memory_order_relaxed); }

int UsableCpus() {
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof(cpus), &cpus) != 0) return 1;
  return std::max(1, CPU_COUNT(&cpus));
}

int Ring::LatencyBucket(uint64_t ns) {
  // Below 2^kLatencySubBits a bucket per value; above, each power of two is
  // cut into 2^kLatencySubBits buckets by the bits below the highest.
  constexpr int kSub = 1 << kLatencySubBits;
  if (ns < kSub) return static_cast<int>(ns);
  int exponent = 63 - __builtin_clzll(ns);
  int index = (exponent - kLatencySubBits + 1) * kSub +
              static_cast<int>((ns >> (exponent - kLatencySubBits)) & (kSub - 1));
  return std::min(index, kLatencyBuckets - 1);
}

void Ring::RecordLatency(uint32_t id, uint64_t now_ns) {
  uint64_t ns = now_ns > queued_ns_[id] ? now_ns - queued_ns_[id] : 0;
  latency_[LatencyBucket(ns)] += 1;
  double value = static_cast<double>(ns);
  if (value > latency_[kLatencyBuckets]) latency_[kLatencyBuckets] = value;
  latency_[kLatencyBuckets + 1] += value;
}

std::vector<uint32_t> Ring::Credentials() {
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  getresuid(&ruid, &euid, &suid);
  getresgid(&rgid, &egid, &sgid);
  // setfsuid/setfsgid with an invalid id change nothing and return the current one.
  uint32_t fsuid = static_cast<uint32_t>(setfsuid(static_cast<uid_t>(-1)));
  uint32_t fsgid = static_cast<uint32_t>(setfsgid(static_cast<gid_t>(-1)));
  std::vector<uint32_t> out = {ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid};
  int count = getgroups(0, nullptr);
  if (count > 0) {
    std::vector<gid_t> groups(static_cast<size_t>(count));
    count = getgroups(count, groups.data());
    for (int i = 0; i < count; i++) out.push_back(groups[static_cast<size_t>(i)]);
  }
  return out;
}

std::atomic<uint64_t> Ring::credentials_epoch_{0};

bool Ring::CheckCredentials() {
  if (credentials_changed_ || !engine_->KeepsCreatorCredentials()) return !credentials_changed_;
  // Five system calls: at most once per turn of the event loop (uv_now moves
  // once per turn), and at once after process.setuid() and the like, which
  // lib/ wraps to raise the epoch.
  uint64_t now = uv_now(loop_);
  uint64_t epoch = credentials_epoch_.load(std::memory_order_acquire);
  if (now == credentials_checked_at_ && epoch == credentials_epoch_seen_) return true;
  credentials_checked_at_ = now;
  credentials_epoch_seen_ = epoch;
  if (Credentials() != credentials_) credentials_changed_ = true;
  return !credentials_changed_;
}

Ring::Ring(napi_env env, std::unique_ptr<Engine> engine, unsigned capacity, unsigned submit_batch)
    : env_(env),
      credentials_(Credentials()),
      engine_(std::move(engine)),
      capacity_(capacity),
      submit_batch_(submit_batch == 0 ? 1 : submit_batch),
      serial_(next_serial.fetch_add(1)),
      iovecs_(capacity),
      pins_(capacity),
      stores_(capacity),
      gens_(capacity, 0),
      queued_ns_(capacity, 0),
      latency_(kLatencyBuckets + 2, 0.0) {
  pending_.reserve(capacity);
  reaped_.resize(capacity);
  to_submit_.reserve(capacity);
}

Ring::~Ring() {
  if (on_complete_ != nullptr) napi_delete_reference(env_, on_complete_);
  if (results_ref_ != nullptr) napi_delete_reference(env_, results_ref_);
  if (async_context_ != nullptr) napi_async_destroy(env_, async_context_);
}

Ring* Ring::Create(napi_env env, std::unique_ptr<Engine> engine, unsigned capacity,
                   unsigned submit_batch, napi_value on_complete, int32_t* results,
                   napi_value results_buffer, int* err) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    *err = -EINVAL;
    return nullptr;
  }
  Ring* ring = new Ring(env, std::move(engine), capacity, submit_batch);
  ring->loop_ = loop;
  ring->environment_ = Environment::For(env);
  ring->credentials_checked_at_ = uv_now(loop);
  ring->credentials_epoch_seen_ = credentials_epoch_.load();
  ring->results_ = results;
  // Weak while idle, strong while ops are in flight (SetActive): an idle
  // ring that JS no longer reaches can be collected, and its finalizer
  // shuts it down. The JS Ring holds the callback itself meanwhile.
  napi_create_reference(env, on_complete, 0, &ring->on_complete_);
  napi_create_reference(env, results_buffer, 1, &ring->results_ref_);
  napi_value resource_name;
  napi_create_string_utf8(env, "odirect:ring", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, nullptr, resource_name, &ring->async_context_);
  int ret = uv_poll_init(loop, &ring->poll_, ring->engine_->CompletionFd());
  ring->poll_.data = ring;
  if (ret == 0) {
    ring->handles_open_++;
    ret = uv_poll_start(&ring->poll_, UV_READABLE, OnPoll);
  }
  if (ret == 0) {
    ret = uv_async_init(loop, &ring->async_, OnAsync);
    if (ret == 0) {
      ring->handles_open_++;
      ring->async_.data = ring;
    }
  }
  if (ret == 0) {
    ret = uv_idle_init(loop, &ring->ready_);
    if (ret == 0) {
      ring->handles_open_++;
      ring->ready_.data = ring;
    }
  }
  if (ret != 0) {
    *err = ret;
    ring->owner_gone_ = true;  // freed once its open handles have closed
    ring->Shutdown();
    return nullptr;
  }
  // The handles hold the event loop only while ops are in flight: an idle
  // process exits.
  uv_unref(reinterpret_cast<uv_handle_t*>(&ring->poll_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&ring->async_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&ring->ready_));
  napi_add_async_cleanup_hook(env, OnEnvCleanup, ring, &ring->cleanup_hook_);
  ring->thread_ = std::thread(&Ring::ThreadMain, ring);
  *err = 0;
  return ring;
}

void Ring::SetActive(bool active) {
  if (active == active_) return;
  active_ = active;
  CountBusy(active);
  if (active) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&poll_));
    napi_reference_ref(env_, on_complete_, nullptr);
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
    napi_reference_unref(env_, on_complete_, nullptr);
  }
}

void Ring::CountBusy(bool busy) {
  if (busy) {
    if (environment_->busy_rings++ == 0) busy_threads.fetch_add(1, std::memory_order_relaxed);
  } else if (--environment_->busy_rings == 0) {
    busy_threads.fetch_sub(1, std::memory_order_relaxed);
  }
}

void Ring::Queue(Op op) {
  in_flight_++;
  SetActive(true);
  op.gen = gens_[op.id] = (gens_[op.id] + 1) & 0x7fffffff;
  queued_ns_[op.id] = NowNs();
  pending_.push_back(op);
}

int Ring::Cancel(uint32_t id) {
  if (id >= capacity_ || state_ != State::kOpen) return -EINVAL;
  uint32_t gen = gens_[id];
  auto same = [id, gen](const Op& op) { return op.id == id && op.gen == gen; };
  // Not flushed yet: this thread's own list.
  auto found = std::find_if(pending_.begin(), pending_.end(), same);
  bool dropped = found != pending_.end();
  if (dropped) pending_.erase(found);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!dropped) {
      // Handed to the submission thread, which has not taken it yet.
      auto waiting = std::find_if(to_submit_.begin(), to_submit_.end(), same);
      dropped = waiting != to_submit_.end();
      if (dropped) to_submit_.erase(waiting);
    }
    if (dropped) {
      // Delivered like an op the kernel refused (Deliver, through async_).
      failed_.push_back({id, kDropped});
      uv_async_send(&async_);
      return 1;
    }
    // The submission thread may hold it in the backlog it is working
    // through: it drops it there, or cancels it once submitted.
    if (!thread_waiting_) {
      cancels_.push_back({id, gen});
      has_cancels_.store(true, std::memory_order_release);
    }
  }
  // Never wait for the submission side (see Flush): if the thread holds it,
  // the thread cancels the op (above), or the op completes normally.
  std::unique_lock<std::mutex> lock(sq_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return -EBUSY;
  return engine_->Cancel(id, gen);
}

// The submission thread, before each chunk: drops the ops of the backlog
// from `next` on that were cancelled, and asks the engine to cancel the
// others (submitted already), with the submission side held.
void Ring::ApplyCancels(std::vector<Op>* backlog, size_t next) {
  std::vector<std::pair<uint32_t, uint32_t>> cancels;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancels.swap(cancels_);
    has_cancels_.store(false, std::memory_order_relaxed);
  }
  bool dropped = false;
  for (const auto& cancel : cancels) {
    auto same = [&cancel](const Op& op) { return op.id == cancel.first && op.gen == cancel.second; };
    auto found = std::find_if(backlog->begin() + static_cast<std::ptrdiff_t>(next), backlog->end(), same);
    if (found != backlog->end()) {
      backlog->erase(found);
      std::lock_guard<std::mutex> lock(mu_);
      failed_.push_back({cancel.first, kDropped});
      dropped = true;
    } else {
      std::lock_guard<std::mutex> lock(sq_mu_);
      engine_->Cancel(cancel.first, cancel.second);
    }
  }
  if (dropped) uv_async_send(&async_);
}

void Ring::Flush(unsigned inline_max) {
  if (pending_.empty()) return;
  if (!CheckCredentials()) {
    // Never hand the kernel an op it would run with rights the process gave up.
    std::lock_guard<std::mutex> lock(mu_);
    for (const Op& op : pending_) failed_.push_back({op.id, -EPERM});
    pending_.clear();
    uv_async_send(&async_);
    return;
  }
  size_t first = 0;
  if (engine_->CanSubmitInline() &&
      static_cast<size_t>(in_kernel_.load(std::memory_order_relaxed)) + pending_.size() <=
          inline_max) {
    std::vector<Completion> failed;
    int count = static_cast<int>(pending_.size());
    int taken = 0;
    // Never wait for the submission side: the submission thread may hold it
    // across a call that blocks (io_submit of a write, a fallocate). Then
    // these ops go to that thread too.
    std::unique_lock<std::mutex> lock(sq_mu_, std::try_to_lock);
    if (lock.owns_lock()) {
      // Counted before the kernel can complete them (see ThreadMain).
      unsigned depth = static_cast<unsigned>(in_kernel_.fetch_add(count) + count);
      taken = engine_->SubmitInline(pending_.data(), count, depth, &failed);
      lock.unlock();
      in_kernel_.fetch_sub(count - taken + static_cast<int>(failed.size()));
    }
    submitted_inline_ += static_cast<uint64_t>(taken);
    first = static_cast<size_t>(taken);
    // Ops done here announce themselves through no descriptor: an active
    // idle handle makes the loop's next poll return at once, and delivers
    // them (a wake-up through the kernel would cost a system call or two).
    if (engine_->HasReadyResults()) uv_idle_start(&ready_, OnReady);
    HandOverRetries();
    if (!failed.empty()) {
      // Settled on the next turn of the loop, never from inside this call.
      std::lock_guard<std::mutex> lock(mu_);
      failed_.insert(failed_.end(), failed.begin(), failed.end());
      uv_async_send(&async_);
    }
  }
  if (first < pending_.size()) {
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      to_submit_.insert(to_submit_.end(), pending_.begin() + first, pending_.end());
      wake = thread_waiting_;
    }
    if (wake) {
      wakeups_++;
      work_cv_.notify_one();
    }
  }
  pending_.clear();
}

void Ring::HandOverRetries() {
  engine_->TakeRetries(&retries_);
  if (retries_.empty()) return;
  // Counted again by the submission thread when it submits them.
  in_kernel_.fetch_sub(static_cast<int>(retries_.size()));
  resubmitted_ += retries_.size();
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    to_submit_.insert(to_submit_.end(), retries_.begin(), retries_.end());
    wake = thread_waiting_;
  }
  retries_.clear();
  if (wake) {
    wakeups_++;
    work_cv_.notify_one();
  }
}

void Ring::ThreadMain() {
  pthread_setname_np(pthread_self(), "odirect-ring");  // as seen in top -H, gdb, /proc/PID/task
  std::vector<Op> backlog;
  std::vector<Completion> failed;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      thread_waiting_ = true;
      work_cv_.wait(lock, [this] { return !to_submit_.empty() || stopping_; });
      thread_waiting_ = false;
      if (stopping_) return;  // what is not yet submitted is dropped
      backlog.swap(to_submit_);
    }
    // Submit in small chunks, so the kernel starts on the first ops while
    // the thread prepares the rest.
    size_t next = 0;
    while (next < backlog.size()) {
      if (has_cancels_.load(std::memory_order_acquire)) {
        ApplyCancels(&backlog, next);
        if (next >= backlog.size()) break;
      }
      int chunk = static_cast<int>(std::min<size_t>(submit_batch_, backlog.size() - next));
      int taken;
      // Counted before submitting: the JS thread may reap (and subtract) an
      // op before Submit() returns here, and a count that dipped below zero
      // would make the JS thread's inline test pass by wrapping around.
      in_kernel_.fetch_add(chunk);
      {
        std::lock_guard<std::mutex> lock(sq_mu_);
        taken = engine_->Submit(&backlog[next], chunk, &failed);
      }
      in_kernel_.fetch_sub(chunk - taken + static_cast<int>(failed.size()));
      next += static_cast<size_t>(taken);
      if (!failed.empty()) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          failed_.insert(failed_.end(), failed.begin(), failed.end());
        }
        uv_async_send(&async_);
        failed.clear();
      }
      if (taken == 0) {
        // The kernel's queue is full for now (an EAGAIN from io_submit, or a
        // full SQ): the JS thread is reaping; look again shortly, as fio
        // does on a stall.
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (stopping_) return;
        }
        timespec pause = {0, 100 * 1000};
        nanosleep(&pause, nullptr);
      }
    }
    backlog.clear();
  }
}

void Ring::OnPoll(uv_poll_t* handle, int, int) { static_cast<Ring*>(handle->data)->Deliver(); }

void Ring::OnAsync(uv_async_t* handle) { static_cast<Ring*>(handle->data)->Deliver(); }

void Ring::OnReady(uv_idle_t* handle) {
  uv_idle_stop(handle);
  static_cast<Ring*>(handle->data)->Deliver();
}

bool Ring::CallJs(size_t count) {
  in_flight_ -= static_cast<unsigned>(count);
  napi_value callback, recv, argv[1], result;
  napi_get_reference_value(env_, on_complete_, &callback);
  napi_get_global(env_, &recv);  // napi_make_callback needs an object receiver
  napi_create_uint32(env_, static_cast<uint32_t>(count), &argv[0]);
  napi_status status = napi_make_callback(env_, async_context_, recv, callback, 1, argv, &result);
  // Idle once the callback has queued nothing more. Looked at after the
  // call, not before: at queue depth 1 the callback queues the next op, and
  // the handle and the reference stay as they are instead of being dropped
  // and taken again for every op.
  if (in_flight_ == 0) SetActive(false);
  if (status == napi_pending_exception) {
    // The JS completion handler threw: report it as Node reports any
    // exception from a callback ('uncaughtException'), then go on. A worker
    // being terminated fails the call too; Node then refuses the report (it
    // runs no more JavaScript there), and delivery stops: the environment is
    // going away.
    napi_value error;
    if (napi_get_and_clear_last_exception(env_, &error) != napi_ok) return false;
    return napi_fatal_exception(env_, error) == napi_ok;
  }
  return status == napi_ok;  // false: the environment is going away
}

void Ring::Deliver() {
  if (state_ != State::kOpen) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) {
    StopWatching();
    return;
  }
  // Ops the submission thread could not submit.
  std::vector<Completion> failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    failed.swap(failed_);
  }
  uint64_t now = failed.empty() ? 0 : NowNs();
  bool gone = false;  // JavaScript can no longer be called: the environment is going away
  for (size_t at = 0; at < failed.size() && state_ == State::kOpen && !gone;) {
    size_t count = std::min<size_t>(capacity_, failed.size() - at);
    for (size_t i = 0; i < count; i++) {
      RecordLatency(failed[at + i].id, now);
      results_[2 * i] = static_cast<int32_t>(failed[at + i].id);
      results_[2 * i + 1] = failed[at + i].result;
      Unpin(failed[at + i].id);
    }
    at += count;
    batches_++;
    gone = !CallJs(count);
  }
  // What the kernel has finished. A few passes at most, then back to the
  // loop: completions that land meanwhile, or are left, make the descriptor
  // readable again.
  //
  // The first pass hands JS at most kFirstBatch completions. At depth the
  // virtio disk completes the whole queue at once, and sits idle until a new
  // read reaches it: settling a small batch first lets the reads its callers
  // re-issue reach the kernel before the rest of the burst is settled (and
  // JS hands the first op queued after a batch over at once, in
  // lib/ring.ts). docs/benchmarks.md has the measurements.
  //
  // An eventfd is reset before every look but the first: the first is
  // always followed by another in the normal course, and a completion that
  // lands after a reset makes the descriptor readable again. One read per
  // wake-up is saved (at queue depth 1, one system call per op). io_uring's
  // descriptor needs no reset at all.
  const int all = static_cast<int>(reaped_.size());
  bool reset = false;
  for (int pass = 0; pass < 5 && state_ == State::kOpen && !gone; pass++) {
    if (pass > 0) {
      ResetCompletionFd();
      reset = true;
    }
    int count = engine_->Reap(reaped_.data(), pass == 0 ? std::min(kFirstBatch, all) : all, false);
    HandOverRetries();
    if (count < 0) break;
    // Nothing for JS from the short first pass does not mean nothing is left:
    // the aio engine's first events may all have gone back to be retried.
    if (count == 0) {
      if (pass == 0) continue;
      break;
    }
    in_kernel_.fetch_sub(count);
    now = NowNs();
    for (int i = 0; i < count; i++) {
      RecordLatency(reaped_[i].id, now);
      results_[2 * i] = static_cast<int32_t>(reaped_[i].id);
      results_[2 * i + 1] = reaped_[i].result;
      Unpin(reaped_[i].id);
    }
    batches_++;
    gone = !CallJs(static_cast<size_t>(count));
  }
  // Left early (an error, the ring closing): reset anyway, or the loop would
  // keep calling Deliver for a descriptor nobody reads.
  if (!reset && engine_) ResetCompletionFd();
  // Results done in the caller that this delivery took need no turn of their
  // own; any left (or queued by a callback after the last look) get one.
  if (state_ == State::kOpen && !gone) {
    if (engine_->HasReadyResults()) uv_idle_start(&ready_, OnReady);
    else uv_idle_stop(&ready_);
  }
  // With JavaScript gone, a descriptor readable while completions wait
  // (io_uring's) would call Deliver in a loop until the ring shuts down.
  if (gone) StopWatching();
  napi_close_handle_scope(env_, scope);
}

void Ring::StopWatching() {
  if (state_ != State::kOpen) return;  // Shutdown() stopped them
  if (handles_open_ > 0) uv_poll_stop(&poll_);
  if (handles_open_ > 2) uv_idle_stop(&ready_);
}

void Ring::ResetCompletionFd() {
  if (!engine_->CompletionFdNeedsReset()) return;
  uint64_t value;
  ssize_t ignored = read(engine_->CompletionFd(), &value, sizeof(value));  // EAGAIN when already reset
  (void)ignored;
}

void Ring::Unpin(uint32_t id) {
  std::vector<AlignedBlock*>& blocks = pins_[id];
  for (AlignedBlock* block : blocks) {
    if (block->pins == 1 && block->retired_owner == serial_) {
      // The last op that could name the retired slot is done with it.
      if (engine_) engine_->UnregisterBuffer(block->retired_index);
      block->retired_owner = 0;
      block->retired_index = -1;
    }
    BlockRegistry::Unpin(block);
  }
  blocks.clear();
  stores_[id].clear();
}

void Ring::Shutdown() {
  if (state_ != State::kOpen) return;
  state_ = State::kClosing;
  // Idle for good: the callback's reference goes weak (a ring closed from its
  // own completion callback is still active here, and CallJs would find it
  // already shut down), and the ring no longer counts in BusyThreads.
  SetActive(false);
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    work_cv_.notify_one();
    thread_.join();
  }
  // Wait for what is still in the kernel, so that no memory is freed while
  // the kernel may still write into it (JS closes a ring only once every op
  // has settled; this matters when an environment ends with I/O in flight).
  while (engine_ && in_kernel_.load() > 0) {
    int count = engine_->Reap(reaped_.data(), static_cast<int>(reaped_.size()), true);
    if (count < 0) break;
    in_kernel_.fetch_sub(count);
  }
  // libuv must stop watching the completion descriptor before it is closed.
  if (handles_open_ > 0) uv_poll_stop(&poll_);
  if (handles_open_ > 2) uv_idle_stop(&ready_);
  engine_.reset();
  pending_.clear();
  // Nothing is in the kernel any more: what in-flight ops kept alive may go.
  for (uint32_t id = 0; id < capacity_; id++) Unpin(id);
  if (handles_open_ == 0) {  // only when Create failed before any handle opened
    state_ = State::kClosed;
    if (owner_gone_) delete this;
    return;
  }
  // handles_open_ counts poll_ (opened first), async_ and ready_.
  const int open = handles_open_;
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnClosed);
  if (open > 1) uv_close(reinterpret_cast<uv_handle_t*>(&async_), OnClosed);
  if (open > 2) uv_close(reinterpret_cast<uv_handle_t*>(&ready_), OnClosed);
}

void Ring::OnClosed(uv_handle_t* handle) {
  Ring* ring = static_cast<Ring*>(handle->data);
  if (--ring->handles_open_ > 0) return;
  ring->state_ = State::kClosed;
  if (ring->cleanup_hook_ != nullptr) {
    napi_remove_async_cleanup_hook(ring->cleanup_hook_);
    ring->cleanup_hook_ = nullptr;
  }
  if (ring->owner_gone_) delete ring;
}

void Ring::OnEnvCleanup(napi_async_cleanup_hook_handle, void* arg) {
  // The environment (main thread or worker) is ending. OnClosed removes the
  // hook, which lets teardown go on.
  static_cast<Ring*>(arg)->Shutdown();
}

void Ring::ReleaseOwner() {
  owner_gone_ = true;
  if (state_ == State::kOpen) {
    Shutdown();
  } else if (state_ == State::kClosed) {
    delete this;
  }
}

}  // namespace odirect
