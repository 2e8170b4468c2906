#!/bin/sh
# Compatibility with Semaphore's agent-aws-stack, whose launch templates run
#   /opt/semaphore/agent/start.sh <instance config parameter name>
set -eu
if [ "$#" -ne 1 ]; then
  echo "usage: start.sh <SSM config parameter name>" >&2
  exit 2
fi
exec /usr/local/bin/imagekit-bootstrap run --config-parameter "$1"
