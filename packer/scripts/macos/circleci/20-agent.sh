#!/usr/bin/env bash
# The task user and CircleCI's machine runner 3 (circleci-runner), verified against the sha256
# CircleCI publishes for the pinned release, and the directories it works in. The runner runs
# as root and runs each task as `circleci` through its command_prefix (imagekit-bootstrap's
# circleci-task); imagekit-bootstrap writes its config (0600, root's: the token) into the agent
# dir /opt/circleci-runner, which the task user may enter to run the task-agent the runner
# downloads there. Its launchd daemon is the only starter: no plist of the runner's own.
#
# The release, as CircleCI's own Homebrew cask fetches it
# (CircleCI-Public/homebrew-circleci@5542b7b:Casks/circleci-runner@3.1.12.rb):
#   https://circleci-binary-releases.s3.amazonaws.com/circleci-runner/${VERSION}/circleci-runner_darwin_${ARCH}.tar.gz
#     (ARCH amd64 or arm64), holding the binary `circleci-runner` at its top (`binary`).
# The release has no checksums file to fetch beside it: the digests come from imagekit's pins
# (src/spec/pins.rs, copied from that cask), uploaded as /tmp/agent-checksums.txt.
set -euo pipefail

# Empty on an image; the provisioning test installs under a scratch directory instead.
prefix=${IMAGEKIT_PREFIX:-}
tag=${IMAGEKIT_AGENT_VERSION:?IMAGEKIT_AGENT_VERSION is not set}
version=${tag#v}
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  arm64) arch=arm64 ;;
  *) echo "unsupported machine: $(uname -m)" >&2; exit 1 ;;
esac
asset="circleci-runner_darwin_${arch}.tar.gz"
base="https://circleci-binary-releases.s3.amazonaws.com/circleci-runner/${version}"
home="$prefix/Users/circleci"

if ! id circleci >/dev/null 2>&1; then
  sysadminctl -addUser circleci -fullName "CircleCI tasks" -shell /bin/bash -home /Users/circleci
  createhomedir -c -u circleci >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 5 -o "$work/$asset" "$base/$asset"
"$prefix/usr/local/bin/imagekit-bootstrap" verify-sha256 --checksums "$prefix/tmp/agent-checksums.txt" "$work/$asset"
rm -f "$prefix/tmp/agent-checksums.txt"

mkdir "$work/release"
tar -xzf "$work/$asset" -C "$work/release"
# The agent dir (the bootstrap's agent/circleci DEFAULT_DIR): root's, enterable by the task user;
# the config the bootstrap writes in it is root's alone. The working directory is the task user's.
install -d -m 0755 "$prefix/opt/circleci-runner"
install -m 0755 "$work/release/circleci-runner" "$prefix/opt/circleci-runner/circleci-runner"
install -d -m 0755 "$home/workdir"
chown circleci:staff "$home/workdir"
