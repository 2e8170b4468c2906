#!/usr/bin/env bash
# The CloudWatch agent, so boot and job logs reach CloudWatch: the pinned release from Amazon's
# bucket, installed only when `pkgutil --check-signature` finds it signed with a Developer ID
# Installer certificate that Apple issued to the pinned team (Amazon's documented check and
# output: awsdocs/amazon-cloudwatch-user-guide@20a560c:
# doc_source/verify-CloudWatch-Agent-Package-Signature.md; the version replaces `latest`).
set -euo pipefail

version=${IMAGEKIT_CLOUDWATCH_AGENT_VERSION:?IMAGEKIT_CLOUDWATCH_AGENT_VERSION is not set}
team=${IMAGEKIT_CLOUDWATCH_AGENT_SIGNER:?IMAGEKIT_CLOUDWATCH_AGENT_SIGNER is not set}
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  arm64) arch=arm64 ;;
  *) echo "unsupported machine: $(uname -m)" >&2; exit 1 ;;
esac
package=amazon-cloudwatch-agent.pkg
what="$package (CloudWatch agent $version)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 5 -o "$work/$package" \
  "https://amazoncloudwatch-agent.s3.amazonaws.com/darwin/${arch}/${version}/$package"

# pkgutil exits non-zero for an unsigned package or a broken signature; its Status line says
# whether Apple issued the certificate for distribution, and the chain's first certificate is
# the signer's, its team ID in parentheses.
report=$(pkgutil --check-signature "$work/$package" 2>&1) || {
  echo "error: $what: pkgutil finds no valid signature; not installing it" >&2
  exit 1
}
status=$(printf '%s\n' "$report" | sed -n 's/^[[:space:]]*Status: //p' | head -n 1)
leaf=$(printf '%s\n' "$report" | sed -n 's/^[[:space:]]*1\. //p' | head -n 1)
case "$status" in
  "signed by a developer certificate issued by Apple for distribution") ;;
  *)
    echo "error: $what: pkgutil says \"${status:-no status}\", not signed with an Apple-issued Developer ID certificate; not installing it" >&2
    exit 1
    ;;
esac
case "$leaf" in
  "Developer ID Installer: "*" ($team)") ;;
  *)
    echo "error: $what: signed by \"${leaf:-no certificate}\", not the pinned team $team; not installing it" >&2
    exit 1
    ;;
esac
echo "$what: $leaf"

installer -pkg "$work/$package" -target /
