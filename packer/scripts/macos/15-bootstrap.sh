#!/usr/bin/env bash
# imagekit-bootstrap as the launchd daemon com.imagekit.bootstrap: loaded at the next boot,
# never started in the image. Installed first: the scripts after it check their downloads with
# `imagekit-bootstrap verify-sha256`.
set -euo pipefail

if [ ! -f /tmp/imagekit-bootstrap ]; then
  echo "no imagekit-bootstrap in this build directory: render it again with --bootstrap-bin PATH" >&2
  exit 1
fi
# imagekit checked this binary against SHA256SUMS while planning; check again on the builder,
# so what reaches the image is exactly what was planned.
actual=$(shasum -a 256 /tmp/imagekit-bootstrap | cut -d' ' -f1)
if [ "$actual" != "${IMAGEKIT_BOOTSTRAP_SHA256:-}" ]; then
  echo "imagekit-bootstrap: sha256 $actual, expected ${IMAGEKIT_BOOTSTRAP_SHA256:-none}: not installing it" >&2
  exit 1
fi
mkdir -p /usr/local/bin /etc/imagekit
install -m 0755 -o root -g wheel /tmp/imagekit-bootstrap /usr/local/bin/imagekit-bootstrap
install -m 0644 -o root -g wheel /tmp/com.imagekit.bootstrap.plist /Library/LaunchDaemons/com.imagekit.bootstrap.plist
plutil -lint /Library/LaunchDaemons/com.imagekit.bootstrap.plist
rm -f /tmp/imagekit-bootstrap /tmp/com.imagekit.bootstrap.plist
/usr/local/bin/imagekit-bootstrap --version
