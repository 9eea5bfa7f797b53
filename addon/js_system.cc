// What the addon was built with and runs on, for probe(): the kernel
// release, the liburing it uses and how it is linked, whether it has the
// io_uring engine at all.
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/utsname.h>

#include <cstring>

#ifdef ODIRECT_HAVE_LIBURING
#include <liburing.h>
#endif

#include "exports.h"
#include "napi.h"

namespace odirect {
namespace {

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

}  // namespace

void ExportSystem(Napi::Env env, Napi::Object exports) {
  exports.Set("liburingVersion", Napi::Function::New<JsLiburingVersion>(env, "liburingVersion"));
  exports.Set("kernelRelease", Napi::Function::New<JsKernelRelease>(env, "kernelRelease"));
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
}

}  // namespace odirect
