#!/bin/sh
# A triple fault (KVM_EXIT_SHUTDOWN) ends the VM with status 80 and a clear message.
# shellcheck source=tests/lab/lib.sh
. "$LAB_LIB"
run_ember --kernel "$GUESTS/triple_fault.elf"
expect_status 80
expect_out 'triple_fault: about to triple-fault
'
expect_err_has 'triple-fault'
expect_err_has 'KVM_EXIT_SHUTDOWN'
