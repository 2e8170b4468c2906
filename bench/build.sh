#!/usr/bin/env bash
# Builds a 3-variant x 3-region matrix with Debian's Packer against a local moto_server and
# compares three ways of doing it:
#   imagekit    `imagekit build` (release binary): render, look up, build and copy;
#   concurrent  the same Packer commands launched concurrently by hand (this machine's limit:
#               moto is one Python process), rendered beforehand and outside the timing;
#   sequential  the same Packer commands one after another.
# Then an unchanged rebuild (everything skipped, no Packer build).
#
# Every run gets a fresh moto, so every run really builds. The modes are interleaved: round r
# runs them in a rotated order, so load from other processes hits all three alike. Reports the
# median and range of each over ROUNDS rounds, plus moto's CPU time per run (the shared
# bottleneck) and the machine's load average before and after.
#
#   ROUNDS=5            rounds (default 5)
#   IMAGEKIT_BIN=PATH   the imagekit binary to measure (default: a release build of this tree)
#   BENCH_KEEP=DIR      keep every run's logs and JSON in DIR
# Targets: imagekit <= 1.1x the hand-launched concurrent run, well under the sequential one;
# unchanged rebuild < 1 s.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/setup
source scripts/setup
target=${CARGO_TARGET_DIR:-$repo/target}
if [ -z "${IMAGEKIT_BIN:-}" ]; then
  cargo build --release -p imagekit --bin imagekit --quiet
  IMAGEKIT_BIN=$target/release/imagekit
fi
rounds=${ROUNDS:-5}
python=$IMAGEKIT_CACHE/venv/bin/python
work=$(mktemp -d)
moto_pid=
stop_moto() { if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; moto_pid=; fi; }
trap 'stop_moto; rm -rf "$work"' EXIT

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export CHECKPOINT_DISABLE=1
ticks=$(getconf CLK_TCK)

start_moto() {
  local port
  port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$IMAGEKIT_MOTO_SERVER" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  moto_pid=$!
  export AWS_ENDPOINT_URL=http://127.0.0.1:$port
  for _ in $(seq 100); do
    "$python" -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null && break
    sleep 0.1
  done
  # moto has no Ubuntu or AL2023 images: every variant uses a stock moto AMI with an EBS root.
  source_ami=$("$python" - <<PY
import boto3
ec2 = boto3.client("ec2", endpoint_url="$AWS_ENDPOINT_URL", region_name="us-east-1")
images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "root-device-type", "Values": ["ebs"]}])["Images"]
print(images[0]["ImageId"])
PY
)
  cat >"$work/imagekit.toml" <<TOML
regions = ["us-east-1", "eu-west-1", "us-west-2"]
skip_provisioning = true

[[image]]
os = "linux"
distro = "ubuntu-24.04"
arch = "x86_64"
source_ami = "$source_ami"

[[image]]
os = "linux"
distro = "ubuntu-22.04"
arch = "x86_64"
source_ami = "$source_ami"

[[image]]
os = "linux"
distro = "al2023"
arch = "arm64"
source_ami = "$source_ami"
TOML
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# moto's user + system CPU time so far, in ms.
moto_cpu_ms() { awk -v t="$ticks" '{print int(($14 + $15) * 1000 / t)}' "/proc/$moto_pid/stat"; }

# The same Packer commands imagekit runs: one `packer build` per rendered directory, with the
# runtime var file pointing Packer at moto.
render_dirs() {
  rm -rf "$work/out"
  "$IMAGEKIT_BIN" render --legacy-packer --config "$work/imagekit.toml" --out "$work/out" >/dev/null
  printf '{"ec2_endpoint": "%s", "ssh_host": "", "ssh_port": 22, "force_deregister": false}\n' \
    "$AWS_ENDPOINT_URL" >"$work/runtime.pkrvars.json"
}
packer_build() { (cd "$1" && packer build -machine-readable -var-file="$work/runtime.pkrvars.json" . >"$1.log" 2>&1); }

count_regions() {
  "$python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(r["status"]==sys.argv[2] for v in d["variants"] for r in v["regions"]))' "$1" "$2"
}
# Every run must leave 9 region AMIs: 3 built, each copied to 2 more regions.
count_amis() {
  "$python" - <<PY
import boto3
n = 0
for region in ["us-east-1", "eu-west-1", "us-west-2"]:
    ec2 = boto3.client("ec2", endpoint_url="$AWS_ENDPOINT_URL", region_name=region)
    n += len(ec2.describe_images(Owners=["self"])["Images"])
print(n)
PY
}

results=$work/results.txt
: >"$results"
record() { # mode round wall_ms moto_cpu_ms amis
  printf '%s %s %s %s %s\n' "$@" >>"$results"
  printf '  round %s %-10s %6s ms  moto cpu %5s ms  %s AMIs\n' "$2" "$1" "$3" "$4" "$5" >&2
}

run_concurrent() {
  start_moto
  render_dirs
  local cpu0 t0 pids=() dir
  cpu0=$(moto_cpu_ms)
  t0=$(now_ms)
  for dir in "$work"/out/*/; do packer_build "${dir%/}" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid"; done
  record concurrent "$1" $(($(now_ms) - t0)) $(($(moto_cpu_ms) - cpu0)) "$(count_amis)"
  stop_moto
}

run_sequential() {
  start_moto
  render_dirs
  local cpu0 t0 dir
  cpu0=$(moto_cpu_ms)
  t0=$(now_ms)
  for dir in "$work"/out/*/; do packer_build "${dir%/}"; done
  record sequential "$1" $(($(now_ms) - t0)) $(($(moto_cpu_ms) - cpu0)) "$(count_amis)"
  stop_moto
}

run_imagekit() {
  start_moto
  local cpu0 t0 built skipped
  cpu0=$(moto_cpu_ms)
  t0=$(now_ms)
  "$IMAGEKIT_BIN" build --config "$work/imagekit.toml" --json >"$work/first.json" 2>"$work/first.log"
  record imagekit "$1" $(($(now_ms) - t0)) $(($(moto_cpu_ms) - cpu0)) "$(count_amis)"
  built=$(count_regions "$work/first.json" built)
  [ "$built" = 9 ] || { echo "bench: imagekit built $built of 9 region AMIs" >&2; exit 1; }
  cpu0=$(moto_cpu_ms)
  t0=$(now_ms)
  "$IMAGEKIT_BIN" build --config "$work/imagekit.toml" --json >"$work/second.json" 2>"$work/second.log"
  record unchanged "$1" $(($(now_ms) - t0)) $(($(moto_cpu_ms) - cpu0)) "$(count_amis)"
  skipped=$(count_regions "$work/second.json" skipped)
  [ "$skipped" = 9 ] || { echo "bench: the unchanged rebuild skipped $skipped of 9 regions" >&2; exit 1; }
  if [ -n "${BENCH_KEEP:-}" ]; then
    mkdir -p "$BENCH_KEEP"
    cp "$work/first.json" "$BENCH_KEEP/imagekit-$1.json"
    cp "$work/first.log" "$BENCH_KEEP/imagekit-$1.log"
  fi
  stop_moto
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
modes=(imagekit concurrent sequential)
for round in $(seq "$rounds"); do
  for i in 0 1 2; do
    mode=${modes[$(((round - 1 + i) % 3))]}
    "run_$mode" "$round"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
[ -z "${BENCH_KEEP:-}" ] || cp "$results" "$BENCH_KEEP/results.txt"

"$python" - "$results" "$rounds" "$IMAGEKIT_BIN" "$(packer version | head -n1)" "$load_before" "$load_after" <<'PY'
import statistics, sys
path, rounds, binary, packer, before, after = sys.argv[1:]
runs = {}
for line in open(path):
    mode, _, wall, cpu, amis = line.split()
    runs.setdefault(mode, []).append((int(wall), int(cpu), int(amis)))
for mode, rs in runs.items():
    bad = [a for _, _, a in rs if a != 9]
    if bad:
        sys.exit(f"bench: a {mode} run left {bad[0]} AMIs, not 9")
def med(mode, i=0):
    return statistics.median(r[i] for r in runs[mode])
def row(label, mode, note=""):
    walls = [r[0] for r in runs[mode]]
    print(f"  {label:<34} median {med(mode):7.0f} ms  range {min(walls):5d}-{max(walls):5d} ms"
          f"  moto cpu {med(mode, 1):5.0f} ms{note}")
print(f"build bench: 3 variants x 3 regions, {packer}, moto, {rounds} interleaved rounds")
print(f"  imagekit: {binary}")
print(f"  load average before {before}, after {after}")
row("imagekit build", "imagekit")
row("hand-launched packer, concurrent", "concurrent")
row("hand-launched packer, sequential", "sequential")
ratios = sorted(i[0] / c[0] for i, c in zip(runs["imagekit"], runs["concurrent"]))
print(f"  imagekit / concurrent: {med('imagekit') / med('concurrent'):.2f}x of medians"
      f" (per round {ratios[0]:.2f}-{ratios[-1]:.2f}; target <= 1.1)")
print(f"  imagekit / sequential: {med('imagekit') / med('sequential'):.2f}x of medians")
row("unchanged rebuild (all skipped)", "unchanged", "  (target < 1000 ms)")
PY
