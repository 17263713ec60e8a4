#!/bin/sh
# Several vCPUs: application processors wait for INIT/SIPI while the BSP boots hello; the smp
# guest starts them (INIT, SIPI, SIPI through the in-kernel LAPIC) and each reports its APIC ID.
# shellcheck source=tests/lab/lib.sh
. "$LAB_LIB"
run_ember --vcpus 4 --cmdline smp
expect_status 0
expect_out 'Hello from ember!
cmdline: smp
'
run_ember --vcpus 4 --kernel "$GUESTS/smp.elf" --cmdline cpus=4
expect_status 0
expect_out 'smp: 4 cpus online
smp: apic ids 0 1 2 3
'
