#!/usr/bin/env bash
# One `imagekit scale` tick's own time against moto: the release binary runs as a daemon with a
# 20 ms interval against moto (the ASG) and the CI API stand-in from tests/support, which answers
# at once. Each --json tick reports tick_ms and api_ms (the CI API's share); own_ms is the rest:
# DescribeAutoScalingGroups, the decision, SetDesiredCapacity when due, and the log line.
# Target: median own_ms <= 10.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/setup
source scripts/setup

target_dir=${CARGO_TARGET_DIR:-$repo/target}
cargo build --release --quiet --bin imagekit
export IMAGEKIT_BENCH_BIN=$target_dir/release/imagekit
export IMAGEKIT_BENCH_TICKS=${IMAGEKIT_BENCH_TICKS:-300}
# The harness (moto, stand-in) is a debug test binary; only the measured binary is release.
out=$(cargo test --quiet --test integration scale::bench_tick -- --ignored --nocapture 2>&1)
line=$(grep '^BENCH ' <<<"$out") || { echo "$out"; exit 1; }
echo "$line"
median=$(sed -n 's/.*own_ms_median=\([0-9.]*\).*/\1/p' <<<"$line")
echo "one tick's own time (median of ${IMAGEKIT_BENCH_TICKS} ticks, CI API excluded): ${median} ms (target <= 10 ms)"
