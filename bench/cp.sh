#!/usr/bin/env bash
# odirect cp against cp and dd (direct I/O, 1 MiB blocks) on one large file:
# interleaved rounds, the order rotated each round, the page cache dropped
# before every run (root only). Prints one line per run: round, tool, seconds.
#
#   sudo bash bench/cp.sh              # 2 GiB in /var/tmp, 5 rounds
#   DIR=/mnt/data SIZE_MIB=4096 ROUNDS=3 sudo -E bash bench/cp.sh
set -euo pipefail
DIR=${DIR:-/var/tmp}
SIZE_MIB=${SIZE_MIB:-2048}
ROUNDS=${ROUNDS:-5}
CLI="$(cd "$(dirname "$0")/.." && pwd)/dist/cli/main.js"
SRC=$DIR/odirect-cpbench-src
DST=$DIR/odirect-cpbench-dst
trap 'rm -f "$SRC" "$DST"' EXIT

head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$SRC"
sync
# Once, untimed: the copy must be right before its speed means anything.
node "$CLI" cp --verify "$SRC" "$DST" >&2
cmp "$SRC" "$DST" >&2 && echo "cmp: identical" >&2

declare -A COMMAND=(
  [odirect]="node '$CLI' cp -q '$SRC' '$DST'"
  [dd]="dd if='$SRC' of='$DST' iflag=direct oflag=direct bs=1M status=none"
  [cp]="cp '$SRC' '$DST'"
  [cp+sync]="cp '$SRC' '$DST' && sync"
)
TOOLS=(odirect dd cp cp+sync)
echo "load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq 1 "$ROUNDS"); do
  shift_by=$(( (round - 1) % ${#TOOLS[@]} ))
  for tool in "${TOOLS[@]:$shift_by}" "${TOOLS[@]:0:$shift_by}"; do
    rm -f "$DST"
    sync
    if [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; fi
    start=$(date +%s.%N)
    bash -c "${COMMAND[$tool]}"
    end=$(date +%s.%N)
    echo "round $round $tool $(echo "$end - $start" | bc)"
  done
done
echo "load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
