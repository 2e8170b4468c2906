#!/usr/bin/env bash
# Renders the seven variants (imagekit.toml) with a release build and prints the wall time:
# the median of several runs, each a fresh `imagekit render` process into an empty directory.
# Target: well under 100 ms for all seven.
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

times=()
for i in $(seq "$runs"); do
  start=$(date +%s%N)
  "$IMAGEKIT_BIN" render --legacy-packer --out "$work/run-$i" >/dev/null 2>&1
  end=$(date +%s%N)
  times+=($(((end - start) / 1000)))
done
count=$(find "$work/run-1" -mindepth 1 -maxdepth 1 -type d | wc -l)
bootstrap=$(find "$work/run-1" -name imagekit-bootstrap -type f | head -n1)
size=$( [ -n "$bootstrap" ] && stat -c %s "$bootstrap" || echo 0)
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")
printf 'render: %d variants, bootstrap binary %d bytes, median %d.%03d ms over %d runs (min %d.%03d ms)\n' \
  "$count" "$size" $((median / 1000)) $((median % 1000)) "$runs" \
  $(($(printf '%s\n' "${times[@]}" | sort -n | head -n1) / 1000)) $(($(printf '%s\n' "${times[@]}" | sort -n | head -n1) % 1000))
