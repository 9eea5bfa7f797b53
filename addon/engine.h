// The engine interface: how one kernel queue takes requests and hands back
// completions. Mechanism only; every decision about what to submit, when, and
// what an error means is made in lib/ (TypeScript).
//
// An engine is used by two threads, never at once on the same side:
//  - Submit() is called by whichever thread owns the submission side at that
//    moment (the Ring's sq_mutex_ decides): the completion thread, or the JS
//    thread on the inline path when the engine allows it.
//  - Reap() is called only by the completion thread.
//  - Wake() may be called from any thread.
#ifndef ODIRECT_ENGINE_H_
#define ODIRECT_ENGINE_H_

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace odirect {

enum OpCode : uint8_t {
  kOpRead = 0,
  kOpWrite = 1,
  kOpFsync = 2,      // fsync(2)
  kOpFdatasync = 3,  // fdatasync(2)
  kOpReadv = 4,
  kOpWritev = 5,
  kOpCount
};

// One request. `id` is the slot the JS side gave it (0 .. capacity-1); it comes
// back in the completion.
struct Op {
  uint32_t id;
  uint8_t code;
  int fd;
  void* addr;       // kOpRead/kOpWrite: the buffer; kOpReadv/kOpWritev: the iovec array
  uint32_t len;     // bytes, or the iovec count for the vectored ops
  uint64_t offset;  // file offset in bytes
  int rw_flags;     // RWF_* for read/write (RWF_DSYNC), unused otherwise
};

struct Completion {
  uint32_t id;
  int32_t result;  // bytes transferred, or -errno
};

class Engine {
 public:
  virtual ~Engine() = default;

  virtual const char* name() const = 0;

  // Hands up to `count` ops to the kernel. Returns how many were consumed (from
  // the front of `ops`); an op the kernel refused at submission is consumed
  // and its completion appended to `failed`. Returns 0 when the queue is full
  // for now (the caller reaps, then tries again). Also submits whatever the
  // engine needs for itself (re-arming its wake-up), so the completion thread
  // calls it with count 0 before it sleeps.
  virtual int Submit(const Op* ops, int count, std::vector<Completion>* failed) = 0;

  // Appends ready completions to `out` (at most `max`) and returns how many.
  // With `wait`, blocks until at least one completion or a Wake().
  // Returns 0 when woken with nothing to report.
  virtual int Reap(Completion* out, int max, bool wait) = 0;

  // Makes a blocked Reap() return. Any thread.
  virtual void Wake() = 0;

  // Whether the JS thread may call Submit() itself: true only where
  // submission never blocks in the kernel for long. io_submit(2) can block on
  // filesystem metadata, so the aio engine says no.
  virtual bool CanSubmitInline() const = 0;

  // Describes engine features for stats and probe ("sqpoll", "fixed files"...).
  virtual std::string Features() const { return std::string(); }
};

struct EngineOptions {
  unsigned entries = 256;  // ops the JS side may have in the kernel at once
  unsigned threads = 4;    // threadpool engine: worker threads
};

// Each returns nullptr and sets *err to a negative errno when the engine cannot
// start here (ENOSYS: not built in or not in the kernel; EPERM: forbidden...).
std::unique_ptr<Engine> CreateUringEngine(const EngineOptions& options, int* err);
std::unique_ptr<Engine> CreateAioEngine(const EngineOptions& options, int* err);
std::unique_ptr<Engine> CreateThreadpoolEngine(const EngineOptions& options, int* err);

// The user_data / aio_data tag of an engine's own wake-up request; never a
// JS slot id (those are below the ring's capacity).
constexpr uint64_t kWakeTag = 0xFFFFFFFFull;

}  // namespace odirect

#endif  // ODIRECT_ENGINE_H_
