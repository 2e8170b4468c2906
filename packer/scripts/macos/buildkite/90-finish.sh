#!/usr/bin/env bash
# Record what was installed (a Buildkite image), then reset ec2-macos-init so the next boot runs it afresh.
set -euo pipefail

{
  echo "os=$(sw_vers -productName) $(sw_vers -productVersion) ($(sw_vers -buildVersion))"
  echo "arch=$(uname -m)"
  echo "agent=$(/usr/local/bin/buildkite-agent --version 2>&1 | head -n1)"
  echo "bootstrap=$(/usr/local/bin/imagekit-bootstrap --version 2>&1 | head -n1)"
  if [ -d /opt/aws/amazon-cloudwatch-agent ]; then
    echo "cloudwatch-agent=installed"
  fi
} >/etc/imagekit/image-manifest.txt
chmod 0644 /etc/imagekit/image-manifest.txt

/usr/local/bin/ec2-macos-init clean --all
