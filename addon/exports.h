// The functions JavaScript calls, one file per concern, each named Js* and
// registered on the addon's exports by its file's Export* function (called
// once per environment by binding.cc). lib/native.ts is their only caller:
// arguments were checked there (types, ranges, alignment of offsets and
// lengths), so these re-check only what protects memory (a length within
// its buffer, an index within a table) and return -errno for JS to turn
// into an error.
#ifndef ODIRECT_EXPORTS_H_
#define ODIRECT_EXPORTS_H_

#include "napi.h"

namespace odirect {

// js_ring.cc: NativeRing (one engine and the hot path), credentialsMayHaveChanged.
void ExportRing(Napi::Env env, Napi::Object exports);
// js_memory.cc: allocAligned, isAligned.
void ExportMemory(Napi::Env env, Napi::Object exports);
// js_files.cc: openFile, closeFile, alignmentOf, atomicWriteOf.
void ExportFiles(Napi::Env env, Napi::Object exports);
// js_system.cc: kernelRelease, liburingVersion, builtWithLiburing, liburingLinkage.
void ExportSystem(Napi::Env env, Napi::Object exports);

}  // namespace odirect

#endif  // ODIRECT_EXPORTS_H_
