#!/usr/bin/env bash
# README command 1: install dependencies, build, and boot the bundled hello guest with timings.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/resources/scripts/install-deps.sh"
"$root/resources/scripts/build.sh"
echo "--- booting the bundled hello guest: ember --timings"
exec "${EMBER_BUILD_DIR:-$root/build}/vmm/ember" --timings "$@"
