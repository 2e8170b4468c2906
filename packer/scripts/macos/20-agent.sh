#!/usr/bin/env bash
# The agent user and the Semaphore agent, verified against the checksums its release publishes.
set -euo pipefail

# Empty on an image; the provisioning test installs under a scratch directory instead.
prefix=${IMAGEKIT_PREFIX:-}
version=${IMAGEKIT_AGENT_VERSION:?IMAGEKIT_AGENT_VERSION is not set}
case "$(uname -m)" in
  x86_64) arch=x86_64 ;;
  arm64) arch=arm64 ;;
  *) echo "unsupported machine: $(uname -m)" >&2; exit 1 ;;
esac
asset="agent_Darwin_${arch}.tar.gz"
base="https://github.com/semaphoreci/agent/releases/download/${version}"
agent_dir="$prefix/opt/semaphore/agent"

if ! id semaphore >/dev/null 2>&1; then
  sysadminctl -addUser semaphore -fullName "Semaphore agent" -shell /bin/zsh -home /Users/semaphore
  createhomedir -c -u semaphore >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 5 -o "$work/$asset" "$base/$asset"
curl -fsSL --retry 5 -o "$work/agent_checksums.txt" "$base/agent_checksums.txt"
"$prefix/usr/local/bin/imagekit-bootstrap" verify-sha256 --checksums "$work/agent_checksums.txt" "$work/$asset"

mkdir -p "$agent_dir"
tar -xzf "$work/$asset" -C "$agent_dir"
chown -R semaphore:staff "$agent_dir"
"$agent_dir/agent" version
