#include "views.h"

namespace odirect {

bool ViewBytes(napi_env env, napi_value view, void** data, size_t* byte_length, size_t* byte_offset) {
  napi_typedarray_type type;
  size_t length;
  napi_value arraybuffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, view, &type, &length, data, &arraybuffer, &offset) == napi_ok) {
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
    if (byte_offset != nullptr) *byte_offset = offset;
    return true;
  }
  if (napi_get_dataview_info(env, view, byte_length, data, &arraybuffer, &offset) == napi_ok) {
    if (byte_offset != nullptr) *byte_offset = offset;
    return true;
  }
  return false;
}

bool PositionValue(napi_env env, napi_value value, uint64_t* out) {
  double number;
  if (napi_get_value_double(env, value, &number) == napi_ok) {
    *out = static_cast<uint64_t>(number);
    return true;
  }
  int64_t big;
  bool lossless;
  if (napi_get_value_bigint_int64(env, value, &big, &lossless) == napi_ok && lossless && big >= 0) {
    *out = static_cast<uint64_t>(big);
    return true;
  }
  return false;
}

}  // namespace odirect
