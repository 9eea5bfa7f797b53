#include "backing_store.h"

#include <v8.h>

#include <cstring>

namespace odirect {

KeepAlive BackingStoreOf(napi_value view) {
  // A napi_value is a v8::Local<v8::Value>, as Node's Node-API
  // implementation converts it (see backing_store.h).
  v8::Local<v8::Value> local;
  static_assert(sizeof(local) == sizeof(view), "napi_value is a v8::Local");
  memcpy(static_cast<void*>(&local), &view, sizeof(view));
  if (!local->IsArrayBufferView()) return nullptr;
  return local.As<v8::ArrayBufferView>()->Buffer()->GetBackingStore();
}

}  // namespace odirect
