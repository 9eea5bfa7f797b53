// Files for JavaScript: opening them (with their direct-I/O alignment) and
// closing them on libuv's pool, and the alignment of a caller's descriptor.
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "environment.h"
#include "exports.h"
#include "files.h"
#include "napi.h"

namespace odirect {
namespace {

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

}  // namespace

void ExportFiles(Napi::Env env, Napi::Object exports) {
  exports.Set("openFile", Napi::Function::New<JsOpenFile>(env, "openFile"));
  exports.Set("closeFile", Napi::Function::New<JsCloseFile>(env, "closeFile"));
  exports.Set("alignmentOf", Napi::Function::New<JsAlignmentOf>(env, "alignmentOf"));
  exports.Set("atomicWriteOf", Napi::Function::New<JsAtomicWriteOf>(env, "atomicWriteOf"));
}

}  // namespace odirect
