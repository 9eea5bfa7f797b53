// Files for JavaScript: opening them (with their direct-I/O alignment) and
// closing them on libuv's pool, and the alignment of a caller's descriptor.
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "environment.h"
#include "exports.h"
#include "files.h"
#include "napi.h"

namespace odirect {
namespace {

// openFile(path, flags, mode, callback(fdOrErrno, memoryAlign, offsetAlign, source))
class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Function callback, std::string path, int flags, int mode)
      : Napi::AsyncWorker(callback, "odirect:open"), path_(std::move(path)), flags_(flags), mode_(mode) {}

  void Execute() override {
    fd_ = open(path_.c_str(), flags_ | O_CLOEXEC, mode_);
    if (fd_ < 0) {
      fd_ = -errno;
      return;
    }
    int ret = ProbeAlignment(fd_, &alignment_);
    if (ret < 0) {
      close(fd_);
      fd_ = ret;
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (fd_ >= 0) Environment::For(env)->Track(fd_);
    Callback().Call({Napi::Number::New(env, fd_), Napi::Number::New(env, alignment_.memory),
                     Napi::Number::New(env, alignment_.offset), Napi::Number::New(env, alignment_.source)});
  }

 private:
  std::string path_;
  int flags_;
  int mode_;
  int fd_ = -1;
  Alignment alignment_ = {0, 0, kAlignDefault};
};

Napi::Value JsOpenFile(const Napi::CallbackInfo& info) {
  OpenWorker* worker = new OpenWorker(info[3].As<Napi::Function>(), info[0].As<Napi::String>().Utf8Value(),
                                      info[1].As<Napi::Number>().Int32Value(),
                                      info[2].As<Napi::Number>().Int32Value());
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

}  // namespace

void ExportFiles(Napi::Env env, Napi::Object exports) {
  exports.Set("openFile", Napi::Function::New<JsOpenFile>(env, "openFile"));
  exports.Set("closeFile", Napi::Function::New<JsCloseFile>(env, "closeFile"));
  exports.Set("alignmentOf", Napi::Function::New<JsAlignmentOf>(env, "alignmentOf"));
}

}  // namespace odirect
