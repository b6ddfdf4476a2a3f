#!/usr/bin/env bash
# Packs the publishable package: prebuilt addons, then `npm pack` (whose `prepare` builds dist/).
# Usage: scripts/pack-package.sh [DESTINATION_DIR]; prints the tarball's path last.
set -euo pipefail
cd "$(dirname "$0")/.."
destination="${1:-.}"
mkdir -p "$destination"

# One pack at a time per checkout (the boot lab and the package test may run together).
exec 9> .pack.lock
flock 9
scripts/build-prebuilds.sh >&2
tarball="$(npm pack --silent --pack-destination "$destination" | tail -n 1)"
echo "$(cd "$destination" && pwd)/$tarball"
