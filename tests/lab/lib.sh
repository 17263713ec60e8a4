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

# uptime_ms: L1's uptime in milliseconds (10 ms resolution; busybox date has no %N).
uptime_ms() {
    read -r up _ </proc/uptime
    echo $((${up%.*} * 1000 + 10 * $(echo "${up#*.}" | sed 's/^0//')))
}

# run_ember_marker MARKER ARGS...: run_ember, and also sets $marker_ms to the time from ember's
# start to the first line of its stdout that contains MARKER (empty when none did). When
# $marker2 is set, $marker2_ms is the same for that text.
run_ember_marker_once() {
    marker=$1
    shift
    echo "+ ember $*"
    rm -f marker_ms marker2_ms rc_file
    start=$(uptime_ms)
    { "$EMBER" "$@" 2>err </dev/null; echo $? >rc_file; } | while IFS= read -r line; do
        printf '%s\n' "$line"
        case $line in *"$marker"*) [ -f marker_ms ] || echo $(($(uptime_ms) - start)) >marker_ms ;; esac
        if [ -n "${marker2:-}" ]; then
            case $line in *"$marker2"*) [ -f marker2_ms ] || echo $(($(uptime_ms) - start)) >marker2_ms ;; esac
        fi
    done >out
    rc=$(cat rc_file)
    marker_ms=$(cat marker_ms 2>/dev/null || true)
    # shellcheck disable=SC2034 # for the scenario
    marker2_ms=$(cat marker2_ms 2>/dev/null || true)
    echo "--- stdout ($(wc -c <out) bytes), marker after ${marker_ms:-(never)} ms:"
    head -n 8 out
    echo "--- stderr:"
    cat err
    echo "--- status $rc"
}

# run_ember_marker MARKER ARGS...: run_ember_marker_once, run a second time when a scenario that
# sets LAB_RETRY_TRIPLE_FAULT saw an L2 triple fault (status 80): a rare flake of Linux guests
# under nested TCG (docs/lab.md, "Flaky runs"). The retry is printed, so it stays visible.
run_ember_marker() {
    run_ember_marker_once "$@"
    if [ "$rc" -eq 80 ] && [ -n "${LAB_RETRY_TRIPLE_FAULT:-}" ]; then
        echo "LAB: FLAKE: the L2 guest triple-faulted (status 80); retrying once (docs/lab.md)"
        run_ember_marker_once "$@"
    fi
}
