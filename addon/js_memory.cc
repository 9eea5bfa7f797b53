// Aligned memory for JavaScript (memory.h holds the blocks): allocAligned,
// isAligned.
#include <errno.h>

#include <cstdint>

#include "environment.h"
#include "exports.h"
#include "memory.h"
#include "napi.h"
#include "views.h"

namespace odirect {
namespace {

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


// isAligned(view, alignment) -> whether the view's first byte is at a multiple of alignment
Napi::Value JsIsAligned(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  void* data = nullptr;
  size_t byte_length = 0;
  if (!ViewBytes(env, info[0], &data, &byte_length)) return Napi::Boolean::New(env, false);
  uintptr_t alignment = static_cast<uintptr_t>(info[1].As<Napi::Number>().Int64Value());
  return Napi::Boolean::New(env, data != nullptr && reinterpret_cast<uintptr_t>(data) % alignment == 0);
}

}  // namespace

void ExportMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("allocAligned", Napi::Function::New<JsAllocAligned>(env, "allocAligned"));
  exports.Set("isAligned", Napi::Function::New<JsIsAligned>(env, "isAligned"));
}

}  // namespace odirect
