#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ (or $EMBER_FUZZ_BUILD_DIR, a clang
# build configured with -DEMBER_FUZZ=ON, as CI's sanitizer build is) and runs each for FUZZ_SECONDS
# (default 20). A crash leaves its input in build-fuzz/ and fails the script. Seeds: the built
# guests, and tests/fuzz/seeds/<fuzzer>/ where it exists.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${EMBER_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-20}
if [ ! -f "$build/build.ninja" ]; then
    CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DEMBER_FUZZ=ON >/dev/null
fi
targets=$(sed -n 's/^foreach(target \(.*\))$/\1/p' "$root/tests/fuzz/CMakeLists.txt")
for t in $targets; do cmake --build "$build" --target "${t}_fuzz" -- --quiet -j"$(nproc)"; done
for fuzzer in "$build"/tests/fuzz/*_fuzz; do
    echo "--- fuzzing $(basename "$fuzzer") for ${seconds}s"
    corpus="$build/corpus/$(basename "$fuzzer")"
    mkdir -p "$corpus"
    seeds=()
    [ -d "$build/resources/guests" ] && seeds+=("$build/resources/guests")
    own_seeds=$root/tests/fuzz/seeds/$(basename "$fuzzer")
    [ -d "$own_seeds" ] && seeds+=("$own_seeds")
    (cd "$build" && "$fuzzer" -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 \
        "$corpus" "${seeds[@]}" 2>&1 | tail -4)
done
