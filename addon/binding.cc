// The functions JavaScript calls. Every one is named Js*; arguments were
// checked in lib/ (types, ranges, alignment of offsets and lengths), so this
// file only re-checks what protects memory (a length within its buffer) and
// returns -errno for JS to turn into an error.
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#ifdef ODIRECT_HAVE_LIBURING
#include <liburing.h>
#endif

#include "engine.h"
#include "files.h"
#include "environment.h"
#include "memory.h"
#include "napi.h"
#include "ring.h"

namespace odirect {
namespace {

// A buffer address that is not a multiple of the memory alignment JS asked
// for: a positive code so JS can say which argument was wrong.
constexpr int32_t kMisalignedMemory = 1;

// The bytes of an ArrayBufferView: its own range, never the whole buffer.
bool ViewBytes(napi_env env, napi_value view, void** data, size_t* byte_length,
               size_t* byte_offset_out = nullptr) {
  napi_typedarray_type type;
  size_t length;
  napi_value arraybuffer;
  size_t byte_offset = 0;
  if (napi_get_typedarray_info(env, view, &type, &length, data, &arraybuffer, &byte_offset) ==
      napi_ok) {
    size_t element = 1;
    switch (type) {
      case napi_int16_array:
      case napi_uint16_array:
        element = 2;
        break;
      case napi_int32_array:
      case napi_uint32_array:
      case napi_float32_array:
        element = 4;
        break;
      case napi_float64_array:
      case napi_bigint64_array:
      case napi_biguint64_array:
        element = 8;
        break;
      default:
        break;
    }
    *byte_length = length * element;
    if (byte_offset_out != nullptr) *byte_offset_out = byte_offset;
    return true;
  }
  if (napi_get_dataview_info(env, view, byte_length, data, &arraybuffer, &byte_offset) ==
      napi_ok) {
    if (byte_offset_out != nullptr) *byte_offset_out = byte_offset;
    return true;
  }
  return false;
}

// The backing store of a view's ArrayBuffer (V8's own memory, not ours).
// N-API has no call for it; a napi_value is a v8::Local<v8::Value>, as
// Node's own N-API implementation converts it.
std::shared_ptr<v8::BackingStore> BackingStoreOf(napi_value view) {
  v8::Local<v8::Value> local;
  static_assert(sizeof(local) == sizeof(view), "napi_value is a v8::Local");
  memcpy(static_cast<void*>(&local), &view, sizeof(view));
  if (!local->IsArrayBufferView()) return nullptr;
  return local.As<v8::ArrayBufferView>()->Buffer()->GetBackingStore();
}

// A position: a number (JS checked it is a safe integer >= 0) or a bigint.
bool PositionValue(napi_env env, napi_value value, uint64_t* out) {
  double number;
  if (napi_get_value_double(env, value, &number) == napi_ok) {
    *out = static_cast<uint64_t>(number);
    return true;
  }
  int64_t big;
  bool lossless;
  if (napi_get_value_bigint_int64(env, value, &big, &lossless) == napi_ok && lossless &&
      big >= 0) {
    *out = static_cast<uint64_t>(big);
    return true;
  }
  return false;
}

class RingWrap : public Napi::ObjectWrap<RingWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeRing",
                       {
                           InstanceMethod<&RingWrap::JsQueueVector>("queueVector"),
                           InstanceMethod<&RingWrap::JsFlush>("flush"),
                           InstanceMethod<&RingWrap::JsClose>("close"),
                           InstanceMethod<&RingWrap::JsCounters>("counters"),
                           InstanceMethod<&RingWrap::JsRegisterBuffer>("registerBuffer"),
                           InstanceMethod<&RingWrap::JsUnregisterBuffer>("unregisterBuffer"),
                           InstanceMethod<&RingWrap::JsRegisterFile>("registerFile"),
                           InstanceMethod<&RingWrap::JsCancel>("cancel"),
                           InstanceMethod<&RingWrap::JsQueueFallocate>("queueFallocate"),
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
        Napi::ArrayBuffer args = Napi::ArrayBuffer::New(env, kArgCount * sizeof(int32_t));
        args_ = static_cast<int32_t*>(args.Data());
        args_ref_ = Napi::Persistent(args);
        self.Set("args", Napi::Int32Array::New(env, kArgCount, args, 0));
        napi_value queue;
        NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, "queue", NAPI_AUTO_LENGTH, Queue, this, &queue));
        Napi::Function(env, queue).Set("owner", self);
        self.Set("queue", queue);
      }
    }
    self.Set("error", Napi::Number::New(env, ring_ != nullptr ? 0 : err));
  }

  ~RingWrap() override {
    if (ring_ != nullptr) ring_->ReleaseOwner();
  }

 private:
  // The fields of the next op, written by JS into this.args before it calls
  // queue(): one call with two arguments per op, and no unwrap (see Queue).
  enum Arg { kArgCode, kArgFd, kArgLength, kArgId, kArgMemoryAlignment, kArgRwFlags, kArgFileIndex, kArgCount };

  // queue(buffer | null, position) -> 0 | -errno | 1 (kMisalignedMemory), the
  // rest of the op in this.args. The hottest call of the library, so it is a
  // plain N-API function rather than an ObjectWrap method: its data is this
  // RingWrap (no napi_unwrap, which looks a private symbol up on the object),
  // and its arguments stay on the stack. The function holds its wrapper
  // object (the "owner" property), so the RingWrap outlives every call.
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
    const int32_t* args = args_;
    Op op;
    op.code = static_cast<uint8_t>(args[kArgCode]);
    op.fd = args[kArgFd];
    op.addr = nullptr;
    op.len = 0;
    op.id = static_cast<uint32_t>(args[kArgId]);
    op.rw_flags = args[kArgRwFlags];
    op.buf_index = -1;
    // A slot registerFile() returned for op.fd (the kernel checks the range).
    op.file_index = args[kArgFileIndex] < 0 ? -1 : args[kArgFileIndex];
    op.extent = 0;
    if (args[kArgCode] < 0 || op.code >= kOpCount || op.id >= ring_->capacity()) return -EINVAL;
    if (!PositionValue(env, position, &op.offset)) return -EINVAL;
    if (op.code == kOpRead || op.code == kOpWrite) {
      void* data = nullptr;
      size_t byte_length = 0;
      size_t byte_offset = 0;
      if (!ViewBytes(env, buffer, &data, &byte_length, &byte_offset)) return -EINVAL;
      if (args[kArgLength] < 0) return -EINVAL;
      uint32_t length = static_cast<uint32_t>(args[kArgLength]);
      // Never let the kernel touch memory past the view it was given.
      if (length > byte_length) return -ERANGE;
      if (length > 0 && data == nullptr) return -EFAULT;
      uint32_t memory_alignment = static_cast<uint32_t>(args[kArgMemoryAlignment]);
      if (memory_alignment > 1 && reinterpret_cast<uintptr_t>(data) % memory_alignment != 0) {
        return kMisalignedMemory;
      }
      op.addr = data;
      op.len = length;
      AlignedBlock* block = BlockOf(data, byte_offset);
      ring_->Pin(op.id, block);
      if (block == nullptr && length > 0) ring_->Hold(op.id, BackingStoreOf(buffer));
      // Not for an untorn write: the kernel takes RWF_ATOMIC only on user
      // memory (generic_atomic_write_valid wants an ITER_UBUF), and answers
      // EINVAL to WRITE_FIXED, whose pages come as a bvec.
      if (block != nullptr && block->fixed_owner == ring_->serial() && (op.rw_flags & kRwfAtomic) == 0) {
        op.buf_index = block->fixed_index;
        ring_->CountFixed();
      }
    } else if (op.code != kOpFsync && op.code != kOpFdatasync) {
      return -EINVAL;
    }
    ring_->Queue(op);
    return 0;
  }

  // queueVector(code, fd, buffers[], position, id, memoryAlignment, rwFlags) -> 0 | -errno | 1
  // The whole of each view is used.
  Napi::Value JsQueueVector(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    if (ring_ == nullptr || !ring_->open()) return Napi::Number::New(env, -EBADF);
    Op op;
    op.code = static_cast<uint8_t>(info[0].As<Napi::Number>().Uint32Value());
    op.fd = info[1].As<Napi::Number>().Int32Value();
    op.id = info[4].As<Napi::Number>().Uint32Value();
    op.rw_flags = info[6].As<Napi::Number>().Int32Value();
    op.buf_index = -1;
    op.file_index = -1;
    op.extent = 0;
    if ((op.code != kOpReadv && op.code != kOpWritev) || op.id >= ring_->capacity()) {
      return Napi::Number::New(env, -EINVAL);
    }
    if (!PositionValue(env, info[3], &op.offset)) return Napi::Number::New(env, -EINVAL);
    Napi::Array buffers = info[2].As<Napi::Array>();
    uint32_t count = buffers.Length();
    if (count == 0 || count > IOV_MAX) return Napi::Number::New(env, -EINVAL);
    uint32_t memory_alignment = info[5].As<Napi::Number>().Uint32Value();
    std::vector<iovec>& iovecs = ring_->IovecsFor(op.id);
    iovecs.resize(count);
    std::vector<AlignedBlock*> blocks(count);
    std::vector<napi_value> elements(count);
    for (uint32_t i = 0; i < count; i++) {
      napi_value element;
      if (napi_get_element(env, buffers, i, &element) != napi_ok) return Napi::Number::New(env, -EINVAL);
      void* data = nullptr;
      size_t byte_length = 0;
      size_t byte_offset = 0;
      if (!ViewBytes(env, element, &data, &byte_length, &byte_offset)) return Napi::Number::New(env, -EINVAL);
      if (byte_length > 0 && data == nullptr) return Napi::Number::New(env, -EFAULT);
      if (memory_alignment > 1 && reinterpret_cast<uintptr_t>(data) % memory_alignment != 0) {
        return Napi::Number::New(env, kMisalignedMemory);
      }
      iovecs[i].iov_base = data;
      iovecs[i].iov_len = byte_length;
      blocks[i] = BlockOf(data, byte_offset);
      elements[i] = element;
    }
    // Pinned only once every element is known good, so no pin outlives a refusal.
    for (uint32_t i = 0; i < count; i++) {
      ring_->Pin(op.id, blocks[i]);
      if (blocks[i] == nullptr && iovecs[i].iov_len > 0) ring_->Hold(op.id, BackingStoreOf(elements[i]));
    }
    op.addr = iovecs.data();
    op.len = count;
    ring_->Queue(op);
    return Napi::Number::New(env, 0);
  }

  // flush(inlineMax)
  Napi::Value JsFlush(const Napi::CallbackInfo& info) {
    if (ring_ != nullptr && ring_->open()) ring_->Flush(info[0].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
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

  // queueFallocate(fd, fileIndex, id, mode, offset, length) -> 0 | -errno
  Napi::Value JsQueueFallocate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ring_ == nullptr || !ring_->open()) return Napi::Number::New(env, -EBADF);
    Op op;
    op.code = kOpFallocate;
    op.fd = info[0].As<Napi::Number>().Int32Value();
    op.file_index = info[1].As<Napi::Number>().Int32Value();
    if (op.file_index < 0) op.file_index = -1;
    op.id = info[2].As<Napi::Number>().Uint32Value();
    op.rw_flags = info[3].As<Napi::Number>().Int32Value();
    op.addr = nullptr;
    op.len = 0;
    op.buf_index = -1;
    if (op.id >= ring_->capacity()) return Napi::Number::New(env, -EINVAL);
    uint64_t length;
    if (!PositionValue(env, info[4], &op.offset) || !PositionValue(env, info[5], &length)) {
      return Napi::Number::New(env, -EINVAL);
    }
    op.extent = length;
    ring_->Queue(op);
    return Napi::Number::New(env, 0);
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
  int32_t* args_ = nullptr;  // this.args: the next op's fields (Arg)
  Napi::Reference<Napi::ArrayBuffer> args_ref_;
};

// allocAligned(size, alignment) -> Buffer | -errno
// Zero-filled aligned memory (addon/memory.h) behind an external Buffer,
// freed by the Buffer's finalizer once no op in flight uses it. Never a copy:
// where the runtime forbids external buffers this returns -ENOTSUP and JS
// says so.
void FinalizeAligned(napi_env env, void*, void* hint) {
  AlignedBlock* block = static_cast<AlignedBlock*>(hint);
  int64_t adjusted;
  napi_adjust_external_memory(env, -static_cast<int64_t>(block->size), &adjusted);
  Environment::For(env)->blocks.Release(block);
}

Napi::Value JsAllocAligned(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  size_t size = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  size_t alignment = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  BlockRegistry* registry = &Environment::For(env)->blocks;
  int err = 0;
  AlignedBlock* block = registry->Allocate(size, alignment, &err);
  if (block == nullptr) return Napi::Number::New(env, err);
  napi_value buffer;
  napi_status status = napi_create_external_buffer(env, size, block->data, FinalizeAligned, block, &buffer);
  if (status != napi_ok) {
    registry->Release(block);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    return Napi::Number::New(env, status == napi_no_external_buffers_allowed ? -ENOTSUP : -ENOMEM);
  }
  // Tell the GC how much native memory this small object holds.
  int64_t adjusted;
  napi_adjust_external_memory(env, static_cast<int64_t>(size), &adjusted);
  return Napi::Value(env, buffer);
}

// [unitMin, unitMax, segmentsMax, unitMaxOpt, reported, filesystem]: an AtomicWrite for JS.
Napi::Array AtomicWriteArray(Napi::Env env, const AtomicWrite& atomic) {
  Napi::Array out = Napi::Array::New(env, 6);
  out.Set(0u, Napi::Number::New(env, atomic.unit_min));
  out.Set(1u, Napi::Number::New(env, atomic.unit_max));
  out.Set(2u, Napi::Number::New(env, atomic.segments_max));
  out.Set(3u, Napi::Number::New(env, atomic.unit_max_opt));
  out.Set(4u, Napi::Number::New(env, atomic.reported));
  out.Set(5u, Napi::Number::New(env, static_cast<double>(atomic.filesystem)));
  return out;
}

// openFile(path, flags, mode, callback(fdOrErrno, memoryAlign, offsetAlign, source, atomicWrite, dontcache),
//          uncached): with `uncached`, the descriptor must take RWF_DONTCACHE, or the open fails
//          (dontcache -EOPNOTSUPP).
class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Function callback, std::string path, int flags, int mode, bool uncached)
      : Napi::AsyncWorker(callback, "odirect:open"), path_(std::move(path)), flags_(flags), mode_(mode),
        uncached_(uncached) {}

  void Execute() override {
    // Uncached, the file may yet be refused (no RWF_DONTCACHE), and a refused
    // open must leave it as it was: O_TRUNC waits for the probe, and a file
    // this open creates is removed again.
    bool truncate = uncached_ && (flags_ & O_TRUNC) != 0 && (flags_ & O_ACCMODE) != O_RDONLY;
    bool created = false;
    fd_ = uncached_ ? OpenUncached(truncate ? flags_ & ~O_TRUNC : flags_, &created)
                    : open(path_.c_str(), flags_ | O_CLOEXEC, mode_);
    if (fd_ < 0) {
      fd_ = -errno;
      return;
    }
    int ret = ProbeAlignment(fd_, &alignment_);
    if (ret == 0) ret = ProbeAtomicWrite(fd_, &atomic_);
    if (ret == 0 && uncached_) ret = dontcache_ = ProbeUncached();
    if (ret == 0 && truncate && ftruncate(fd_, 0) != 0) ret = -errno;
    if (ret < 0) {
      close(fd_);
      if (created) unlink(path_.c_str());
      fd_ = ret;
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (fd_ >= 0) Environment::For(env)->Track(fd_);
    Callback().Call({Napi::Number::New(env, fd_), Napi::Number::New(env, alignment_.memory),
                     Napi::Number::New(env, alignment_.offset), Napi::Number::New(env, alignment_.source),
                     AtomicWriteArray(env, atomic_), Napi::Number::New(env, dontcache_)});
  }

 private:
  // open(2) with `flags`, saying in *created whether it made the file. With
  // O_CREAT and without O_EXCL, O_EXCL first tells that without a race; where
  // the file exists, a plain open, and again if it was removed in between
  // (a few times: a dangling symlink is EEXIST, then ENOENT, for ever).
  int OpenUncached(int flags, bool* created) {
    flags |= O_CLOEXEC;
    if ((flags & O_CREAT) == 0) return open(path_.c_str(), flags);
    if ((flags & O_EXCL) != 0) {
      int fd = open(path_.c_str(), flags, mode_);
      *created = fd >= 0;
      return fd;
    }
    for (int attempt = 0; attempt < 4; attempt++) {
      int fd = open(path_.c_str(), flags | O_EXCL, mode_);
      if (fd >= 0) {
        *created = true;
        return fd;
      }
      if (errno != EEXIST) return -1;
      fd = open(path_.c_str(), flags & ~O_CREAT);
      if (fd >= 0 || errno != ENOENT) return fd;
    }
    return open(path_.c_str(), flags, mode_);
  }

  // The probe reads, so a descriptor open for writing only is probed through
  // a second one, open for reading; where that cannot be had (no read
  // permission, no /proc), the first read or write will tell.
  int ProbeUncached() {
    if ((flags_ & O_ACCMODE) != O_WRONLY) return ProbeDontcache(fd_);
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd_);
    int reader = open(self, O_RDONLY | O_CLOEXEC);
    if (reader < 0) return 0;
    int ret = ProbeDontcache(reader);
    close(reader);
    return ret;
  }

  std::string path_;
  int flags_;
  int mode_;
  bool uncached_;
  int fd_ = -1;
  int dontcache_ = 0;
  Alignment alignment_ = {0, 0, kAlignDefault};
  AtomicWrite atomic_ = {0, 0, 0, 0, 0, 0};
};

Napi::Value JsOpenFile(const Napi::CallbackInfo& info) {
  OpenWorker* worker = new OpenWorker(info[3].As<Napi::Function>(), info[0].As<Napi::String>().Utf8Value(),
                                      info[1].As<Napi::Number>().Int32Value(),
                                      info[2].As<Napi::Number>().Int32Value(),
                                      info.Length() > 4 && info[4].ToBoolean().Value());
  worker->Queue();
  return info.Env().Undefined();
}

// closeFile(fd, callback(0 | -errno)): closes a descriptor openFile() returned,
// on libuv's pool. Not fs.close(): in a worker, Node warns about closing a
// descriptor its fs did not open.
class CloseWorker : public Napi::AsyncWorker {
 public:
  CloseWorker(Napi::Function callback, int fd) : Napi::AsyncWorker(callback, "odirect:close"), fd_(fd) {}
  void Execute() override {
    // Linux releases the descriptor even when close(2) reports an error, so
    // it is never retried (close(2), NOTES).
    result_ = close(fd_) == 0 ? 0 : -errno;
  }
  void OnOK() override { Callback().Call({Napi::Number::New(Env(), result_)}); }

 private:
  int fd_;
  int result_ = 0;
};

Napi::Value JsCloseFile(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  Environment::For(info.Env())->open_files.erase(fd);
  (new CloseWorker(info[1].As<Napi::Function>(), fd))->Queue();
  return info.Env().Undefined();
}

// alignmentOf(fd) -> [memory, offset, source] | -errno. Synchronous: fstat-like
// cost on a descriptor the caller already holds.
Napi::Value JsAlignmentOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Alignment alignment;
  int ret = ProbeAlignment(info[0].As<Napi::Number>().Int32Value(), &alignment);
  if (ret < 0) return Napi::Number::New(env, ret);
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, Napi::Number::New(env, alignment.memory));
  out.Set(1u, Napi::Number::New(env, alignment.offset));
  out.Set(2u, Napi::Number::New(env, alignment.source));
  return out;
}

// atomicWriteOf(fd) -> [unitMin, unitMax, segmentsMax, unitMaxOpt, reported, filesystem] | -errno.
// Synchronous, as alignmentOf.
Napi::Value JsAtomicWriteOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AtomicWrite atomic;
  int ret = ProbeAtomicWrite(info[0].As<Napi::Number>().Int32Value(), &atomic);
  if (ret < 0) return Napi::Number::New(env, ret);
  return AtomicWriteArray(env, atomic);
}

// isAligned(view, alignment) -> whether the view's first byte is at a multiple of alignment
Napi::Value JsIsAligned(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  void* data = nullptr;
  size_t byte_length = 0;
  if (!ViewBytes(env, info[0], &data, &byte_length)) return Napi::Boolean::New(env, false);
  uintptr_t alignment = static_cast<uintptr_t>(info[1].As<Napi::Number>().Int64Value());
  return Napi::Boolean::New(env, data != nullptr && reinterpret_cast<uintptr_t>(data) % alignment == 0);
}

#define ODIRECT_STRINGIFY_(x) #x
#define ODIRECT_STRINGIFY(x) ODIRECT_STRINGIFY_(x)

// liburingVersion() -> "2.3" from the loaded library's file name, or null
// (liburing before 2.4 has no version call; its SONAME file carries it).
// Linked statically (the prebuilt addon), the version is the one pkg-config
// gave at build time.
Napi::Value JsLiburingVersion(const Napi::CallbackInfo& info) {
#if defined(ODIRECT_LIBURING_STATIC_VERSION)
  return Napi::String::New(info.Env(), ODIRECT_STRINGIFY(ODIRECT_LIBURING_STATIC_VERSION));
#elif defined(ODIRECT_HAVE_LIBURING)
  Dl_info where;
  if (dladdr(reinterpret_cast<void*>(&io_uring_queue_init), &where) != 0 && where.dli_fname != nullptr) {
    char resolved[PATH_MAX];
    if (realpath(where.dli_fname, resolved) != nullptr) {
      const char* marker = strstr(resolved, "liburing.so.");
      if (marker != nullptr) return Napi::String::New(info.Env(), marker + strlen("liburing.so."));
    }
  }
#endif
  return info.Env().Null();
}

// kernelRelease() -> uname -r
Napi::Value JsKernelRelease(const Napi::CallbackInfo& info) {
  utsname name;
  if (uname(&name) != 0) return info.Env().Null();
  return Napi::String::New(info.Env(), name.release);
}

// credentialsMayHaveChanged(): lib/ calls it after process.setuid() and the like.
Napi::Value JsCredentialsMayHaveChanged(const Napi::CallbackInfo& info) {
  Ring::CredentialsMayHaveChanged();
  return info.Env().Undefined();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Environment::Install(env);
  exports.Set("NativeRing", RingWrap::Define(env));
  exports.Set("allocAligned", Napi::Function::New<JsAllocAligned>(env, "allocAligned"));
  exports.Set("openFile", Napi::Function::New<JsOpenFile>(env, "openFile"));
  exports.Set("closeFile", Napi::Function::New<JsCloseFile>(env, "closeFile"));
  exports.Set("alignmentOf", Napi::Function::New<JsAlignmentOf>(env, "alignmentOf"));
  exports.Set("atomicWriteOf", Napi::Function::New<JsAtomicWriteOf>(env, "atomicWriteOf"));
  exports.Set("isAligned", Napi::Function::New<JsIsAligned>(env, "isAligned"));
  exports.Set("liburingVersion", Napi::Function::New<JsLiburingVersion>(env, "liburingVersion"));
  exports.Set("kernelRelease", Napi::Function::New<JsKernelRelease>(env, "kernelRelease"));
  exports.Set("credentialsMayHaveChanged",
              Napi::Function::New<JsCredentialsMayHaveChanged>(env, "credentialsMayHaveChanged"));
#ifdef ODIRECT_HAVE_LIBURING
  exports.Set("builtWithLiburing", Napi::Boolean::New(env, true));
#else
  exports.Set("builtWithLiburing", Napi::Boolean::New(env, false));
#endif
#ifdef ODIRECT_LIBURING_STATIC_VERSION
  exports.Set("liburingLinkage", Napi::String::New(env, "static"));
#elif defined(ODIRECT_HAVE_LIBURING)
  exports.Set("liburingLinkage", Napi::String::New(env, "shared"));
#else
  exports.Set("liburingLinkage", env.Null());
#endif
  return exports;
}

}  // namespace odirect

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return odirect::Init(env, exports);
}

NODE_API_MODULE(odirect, InitModule)
