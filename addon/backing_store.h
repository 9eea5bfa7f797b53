// Keeping a V8-owned buffer's memory alive while the kernel uses it: the
// addon's only use of V8's own API, kept to this file.
//
// Why not Node-API alone: an op on memory JavaScript allocated (a Buffer, a
// Uint8Array) must keep that memory from being freed until the op
// completes, even if the ArrayBuffer is transferred meanwhile
// (postMessage, structuredClone with transfer, ArrayBuffer.prototype.transfer).
// A transfer detaches the ArrayBuffer the addon was given and moves its
// memory to a new one, possibly in another thread, whose collection frees
// it: a napi_ref keeps the detached object, not the memory. V8 counts
// owners of the memory itself (v8::BackingStore, a std::shared_ptr), and
// Node-API (version 9, in Node 20's js_native_api.h) has no call that takes
// such a reference, nor one that makes an ArrayBuffer refuse to be
// detached: only napi_detach_arraybuffer and napi_is_detached_arraybuffer. Copying into our own
// memory would lose the alignment and send reads elsewhere.
//
// What it costs: the addon imports three V8 C++ symbols
// (v8::Value::IsArrayBufferView, v8::ArrayBufferView::Buffer,
// v8::ArrayBuffer::GetBackingStore; `nm -D --undefined-only` lists them)
// and relies on a napi_value being a v8::Local, as Node's Node-API
// implementation makes it. Node-API's promise, one build for every later
// Node, then holds only while those keep their names and meaning: a Node
// whose V8 changed one would refuse to load the addon (an undefined symbol
// at dlopen), not misbehave. All three are in Node 20 (V8 11.3) and later.
#ifndef ODIRECT_BACKING_STORE_H_
#define ODIRECT_BACKING_STORE_H_

#include <node_api.h>

#include <memory>

namespace odirect {

// A share of a V8 backing store, opaque to the rest of the addon; releasing
// the last share frees the memory if V8 no longer uses it either.
using KeepAlive = std::shared_ptr<void>;

// A share of the memory behind an ArrayBufferView, or null when `view` is
// not one.
KeepAlive BackingStoreOf(napi_value view);

}  // namespace odirect

#endif  // ODIRECT_BACKING_STORE_H_
