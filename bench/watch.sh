#!/usr/bin/env bash
# Benchmarks the bootstrap's metadata watch against one moto_server and the tests' IMDSv2
# stand-in (imds_standin, release) on loopback, with the default watch interval:
#
# 1. the delay from a spot interruption notice (switched on in the stand-in mid-run) to the
#    agent's graceful stop (its SIGTERM trap stamps $EPOCHREALTIME), over RUNS boots;
# 2. the watch's cost over IDLE_SECONDS (default 600) of an idle agent: requests to the metadata
#    service, CPU time and peak RSS of imagekit-bootstrap, next to a boot whose agent exits at
#    once (what the boot itself costs).
#
#   bench/watch.sh [RUNS]       RUNS spot notices (default 20); IDLE_SECONDS=0 skips part 2
#
# BENCH_BIN measures a given binary instead of the static musl release build (as in
# bench/bootstrap.sh).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/setup
source scripts/setup
runs=${1:-20}
idle_seconds=${IDLE_SECONDS:-600}
target=${CARGO_TARGET_DIR:-$repo/target}

if [ -n "${BENCH_BIN:-}" ]; then
  bin=$BENCH_BIN
else
  shipped=x86_64-unknown-linux-musl
  cargo build --release -p imagekit-bootstrap --bin imagekit-bootstrap --target "$shipped" --quiet
  bin=$target/$shipped/release/imagekit-bootstrap
fi
cargo build --release -p imagekit-standins --bin imds_standin --quiet
imds_standin=$target/release/imds_standin

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
wait_file() { for _ in $(seq 600); do [ -e "$1" ] && return; sleep 0.05; done; echo "$1 never appeared" >&2; exit 1; }

moto_port=$(free_port)
"$IMAGEKIT_MOTO_SERVER" -H 127.0.0.1 -p "$moto_port" >/dev/null 2>&1 &
pids+=($!)
wait_port "$moto_port"
export AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port AWS_ACCESS_KEY_ID=testing \
  AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_EC2_METADATA_DISABLED

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

# The stand-in takes commands on fd 3 and acknowledges each on fd 4.
mkfifo "$work/imds.in" "$work/imds.out"
"$imds_standin" --instance "$instance" 123456789012 us-east-1 \
  "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" bench <"$work/imds.in" >"$work/imds.out" &
pids+=($!)
exec 3>"$work/imds.in" 4<"$work/imds.out"
read -r imds_base <&4 || { echo "the IMDS stand-in did not start" >&2; exit 1; }
imds() { echo "$*" >&3; read -r answer <&4; echo "$answer"; }
imds life-cycle "$instance" spot >/dev/null
export AWS_EC2_METADATA_SERVICE_ENDPOINT=$imds_base/$instance/
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
unset SSL_CERT_FILE SSL_CERT_DIR

# The agent: stamps its start, and on SIGTERM (the bootstrap's graceful stop) stamps the stop
# and records INTERRUPTED as its shutdown hook would. BENCH_AGENT_IDLE: exit IDLE after that
# many seconds instead.
agent_dir=$work/agent
mkdir -p "$agent_dir"
cat >"$agent_dir/agent" <<'AGENT'
#!/bin/bash
here=$(dirname "$0")
trap 'echo "$EPOCHREALTIME" >"$here/stopped"; echo INTERRUPTED >"$IMAGEKIT_SHUTDOWN_REASON_FILE"; kill "$sleeper" 2>/dev/null; exit 0' TERM
echo "$EPOCHREALTIME" >"$here/started"
sleep "${BENCH_AGENT_IDLE:-100000}" &
sleeper=$!
wait "$sleeper"
echo IDLE >"$IMAGEKIT_SHUTDOWN_REASON_FILE"
AGENT
chmod +x "$agent_dir/agent"
printf '#!/bin/sh\ntrue\n' >"$work/poweroff"
chmod +x "$work/poweroff"
cat >"$work/config.json" <<JSON
{"endpoint":"example.semaphoreci.com","token_parameter":"/bench/agent-token",
 "agent_dir":"$agent_dir","poweroff_command":["$work/poweroff"]}
JSON
export IMAGEKIT_BAKED_CONFIG=$work/absent.json
boot() { "$bin" run --log-format json --config "$work/config.json" 2>>"$work/boot.log" >/dev/null; }

# 1. Spot notice -> graceful stop. The notice comes at a random point of the watch's cycle.
for _ in $(seq "$runs"); do
  rm -f "$agent_dir/started" "$agent_dir/stopped"
  imds clear "$instance" >/dev/null
  boot &
  run=$!
  wait_file "$agent_dir/started"
  sleep "$(python3 -c 'import random; print(round(random.uniform(0, 4), 3))')"
  noticed=$EPOCHREALTIME
  imds spot "$instance" terminate >/dev/null
  wait "$run" || true
  [ -f "$agent_dir/stopped" ] || { echo "the agent was not stopped; see the log:" >&2; tail -5 "$work/boot.log" >&2; exit 1; }
  python3 -c "print(round(($(cat "$agent_dir/stopped") - $noticed) * 1000))" >>"$work/delay.ms"
done
imds clear "$instance" >/dev/null
sort -n "$work/delay.ms" | awk -v runs="$runs" '
  {a[NR]=$1; s+=$1}
  END {printf "spot notice -> graceful stop (default interval): median %d ms, mean %d ms, max %d ms over %d notices\n",
       (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), s/NR, a[NR], runs}'

# 2. The watch's cost while an idle agent runs, next to a boot whose agent exits at once.
cost() {
  local seconds=$1 before after
  before=$(imds count "$instance")
  BENCH_AGENT_IDLE=$seconds /usr/bin/time -f '%U %S %M' -o "$work/time" \
    "$bin" run --log-format json --config "$work/config.json" 2>>"$work/boot.log" >/dev/null || true
  after=$(imds count "$instance")
  read -r user sys rss <"$work/time"
  python3 - "$before" "$after" "$seconds" "$user" "$sys" "$rss" <<'PY'
import sys
before, after = (dict(kv.split("=") for kv in s.split()) for s in sys.argv[1:3])
seconds, user, sys_, rss = sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
print(f"  agent idle {seconds:>4} s: {int(after['requests']) - int(before['requests'])} metadata requests "
      f"({int(after['watch_reads']) - int(before['watch_reads'])} of them the watch's), "
      f"CPU {user + sys_:.2f} s (user {user:.2f}, sys {sys_:.2f}), peak RSS {rss // 1024} MB ({rss} kB)")
PY
}
if [ "$idle_seconds" != 0 ]; then
  echo "watch cost (whole imagekit-bootstrap process, boot and give-back included):"
  cost 0
  cost "$idle_seconds"
fi
