// The floor of any Node.js library on odirect's path: the least a read costs
// when a Promise is made for it in JavaScript and settled from the event
// loop. Beside bench/floor.c (the same path in C, no JavaScript), it shows
// how much of odirect's cost per op is Node's own (Node-API calls, the
// callback scope, microtasks, the event loop's turn) and how much odirect's.
//
// One io_uring ring per process, set up as odirect's (IORING_SETUP_COOP_TASKRUN,
// the file registered). read(buffer,
// offset) preps one read of the whole buffer, submits it at once (one
// io_uring_enter, as odirect does at queue depth 1) and returns a Promise.
// libuv polls the ring's own descriptor, as odirect's does; on a wake-up every
// completion is reaped, and each Promise is resolved inside one callback scope per
// wake-up, whose close runs the microtasks (the awaiting code). Nothing is
// checked that odirect checks; no stats, no latency histogram.
//
// Built by bench/randread.ts against Node's own headers (not part of the
// package):
//   cc -O2 -shared -fPIC -I<node>/include/node -o node-floor.node bench/node-floor.c -luring
// JavaScript: open(path, entries) -> 0 | -errno; read(buffer, offset) -> Promise<number>; close().
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif

static struct io_uring ring;
static int ring_ready = 0;
static int file_fd = -1;
static uv_poll_t poll_handle;
static napi_env poll_env;
static napi_async_context async_context;
static napi_deferred *deferreds;  // per slot: the Promise of the read in it
static uint32_t *free_slots;
static uint32_t free_count;
static uint32_t in_flight;

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)handle;
  (void)status;
  (void)events;
  napi_env env = poll_env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value resource;
  napi_create_object(env, &resource);
  napi_callback_scope callback_scope;
  napi_open_callback_scope(env, resource, async_context, &callback_scope);
  struct io_uring_cqe *cqe;
  unsigned head, seen = 0;
  io_uring_for_each_cqe(&ring, head, cqe) {
    uint32_t slot = (uint32_t)cqe->user_data;
    napi_value result;
    napi_create_int32(env, cqe->res, &result);
    napi_deferred deferred = deferreds[slot];
    free_slots[free_count++] = slot;
    in_flight--;
    seen++;
    if (cqe->res >= 0) napi_resolve_deferred(env, deferred, result);
    else napi_reject_deferred(env, deferred, result);
  }
  io_uring_cq_advance(&ring, seen);
  if (in_flight == 0) uv_unref((uv_handle_t *)&poll_handle);
  napi_close_callback_scope(env, callback_scope);  // runs the microtasks
  napi_close_handle_scope(env, scope);
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  size_t length;
  uint32_t entries;
  napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &length);
  napi_get_value_uint32(env, argv[1], &entries);
  int ret = 0;
  file_fd = open(path, O_RDONLY | O_DIRECT);
  if (file_fd < 0) ret = -errno;
  struct io_uring_params params = {0};
  params.flags = IORING_SETUP_COOP_TASKRUN;
  if (ret == 0) ret = io_uring_queue_init_params(entries, &ring, &params);
  if (ret == 0) {
    ring_ready = 1;
    ret = io_uring_register_files(&ring, &file_fd, 1);
  }
  if (ret == 0) {
    uv_loop_t *loop;
    napi_get_uv_event_loop(env, &loop);
    poll_env = env;
    napi_value name;
    napi_create_string_utf8(env, "node-floor", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, NULL, name, &async_context);
    uv_poll_init(loop, &poll_handle, ring.ring_fd);
    uv_poll_start(&poll_handle, UV_READABLE, on_poll);
    uv_unref((uv_handle_t *)&poll_handle);
    deferreds = calloc(entries, sizeof(*deferreds));
    free_slots = calloc(entries, sizeof(*free_slots));
    for (uint32_t i = 0; i < entries; i++) free_slots[i] = entries - 1 - i;
    free_count = entries;
  }
  napi_create_int32(env, ret, &out);
  return out;
}

static napi_value js_read(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], promise;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  size_t length;
  double offset;
  napi_get_buffer_info(env, argv[0], &data, &length);
  napi_get_value_double(env, argv[1], &offset);
  if (free_count == 0) {
    napi_throw_error(env, NULL, "node-floor: more reads in flight than entries");
    return NULL;
  }
  uint32_t slot = free_slots[--free_count];
  napi_create_promise(env, &deferreds[slot], &promise);
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
  io_uring_prep_read(sqe, 0, data, (unsigned)length, (uint64_t)offset);
  sqe->flags |= IOSQE_FIXED_FILE;
  sqe->user_data = slot;
  io_uring_submit(&ring);
  if (in_flight++ == 0) uv_ref((uv_handle_t *)&poll_handle);
  return promise;
}

static void on_closed(uv_handle_t *handle) { (void)handle; }

static napi_value js_close(napi_env env, napi_callback_info info) {
  (void)info;
  if (ring_ready) {
    uv_poll_stop(&poll_handle);
    uv_close((uv_handle_t *)&poll_handle, on_closed);
    io_uring_queue_exit(&ring);
    close(file_fd);
    napi_async_destroy(env, async_context);
    ring_ready = 0;
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"read", NULL, js_read, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 3, properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
