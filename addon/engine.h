// The engine interface: how one kernel queue takes requests and hands back
// completions. Mechanism only; every decision about what to submit, when, and
// what an error means is made in lib/ (TypeScript).
//
// An engine is used by two threads, never at once on the same side:
//  - Submit() is called by whichever thread owns the submission side at that
//    moment (the Ring's sq_mu_ decides): the ring's submission thread, or the
//    JS thread on the inline path when the engine allows it.
//  - Reap() and CompletionFd() are the JS thread's: it is woken through the
//    completion descriptor and takes completions itself, with no thread
//    between the kernel and JavaScript.
#ifndef ODIRECT_ENGINE_H_
#define ODIRECT_ENGINE_H_

#include <errno.h>
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
  kOpFallocate = 6,  // fallocate(2): rw_flags is the mode, extent the length
  kOpCount
};

// RWF_* flags that Debian 12's headers do not have (include/uapi/linux/fs.h).
// Engines pass an op's rw_flags to the kernel as they are; these two are
// named here only where the addon must treat such an op differently.
constexpr int kRwfAtomic = 0x40;     // RWF_ATOMIC, Linux 6.11: an untorn write
constexpr int kRwfDontcache = 0x80;  // RWF_DONTCACHE, Linux 6.14: drop the pages once done

// One request, as lib/op.ts's Op record hands it over through the one queue
// path of every code (NativeRing.queue, addon/js_ring.cc). `id` is the slot
// the JS side gave it (0 .. capacity-1); it comes back in the completion.
struct Op {
  uint32_t id;
  uint32_t gen;     // the id's generation (31 bits): tells this op from later ops of the same id
  uint8_t code;
  int fd;
  void* addr;       // kOpRead/kOpWrite: the buffer; kOpReadv/kOpWritev: the iovec array
  uint32_t len;     // bytes, or the iovec count for the vectored ops
  uint64_t offset;  // file offset in bytes
  int rw_flags;     // RWF_* for reads and writes (RWF_DSYNC...); kOpFallocate: the mode
  int buf_index;    // kOpRead/kOpWrite: the registered buffer holding addr, or -1
  int file_index;   // the slot where fd is registered with the engine, or -1
  bool sync_file;   // the file's direct I/O completes in the caller, from memory (tmpfs)
  uint64_t extent;  // kOpFallocate: the length in bytes
};

// What an engine puts in the kernel's per-request tag (io_uring user_data,
// AIO aio_data): the generation above the id. Requests the engine makes for
// itself (cancellations) carry kInternalTag and are never reported.
inline uint64_t RequestTag(const Op& op) { return (static_cast<uint64_t>(op.gen) << 32) | op.id; }
inline uint64_t RequestTag(uint32_t id, uint32_t gen) { return (static_cast<uint64_t>(gen) << 32) | id; }
constexpr uint64_t kInternalTag = 1ull << 63;

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
  // for now (the caller waits for completions, then tries again).
  virtual int Submit(const Op* ops, int count, std::vector<Completion>* failed) = 0;

  // A descriptor that becomes readable when completions may be ready. An
  // eventfd (aio, threadpool) is left alone by Reap(): the Ring resets it
  // (one read) before a look, so that a completion that lands after that
  // look makes it readable again. io_uring's is the ring's own descriptor,
  // readable exactly while its completion queue holds something: it needs
  // no reset (CompletionFdNeedsReset() false).
  virtual int CompletionFd() const = 0;
  virtual bool CompletionFdNeedsReset() const { return true; }

  // Whether Reap() has results that no descriptor will announce: ops
  // SubmitInline() completed itself (io_uring's reads of tmpfs files). The
  // Ring then delivers them on the event loop's next turn (JS thread).
  virtual bool HasReadyResults() const { return false; }

  // Copies ready completions to `out` (at most `max`) and returns how many,
  // or -errno. With `wait`, blocks until at least one is ready (used only
  // at teardown, to let the kernel finish with memory before it is freed).
  virtual int Reap(Completion* out, int max, bool wait) = 0;

  // The JS thread's submission, where CanSubmitInline(): it must not block.
  // May take only a prefix of `ops` (the rest go to the submission thread),
  // and may take ops that it then hands back through TakeRetries() because
  // they could not complete without blocking. `depth`: the ops the ring will
  // have in the kernel once these are in. Called with the submission side
  // held.
  virtual int SubmitInline(const Op* ops, int count, unsigned depth, std::vector<Completion>* failed) {
    (void)depth;
    return Submit(ops, count, failed);
  }

  // JS thread, after SubmitInline() and Reap(): ops taken inline that the
  // submission thread must submit again. They count as still in the kernel
  // until then, and their completions were not reported.
  virtual void TakeRetries(std::vector<Op>* out) { (void)out; }

  // Whether the JS thread may call SubmitInline(): true only where
  // SubmitInline() never blocks in the kernel for long. Every engine says
  // yes today: io_uring and the threadpool only queue (io_uring also does
  // small reads of tmpfs files itself, which copy from memory), and the aio engine's
  // SubmitInline() takes reads alone, with RWF_NOWAIT, since io_submit(2)
  // can block on filesystem metadata.
  virtual bool CanSubmitInline() const = 0;

  // Whether requests may run with the rights of the thread that made the
  // engine rather than those of the thread that submits them: io_uring's
  // io-wq workers and SQPOLL thread keep the credentials they were created
  // with when the process changes its own (CVE-2024-22017 in Node). AIO and
  // the pool's workers run as the process, whose threads glibc's setuid()
  // updates together.
  virtual bool KeepsCreatorCredentials() const { return false; }

  // Describes engine features for stats and probe ("sqpoll", "fixed files"...).
  virtual std::string Features() const { return std::string(); }

  // Registers [addr, addr + len) with the kernel so that reads and writes in
  // it skip the per-op pinning of user pages (io_uring fixed buffers).
  // Returns the buffer's index, or -errno (-EOPNOTSUPP where the engine has
  // no such thing). JS thread.
  virtual int RegisterBuffer(void* addr, size_t len) {
    (void)addr;
    (void)len;
    return -EOPNOTSUPP;
  }
  virtual int UnregisterBuffer(int index) {
    (void)index;
    return -EOPNOTSUPP;
  }

  // Asks the kernel to cancel op `id` of generation `gen`, submitted
  // earlier. Returns 0 when asked (the op then completes, with -ECANCELED
  // or -EINTR if it was cancelled, normally if it was too late), or -errno:
  // -ENOENT when the op is not there (already completed), -EOPNOTSUPP where
  // the engine cannot cancel. Called with the submission side held.
  virtual int Cancel(uint32_t id, uint32_t gen) {
    (void)id;
    (void)gen;
    return -EOPNOTSUPP;
  }

  // Registers descriptor `fd` so that ops on it name a slot of the engine's
  // file table instead (io_uring fixed files: no lookup and reference count
  // of the file per op). Returns the slot, or -errno (-EOPNOTSUPP where the
  // engine has no such thing). The kernel holds its own reference to the
  // file until the slot is cleared. JS thread.
  virtual int RegisterFile(int fd) {
    (void)fd;
    return -EOPNOTSUPP;
  }
  virtual int UnregisterFile(int index) {
    (void)index;
    return -EOPNOTSUPP;
  }
};

// The largest read of a file whose direct I/O completes in the caller
// (Op::sync_file) that an engine does on the JS thread: it bounds how long
// one read holds the event loop. Larger reads go as any other.
constexpr uint32_t kSyncReadMax = 64 * 1024;

// The bytes a read or write asks for: op.len, or for the vectored ops the
// sum of their iovecs (the array stays alive while the op is in flight).
inline uint64_t IoBytes(const Op& op) {
  if (op.code != kOpReadv && op.code != kOpWritev) return op.len;
  const iovec* vector = static_cast<const iovec*>(op.addr);
  uint64_t total = 0;
  for (uint32_t i = 0; i < op.len; i++) total += vector[i].iov_len;
  return total;
}

// Whether `op` is a read (plain or vectored) of at most kSyncReadMax bytes in
// all of a file whose direct I/O completes in the caller: one an engine may
// do on the JS thread.
inline bool SmallSyncRead(const Op& op) {
  return op.sync_file && (op.code == kOpRead || op.code == kOpReadv) && IoBytes(op) <= kSyncReadMax;
}

// The CPUs this process may run on (sched_getaffinity), at least 1.
int UsableCpus();
// The JS threads of this process (the main thread, workers) that have a
// ring with ops in flight now: each keeps a CPU at work.
int BusyThreads();

struct EngineOptions {
  unsigned entries = 256;         // ops the JS side may have in the kernel at once
  unsigned threads = 4;           // threadpool engine: worker threads
  unsigned sqpoll_idle_ms = 0;    // io_uring: a kernel thread polls the SQ (SQPOLL) when > 0
};

// Makes an engine of class E and starts it (its Init(options) returns 0 or
// -errno): the engine, or nullptr with *err set to that -errno.
template <class E>
std::unique_ptr<Engine> StartEngine(const EngineOptions& options, int* err) {
  std::unique_ptr<E> engine(new E());
  *err = engine->Init(options);
  if (*err < 0) return nullptr;
  return engine;
}

// Each returns nullptr and sets *err to a negative errno when the engine cannot
// start here (ENOSYS: not built in or not in the kernel; EPERM: forbidden...).
std::unique_ptr<Engine> CreateUringEngine(const EngineOptions& options, int* err);
std::unique_ptr<Engine> CreateAioEngine(const EngineOptions& options, int* err);
std::unique_ptr<Engine> CreateThreadpoolEngine(const EngineOptions& options, int* err);

}  // namespace odirect

#endif  // ODIRECT_ENGINE_H_
