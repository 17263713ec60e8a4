# Helpers for the lab scenarios (tests/lab/scenarios/*.sh), sourced by each one inside L1 with
# busybox sh. The init script sets EMBER (the ember binary), GUESTS (the folder of test guests,
# <name>.elf) and runs every scenario in its own empty working directory with stdin from
# /dev/null. A scenario prints what it did and exits 0 for pass, anything else for fail.

# run_ember ARGS...: runs ember; its stdout goes to ./out, its stderr to ./err, its exit status
# to $rc, and the three are printed so that the scenario's log shows them.
run_ember() {
    echo "+ ember $*"
    rc=0
    "$EMBER" "$@" >out 2>err </dev/null || rc=$?
    echo "--- stdout ($(wc -c <out) bytes):"
    head -n 8 out
    echo "--- stderr:"
    cat err
    echo "--- status $rc"
}

# fail MESSAGE: prints the message and ends the scenario as failed.
fail() {
    echo "FAIL: $*"
    exit 1
}

# expect_status N: fails unless the last run_ember exited with N.
expect_status() {
    [ "$rc" -eq "$1" ] || fail "ember exited with $rc, expected $1"
}

# expect_out TEXT: fails unless ember's stdout is exactly TEXT (printf %s, so end it with \n).
expect_out() {
    printf '%s' "$1" >want
    cmp -s want out || {
        echo "--- expected stdout:"
        cat want
        fail "stdout differs from the expected output"
    }
}

# expect_err_has TEXT: fails unless ember's stderr contains TEXT.
expect_err_has() {
    grep -qF -- "$1" err || fail "stderr does not contain '$1'"
}
