#!/usr/bin/env bash
# Renders the three example stacks (Linux, Windows, macOS: the [[stack]] tables of imagekit.toml)
# and prints wall time and CPU time (user + sys): the median of several runs, each a fresh
# `imagekit stack render --out DIR` process into an empty directory. Uses a release build unless
# IMAGEKIT_BIN names a binary. Target: under 100 ms for all three. On a shared machine wall
# time follows the load; CPU time does much less.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
runs=${RUNS:-9}
target=${CARGO_TARGET_DIR:-$repo/target}
if [ -z "${IMAGEKIT_BIN:-}" ]; then
  cargo build --release --bin imagekit --quiet
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
    "$IMAGEKIT_BIN" stack render --config "$repo/imagekit.toml" --out "$work/run-$i" >/dev/null
  end=$(date +%s%N)
  walls+=($(((end - start) / 1000000)))
  read -r user sys <"$work/time-$i"
  cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%d", (u + s) * 1000 }')")
done
count=$(find "$work/run-1" -name '*.json' | wc -l)
bytes=$(cat "$work/run-1"/*.json | wc -c)
printf 'stack render: %d stacks (%d bytes of templates): median wall %d ms, median CPU %d ms, over %d runs of %s\n' \
  "$count" "$bytes" "$(printf '%s\n' "${walls[@]}" | median)" "$(printf '%s\n' "${cpus[@]}" | median)" \
  "$runs" "$IMAGEKIT_BIN"
