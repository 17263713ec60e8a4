#!/bin/sh
# A real Linux guest: the Debian cloud kernel (a bzImage) boots under ember on nested KVM with
# ember's default command line to the busybox /init of its initrd, which prints a marker and the
# CPUs and memory it sees, then powers off through ACPI (port 0x600): ember exits 0. With
# `lab_reboot` on the command line /init reboots instead (reboot=k: the i8042 reset), which also
# ends ember with status 0 (docs/exit-codes.md).
# shellcheck source=tests/lab/lib.sh
. "$LAB_LIB"
LAB_RETRY_TRIPLE_FAULT=1 # Linux guests: docs/lab.md, "Flaky runs"
linux_dir=$(dirname "$EMBER")/linux
mark='L2: marker: linux booted under ember'
for cpus in 1 2; do
    run_ember_marker "$mark" --kernel "$linux_dir/vmlinuz" --initrd "$linux_dir/initrd.cpio.gz" \
        --mem-mib 256 --vcpus "$cpus"
    tr -d '\r' <out >log # the guest's TTY ends lines with CR LF
    grep 'L2:' log
    expect_status 0
    [ -n "$marker_ms" ] || { tail -n 20 log; fail "no boot marker"; }
    echo "TIME linux-$cpus-vcpu: ember start to marker $marker_ms ms"
    grep -q "^L2: cpus $cpus\$" log || fail "the guest does not see $cpus CPU(s)"
    kib=$(sed -n 's/^L2: MemTotal: *\([0-9]*\) kB.*/\1/p' log)
    # 256 MiB less the kernel's own image and reservations; more than 256 MiB would be a bug.
    if [ -z "$kib" ] || [ "$kib" -le 200000 ] || [ "$kib" -gt 262144 ]; then
        fail "the guest sees ${kib:-no} kB of memory, expected 200000..262144 for --mem-mib 256"
    fi
    grep -q 'reboot: Power down' log || fail "the kernel did not power down"
done
run_ember_marker "$mark" --kernel "$linux_dir/vmlinuz" --initrd "$linux_dir/initrd.cpio.gz" \
    --mem-mib 256 --cmdline "console=ttyS0 reboot=k panic=1 lab_reboot"
expect_status 0
[ -n "$marker_ms" ] || fail "no boot marker before the reboot"
tr -d '\r' <out >log
grep -q 'reboot: Restarting system' log || fail "the kernel did not restart"
