#!/usr/bin/env bash
# Renders the seven variants (imagekit.toml) and prints wall time and CPU time (user + sys):
# the median of several runs, each a fresh `imagekit render` process into an empty directory.
# Uses a release build unless IMAGEKIT_BIN names a binary. Target: well under 100 ms for all
# seven. On a shared machine wall time follows the load; CPU time does much less.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
runs=${RUNS:-9}
target=${CARGO_TARGET_DIR:-$repo/target}
if [ -z "${IMAGEKIT_BIN:-}" ]; then
  cargo build --release --workspace --bins --quiet
  IMAGEKIT_BIN=$target/release/imagekit
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -n | sed -n "$(((runs + 1) / 2))p"; }
walls=()
cpus=()
for i in $(seq "$runs"); do
  start=$(date +%s%N)
  /usr/bin/time -f '%U %S' -o "$work/time-$i" \
    "$IMAGEKIT_BIN" render --legacy-packer --out "$work/run-$i" >/dev/null 2>&1
  end=$(date +%s%N)
  walls+=($(((end - start) / 1000000)))
  read -r user sys <"$work/time-$i"
  cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%d", (u + s) * 1000 }')")
done
count=$(find "$work/run-1" -mindepth 1 -maxdepth 1 -type d | wc -l)
bootstrap=$(find "$work/run-1" -name imagekit-bootstrap -type f | head -n1)
size=0
if [ -n "$bootstrap" ]; then size=$(stat -c %s "$bootstrap"); fi
printf 'render: %d variants (bootstrap %d bytes, hashed once): median wall %d ms, median CPU %d ms, over %d runs of %s\n' \
  "$count" "$size" "$(printf '%s\n' "${walls[@]}" | median)" "$(printf '%s\n' "${cpus[@]}" | median)" \
  "$runs" "$IMAGEKIT_BIN"
