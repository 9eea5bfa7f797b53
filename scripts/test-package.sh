#!/usr/bin/env bash
# npm run test:package: the package as a user gets it, on this machine.
#
# 1. npm run prebuild, then npm pack: the tarball holds the prebuilt addon, and
#    readelf -d lists no liburing among the libraries it needs.
# 2. An empty project installs the tarball with no compiler on PATH (no cc,
#    c++, gcc, g++, make or python3: only node, npm and sh), so nothing can be
#    built: no build/ appears, require and import both work, probe() has
#    io_uring and names the prebuilt addon, and a direct write and read give
#    back the bytes.
# 3. Another empty project, with the toolchain, installs the same tarball
#    with its prebuilt addon removed: the source build works and does the same.
#
# Needs the toolchain and liburing-dev (for step 1 and 3) and the npm registry
# or npm's cache for the package's two dependencies. About 1 to 2 minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/odirect-package-XXXXXX")
trap 'rm -rf "$work"' EXIT
say() { printf 'test-package: %s\n' "$*"; }
fail() { printf 'test-package: FAILED: %s\n' "$*" >&2; exit 1; }

cd "$root"
say "npm run prebuild"
npm run --silent prebuild
say "npm pack"
tarball=$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)
[ -f "$tarball" ] || fail "npm pack made no tarball"
tar -tzf "$tarball" > "$work/files"
say "$(basename "$tarball"): $(stat -c %s "$tarball") bytes, $(wc -l < "$work/files") files"
prebuilt=package/prebuilds/linux-x64/odirect.glibc.node
grep -qx "$prebuilt" "$work/files" || fail "the tarball has no $prebuilt"
if grep -E '^package/(scripts/(test-|rss-|leak-|lsan)|test/|bench/|build/)' "$work/files"; then
  fail "the tarball holds files only the repository needs (above)"
fi
mkdir "$work/unpacked"
tar -xzf "$tarball" -C "$work/unpacked"
needed=$(readelf -d "$work/unpacked/$prebuilt" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
say "the prebuilt addon needs: $needed"
case "$needed" in *liburing*) fail "the prebuilt addon needs liburing" ;; esac

# What an application does with the package: both module systems, probe(),
# and a direct write then read of random bytes through the default engine.
cat > "$work/check.mjs" <<'EOF'
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import * as esm from 'odirect';
const require = createRequire(import.meta.url);
const cjs = require('odirect');
const [expectPrebuilt, file] = process.argv.slice(2);
if (esm.open !== cjs.open || esm.default !== cjs) throw new Error('import and require give different modules');
const report = await cjs.probe();
const uring = report.engines.find((e) => e.engine === 'io_uring');
if (!uring.available) throw new Error(`io_uring is not available: ${uring.code}: ${uring.reason}`);
if (report.defaultEngine !== 'io_uring') throw new Error(`'auto' picks ${report.defaultEngine}`);
if (report.addon.prebuilt !== (expectPrebuilt === 'prebuilt')) throw new Error(`the addon in use is ${report.addon.path}`);
const handle = await cjs.open(file, 'w+');
try {
  if (!handle.direct) throw new Error('the file is not open with O_DIRECT');
  const data = cjs.allocAligned(64 * 1024);
  randomBytes(data.length).copy(data);
  if (await handle.writeAt(data, 0) !== data.length) throw new Error('short write');
  const back = cjs.allocAligned(data.length);
  if (await handle.readAt(back, 0) !== data.length) throw new Error('short read');
  if (!back.equals(data)) throw new Error('the bytes read differ from the bytes written');
} finally {
  await handle.close();
  rmSync(file, { force: true });
}
console.log(`${report.addon.path}: engine ${handle.ring.engine}, liburing ${report.liburing} (${report.addon.liburing}), 64 KiB written and read back`);
EOF

# A PATH with node, npm and sh and nothing else.
bare=$work/bare-bin
mkdir "$bare"
ln -s "$(command -v node)" "$bare/node"
ln -s "$(command -v npm)" "$bare/npm"
ln -s "$(command -v sh)" "$bare/sh"
for tool in cc c++ gcc g++ make python3 python; do
  if PATH=$bare command -v "$tool" >/dev/null; then fail "$tool is on the bare PATH"; fi
done

install_into() { # DIR TARBALL [PATH]
  mkdir "$1"
  printf '{ "name": "app", "version": "1.0.0", "private": true }\n' > "$1/package.json"
  (cd "$1" && PATH=${3:-$PATH} npm install --no-audit --no-fund --prefer-offline --foreground-scripts "$2") > "$1.log" 2>&1 || {
    cat "$1.log" >&2
    fail "npm install of $(basename "$2") in $1"
  }
  cp "$work/check.mjs" "$1/check.mjs"
}

say "install with no compiler on PATH"
install_into "$work/app-bare" "$tarball" "$bare"
[ ! -e "$work/app-bare/node_modules/odirect/build" ] || fail "the install built the addon from source"
if grep -E 'gyp (info|ERR)' "$work/app-bare.log"; then fail "the install ran node-gyp"; fi
(cd "$work/app-bare" && PATH=$bare node check.mjs prebuilt "$work/app-bare/data") || fail "the prebuilt package does not work"

say "install with the prebuilt addon removed, built from source"
rm -rf "$work/unpacked/package/prebuilds"
source_tarball=$work/odirect-source.tgz
tar -czf "$source_tarball" -C "$work/unpacked" package
install_into "$work/app-source" "$source_tarball"
grep 'odirect: building with' "$work/app-source.log" || fail "the source build did not say what it built"
[ -f "$work/app-source/node_modules/odirect/build/Release/odirect.node" ] || fail "no source build"
(cd "$work/app-source" && node check.mjs source "$work/app-source/data") || fail "the source build does not work"
say "ok"
