#!/usr/bin/env bash
# `imagekit stack deploy` against moto's CloudFormation: a first deploy (a new stack: token
# check, image, artifacts bucket and upload, change set, execution, AZ rebalancing) and an
# unchanged deploy of the same stack (everything up to the change set, which executes nothing).
# Each is a fresh `imagekit stack deploy --yes` process; the median of RUNS runs, each into a
# stack of its own, against one moto_server. Uses a release build unless IMAGEKIT_BIN names a
# binary. Targets: first deploy < 10 s, unchanged deploy < 2 s. moto is one Python process, so
# most of the first deploy's time is moto's.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/setup
source scripts/setup
runs=${RUNS:-5}
target=${CARGO_TARGET_DIR:-$repo/target}
if [ -z "${IMAGEKIT_BIN:-}" ]; then
  cargo build --release --bin imagekit --quiet
  IMAGEKIT_BIN=$target/release/imagekit
fi
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$IMAGEKIT_MOTO_SERVER" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null; rm -rf "$work"' EXIT
export AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
for _ in $(seq 100); do
  curl -s -o /dev/null "$AWS_ENDPOINT_URL" && break
  sleep 0.1
done
aws ssm put-parameter --name /ci/bench/token --type SecureString --value bench-token >/dev/null
ami=$(aws ec2 describe-images --owners amazon --query 'Images[0].ImageId' --output text)
# The scaler's code: a small zip (moto stores it, never runs it), as the tests use.
python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w"); z.writestr("bootstrap", "#!/bin/sh\n"); z.close()' "$work/scaler.zip"

ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
median() { sort -n | sed -n "$(((runs + 1) / 2))p"; }
firsts=()
unchanged=()
for i in $(seq "$runs"); do
  cat >"$work/imagekit.toml" <<TOML
[[stack]]
name = "bench-$i"
os = "linux"
image = "$ami"
region = "us-east-1"
endpoint = "acme.semaphoreci.com"
token_parameter = "/ci/bench/token"
instance_types = ["t3.large"]
max = 4
root_volume = { size = 8 }
TOML
  deploy() { (cd "$work" && "$IMAGEKIT_BIN" stack deploy --yes --scaler-zip scaler.zip >"$work/out-$i" 2>&1); }
  start=$(date +%s%N)
  deploy
  firsts+=("$(ms "$start")")
  start=$(date +%s%N)
  deploy
  unchanged+=("$(ms "$start")")
  grep -q 'no changes; nothing executed' "$work/out-$i" || { cat "$work/out-$i"; exit 1; }
done
printf 'stack deploy against moto: first deploy median %d ms (target < 10000), unchanged deploy median %d ms (target < 2000), over %d runs of %s\n' \
  "$(printf '%s\n' "${firsts[@]}" | median)" "$(printf '%s\n' "${unchanged[@]}" | median)" "$runs" "$IMAGEKIT_BIN"
