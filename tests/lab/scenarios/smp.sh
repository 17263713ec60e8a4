#!/bin/sh
# Four vCPUs: the application processors wait for INIT/SIPI while the BSP boots hello.
# shellcheck source=tests/lab/lib.sh
. "$LAB_LIB"
run_ember --vcpus 4
expect_status 0
expect_out 'Hello from ember!
cmdline: console=ttyS0 reboot=k panic=1
'
