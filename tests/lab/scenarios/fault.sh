#!/bin/sh
# A #GP in the guest reaches the guest's own exception handler, which exits with 0x7f.
# shellcheck source=tests/lab/lib.sh
. "$LAB_LIB"
run_ember --kernel "$GUESTS/fault.elf"
expect_status 127
grep -q 'guest: exception 13' out || fail "stdout lacks 'guest: exception 13'"
