#!/usr/bin/env bash
# Builds a 3-variant x 3-region matrix with Debian's Packer against a local moto_server and
# prints three wall times: imagekit build; the same Packer commands launched concurrently by hand
# (this machine's limit: moto is one Python process); and the same commands one after another.
# Then an unchanged rebuild. Each phase gets a fresh moto, so every phase really builds.
# Targets: imagekit <= 1.1x the hand-launched concurrent run; unchanged rebuild < 1 s.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/setup
source scripts/setup
target=${CARGO_TARGET_DIR:-$repo/target}
if [ -z "${IMAGEKIT_BIN:-}" ]; then
  cargo build --workspace --bins --quiet
  IMAGEKIT_BIN=$target/debug/imagekit
fi
python=$IMAGEKIT_CACHE/venv/bin/python
work=$(mktemp -d)
moto_pid=
stop_moto() { if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; moto_pid=; fi; }
trap 'stop_moto; rm -rf "$work"' EXIT

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export CHECKPOINT_DISABLE=1

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

# The same Packer commands imagekit runs: one `packer build` per rendered directory, with the
# runtime var file pointing Packer at moto.
render_dirs() {
  rm -rf "$work/out"
  "$IMAGEKIT_BIN" render --legacy-packer --config "$work/imagekit.toml" --out "$work/out" >/dev/null
  printf '{"ec2_endpoint": "%s", "ssh_host": "", "ssh_port": 22, "force_deregister": false}\n' \
    "$AWS_ENDPOINT_URL" >"$work/runtime.pkrvars.json"
}
packer_build() { (cd "$1" && packer build -machine-readable -var-file="$work/runtime.pkrvars.json" . >"$1.log" 2>&1); }

start_moto
render_dirs
t0=$(now_ms)
pids=()
for dir in "$work"/out/*/; do packer_build "${dir%/}" & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid"; done
hand_concurrent=$(($(now_ms) - t0))
stop_moto

start_moto
render_dirs
t0=$(now_ms)
for dir in "$work"/out/*/; do packer_build "${dir%/}"; done
hand_sequential=$(($(now_ms) - t0))
stop_moto

start_moto
t0=$(now_ms)
"$IMAGEKIT_BIN" build --config "$work/imagekit.toml" --json >"$work/first.json" 2>"$work/first.log"
imagekit=$(($(now_ms) - t0))
t0=$(now_ms)
"$IMAGEKIT_BIN" build --config "$work/imagekit.toml" --json >"$work/second.json" 2>"$work/second.log"
unchanged=$(($(now_ms) - t0))
count_regions() {
  "$python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(r["status"]==sys.argv[2] for v in d["variants"] for r in v["regions"]))' "$1" "$2"
}
built=$(count_regions "$work/first.json" built)
skipped=$(count_regions "$work/second.json" skipped)
stop_moto

ratio=$("$python" -c "print(f'{$imagekit / $hand_concurrent:.2f}')")
printf 'build bench: 3 variants x 3 regions, Packer %s, moto\n' "$(packer version | head -n1)"
printf '  imagekit build:                  %6d ms  (%d of 9 region AMIs built)\n' "$imagekit" "$built"
printf '  hand-launched packer, concurrent: %6d ms\n' "$hand_concurrent"
printf '  hand-launched packer, sequential: %6d ms\n' "$hand_sequential"
printf '  imagekit / concurrent:            %6s x  (target <= 1.1)\n' "$ratio"
printf '  unchanged rebuild:                %6d ms  (%d of 9 regions skipped; target < 1000 ms)\n' "$unchanged" "$skipped"
