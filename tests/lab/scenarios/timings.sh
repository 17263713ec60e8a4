#!/bin/sh
# ember --timings on real (nested) KVM: the log shows the start-up phases and the exit counts,
# for three runs of the bundled hello guest and one with --sync-teardown. The timing lines are
# repeated as "LAB: TIMING ..." so lab.sh can pick them out of the console.
# shellcheck source=tests/lab/lib.sh
. "$LAB_LIB"
for flags in --timings --timings --timings '--timings --sync-teardown'; do
    # shellcheck disable=SC2086 # two flags in one word on purpose
    run_ember $flags
    expect_status 0
    grep -q '^ember: timings:' err || fail "no 'ember: timings:' line on stderr"
    sed -n 's/^ember: timings: /LAB: TIMING ember '"$flags"': /p' err
done
