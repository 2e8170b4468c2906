#!/usr/bin/env bash
# Record what was installed (a CircleCI image: the runner's release and digest, since how it
# reports its own version is not in the sources imagekit read), then reset ec2-macos-init so the next boot runs it afresh.
set -euo pipefail

{
  echo "os=$(sw_vers -productName) $(sw_vers -productVersion) ($(sw_vers -buildVersion))"
  echo "arch=$(uname -m)"
  echo "agent=circleci-runner ${IMAGEKIT_AGENT_VERSION:-} sha256 $(shasum -a 256 /opt/circleci-runner/circleci-runner | cut -d' ' -f1)"
  echo "bootstrap=$(/usr/local/bin/imagekit-bootstrap --version 2>&1 | head -n1)"
  if [ -d /opt/aws/amazon-cloudwatch-agent ]; then
    echo "cloudwatch-agent=installed"
  fi
} >/etc/imagekit/image-manifest.txt
chmod 0644 /etc/imagekit/image-manifest.txt

/usr/local/bin/ec2-macos-init clean --all
