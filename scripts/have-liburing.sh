#!/bin/sh
# Prints how the addon gets liburing, for binding.gyp, and says on stderr what
# it builds:
#   0       no liburing: the aio and threadpool engines only (liburing-dev is
#           missing, or ODIRECT_NO_LIBURING=1 leaves it out);
#   shared  linked against liburing.so (-luring);
#   static  liburing.a linked into the addon (ODIRECT_LIBURING=static, as
#           npm run prebuild does), so the addon needs no liburing at run time.
#           Fails, rather than building without io_uring, when liburing.a is missing.
# With `version`, prints the version of the liburing being linked (pkg-config),
# for the addon to report when linked statically.
if [ "${1:-}" = version ]; then
  pkg-config --modversion liburing 2>/dev/null || echo unknown
  exit 0
fi
probe='#include <liburing.h>\nint main(void){struct io_uring r; return io_uring_queue_init(1,&r,0);}\n'
if [ "${ODIRECT_LIBURING:-}" = static ]; then
  if printf "$probe" | ${CC:-cc} -x c - -o /dev/null -l:liburing.a >/dev/null 2>&1; then
    echo "odirect: building with liburing.a linked in: io_uring, aio and threadpool engines" >&2
    echo static
  else
    echo "odirect: ODIRECT_LIBURING=static but liburing.a does not link (install liburing-dev)" >&2
    exit 1
  fi
elif [ "${ODIRECT_NO_LIBURING:-}" = 1 ]; then
  echo "odirect: ODIRECT_NO_LIBURING=1: building with the aio and threadpool engines only" >&2
  echo 0
elif printf "$probe" | ${CC:-cc} -x c - -o /dev/null -luring >/dev/null 2>&1; then
  echo "odirect: building with liburing: io_uring, aio and threadpool engines" >&2
  echo shared
else
  echo "odirect: liburing not found (install liburing-dev); building with the aio and threadpool engines only" >&2
  echo 0
fi
