#!/bin/sh
# virtio-vsock driven by Linux's own driver (vsock + vmw_vsock_virtio_transport): the Debian
# kernel boots under ember with --vsock cid=3,uds=<dir>/v.sock and lab_vsock, and its /vsock.sh
# (tests/lab/l2-vsock.sh) echoes data through both directions of Firecracker's host protocol,
# with vsock_tool (tests/lab/vsock_tool.c) on both sides:
#   - guest-initiated (CID 2 port 6000 → ember connects to v.sock_6000, where `vsock_tool
#     uds-echo` listens in L1): 1 MiB, then 4 x 256 KiB at once, each compared in L2; a connect
#     to port 6001, where nothing listens, must fail;
#   - host-initiated (L1 writes "CONNECT 5000\n" on v.sock, expects "OK <port>\n"; the guest's
#     `vsock_tool vsock-echo 5000 6` answers): 1 MiB, one connection that L1 closes after 64 KiB
#     (the guest must see EOF or a reset, ember must keep going), then 4 x 256 KiB at once; each
#     echo compared in L1 (md5).
# ember must exit 0, and its --timings counters show no bad buffers or packets. TIME lines: the
# throughput seen (nested TCG: informational only).
# shellcheck source=tests/lab/lib.sh
. "$LAB_LIB"
linux_dir=$(dirname "$EMBER")/linux
md5() { md5sum "$1" | cut -d' ' -f1; }
uds=$PWD/v.sock
echo_pid='' ember_pid=''
cleanup() {
    [ -n "$echo_pid" ] && kill "$echo_pid" 2>/dev/null
    [ -n "$ember_pid" ] && kill "$ember_pid" 2>/dev/null
}
trap cleanup EXIT
export TAG="host:"

# attempt: one run, from L1's listener to ember's exit; sets $rc, $listen_ms, $host_ms, and
# leaves ./out, ./err, ./log, ./host-echo.log, ./results.
attempt() {
    [ -n "$echo_pid" ] && kill "$echo_pid" 2>/dev/null
    rm -f "$uds" "${uds}_6000" results h*.st h*.out
    host_ms=''
    # The guest-initiated side's listener: 5 connections (1 MiB, then 4 at once).
    vsock_tool --timeout 110 uds-echo "${uds}_6000" 5 2>host-echo.log &
    echo_pid=$!

    cmdline="console=ttyS0 reboot=k panic=1 i8042.noaux i8042.nomux i8042.dumbkbd quiet lab_vsock"
    echo "+ ember --kernel $linux_dir/vmlinuz --initrd $linux_dir/initrd.cpio.gz --mem-mib 256" \
        "--timings --cmdline '$cmdline' --vsock cid=3,uds=$uds"
    start=$(uptime_ms)
    "$EMBER" --kernel "$linux_dir/vmlinuz" --initrd "$linux_dir/initrd.cpio.gz" --mem-mib 256 \
        --timings --cmdline "$cmdline" --vsock "cid=3,uds=$uds" >out 2>err </dev/null &
    ember_pid=$!

    # Wait for the guest's echo server (or for ember to end); note when the boot marker came.
    n=0 marker_ms=''
    while ! grep -q 'L2: vsock listening on vsock port 5000' out && kill -0 "$ember_pid" 2>/dev/null &&
        [ "$n" -lt 900 ]; do
        if [ -z "$marker_ms" ] && grep -q 'L2: marker: linux booted under ember' out; then
            marker_ms=$(($(uptime_ms) - start))
        fi
        sleep 0.1
        n=$((n + 1))
    done
    listen_ms=$(($(uptime_ms) - start))
    if grep -q 'L2: vsock listening on vsock port 5000' out; then
        echo "host: the guest listens on port 5000, $listen_ms ms after ember started"
        dd if=/dev/urandom of=h.bin bs=65536 count=16 2>/dev/null
        t0=$(uptime_ms)
        vsock_tool --echo uds-connect "$uds" 5000 <h.bin >h.out
        st=$?
        t1=$(uptime_ms)
        echo "host: echo 1 MiB status $st: $(wc -c <h.out) bytes back in $((t1 - t0)) ms"
        if [ "$st" -eq 0 ] && [ "$(md5 h.out)" = "$(md5 h.bin)" ]; then
            echo "host: echo 1 MiB same" >>results
        fi
        host_ms=$((t1 - t0))
        vsock_tool --close-after 65536 uds-connect "$uds" 5000 <h.bin >/dev/null
        echo "host: early close status $?"
        for i in 1 2 3 4; do
            dd if=/dev/urandom of=h$i.bin bs=65536 count=4 2>/dev/null
            (
                vsock_tool --echo uds-connect "$uds" 5000 <h$i.bin >h$i.out
                echo $? >h$i.st
            ) &
        done
        wait $! # the last one; the loop below waits for the others
        for i in 1 2 3 4; do
            m=0
            while [ ! -f h$i.st ] && [ "$m" -lt 300 ]; do
                sleep 0.1
                m=$((m + 1))
            done
            same=differs
            cmp -s h$i.bin h$i.out && same=same
            echo "host: concurrent $i status $(cat h$i.st 2>/dev/null) bytes $(wc -c <h$i.out) $same"
            if [ "$(cat h$i.st 2>/dev/null)" = 0 ] && [ "$same" = same ]; then
                echo "host: concurrent $i same" >>results
            fi
        done
    fi

    # ember should power off by itself now; give it 60 s.
    n=0
    while kill -0 "$ember_pid" 2>/dev/null && [ "$n" -lt 600 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    if kill -0 "$ember_pid" 2>/dev/null; then
        echo "host: ember still runs; killing it"
        kill "$ember_pid"
    fi
    rc=0
    wait "$ember_pid" || rc=$?
    ember_pid=''
    total_ms=$(($(uptime_ms) - start))
    tr -d '\r' <out >log
    echo "--- guest output:"
    grep -E '^L2: ' log
    echo "--- stderr:"
    cat err
    echo "--- host uds-echo:"
    cat host-echo.log
    echo "--- status $rc"
    echo "TIME virtio_vsock: ember start to marker ${marker_ms:-?} ms, to guest listening" \
        "$listen_ms ms, to ember's exit $total_ms ms"
}
attempt
if [ "$rc" -eq 80 ]; then
    # docs/lab.md, "Flaky runs": as run_ember_marker does for LAB_RETRY_TRIPLE_FAULT.
    echo "LAB: FLAKE: the L2 guest triple-faulted (status 80); retrying once (docs/lab.md)"
    attempt
fi

expect_status 0
grep -q '^L2: vsock done' log || { tail -n 30 log; fail "the guest's vsock test did not finish"; }
grep -q 'reboot: Power down' log || fail "the kernel did not power down"
if grep '^L2: vsock ERROR' log; then fail "the guest reported errors"; fi
has() { grep -qE -- "^L2: vsock $1" log || fail "the guest did not print a line matching 'L2: vsock $1'"; }
has 'local cid 3$'
# Guest-initiated.
has 'guest echo status 0 bytes 1048576 in [0-9]+ ms md5 [0-9a-f]+ sent [0-9a-f]+$'
sums=$(sed -n 's/^L2: vsock guest echo status .* md5 \([0-9a-f]*\) sent \([0-9a-f]*\)$/\1 \2/p' log)
[ "${sums% *}" = "${sums#* }" ] || fail "the guest's 1 MiB echo came back different ($sums)"
for i in 1 2 3 4; do has "guest echo concurrent $i status 0 bytes 262144 same"; done
has 'device bound after [0-9]+ ms: virtio0$'
has 'connect to a port nobody listens on: status 1 connect vsock 2:6001: Connection reset by peer$'
grep -c 'eof after' host-echo.log | grep -qx 5 || fail "L1's uds-echo did not see 5 connections end"
# Host-initiated.
grep -q '^host: echo 1 MiB same' results || fail "the host's 1 MiB echo failed"
for i in 1 2 3 4; do
    grep -q "^host: concurrent $i same" results || fail "the host's concurrent echo $i failed"
done
has 'conn 0: eof after 1048576 bytes'
has 'conn 1: (eof|reset) after [0-9]+ bytes'
for i in 2 3 4 5; do has "conn $i: eof after 262144 bytes"; done
has 'echo server status 0'
# ember's counters for the device (--timings): "virtio-vsock (cid 3, '...'): rx N packets ...".
counters=$(grep -F 'virtio-vsock (cid 3, ' err) || fail "ember's --timings has no line for the vsock"
case $counters in
*' 0 bad buffers; tx '*' 0 bad; streams: 6 from the host, '*) ;;
*) fail "unexpected vsock counters (want 0 bad buffers, 0 bad tx packets, 6 streams from the host)" ;;
esac
case $counters in *DEVICE_NEEDS_RESET*) fail "the device raised DEVICE_NEEDS_RESET" ;; esac
guest_ms=$(sed -n 's/^L2: vsock guest echo status 0 .* in \([0-9]*\) ms.*/\1/p' log)
echo "TIME virtio_vsock: echo 1 MiB each way, guest-initiated $guest_ms ms," \
    "host-initiated ${host_ms:-?} ms (nested TCG: informational)"
