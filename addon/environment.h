// What odirect keeps per JS environment (the main thread, each worker): the
// aligned blocks it handed out, and the descriptors of files JS has open.
// Freed with the environment, after every ring has shut down.
#ifndef ODIRECT_ENVIRONMENT_H_
#define ODIRECT_ENVIRONMENT_H_

#include <node_api.h>
#include <unistd.h>

#include <unordered_set>

#include "memory.h"

namespace odirect {

struct Environment {
  BlockRegistry blocks;
  // Descriptors open() returned and close() has not released. A worker that
  // is terminated never runs close(); these are closed at its teardown, as
  // Node closes its FileHandles.
  std::unordered_set<int> open_fds;

  ~Environment() {
    for (int fd : open_fds) close(fd);
  }

  static void Install(napi_env env) {
    napi_set_instance_data(
        env, new Environment(),
        [](napi_env, void* data, void*) { delete static_cast<Environment*>(data); }, nullptr);
  }

  static Environment* For(napi_env env) {
    void* data = nullptr;
    napi_get_instance_data(env, &data);
    return static_cast<Environment*>(data);
  }
};

}  // namespace odirect

#endif  // ODIRECT_ENVIRONMENT_H_
