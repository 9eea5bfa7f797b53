#include "ring.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cstring>

namespace odirect {

Ring::Ring(napi_env env, std::unique_ptr<Engine> engine, unsigned capacity, unsigned submit_batch)
    : env_(env),
      engine_(std::move(engine)),
      capacity_(capacity),
      submit_batch_(submit_batch == 0 ? 1 : submit_batch),
      iovecs_(capacity),
      pins_(capacity) {
  pending_.reserve(capacity);
  delivering_.reserve(capacity);
  to_submit_.reserve(capacity);
  done_.reserve(capacity);
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
  ring->results_ = results;
  // Weak while idle, strong while ops are in flight (Queue/Deliver): an idle
  // ring that JS no longer reaches can be collected, and its finalizer
  // shuts it down. The JS Ring holds the callback itself meanwhile.
  napi_create_reference(env, on_complete, 0, &ring->on_complete_);
  napi_create_reference(env, results_buffer, 1, &ring->results_ref_);
  napi_value resource_name;
  napi_create_string_utf8(env, "odirect:ring", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, nullptr, resource_name, &ring->async_context_);
  int ret = uv_async_init(loop, &ring->async_, OnAsync);
  if (ret != 0) {
    *err = ret;
    delete ring;
    return nullptr;
  }
  ring->async_.data = ring;
  // Held only while ops are in flight (Queue refs, Deliver unrefs): an idle
  // process exits.
  uv_unref(reinterpret_cast<uv_handle_t*>(&ring->async_));
  napi_add_async_cleanup_hook(env, OnEnvCleanup, ring, &ring->cleanup_hook_);
  ring->thread_ = std::thread(&Ring::ThreadMain, ring);
  *err = 0;
  return ring;
}

void Ring::Queue(const Op& op) {
  if (in_flight_++ == 0) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&async_));
    napi_reference_ref(env_, on_complete_, nullptr);
  }
  pending_.push_back(op);
}

void Ring::Flush(unsigned inline_max) {
  if (pending_.empty()) return;
  size_t first = 0;
  if (engine_->CanSubmitInline() &&
      static_cast<size_t>(in_kernel_.load(std::memory_order_relaxed)) + pending_.size() <=
          inline_max) {
    std::vector<Completion> failed;
    int taken;
    {
      std::lock_guard<std::mutex> lock(sq_mu_);
      taken = engine_->Submit(pending_.data(), static_cast<int>(pending_.size()), &failed);
    }
    if (taken > 0) {
      in_kernel_.fetch_add(taken - static_cast<int>(failed.size()));
      submitted_inline_ += taken;
      first = static_cast<size_t>(taken);
    }
    if (!failed.empty()) Publish(failed.data(), failed.size());
  }
  if (first < pending_.size()) {
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      to_submit_.insert(to_submit_.end(), pending_.begin() + first, pending_.end());
      wake = sleeping_;
      sleeping_ = false;
    }
    if (wake) {
      wakeups_++;
      engine_->Wake();
    }
  }
  pending_.clear();
}

void Ring::ThreadMain() {
  pthread_setname_np(pthread_self(), "odirect-ring");  // as seen in top -H, gdb, /proc/PID/task
  std::vector<Op> backlog;
  size_t next = 0;
  std::vector<Completion> reaped(2 * capacity_ + 8);
  const int reap_max = static_cast<int>(reaped.size());
  std::vector<Completion> failed;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (next == backlog.size()) {
        backlog.clear();
        next = 0;
      }
      backlog.insert(backlog.end(), to_submit_.begin(), to_submit_.end());
      to_submit_.clear();
      if (stopping_) next = backlog.size();  // shutting down: drop what is not yet submitted
    }
    // Submit in small chunks and hand back what completes in between, so
    // that kernel submission overlaps with JavaScript on the other core.
    while (next < backlog.size()) {
      int chunk = static_cast<int>(std::min<size_t>(submit_batch_, backlog.size() - next));
      int taken;
      {
        std::lock_guard<std::mutex> lock(sq_mu_);
        taken = engine_->Submit(&backlog[next], chunk, &failed);
      }
      in_kernel_.fetch_add(taken - static_cast<int>(failed.size()));
      next += static_cast<size_t>(taken);
      if (!failed.empty()) {
        Publish(failed.data(), failed.size());
        failed.clear();
      }
      // The queue is full when nothing was taken: wait for a completion.
      bool wait = taken == 0 && in_kernel_.load() > 0;
      if (taken == 0 && !wait) {
        // Nothing in the kernel and still refused (a transient EAGAIN from
        // the kernel's own resources): back off briefly, as fio does.
        timespec pause = {0, 1000000};
        nanosleep(&pause, nullptr);
      }
      int count = engine_->Reap(reaped.data(), reap_max, wait);
      if (count > 0) {
        in_kernel_.fetch_sub(count);
        Publish(reaped.data(), static_cast<size_t>(count));
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!to_submit_.empty()) continue;
      if (stopping_ && in_kernel_.load() == 0) break;
      sleeping_ = true;
    }
    {
      std::lock_guard<std::mutex> lock(sq_mu_);
      engine_->Submit(nullptr, 0, &failed);  // arms the engine's wake-up
    }
    int count = engine_->Reap(reaped.data(), reap_max, true);
    {
      std::lock_guard<std::mutex> lock(mu_);
      sleeping_ = false;
    }
    if (count > 0) {
      in_kernel_.fetch_sub(count);
      Publish(reaped.data(), static_cast<size_t>(count));
    }
  }
}

void Ring::Publish(const Completion* completions, size_t count) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(mu_);
    was_empty = done_.empty();
    done_.insert(done_.end(), completions, completions + count);
  }
  // One wake-up of the JS thread per batch; uv_async_send coalesces further.
  if (was_empty) uv_async_send(&async_);
}

void Ring::OnAsync(uv_async_t* handle) { static_cast<Ring*>(handle->data)->Deliver(); }

void Ring::Deliver() {
  if (state_ != State::kOpen) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    delivering_.swap(done_);
  }
  if (delivering_.empty()) return;
  batches_++;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  napi_value callback, recv;
  napi_get_reference_value(env_, on_complete_, &callback);
  napi_get_global(env_, &recv);  // napi_make_callback needs an object receiver
  size_t at = 0;
  while (at < delivering_.size()) {
    size_t count = std::min<size_t>(capacity_, delivering_.size() - at);
    for (size_t i = 0; i < count; i++) {
      uint32_t id = delivering_[at + i].id;
      results_[2 * i] = static_cast<int32_t>(id);
      results_[2 * i + 1] = delivering_[at + i].result;
      Unpin(id);
    }
    at += count;
    in_flight_ -= static_cast<unsigned>(count);
    if (in_flight_ == 0) {
      uv_unref(reinterpret_cast<uv_handle_t*>(&async_));
      napi_reference_unref(env_, on_complete_, nullptr);
    }
    napi_value argv[1];
    napi_create_uint32(env_, static_cast<uint32_t>(count), &argv[0]);
    napi_value result;
    napi_status status =
        napi_make_callback(env_, async_context_, recv, callback, 1, argv, &result);
    if (status == napi_pending_exception) {
      // The JS completion handler threw: report it as Node reports any
      // exception from a callback ('uncaughtException'), then go on.
      napi_value error;
      napi_get_and_clear_last_exception(env_, &error);
      napi_fatal_exception(env_, error);
    } else if (status != napi_ok) {
      break;  // the environment is going away; JS can no longer run
    }
  }
  delivering_.clear();
  napi_close_handle_scope(env_, scope);
}

void Ring::Unpin(uint32_t id) {
  std::vector<AlignedBlock*>& blocks = pins_[id];
  for (AlignedBlock* block : blocks) BlockRegistry::Unpin(block);
  blocks.clear();
}

void Ring::Shutdown() {
  if (state_ != State::kOpen) return;
  state_ = State::kClosing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  engine_->Wake();
  // The thread leaves once nothing it submitted is still in the kernel, so no
  // memory is freed while the kernel may still write into it.
  thread_.join();
  engine_.reset();
  pending_.clear();
  // Nothing is in the kernel any more: what in-flight ops kept alive may go.
  for (uint32_t id = 0; id < capacity_; id++) Unpin(id);
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), OnClosed);
}

void Ring::OnClosed(uv_handle_t* handle) {
  Ring* ring = static_cast<Ring*>(handle->data);
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
