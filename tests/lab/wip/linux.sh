#!/bin/sh
# A real Linux guest: the Debian cloud kernel (a bzImage) boots under ember on nested KVM to a
# busybox init that prints a marker and powers off through ACPI (ember's port 0x600) -> status 0.
# shellcheck source=tests/lab/lib.sh
. "$LAB_LIB"
linux_dir=$(dirname "$EMBER")/linux
for cpus in 1 2; do
    start=$(date +%s%N 2>/dev/null || echo 0)
    run_ember --kernel "$linux_dir/vmlinuz" --initrd "$linux_dir/initrd.cpio.gz" --mem-mib 256 \
        --vcpus "$cpus" --cmdline "console=ttyS0 reboot=k panic=1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd rdinit=/init"
    end=$(date +%s%N 2>/dev/null || echo 0)
    echo "ember start to exit with $cpus vCPU(s): $(((end - start) / 1000000)) ms"
    grep 'L2:' out
    expect_status 0
    grep -q 'L2: marker: linux booted under ember' out || fail "no boot marker"
    grep -q "L2: cpus $cpus" out || fail "the guest does not see $cpus CPU(s)"
done
