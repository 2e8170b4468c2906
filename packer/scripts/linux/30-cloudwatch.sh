#!/usr/bin/env bash
# The CloudWatch agent, so boot and job logs reach CloudWatch: the pinned release from Amazon's
# bucket, installed only when its detached GPG signature is good and made by the pinned primary
# key. The key file is downloaded beside the package, so it is trusted for nothing by itself:
# only a signature whose primary-key fingerprint is the pin passes.
# (The URLs, the key file and the fingerprint: awsdocs/amazon-cloudwatch-user-guide@20a560c:
# doc_source/verify-CloudWatch-Agent-Package-Signature.md; the version replaces `latest`.)
set -euo pipefail

# Empty on an image; the provisioning test installs under a scratch directory instead.
prefix=${IMAGEKIT_PREFIX:-}
version=${IMAGEKIT_CLOUDWATCH_AGENT_VERSION:?IMAGEKIT_CLOUDWATCH_AGENT_VERSION is not set}
signer=${IMAGEKIT_CLOUDWATCH_AGENT_SIGNER:?IMAGEKIT_CLOUDWATCH_AGENT_SIGNER is not set}
signer=$(printf '%s' "$signer" | tr -d ' ' | tr '[:lower:]' '[:upper:]')

# In a subshell: os-release's own VERSION, NAME and so on stay out of this script.
# shellcheck source=/dev/null
distro=$(. "$prefix/etc/os-release" && printf '%s' "$ID")
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "unsupported machine: $(uname -m)" >&2; exit 1 ;;
esac
case "$distro" in
  ubuntu | debian) platform=$distro ext=deb ;;
  amzn) platform=amazon_linux ext=rpm ;;
  *) echo "unsupported distribution: $distro" >&2; exit 1 ;;
esac
bucket="https://amazoncloudwatch-agent.s3.amazonaws.com"
package="amazon-cloudwatch-agent.$ext"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 5 -o "$work/$package" "$bucket/$platform/$arch/$version/$package"
curl -fsSL --retry 5 -o "$work/$package.sig" "$bucket/$platform/$arch/$version/$package.sig"
curl -fsSL --retry 5 -o "$work/amazon-cloudwatch-agent.gpg" "$bucket/assets/amazon-cloudwatch-agent.gpg"

# A throwaway keyring: nothing the image or root already trusts takes part.
export GNUPGHOME="$work/gnupg"
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --no-autostart --quiet --import "$work/amazon-cloudwatch-agent.gpg" 2>"$work/gpg.log" || true
# gpg's machine-readable status lines (doc/DETAILS in GnuPG): GOODSIG for a good signature by a
# valid key, VALIDSIG whose 10th argument is the signing key's primary-key fingerprint, and
# BADSIG, ERRSIG, EXPSIG, EXPKEYSIG or REVKEYSIG for each way a signature fails.
status=$(gpg --batch --no-autostart --status-fd 1 --verify "$work/$package.sig" "$work/$package" 2>>"$work/gpg.log") || true
seen() { printf '%s\n' "$status" | awk -v k="$1" '$1 == "[GNUPG:]" && $2 == k { print $3; exit }'; }
primary=$(printf '%s\n' "$status" | awk '$1 == "[GNUPG:]" && $2 == "VALIDSIG" { print $12 }')
failed=
for word in BADSIG ERRSIG EXPSIG EXPKEYSIG REVKEYSIG; do
  if [ -n "$(seen "$word")" ]; then failed=$word; break; fi
done
what="$package (CloudWatch agent $version)"
if [ -n "$failed" ]; then
  case "$failed" in
    BADSIG) why="its signature does not match the package (BADSIG): the download is corrupt or was changed" ;;
    ERRSIG) why="it is signed by key $(seen ERRSIG), which is not in Amazon's key file (ERRSIG)" ;;
    *) why="gpg reports $failed for its signature" ;;
  esac
elif [ -z "$(seen GOODSIG)" ] || [ -z "$primary" ]; then
  why="gpg found no good signature in $package.sig"
elif [ "$primary" != "$signer" ]; then
  why="it is signed by the key $primary, not the pinned $signer"
else
  why=
fi
if [ -n "$why" ]; then
  echo "error: $what: $why; not installing it" >&2
  exit 1
fi
echo "$what: signed by the pinned key $signer"

case "$ext" in
  deb) dpkg -i -E "$work/$package" ;;
  rpm) rpm -U "$work/$package" ;;
esac
