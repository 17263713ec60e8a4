#!/bin/sh
# 2000 lines of console output (coalesced PIO on real KVM): every line arrives, in order.
# shellcheck source=tests/lab/lib.sh
. "$LAB_LIB"
run_ember --kernel "$GUESTS/spew.elf" --cmdline lines=2000
expect_status 0
lines=$(wc -l <out)
[ "$lines" -eq 2001 ] || fail "got $lines lines, expected 2001"
awk 'BEGIN { for (i = 0; i < 2000; i++)
                 printf "spew line %07d abcdefghijklmnopqrstuvwxyz0123456789\n", i
             print "spew: done 2000 lines" }' >want
cmp -s want out || fail "spew output differs from the expected 2001 lines"
echo "last line: $(tail -n 1 out)"
