#!/bin/sh
# agent-aws-stack compatibility. That stack's launch templates run
#   /opt/semaphore/agent/start.sh <config parameter>
# so an imagekit image boots unchanged from them: the parameter (its `<stack>-config`, or an
# imagekit config layer) is read by imagekit-bootstrap itself.
# IMAGEKIT_BOOTSTRAP_BIN overrides the binary's path (tests only).
set -eu
if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: start.sh <config-parameter>" >&2
  exit 2
fi
exec "${IMAGEKIT_BOOTSTRAP_BIN:-/usr/local/bin/imagekit-bootstrap}" run --config-parameter "$1"
