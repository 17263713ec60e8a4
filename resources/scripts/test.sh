#!/usr/bin/env bash
# README command 2: install dependencies, build, and run the whole test suite (unit, KVM, guest
# and lab tiers; KVM tests skip with a reason where /dev/kvm is missing).
# Under CI=true it also builds with ASan+UBSan and runs the unit tests there, and runs each
# libFuzzer target briefly (resources/scripts/fuzz.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/resources/scripts/install-deps.sh"
"$root/resources/scripts/build.sh"
build=${EMBER_BUILD_DIR:-$root/build}
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" "$@"

if [ "${CI:-}" = "true" ]; then
    # One clang build serves both: libraries instrumented for ASan + UBSan and for libFuzzer's
    # coverage; the unit tests link them with the sanitizers, the fuzz targets with libFuzzer.
    echo "--- CI: unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (clang)"
    # Line tables only (not full debug info): reports keep file:line, the build is faster.
    CC=clang CXX=clang++ cmake -S "$root" -B "$root/build-asan" -G Ninja \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMBER_SANITIZE=ON -DEMBER_FUZZ=ON \
        "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -gline-tables-only -DNDEBUG" \
        "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -gline-tables-only -DNDEBUG" >/dev/null
    cmake --build "$root/build-asan" --target ember_unit_tests -- --quiet -j"$(nproc)"
    ctest --test-dir "$root/build-asan" --output-on-failure -j"$(nproc)" -L unit
    echo "--- CI: fuzz targets"
    EMBER_FUZZ_BUILD_DIR="$root/build-asan" FUZZ_SECONDS=${FUZZ_SECONDS:-8} \
        "$root/resources/scripts/fuzz.sh"
fi
