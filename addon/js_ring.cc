// NativeRing: one Ring (ring.h) as JavaScript holds it, and the hot path of
// an op into it (queue). One instance per new Ring() in lib/ring.ts.
#include <errno.h>
#include <limits.h>
#include <sys/uio.h>

#include <algorithm>
#include <string>
#include <vector>

#include "backing_store.h"
#include "engine.h"
#include "environment.h"
#include "exports.h"
#include "js_ring.h"
#include "memory.h"
#include "napi.h"
#include "ring.h"
#include "views.h"

namespace odirect {
namespace {

class RingWrap : public Napi::ObjectWrap<RingWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeRing",
                       {
                           InstanceMethod<&RingWrap::JsClose>("close"),
                           InstanceMethod<&RingWrap::JsCounters>("counters"),
                           InstanceMethod<&RingWrap::JsRegisterBuffer>("registerBuffer"),
                           InstanceMethod<&RingWrap::JsUnregisterBuffer>("unregisterBuffer"),
                           InstanceMethod<&RingWrap::JsRegisterFile>("registerFile"),
                           InstanceMethod<&RingWrap::JsCancel>("cancel"),
                           InstanceMethod<&RingWrap::JsLatency>("latency"),
                           InstanceMethod<&RingWrap::JsCredentialsChanged>("credentialsChanged"),
                           InstanceMethod<&RingWrap::JsUnregisterFile>("unregisterFile"),
                       });
  }

  // new NativeRing(engine, entries, submitBatch, threads, onComplete, sqpollIdleMs)
  // Sets this.error (-errno, 0 on success), this.engine, this.features,
  // this.capacity and this.results (Int32Array of 2 * capacity).
  explicit RingWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RingWrap>(info) {
    Napi::Env env = info.Env();
    std::string engine_name = info[0].As<Napi::String>().Utf8Value();
    EngineOptions options;
    options.entries = info[1].As<Napi::Number>().Uint32Value();
    unsigned submit_batch = info[2].As<Napi::Number>().Uint32Value();
    options.threads = info[3].As<Napi::Number>().Uint32Value();
    Napi::Function on_complete = info[4].As<Napi::Function>();
    if (info.Length() > 5) options.sqpoll_idle_ms = info[5].As<Napi::Number>().Uint32Value();
    Napi::Object self = info.This().As<Napi::Object>();
    registry_ = &Environment::For(env)->blocks;

    int err = -EINVAL;
    std::unique_ptr<Engine> engine;
    if (engine_name == "io_uring") {
      engine = CreateUringEngine(options, &err);
    } else if (engine_name == "aio") {
      engine = CreateAioEngine(options, &err);
    } else if (engine_name == "threadpool") {
      engine = CreateThreadpoolEngine(options, &err);
    }
    if (engine) {
      std::string features = engine->Features();
      Napi::ArrayBuffer results = Napi::ArrayBuffer::New(env, 2 * options.entries * sizeof(int32_t));
      ring_ = Ring::Create(env, std::move(engine), options.entries, submit_batch, on_complete,
                           static_cast<int32_t*>(results.Data()), results, &err);
      if (ring_ != nullptr) {
        self.Set("results", Napi::Int32Array::New(env, 2 * options.entries, results, 0));
        self.Set("engine", Napi::String::New(env, ring_->engine_name()));
        self.Set("features", Napi::String::New(env, features));
        self.Set("capacity", Napi::Number::New(env, ring_->capacity()));
        Napi::ArrayBuffer args = Napi::ArrayBuffer::New(env, kArgCount * sizeof(double));
        args_ = static_cast<double*>(args.Data());
        args_[kArgInlineMax] = 4294967295.0;  // no limit until JS says otherwise
        args_ref_ = Napi::Persistent(args);
        self.Set("args", Napi::Float64Array::New(env, kArgCount, args, 0));
        // The two calls of the hot path are plain N-API functions (see Queue).
        napi_value queue, flush;
        NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, "queue", NAPI_AUTO_LENGTH, Queue, this, &queue));
        NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, "flush", NAPI_AUTO_LENGTH, Flush, this, &flush));
        Napi::Function(env, queue).Set("owner", self);
        Napi::Function(env, flush).Set("owner", self);
        self.Set("queue", queue);
        self.Set("flush", flush);
      }
    }
    self.Set("error", Napi::Number::New(env, ring_ != nullptr ? 0 : err));
  }

  ~RingWrap() override {
    if (ring_ != nullptr) ring_->ReleaseOwner();
  }

 private:
  // queue(buffer, position) -> 0 | -errno | 1 (kMisalignedMemory), the rest
  // of the op in this.args; with args[kArgFlush] 1, the op and those queued
  // before it are handed over (Ring::Flush) once it is queued, and not when
  // it is refused. Every op goes this way: `buffer` is a view for
  // a read or write, an array of views for a vectored one (the whole of
  // each view is used), null for the others. The hottest call of the
  // library, so it is a plain N-API function rather than an ObjectWrap
  // method: its data is this RingWrap (no napi_unwrap, which looks a private
  // symbol up on the object), and its arguments stay on the stack. The
  // function holds its wrapper object (the "owner" property), so the
  // RingWrap outlives every call.
  static napi_value Queue(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    void* data;
    napi_value result;
    if (napi_get_cb_info(env, info, &argc, argv, nullptr, &data) != napi_ok) return nullptr;
    napi_create_int32(env, static_cast<RingWrap*>(data)->QueueOne(env, argv[0], argv[1]), &result);
    return result;
  }

  int32_t QueueOne(napi_env env, napi_value buffer, napi_value position) {
    if (ring_ == nullptr || !ring_->open()) return -EBADF;
    if (ring_->credentials_changed()) return -EPERM;
    const double* args = args_;
    const double code = args[kArgCode];
    const double id = args[kArgId];
    const double length = args[kArgLength];
    // JS wrote these; checked anyway, as they index arrays here.
    if (!(code >= 0 && code < kOpCount) || !(id >= 0 && id < ring_->capacity()) || !(length >= 0)) return -EINVAL;
    Op op;
    op.code = static_cast<uint8_t>(code);
    op.id = static_cast<uint32_t>(id);
    op.fd = static_cast<int>(args[kArgFd]);
    op.rw_flags = static_cast<int>(args[kArgRwFlags]);
    // A slot registerFile() returned for op.fd (the kernel checks the range).
    op.file_index = args[kArgFileIndex] >= 0 ? static_cast<int>(args[kArgFileIndex]) : -1;
    op.sync_file = args[kArgSyncFile] != 0;
    op.addr = nullptr;
    op.len = 0;
    op.buf_index = -1;
    op.extent = 0;
    if (!PositionValue(env, position, &op.offset)) return -EINVAL;
    const uint32_t memory_alignment = static_cast<uint32_t>(args[kArgMemoryAlignment]);
    int32_t status = 0;
    switch (op.code) {
      case kOpRead:
      case kOpWrite:
        status = AttachView(env, buffer, length, memory_alignment, &op);
        break;
      case kOpReadv:
      case kOpWritev:
        status = AttachViews(env, buffer, memory_alignment, &op);
        break;
      case kOpFallocate:
        op.extent = static_cast<uint64_t>(length);
        break;
      default:  // fsync, fdatasync: no memory
        break;
    }
    if (status != 0) return status;
    ring_->Queue(op);
    if (args[kArgFlush] != 0) ring_->Flush(InlineMax());
    return 0;
  }

  // flush(): hands every op queued so far to the engine (Ring::Flush). A
  // plain N-API function too: at queue depth 1 an ObjectWrap method's
  // napi_unwrap was a fifth of the user-space instructions of a read.
  static napi_value Flush(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    void* data;
    if (napi_get_cb_info(env, info, &argc, nullptr, nullptr, &data) != napi_ok) return nullptr;
    RingWrap* self = static_cast<RingWrap*>(data);
    if (self->ring_ != nullptr && self->ring_->open()) self->ring_->Flush(self->InlineMax());
    return nullptr;
  }

  unsigned InlineMax() const {
    const double inline_max = args_[kArgInlineMax];
    return inline_max >= 0 && inline_max < 4294967295.0 ? static_cast<unsigned>(inline_max) : 0xffffffffu;
  }

  // Points `op` at the first `length` bytes of `view`, and keeps its memory
  // alive until the op completes. 0, -errno or kMisalignedMemory.
  int32_t AttachView(napi_env env, napi_value view, double length, uint32_t memory_alignment, Op* op) {
    void* data = nullptr;
    size_t byte_length = 0;
    size_t byte_offset = 0;
    if (!ViewBytes(env, view, &data, &byte_length, &byte_offset)) return -EINVAL;
    // Never let the kernel touch memory past the view it was given.
    if (length > static_cast<double>(byte_length)) return -ERANGE;
    if (length > 0 && data == nullptr) return -EFAULT;
    if (memory_alignment > 1 && reinterpret_cast<uintptr_t>(data) % memory_alignment != 0) return kMisalignedMemory;
    op->addr = data;
    op->len = static_cast<uint32_t>(length);
    AlignedBlock* block = BlockOf(data, byte_offset);
    ring_->Pin(op->id, block);
    if (block == nullptr && length > 0) ring_->Hold(op->id, BackingStoreOf(view));
    // Not for an untorn write: the kernel takes RWF_ATOMIC only on user
    // memory (generic_atomic_write_valid wants an ITER_UBUF), and answers
    // EINVAL to WRITE_FIXED, whose pages come as a bvec.
    if (block != nullptr && block->fixed_owner == ring_->serial() && (op->rw_flags & kRwfAtomic) == 0) {
      op->buf_index = block->fixed_index;
      ring_->CountFixed();
    }
    return 0;
  }

  // Points `op` at iovecs over the whole of each view of the array `views`,
  // and keeps their memory alive until the op completes.
  int32_t AttachViews(napi_env env, napi_value views, uint32_t memory_alignment, Op* op) {
    uint32_t count = 0;
    if (napi_get_array_length(env, views, &count) != napi_ok || count == 0 || count > IOV_MAX) return -EINVAL;
    std::vector<iovec>& iovecs = ring_->IovecsFor(op->id);
    iovecs.resize(count);
    std::vector<AlignedBlock*> blocks(count);
    std::vector<napi_value> elements(count);
    for (uint32_t i = 0; i < count; i++) {
      napi_value element;
      if (napi_get_element(env, views, i, &element) != napi_ok) return -EINVAL;
      void* data = nullptr;
      size_t byte_length = 0;
      size_t byte_offset = 0;
      if (!ViewBytes(env, element, &data, &byte_length, &byte_offset)) return -EINVAL;
      if (byte_length > 0 && data == nullptr) return -EFAULT;
      if (memory_alignment > 1 && reinterpret_cast<uintptr_t>(data) % memory_alignment != 0) return kMisalignedMemory;
      iovecs[i].iov_base = data;
      iovecs[i].iov_len = byte_length;
      blocks[i] = BlockOf(data, byte_offset);
      elements[i] = element;
    }
    // Pinned only once every element is known good, so no pin outlives a refusal.
    for (uint32_t i = 0; i < count; i++) {
      ring_->Pin(op->id, blocks[i]);
      if (blocks[i] == nullptr && iovecs[i].iov_len > 0) ring_->Hold(op->id, BackingStoreOf(elements[i]));
    }
    op->addr = iovecs.data();
    op->len = count;
    return 0;
  }

  // close(): JS calls it once every op has settled.
  Napi::Value JsClose(const Napi::CallbackInfo& info) {
    if (ring_ != nullptr) ring_->Shutdown();
    return info.Env().Undefined();
  }

  // registerBuffer(buffer) -> index | -errno: registers the allocAligned block
  // that `buffer` spans from its first byte (a BufferPool's memory).
  Napi::Value JsRegisterBuffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ring_ == nullptr || !ring_->open()) return Napi::Number::New(env, -EBADF);
    void* data = nullptr;
    size_t byte_length = 0;
    size_t byte_offset = 0;
    if (!ViewBytes(env, info[0], &data, &byte_length, &byte_offset)) return Napi::Number::New(env, -EINVAL);
    AlignedBlock* block = BlockOf(data, byte_offset);
    if (block == nullptr || byte_offset != 0) return Napi::Number::New(env, -EINVAL);
    if (block->fixed_owner != 0) return Napi::Number::New(env, -EBUSY);
    int index = ring_->engine()->RegisterBuffer(block->data, block->size);
    if (index >= 0) {
      block->fixed_owner = ring_->serial();
      block->fixed_index = index;
    }
    return Napi::Number::New(env, index);
  }

  // unregisterBuffer(index, buffer | undefined) -> 0 | -errno. Without the
  // buffer (it was collected), only the kernel's slot is emptied.
  Napi::Value JsUnregisterBuffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ring_ == nullptr || !ring_->open()) return Napi::Number::New(env, -EBADF);
    int index = info[0].As<Napi::Number>().Int32Value();
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      void* data = nullptr;
      size_t byte_length = 0;
      size_t byte_offset = 0;
      if (ViewBytes(env, info[1], &data, &byte_length, &byte_offset)) {
        AlignedBlock* block = BlockOf(data, byte_offset);
        if (block != nullptr && block->fixed_owner == ring_->serial() && block->fixed_index == index) {
          // New ops on it are plain reads and writes from now on.
          block->fixed_owner = 0;
          block->fixed_index = -1;
          if (block->pins > 0) {
            // Ops already queued may name the slot, and one not yet
            // submitted would find it empty (EFAULT): the slot is emptied
            // when the last of them has been delivered (Ring::Unpin).
            block->retired_owner = ring_->serial();
            block->retired_index = index;
            return Napi::Number::New(env, 0);
          }
        }
      }
    }
    return Napi::Number::New(env, ring_->engine()->UnregisterBuffer(index));
  }

  // cancel(id) -> 1 (dropped before the kernel) | 0 (asked of the kernel) | -errno
  Napi::Value JsCancel(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ring_ == nullptr || !ring_->open()) return Napi::Number::New(env, -EBADF);
    return Napi::Number::New(env, ring_->Cancel(info[0].As<Napi::Number>().Uint32Value()));
  }

  // credentialsChanged() -> boolean: the ring refuses ops (see Ring::credentials_changed)
  Napi::Value JsCredentialsChanged(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), ring_ != nullptr && ring_->credentials_changed());
  }

  // latency() -> Float64Array: the histogram's bucket counts, then max and sum (ns)
  Napi::Value JsLatency(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t size = Ring::kLatencyBuckets + 2;
    Napi::Float64Array out = Napi::Float64Array::New(env, size);
    if (ring_ != nullptr) std::copy(ring_->latency().begin(), ring_->latency().end(), out.Data());
    return out;
  }

  // registerFile(fd) -> slot | -errno
  Napi::Value JsRegisterFile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ring_ == nullptr || !ring_->open()) return Napi::Number::New(env, -EBADF);
    return Napi::Number::New(env, ring_->engine()->RegisterFile(info[0].As<Napi::Number>().Int32Value()));
  }

  // unregisterFile(slot) -> 0 | -errno
  Napi::Value JsUnregisterFile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ring_ == nullptr || !ring_->open()) return Napi::Number::New(env, -EBADF);
    return Napi::Number::New(env, ring_->engine()->UnregisterFile(info[0].As<Napi::Number>().Int32Value()));
  }

  // counters() -> [submittedInline, wakeups, batches, fixedOps, resubmitted]
  Napi::Value JsCounters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env, 5);
    if (ring_ != nullptr) {
      out.Set(0u, Napi::Number::New(env, static_cast<double>(ring_->submitted_inline())));
      out.Set(1u, Napi::Number::New(env, static_cast<double>(ring_->wakeups())));
      out.Set(2u, Napi::Number::New(env, static_cast<double>(ring_->batches())));
      out.Set(3u, Napi::Number::New(env, static_cast<double>(ring_->fixed_ops())));
      out.Set(4u, Napi::Number::New(env, static_cast<double>(ring_->resubmitted())));
    }
    return out;
  }

  // The allocAligned block a view lies in, or nullptr for memory that is not ours.
  AlignedBlock* BlockOf(void* data, size_t byte_offset) const {
    if (data == nullptr) return nullptr;
    return registry_->Find(static_cast<char*>(data) - byte_offset);
  }

  Ring* ring_ = nullptr;
  BlockRegistry* registry_ = nullptr;
  double* args_ = nullptr;  // this.args: the next op's fields (QueueArg, js_ring.h)
  Napi::Reference<Napi::ArrayBuffer> args_ref_;
};

// credentialsMayHaveChanged(): lib/ calls it after process.setuid() and the like.
Napi::Value JsCredentialsMayHaveChanged(const Napi::CallbackInfo& info) {
  Ring::CredentialsMayHaveChanged();
  return info.Env().Undefined();
}

}  // namespace

void ExportRing(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeRing", RingWrap::Define(env));
  exports.Set("credentialsMayHaveChanged",
              Napi::Function::New<JsCredentialsMayHaveChanged>(env, "credentialsMayHaveChanged"));
}

}  // namespace odirect
