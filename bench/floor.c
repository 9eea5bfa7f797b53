// The floor of odirect's event-loop path: what a program in C pays to do
// what odirect's io_uring engine does, and nothing else. Random reads at a
// fixed queue depth through liburing; the loop sleeps in epoll_wait on the
// ring's own descriptor (as libuv does for odirect: it is readable while the
// completion queue holds something), reaps every completion and submits the
// next reads with one io_uring_enter. The ring is set up as odirect sets up
// its own (IORING_SETUP_COOP_TASKRUN, the file registered).
//
// With --wait, the same reads in the loop io_uring programs usually have
// (io_uring_submit_and_wait, then reap): the cost of epoll.
// With --fio-loop, fio's own loop as strace and perf show it (fio 3.33): a
// ring set up with COOP_TASKRUN | SINGLE_ISSUER | DEFER_TASKRUN, each next
// read submitted alone as its completion is reaped (io_uring_enter(1, 0,
// GETEVENTS), one per read: io_uring_submit_and_get_events), a wait only
// when nothing has completed.
//
// Built and run by bench/randread.ts (not part of the package):
//   cc -O2 -o floor bench/floor.c -luring
//   floor FILE SIZE BS IODEPTH SECONDS SEED ROUND FIRST [--wait | --fio-loop]
// Prints one line of JSON: ops, seconds, user and system CPU (µs, getrusage
// RUSAGE_SELF: every thread of the process, io_uring's workers included).
//
// The offsets are those of the JavaScript contenders in the same round: slot
// i draws from mulberry32 seeded with workerSeed(seed, round, FIRST + i), as
// lib/cli/workload.ts does. The first 8 bytes of every block read must hold
// the block's offset (the benchmark's file pattern), or the program fails.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

// Linux 5.19; not in Debian 12's liburing 2.3 headers on every architecture.
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

struct slot {
  uint32_t state; // mulberry32
  void *buffer;
  uint64_t offset;
};

static uint32_t mulberry32(uint32_t *state) {
  *state += 0x6d2b79f5u;
  uint32_t t = *state;
  t = (t ^ (t >> 15)) * (1u | t);
  t = (t + ((t ^ (t >> 7)) * (61u | t))) ^ t;
  return t ^ (t >> 14);
}

static uint32_t worker_seed(uint32_t seed, uint32_t round, uint32_t worker) {
  return seed ^ ((round + 1) * 0x9e3779b1u) ^ ((worker + 1) * 0x85ebca77u);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_us(const struct timeval *tv) { return (double)tv->tv_sec * 1e6 + (double)tv->tv_usec; }

static void die(const char *what, int error) {
  fprintf(stderr, "floor: %s: %s\n", what, strerror(error));
  exit(1);
}

static uint64_t blocks, bs;

static void queue_read(struct io_uring *ring, struct slot *slots, unsigned i) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
  if (sqe == NULL) die("io_uring_get_sqe", EBUSY);
  slots[i].offset = (uint64_t)(((double)mulberry32(&slots[i].state) / 4294967296.0) * (double)blocks) * bs;
  io_uring_prep_read(sqe, 0, slots[i].buffer, (unsigned)bs, slots[i].offset); // fd 0 of the registered table
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, i);
}

int main(int argc, char **argv) {
  if (argc < 9) {
    fprintf(stderr, "usage: floor FILE SIZE BS IODEPTH SECONDS SEED ROUND FIRST [--wait | --fio-loop]\n");
    return 2;
  }
  const char *path = argv[1];
  uint64_t size = strtoull(argv[2], NULL, 10);
  bs = strtoull(argv[3], NULL, 10);
  unsigned depth = (unsigned)strtoul(argv[4], NULL, 10);
  double seconds = strtod(argv[5], NULL);
  uint32_t seed = (uint32_t)strtoul(argv[6], NULL, 10);
  uint32_t round = (uint32_t)strtol(argv[7], NULL, 10);
  uint32_t first = (uint32_t)strtoul(argv[8], NULL, 10);
  int fio_loop = argc > 9 && strcmp(argv[9], "--fio-loop") == 0;
  int wait_mode = fio_loop || (argc > 9 && strcmp(argv[9], "--wait") == 0);
  blocks = size / bs;
  if (depth == 0 || bs == 0 || blocks == 0) die("arguments", EINVAL);

  int fd = open(path, O_RDONLY | O_DIRECT);
  if (fd < 0) die(path, errno);

  struct io_uring ring;
  unsigned entries = 1;
  while (entries < depth) entries <<= 1;
  unsigned flags = IORING_SETUP_COOP_TASKRUN;
  if (fio_loop) flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int ret = io_uring_queue_init(entries, &ring, flags);
  // fio's flags or none: a fio loop without them would not be fio's.
  if (ret == -EINVAL && !fio_loop) ret = io_uring_queue_init(entries, &ring, 0);
  if (ret < 0) die("io_uring_queue_init", -ret);
  ret = io_uring_register_files(&ring, &fd, 1);
  if (ret < 0) die("io_uring_register_files", -ret);

  int epfd = -1;
  if (!wait_mode) {
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1", errno);
    struct epoll_event ev = {.events = EPOLLIN, .data = {.fd = ring.ring_fd}};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, ring.ring_fd, &ev) < 0) die("epoll_ctl", errno);
  }

  struct slot *slots = calloc(depth, sizeof *slots);
  if (slots == NULL) die("calloc", ENOMEM);
  for (unsigned i = 0; i < depth; i++) {
    slots[i].state = worker_seed(seed, round, first + i);
    if (posix_memalign(&slots[i].buffer, 4096, bs) != 0) die("posix_memalign", ENOMEM);
  }

  struct rusage before, after;
  getrusage(RUSAGE_SELF, &before);
  double started = now();
  double deadline = started + seconds;
  int running = 1;
  unsigned inflight = 0;
  uint64_t ops = 0;

  for (unsigned i = 0; i < depth; i++) queue_read(&ring, slots, i);
  inflight = depth;
  ret = io_uring_submit(&ring);
  if (ret < 0) die("io_uring_submit", -ret);

  while (inflight > 0) {
    if (wait_mode) {
      ret = io_uring_submit_and_wait(&ring, 1);
      if (ret < 0 && ret != -EINTR) die("io_uring_submit_and_wait", -ret);
    } else {
      struct epoll_event ev;
      ret = epoll_wait(epfd, &ev, 1, -1);
      if (ret < 0 && errno != EINTR) die("epoll_wait", errno);
    }
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      unsigned i = (unsigned)io_uring_cqe_get_data64(cqe);
      if (cqe->res != (int)bs) die("read", cqe->res < 0 ? -cqe->res : EIO);
      if (*(uint64_t *)slots[i].buffer != slots[i].offset) die("read: the block does not hold the bench's pattern", EIO);
      seen++;
      ops++;
      inflight--;
      if (running) {
        queue_read(&ring, slots, i);
        inflight++;
        if (fio_loop) {
          // Seen before the submission, whose GETEVENTS may post more.
          io_uring_cq_advance(&ring, seen);
          seen = 0;
          do {
            ret = io_uring_submit_and_get_events(&ring);
          } while (ret == -EINTR);
          if (ret != 1) die("io_uring_submit_and_get_events", ret < 0 ? -ret : EIO);
        }
      }
    }
    io_uring_cq_advance(&ring, seen);
    if (running && now() >= deadline) running = 0;
    if (!wait_mode && io_uring_sq_ready(&ring) > 0) {
      ret = io_uring_submit(&ring);
      if (ret < 0) die("io_uring_submit", -ret);
    }
  }
  // As in the JavaScript contenders, the turn ends when the last read is back.
  double elapsed = now() - started;
  getrusage(RUSAGE_SELF, &after);
  printf("{\"ops\":%llu,\"seconds\":%.6f,\"userUs\":%.0f,\"systemUs\":%.0f}\n", (unsigned long long)ops, elapsed,
         cpu_us(&after.ru_utime) - cpu_us(&before.ru_utime), cpu_us(&after.ru_stime) - cpu_us(&before.ru_stime));
  io_uring_queue_exit(&ring);
  return 0;
}
