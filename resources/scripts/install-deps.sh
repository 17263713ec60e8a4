#!/usr/bin/env bash
# Installs everything ember needs to build, test and benchmark on Debian 12.
# Idempotent: when every package is present it prints nothing and exits 0.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev clang-format clang-tidy
    libfdt-dev libseccomp-dev libgtest-dev libgmock-dev libbenchmark-dev
    nlohmann-json3-dev libfmt-dev libcli11-dev libexpected-dev liburing-dev
    qemu-system-x86 curl acpica-tools
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
