#!/bin/sh
# The bundled hello guest (compiled into ember) and the hello.elf image, on nested KVM.
# shellcheck source=tests/lab/lib.sh
. "$LAB_LIB"
run_ember
expect_status 0
expect_out 'Hello from ember!
cmdline: console=ttyS0 reboot=k panic=1 i8042.noaux i8042.nomux i8042.dumbkbd
'
run_ember --kernel "$GUESTS/hello.elf" --cmdline 'console=ttyS0 a=b  c'
expect_status 0
expect_out 'Hello from ember!
cmdline: console=ttyS0 a=b  c
'
