// What the addon reads from JavaScript values on the hot path: the bytes of
// an ArrayBufferView and a file position. Plain Node-API, no V8.
#ifndef ODIRECT_VIEWS_H_
#define ODIRECT_VIEWS_H_

#include <node_api.h>

#include <cstddef>
#include <cstdint>

namespace odirect {

// The bytes of an ArrayBufferView (a TypedArray or a DataView): its own
// range, never the whole ArrayBuffer. `*byte_offset` (when asked for) is
// where the range starts in its ArrayBuffer. False for anything else.
bool ViewBytes(napi_env env, napi_value view, void** data, size_t* byte_length, size_t* byte_offset = nullptr);

// A position: a number (lib/ checked it is a safe integer >= 0) or a bigint
// that fits an int64 and is >= 0.
bool PositionValue(napi_env env, napi_value value, uint64_t* out);

}  // namespace odirect

#endif  // ODIRECT_VIEWS_H_
