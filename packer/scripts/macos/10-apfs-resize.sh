#!/usr/bin/env bash
# Grow the APFS container to the whole EBS root volume (the AMI's is smaller).
set -euo pipefail

disk=$(diskutil list physical external | awk '/^\/dev\/disk/ { print $1; exit }')
container=$(diskutil list physical external | awk '/Apple_APFS/ { print $NF; exit }')
if [ -z "$disk" ] || [ -z "$container" ]; then
  echo "could not find the root disk and its APFS container" >&2
  exit 1
fi
yes | diskutil repairDisk "$disk"
diskutil apfs resizeContainer "$container" 0
