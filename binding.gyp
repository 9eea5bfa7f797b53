{
  "variables": {
    # How liburing comes in (scripts/have-liburing.sh): "shared" when <liburing.h>
    # compiles and links here (Debian/Ubuntu: liburing-dev), "static" for the
    # prebuilt addon (liburing.a linked in), 0 without it: the addon then builds
    # with the aio and threadpool engines alone.
    "liburing%": "<!(sh scripts/have-liburing.sh)",
    "sanitize%": "<!(echo ${ODIRECT_SANITIZE:-0})"
  },
  "targets": [
    {
      "target_name": "odirect",
      "sources": [
        "addon/binding.cc",
        "addon/js_ring.cc",
        "addon/js_memory.cc",
        "addon/js_files.cc",
        "addon/js_system.cc",
        "addon/views.cc",
        "addon/backing_store.cc",
        "addon/ring.cc",
        "addon/files.cc",
        "addon/memory.cc",
        "addon/engine_uring.cc",
        "addon/engine_aio.cc",
        "addon/engine_threadpool.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        # While a worker is being terminated, JS may still call in, and a
        # failed napi call cannot throw; without this node-addon-api aborts.
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions", "-O2", "-O3"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-Wall", "-Wextra"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-Wall", "-Wextra"],
      "configurations": {
        "Release": { "cflags": ["-O3"], "cflags_cc": ["-O3"] },
        "Debug": { "cflags": ["-O0", "-g"], "cflags_cc": ["-O0", "-g"] }
      },
      "libraries": ["-lpthread", "-ldl"],
      "conditions": [
        ["liburing=='shared'", {
          "defines": ["ODIRECT_HAVE_LIBURING=1"],
          "libraries": ["-luring"]
        }],
        ["liburing=='static'", {
          # --exclude-libs keeps liburing's symbols out of the addon's dynamic
          # symbol table, so another liburing in the process cannot bind to them.
          "defines": [
            "ODIRECT_HAVE_LIBURING=1",
            "ODIRECT_LIBURING_STATIC_VERSION=<!(sh scripts/have-liburing.sh version)"
          ],
          "libraries": ["-l:liburing.a", "-Wl,--exclude-libs,liburing.a"]
        }],
        ["sanitize==1", {
          "cflags": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"],
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
