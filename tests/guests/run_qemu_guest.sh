#!/bin/sh
# Boots one test guest under QEMU microvm and checks its serial output and exit status.
#
# usage: run_qemu_guest.sh --kernel ELF [--append CMDLINE] [--accel tcg|kvm]
#            --status N|shutdown (--expect FILE | --expect-spew N) [--timeout SECONDS]
#            [--stdin FILE]
#
# --status is the status the guest hands to the exit port (0xf4); QEMU's isa-debug-exit turns
# it into the process exit code ((N << 1) | 1) & 0xff. "shutdown" expects a triple fault, which
# -no-reboot turns into a clean QEMU exit (0). Output lines "... at rip 0x<hex> ..." are
# compared as "at rip 0xRIP", since addresses move between builds. --expect-spew N expects the
# output of `spew lines=N` (docs/guests.md). Exits 77 (skip) when qemu-system-x86_64 is
# missing, or for --accel kvm when /dev/kvm cannot be opened. --stdin FILE is piped to QEMU's
# stdin, which -serial stdio hands to the guest's UART (QEMU reads it only while the receiver has
# room); without it QEMU inherits stdin.
set -eu

qemu=${QEMU:-qemu-system-x86_64}
kernel='' append='' accel=tcg status='' expect='' spew='' timeout=60 stdin_file=''

while [ $# -gt 0 ]; do
    case $1 in
    --kernel) kernel=$2 ;;
    --append) append=$2 ;;
    --accel) accel=$2 ;;
    --status) status=$2 ;;
    --expect) expect=$2 ;;
    --expect-spew) spew=$2 ;;
    --timeout) timeout=$2 ;;
    --stdin) stdin_file=$2 ;;
    *)
        echo "run_qemu_guest.sh: unknown argument '$1'" >&2
        exit 2
        ;;
    esac
    shift 2
done
if [ -z "$kernel" ] || [ -z "$status" ] || { [ -z "$expect" ] && [ -z "$spew" ]; }; then
    echo "run_qemu_guest.sh: need --kernel, --status and --expect or --expect-spew" >&2
    exit 2
fi

if ! command -v "$qemu" >/dev/null 2>&1; then
    echo "SKIP: $qemu not found"
    exit 77
fi
if [ "$accel" = kvm ] && ! { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then
    echo "SKIP: /dev/kvm is not usable"
    exit 77
fi
if [ ! -f "$kernel" ]; then
    echo "FAIL: guest image '$kernel' not built (build the ember_guests target)" >&2
    exit 1
fi

if [ "$status" = shutdown ]; then
    want_rc=0
else
    # shellcheck disable=SC2004 # expand first: status may be hex (0x7f)
    want_rc=$(((($status << 1) | 1) & 0xff))
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -n "$spew" ]; then
    awk -v n="$spew" 'BEGIN {
        for (i = 0; i < n; i++) printf "spew line %07d abcdefghijklmnopqrstuvwxyz0123456789\n", i
        printf "spew: done %d lines\n", n
    }' >"$work/expected"
else
    cp "$expect" "$work/expected"
fi

run_qemu() {
    timeout "$timeout" "$qemu" -M microvm,x-option-roms=off,pit=off,pic=off,rtc=off \
        -accel "$accel" -m 128M -nodefaults -no-user-config -display none -monitor none \
        -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 \
        -kernel "$kernel" -append "$append" >"$work/out" 2>"$work/err"
}

set +e
if [ -n "$stdin_file" ]; then
    # Through a pipe, as ember's KVM tests do (QEMU also reads a regular file; ember cannot
    # poll one and gives the guest no input then). The pipeline's status is QEMU's.
    # shellcheck disable=SC2002 # a pipe on purpose, not a redirection
    cat "$stdin_file" | run_qemu
else
    run_qemu
fi
rc=$?
set -e

sed -E 's/at rip 0x[0-9a-f]+/at rip 0xRIP/' "$work/out" >"$work/actual"
fail=0
if [ "$rc" -ne "$want_rc" ]; then
    echo "FAIL: qemu exited with $rc, expected $want_rc (guest status $status)"
    [ "$rc" -eq 124 ] && echo "      (timed out after ${timeout}s)"
    fail=1
fi
if ! cmp -s "$work/expected" "$work/actual"; then
    echo "FAIL: serial output differs from the expected output (- expected, + actual):"
    diff -u "$work/expected" "$work/actual" | head -n 40
    fail=1
fi
if [ "$fail" -ne 0 ]; then
    echo "--- qemu stderr:"
    cat "$work/err"
    exit 1
fi
echo "PASS: $(basename "$kernel") [$accel] '$append': status $status, $(wc -c <"$work/out") bytes of output"
