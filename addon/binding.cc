// The addon's entry: what each JS environment (the main thread, each worker)
// gets when it loads odirect.node. The functions live one file per concern
// (exports.h); this file adds the numbers lib/ and the addon must agree on,
// so that lib/native.ts reads them instead of copying them.
#include "engine.h"
#include "environment.h"
#include "exports.h"
#include "js_ring.h"
#include "napi.h"
#include "ring.h"

namespace odirect {
namespace {

Napi::Object Constants(Napi::Env env) {
  Napi::Object constants = Napi::Object::New(env);
  auto set = [&](const char* name, double value) { constants.Set(name, Napi::Number::New(env, value)); };
  // Op codes (engine.h).
  set("OP_READ", kOpRead);
  set("OP_WRITE", kOpWrite);
  set("OP_FSYNC", kOpFsync);
  set("OP_FDATASYNC", kOpFdatasync);
  set("OP_READV", kOpReadv);
  set("OP_WRITEV", kOpWritev);
  set("OP_FALLOCATE", kOpFallocate);
  // Where NativeRing.queue() reads each field of an op in NativeRing.args (js_ring.h).
  set("QUEUE_ARG_CODE", kArgCode);
  set("QUEUE_ARG_FD", kArgFd);
  set("QUEUE_ARG_LENGTH", kArgLength);
  set("QUEUE_ARG_ID", kArgId);
  set("QUEUE_ARG_MEMORY_ALIGNMENT", kArgMemoryAlignment);
  set("QUEUE_ARG_RW_FLAGS", kArgRwFlags);
  set("QUEUE_ARG_FILE_INDEX", kArgFileIndex);
  set("QUEUE_ARG_SYNC_FILE", kArgSyncFile);
  set("QUEUE_ARG_FLUSH", kArgFlush);
  set("QUEUE_ARG_INLINE_MAX", kArgInlineMax);
  set("MISALIGNED_MEMORY", kMisalignedMemory);
  // Results and the latency histogram (ring.h).
  set("DROPPED", Ring::kDropped);
  set("LATENCY_BUCKETS", Ring::kLatencyBuckets);
  set("LATENCY_SUB_BITS", Ring::kLatencySubBits);
  constants.Freeze();
  return constants;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Environment::Install(env);
  ExportRing(env, exports);
  ExportMemory(env, exports);
  ExportFiles(env, exports);
  ExportSystem(env, exports);
  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace
}  // namespace odirect

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return odirect::Init(env, exports);
}

NODE_API_MODULE(odirect, InitModule)
