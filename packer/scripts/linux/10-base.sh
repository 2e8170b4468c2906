#!/usr/bin/env bash
# Base system: wait for cloud-init, stop background upgrades, add the agent user.
set -euo pipefail

cloud-init status --wait >/dev/null || true

# shellcheck source=/dev/null
. /etc/os-release
case "$ID" in
  ubuntu)
    # unattended-upgrades restarted services under running jobs; the image is rebuilt instead.
    systemctl disable --now unattended-upgrades.service apt-daily.timer apt-daily-upgrade.timer || true
    export DEBIAN_FRONTEND=noninteractive
    apt-get purge -y -q unattended-upgrades
    apt-get update -q
    apt-get install -y -q --no-install-recommends ca-certificates curl tar gzip gpg
    ;;
  amzn)
    # AL2023 has no unattended-upgrades; its equivalent is dnf-automatic, off unless installed.
    for timer in dnf-automatic.timer dnf-automatic-install.timer dnf-automatic-download.timer; do
      systemctl disable --now "$timer" 2>/dev/null || true
    done
    dnf install -y -q tar gzip
    ;;
  *)
    echo "unsupported distribution: $ID" >&2
    exit 1
    ;;
esac

if ! id semaphore >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash semaphore
fi
install -d -m 0755 /etc/imagekit
