#!/usr/bin/env bash
# Semaphore's toolbox (checkout, cache, artifact, sem-version, ...) for the agent user, installed
# as the agent's own installer does it, from a pinned release verified against its checksums,
# and loaded by the job shell through ~/.bash_profile.
set -euo pipefail

prefix=${IMAGEKIT_PREFIX:-}
version=${IMAGEKIT_TOOLBOX_VERSION:?IMAGEKIT_TOOLBOX_VERSION is not set}
case "$(uname -m)" in
  x86_64) asset=self-hosted-darwin.tar ;;
  arm64) asset=self-hosted-darwin-arm.tar ;;
  *) echo "unsupported machine: $(uname -m)" >&2; exit 1 ;;
esac
base="https://github.com/semaphoreci/toolbox/releases/download/${version}"
home="$prefix/Users/semaphore"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 5 -o "$work/$asset" "$base/$asset"
curl -fsSL --retry 5 -o "$work/checksums.txt" "$base/checksums.txt"
"$prefix/usr/local/bin/imagekit-bootstrap" verify-sha256 --checksums "$work/checksums.txt" "$work/$asset"

rm -rf "$home/.toolbox"
tar -xf "$work/$asset" -C "$work"
mv "$work/toolbox" "$home/.toolbox"
# The toolbox's installer links its commands into /usr/local/bin and adds
# `source ~/.toolbox/toolbox` to ~/.bash_profile; run as root with the agent user's HOME, it
# needs no sudo rights for that user.
HOME="$home" bash "$home/.toolbox/install-toolbox"
chown -R semaphore:staff "$home/.toolbox" "$home/.bash_profile"
