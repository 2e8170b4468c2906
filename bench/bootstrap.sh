#!/usr/bin/env bash
# Benchmarks imagekit-bootstrap, the static musl binary that images ship, against the same steps
# done with curl + aws-cli + jq (bench/reference.sh, in both its orders), interleaved in one run,
# against one moto_server and the tests' IMDSv2 server (imagekit-standins' imds_standin, release) on
# loopback. Both contenders boot as on an instance: their AWS credentials come from IMDS, and
# neither AWS keys nor SSL_CERT_* are set. Measures process start -> agent spawned (the stand-in agent stamps $EPOCHREALTIME and exits), peak RSS, the
# stripped release binary's size, and (unless BENCH_LOAD=0) the 200-boot load test.
#
#   bench/bootstrap.sh [RUNS]        RUNS of imagekit-bootstrap (default 41); each reference order
#                                    runs after every 4th of them
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/setup
source scripts/setup
runs=${1:-41}
target=${CARGO_TARGET_DIR:-$repo/target}

# BENCH_BIN: measure a given binary instead (e.g. the glibc release build, or a debug build for a
# quick look; the figures then say nothing about what images ship).
if [ -n "${BENCH_BIN:-}" ]; then
  bin=$BENCH_BIN
else
  shipped=x86_64-unknown-linux-musl
  cargo build --release -p imagekit-bootstrap --bin imagekit-bootstrap --target "$shipped" --quiet
  bin=$target/$shipped/release/imagekit-bootstrap
fi
cargo build --release -p imagekit-standins --bin imds_standin --quiet
imds_standin=$target/release/imds_standin
size=$(stat -c %s "$bin")
strip -o "${bin}.stripped" "$bin"
stripped=$(stat -c %s "${bin}.stripped")

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

moto_port=$(free_port)
"$IMAGEKIT_MOTO_SERVER" -H 127.0.0.1 -p "$moto_port" >/dev/null 2>&1 &
pids+=($!)
wait_port "$moto_port"
export AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port AWS_ACCESS_KEY_ID=testing \
  AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_EC2_METADATA_DISABLED

# A real fleet in moto: launch template + ASG, the token, the cache bucket.
image=$(aws ec2 describe-images --owners amazon --query 'Images[0].ImageId' --output text)
aws ec2 create-launch-template --launch-template-name bench \
  --launch-template-data "{\"ImageId\":\"$image\",\"InstanceType\":\"t3.micro\"}" >/dev/null
# shellcheck disable=SC2016 # $Latest is literal
aws autoscaling create-auto-scaling-group --auto-scaling-group-name bench \
  --launch-template LaunchTemplateName=bench,Version='$Latest' \
  --min-size 0 --max-size 10 --desired-capacity 1 --availability-zones us-east-1a
instance=$(aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names bench \
  --query 'AutoScalingGroups[0].Instances[0].InstanceId' --output text)
aws ssm put-parameter --name /bench/agent-token --type SecureString --value bench-token-value >/dev/null
aws s3api create-bucket --bucket bench-cache >/dev/null

# The instance profile's keys are the set-up's: moto's default account takes any.
mkfifo "$work/imds.out"
"$imds_standin" --instance "$instance" 123456789012 us-east-1 \
  "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" bench >"$work/imds.out" &
pids+=($!)
read -r imds_base <"$work/imds.out" || { echo "the IMDS stand-in did not start" >&2; exit 1; }
export AWS_EC2_METADATA_SERVICE_ENDPOINT=$imds_base/$instance/
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
unset SSL_CERT_FILE SSL_CERT_DIR # this container sets them; an instance's systemd service has neither

agent_dir=$work/agent
mkdir -p "$agent_dir"
cat >"$agent_dir/agent" <<'AGENT'
#!/bin/bash
echo "$EPOCHREALTIME" >"$(dirname "$0")/spawned"
AGENT
chmod +x "$agent_dir/agent"
printf '#!/bin/sh\ntrue\n' >"$work/poweroff"
chmod +x "$work/poweroff"
cat >"$work/config.json" <<JSON
{"endpoint":"example.semaphoreci.com","token_parameter":"/bench/agent-token",
 "cache_bucket":"bench-cache","agent_dir":"$agent_dir","poweroff_command":["$work/poweroff"]}
JSON
export IMAGEKIT_BAKED_CONFIG=$work/absent.json TOKEN_PARAMETER=/bench/agent-token \
  CACHE_BUCKET=bench-cache AGENT_DIR=$agent_dir

# One measurement: ms from just before exec to the agent's stamp.
measure() {
  rm -f "$agent_dir/spawned"
  local start=$EPOCHREALTIME
  "$@" >/dev/null 2>&1 || true
  [ -f "$agent_dir/spawned" ] || { echo "the agent was not reached: $*" >&2; exit 1; }
  python3 -c "print(round(($(cat "$agent_dir/spawned") - $start) * 1000, 2))"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

boot() { "$bin" run --log-format json --config "$work/config.json"; }

reference() { REFERENCE_ORDER=$1 bench/reference.sh; }

measure boot >/dev/null # warm-up: page cache
for i in $(seq "$runs"); do
  measure boot >>"$work/boot.ms"
  if (( i % 4 == 0 )); then
    measure reference concurrent >>"$work/concurrent.ms"
    measure reference sequential >>"$work/sequential.ms"
  fi
done

/usr/bin/time -f '%M' -o "$work/rss" "$bin" run --log-format json --config "$work/config.json" \
  >/dev/null 2>&1 || true
rss_kb=$(tail -1 "$work/rss")

boot_median=$(median <"$work/boot.ms")
echo "imagekit-bootstrap: median ${boot_median} ms over ${runs} runs (min $(sort -n "$work/boot.ms" | head -1), max $(sort -n "$work/boot.ms" | tail -1))"
echo "                    $bin"
echo "shell reference:    curl + aws-cli $(aws --version 2>&1 | cut -d' ' -f1 | cut -d/ -f2) + jq"
for order in concurrent sequential; do
  ref_median=$(median <"$work/$order.ms")
  ratio=$(python3 -c "print(round($ref_median / $boot_median, 1))")
  printf '  %-10s median %s ms over %s runs: %sx\n' "$order" "$ref_median" "$(wc -l <"$work/$order.ms")" "$ratio"
done
echo "peak RSS:           $(( rss_kb / 1024 )) MB (${rss_kb} kB, whole run incl. give-back)"
echo "binary:             $(( size / 1024 )) kB release, $(( stripped / 1024 )) kB stripped"

if [ "${BENCH_LOAD:-1}" != 0 ]; then
  echo "load: 200 concurrent boots (cargo test ... --ignored load_200)" >&2
  unset AWS_ENDPOINT_URL AWS_EC2_METADATA_SERVICE_ENDPOINT
  cargo build --workspace --bins --quiet
  IMAGEKIT_LOAD_BOOTS=${BENCH_LOAD_BOOTS:-200} cargo test --quiet --test integration \
    load_200_concurrent_boots_all_reach_their_agent -- --ignored --nocapture 2>&1 | grep -E '^load:|test result|panicked'
fi
