#!/bin/sh
# Prints 1 when liburing's header and library are usable, else 0 (and says why on stderr,
# once, at install time). Used by binding.gyp. ODIRECT_NO_LIBURING=1 leaves
# liburing out even where it is installed.
if [ "${ODIRECT_NO_LIBURING:-}" = 1 ]; then
  echo "odirect: ODIRECT_NO_LIBURING=1: building with the aio and threadpool engines only" >&2
  echo 0
elif printf '#include <liburing.h>\nint main(void){struct io_uring r; return io_uring_queue_init(1,&r,0);}\n' |
   ${CC:-cc} -x c - -o /dev/null -luring >/dev/null 2>&1; then
  echo 1
else
  echo "odirect: liburing not found (install liburing-dev); building with the aio and threadpool engines only" >&2
  echo 0
fi
