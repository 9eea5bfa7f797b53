#!/usr/bin/env bash
# The mocha suite against the addon built with AddressSanitizer and
# UndefinedBehaviorSanitizer, with LeakSanitizer on in every Node process.
#
#   scripts/test-asan.sh                 # the whole suite, as npm test runs it
#   scripts/test-asan.sh --no-config -n expose-gc --timeout 120000 build/test/30.*.test.js
#
# Arguments go to mocha. The sanitized addon is built in a copy of the
# package (ODIRECT_ASAN_DIR, default build/asan), so build/Release stays as
# it is. Every sanitizer report, from this process and from the processes
# the tests start, is written under $ODIRECT_ASAN_DIR/logs; the script fails
# when mocha fails or when any report is an ASan error, a UBSan error or a
# leak that scripts/lsan.supp (V8's own heap) does not suppress.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${ODIRECT_ASAN_DIR:-$root/build/asan}
logs=$out/logs
cc=${CC:-cc}

runtime=$("$cc" -print-file-name=libasan.so)
if [ ! -e "$runtime" ]; then
  echo "test-asan: $cc has no libasan.so (Debian: libasan8, installed with gcc)" >&2
  exit 1
fi

started=$SECONDS
cd "$root"
# The package and the tests compiled as npm test compiles them.
node_modules/.bin/tsc -p .
node_modules/.bin/tsc -p test

# dist/ loads ../build/<type>/odirect.node from its own real path, so the
# copy needs real files (a symlink would lead back to build/Release).
if [ -e "$out" ] && [ ! -e "$out/sanitizer-options" ] && [ ! -e "$out/build.log" ]; then
  echo "test-asan: $out exists and is not a previous run's copy; not removing it" >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$out"
cp -a package.json binding.gyp index.mjs .mocharc.json addon lib scripts test dist "$out"/
ln -s "$root/node_modules" "$out/node_modules"
# Built as the copy's Release addon, so that nothing needs ODIRECT_BUILD (a
# test builds an addon of its own and loads it from its Release directory);
# -O1 -g, which node-gyp's Makefile appends to its own flags, as ASan advises:
# line numbers in reports, little inlining.
echo "test-asan: building the sanitized addon in $out/build/Release"
if ! (cd "$out" && ODIRECT_SANITIZE=1 CFLAGS="-O1 -g" CXXFLAGS="-O1 -g" PATH="$root/node_modules/.bin:$PATH" \
  node scripts/gyp.js rebuild) >"$out/build.log" 2>&1; then
  cat "$out/build.log" >&2
  exit 1
fi
cp -a build/test build/bench "$out/build/"
mkdir -p "$logs" "$out/sanitizer-options"

# The ASan runtime must be the first library of every process that loads the
# addon, so it is preloaded into everything the tests start. Leak checking
# is on only in processes whose binary is named node: include_if_exists reads
# sanitizer-options/<binary name>, so the compilers, Python and tools that
# tests run (and that are not ours) are not checked.
echo "detect_leaks=1" >"$out/sanitizer-options/node"
export LD_PRELOAD=$runtime
unset ODIRECT_BUILD
export ASAN_OPTIONS="detect_leaks=0:include_if_exists=$out/sanitizer-options/%b:log_path=$logs/asan:detect_stack_use_after_return=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
# GCC's UBSan runtime ignores log_path and writes to stderr: mocha's output is
# kept and searched too, and halt_on_error makes a report fail its test.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

status=0
set +e
(cd "$out" && node node_modules/mocha/bin/mocha.js "$@") 2>&1 | tee "$logs/mocha.output"
status=${PIPESTATUS[0]}
set -e

unset LD_PRELOAD
reports=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$logs"/* 2>/dev/null || true)
for report in $reports; do
  [ "$report" = "$logs/mocha.output" ] && continue # already printed above
  echo "test-asan: sanitizer report $report:" >&2
  cat "$report" >&2
done
elapsed=$((SECONDS - started))
if [ -n "$reports" ]; then
  echo "test-asan: FAILED: $(echo "$reports" | wc -l) process(es) reported errors or leaks (${elapsed}s)" >&2
  exit 1
fi
if [ "$status" != 0 ]; then
  echo "test-asan: FAILED: mocha exited with $status (${elapsed}s)" >&2
  exit "$status"
fi
echo "test-asan: no ASan, UBSan or LeakSanitizer report (${elapsed}s)"
