#!/usr/bin/env bash
# The shell reference for bench/bootstrap.sh: the same boot steps as imagekit-bootstrap, done the
# way the reference stacks do them (curl for IMDSv2, aws-cli, jq for the config), up to spawning
# the agent. Environment: AWS_EC2_METADATA_SERVICE_ENDPOINT (with the instance prefix; aws-cli
# takes its credentials from there too, as on an instance), AWS_ENDPOINT_URL (moto),
# TOKEN_PARAMETER, CACHE_BUCKET, AGENT_DIR, and REFERENCE_ORDER: `concurrent` (default) runs the
# two aws-cli calls at once, as the bootstrap does its two requests; `sequential` runs them one
# after the other, as agent-aws-stack's start script does.
set -euo pipefail
imds=${AWS_EC2_METADATA_SERVICE_ENDPOINT%/}
tok=$(curl -sf -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 21600" "$imds/latest/api/token")
md() { curl -sf -H "X-aws-ec2-metadata-token: $tok" "$imds/latest/$1"; }
doc=$(md dynamic/instance-identity/document)
life_cycle=$(md meta-data/instance-life-cycle)
asg=$(md meta-data/tags/instance/aws:autoscaling:groupName || true)
instance_id=$(jq -r .instanceId <<<"$doc")
region=$(jq -r .region <<<"$doc")
export AWS_DEFAULT_REGION=$region
echo "instance $instance_id ($life_cycle) in ${asg:-no ASG}" >&2

tmp=$(mktemp -d)
token() {
  aws ssm get-parameter --name "$TOKEN_PARAMETER" --with-decryption \
    --query Parameter.Value --output text >"$tmp/token"
}
cache() { aws s3api head-bucket --bucket "$CACHE_BUCKET"; }
case ${REFERENCE_ORDER:-concurrent} in
  concurrent)
    token &
    ssm=$!
    cache &
    s3=$!
    wait "$ssm"
    wait "$s3"
    ;;
  sequential)
    token
    cache
    ;;
  *)
    echo "REFERENCE_ORDER must be concurrent or sequential, not '$REFERENCE_ORDER'" >&2
    exit 2
    ;;
esac

# 9 random bytes are 12 base64 characters; no pipe from /dev/urandom, which pipefail would fail.
suffix=$(head -c 9 /dev/urandom | base64 | tr '+/' 'xy')
name="${instance_id}__${suffix}"
umask 077
jq -n --rawfile token "$tmp/token" --arg name "$name" --arg bucket "$CACHE_BUCKET" \
  --arg hook "$AGENT_DIR/imagekit-shutdown-hook.sh" '{
    endpoint: "example.semaphoreci.com", token: ($token | rtrimstr("\n")), name: $name,
    "disconnect-after-job": true, "disconnect-after-idle-timeout": 300,
    "shutdown-hook-path": $hook,
    "env-vars": ["SEMAPHORE_CACHE_BACKEND=s3", "SEMAPHORE_CACHE_S3_BUCKET=\($bucket)",
                 "SEMAPHORE_CACHE_USE_EC2_INSTANCE_PROFILE=true"],
    files: [], "fail-on-missing-files": false, "upload-job-logs": "when-trimmed"}' \
  >"$AGENT_DIR/.config.yaml.tmp"
sync "$AGENT_DIR/.config.yaml.tmp"
mv "$AGENT_DIR/.config.yaml.tmp" "$AGENT_DIR/config.yaml"
rm -rf "$tmp"
exec "$AGENT_DIR/agent" start --config-file "$AGENT_DIR/config.yaml"
