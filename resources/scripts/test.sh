#!/usr/bin/env bash
# README command 2: install dependencies, build, and run the whole test suite (unit, KVM, guest
# and lab tiers; KVM tests skip with a reason where /dev/kvm is missing).
# Under CI=true it also builds with ASan+UBSan and runs the unit tests there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/resources/scripts/install-deps.sh"
"$root/resources/scripts/build.sh"
build=${EMBER_BUILD_DIR:-$root/build}
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" "$@"

if [ "${CI:-}" = "true" ]; then
    echo "--- CI: unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
    EMBER_BUILD_DIR="$root/build-asan" "$root/resources/scripts/build.sh" -DEMBER_SANITIZE=ON
    ctest --test-dir "$root/build-asan" --output-on-failure -j"$(nproc)" -L unit
fi
