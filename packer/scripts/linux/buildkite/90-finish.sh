#!/usr/bin/env bash
# Record what was installed, then leave nothing instance-specific behind (a Buildkite image).
set -euo pipefail

# shellcheck source=/dev/null
. /etc/os-release
{
  echo "os=${PRETTY_NAME}"
  echo "kernel=$(uname -r)"
  echo "arch=$(uname -m)"
  echo "agent=$(/usr/local/bin/buildkite-agent --version 2>&1 | head -n1)"
  echo "bootstrap=$(/usr/local/bin/imagekit-bootstrap --version 2>&1 | head -n1)"
  if [ -x /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl ]; then
    echo "cloudwatch-agent=$(cat /opt/aws/amazon-cloudwatch-agent/bin/CWAGENT_VERSION 2>/dev/null || echo installed)"
  fi
} >/etc/imagekit/image-manifest.txt
chmod 0644 /etc/imagekit/image-manifest.txt

if [ "$ID" = ubuntu ]; then
  apt-get clean
else
  dnf clean all -q
fi
# Each instance gets its own machine id and a fresh cloud-init run (which also makes new SSH
# host keys).
cloud-init clean --logs --seed
truncate -s 0 /etc/machine-id
