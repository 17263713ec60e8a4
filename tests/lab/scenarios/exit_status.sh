#!/bin/sh
# The guest's status reaches ember's exit status (status=42 → 42, default → 0).
# shellcheck source=tests/lab/lib.sh
. "$LAB_LIB"
run_ember --kernel "$GUESTS/exit_status.elf" --cmdline 'a=1 status=42 b'
expect_status 42
expect_out 'exit_status: exiting with 42
'
run_ember --kernel "$GUESTS/exit_status.elf" --cmdline quiet
expect_status 0
