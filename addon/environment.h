// What odirect keeps per JS environment (the main thread, each worker): the
// aligned blocks it handed out, and the descriptors of files JS has open.
// Freed with the environment, after every ring has shut down.
#ifndef ODIRECT_ENVIRONMENT_H_
#define ODIRECT_ENVIRONMENT_H_

#include <node_api.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unordered_map>

#include "memory.h"

namespace odirect {

struct Environment {
  BlockRegistry blocks;
  // Rings of this environment with ops in flight (Ring::CountBusy).
  int busy_rings = 0;
  // Descriptors open() returned and close() has not released, with the file
  // each was opened on. A worker that is terminated never runs close(); these
  // are closed at its teardown, as Node closes its FileHandles, but only if
  // the number still names that file: a caller who closed file.fd behind our
  // back may have let the number go to another file since.
  struct OpenFile {
    dev_t dev;
    ino_t ino;
  };
  std::unordered_map<int, OpenFile> open_files;

  void Track(int fd) {
    struct stat st;
    if (fstat(fd, &st) == 0) open_files[fd] = {st.st_dev, st.st_ino};
  }

  ~Environment() {
    for (const auto& entry : open_files) {
      struct stat st;
      if (fstat(entry.first, &st) == 0 && st.st_dev == entry.second.dev && st.st_ino == entry.second.ino) {
        close(entry.first);
      }
    }
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
