#!/usr/bin/env bash
# The Buildkite agent (v3), verified against the SHA256SUMS its release publishes, and the
# directories it works in. Only the binary is installed: imagekit-bootstrap writes the agent's
# config and is the only service that starts it, so the release's sample config and the
# packages' systemd units are left out.
#
# The release, as buildkite/agent@d312b88 (tag v3.137.0) publishes it:
#   https://github.com/buildkite/agent/releases/download/v${VERSION}/buildkite-agent-linux-${ARCH}-${VERSION}.tar.gz
#     (install.sh: DOWNLOAD_FILENAME, DOWNLOAD_URL; ARCH amd64 or arm64)
#   buildkite-agent-${VERSION}.SHA256SUMS beside it, written by `sha256sum *`
#     (.buildkite/steps/build-github-release.sh; install.sh: SHASUMS_FILE)
#   the tarball holds ./buildkite-agent, ./bootstrap.sh, ./buildkite-agent.cfg and ./hooks/
#     (scripts/build-github-release.sh)
# The directories are the Linux packages' (packaging/linux/root/usr/share/buildkite-agent/
# buildkite-agent.cfg: build-path, hooks-path, plugins-path).
set -euo pipefail

# Empty on an image; the provisioning test installs under a scratch directory instead.
prefix=${IMAGEKIT_PREFIX:-}
tag=${IMAGEKIT_AGENT_VERSION:?IMAGEKIT_AGENT_VERSION is not set}
version=${tag#v}
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "unsupported machine: $(uname -m)" >&2; exit 1 ;;
esac
asset="buildkite-agent-linux-${arch}-${version}.tar.gz"
sums="buildkite-agent-${version}.SHA256SUMS"
base="https://github.com/buildkite/agent/releases/download/v${version}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 5 -o "$work/$asset" "$base/$asset"
curl -fsSL --retry 5 -o "$work/$sums" "$base/$sums"
"$prefix/usr/local/bin/imagekit-bootstrap" verify-sha256 --checksums "$work/$sums" "$work/$asset"

mkdir "$work/release"
tar -xzf "$work/$asset" -C "$work/release"
install -m 0755 "$work/release/buildkite-agent" "$prefix/usr/local/bin/buildkite-agent"
# The hooks are root's: a job runs as buildkite-agent and must not rewrite what runs around the
# next one. Plugins and builds are the agent's: it checks them out as each job starts.
install -d -m 0755 "$prefix/etc/buildkite-agent" "$prefix/etc/buildkite-agent/hooks"
install -d -m 0755 "$prefix/etc/buildkite-agent/plugins" \
  "$prefix/var/lib/buildkite-agent" "$prefix/var/lib/buildkite-agent/builds"
chown buildkite-agent:buildkite-agent "$prefix/etc/buildkite-agent/plugins" \
  "$prefix/var/lib/buildkite-agent" "$prefix/var/lib/buildkite-agent/builds"
# imagekit-bootstrap starts the agent from its dir (<agent_dir>/buildkite-agent, as on Windows).
ln -sfn ../../usr/local/bin/buildkite-agent "$prefix/etc/buildkite-agent/buildkite-agent"
# Prints "buildkite-agent version X" (buildkite/agent@d312b88:main.go, printVersion).
"$prefix/usr/local/bin/buildkite-agent" --version
