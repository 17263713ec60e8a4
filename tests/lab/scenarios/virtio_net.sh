#!/bin/sh
# virtio-net driven by Linux's own driver (virtio_mmio + virtio_net, found through ACPI): L1 makes
# a tap (busybox tunctl; tun.ko is in L1's modules) with 10.0.2.1/24, serves 4 MiB of random data
# with busybox httpd and waits for an upload with nc; the Debian kernel boots under ember with
# --net tap=tap0,mac=06:00:00:00:00:02,mtu=1400 and lab_net, and its /net.sh
# (tests/lab/l2-net.sh) checks the MAC and MTU, sets 10.0.2.2/24, pings 10.0.2.1, downloads the
# file (wget), uploads 2 MiB (nc), then reloads virtio_net (the device is reset and activated
# again) and pings once more. The scenario checks the pings, both checksums, ember's status 0 and
# its --timings counters for the interface (no bad buffers, tx drops or tap errors), prints the
# throughput it saw (TIME: emulated, informational only) and removes the tap.
# shellcheck source=tests/lab/lib.sh
. "$LAB_LIB"
LAB_RETRY_TRIPLE_FAULT=1 # Linux guests: docs/lab.md, "Flaky runs"
linux_dir=$(dirname "$EMBER")/linux
md5() { md5sum | cut -d' ' -f1; }
tap=tap0
httpd_pid='' nc_pid=''
cleanup() {
    exec 3>&-
    [ -n "$httpd_pid" ] && kill "$httpd_pid" 2>/dev/null
    [ -n "$nc_pid" ] && kill "$nc_pid" 2>/dev/null
    tunctl -d "$tap" >/dev/null 2>&1
    ip link show "$tap" >/dev/null 2>&1 && echo "cleanup: $tap is still there"
}
trap cleanup EXIT

[ -c /dev/net/tun ] || fail "no /dev/net/tun in L1 (is tun.ko in L1's modules?)"
tunctl -t "$tap" >/dev/null || fail "tunctl -t $tap failed"
ip addr add 10.0.2.1/24 dev "$tap" || fail "ip addr add failed"
ip link set "$tap" up || fail "ip link set $tap up failed"

mkdir www
dd if=/dev/urandom of=www/data.bin bs=65536 count=64 2>/dev/null
data_md5=$(md5 <www/data.bin)
httpd -f -p 10.0.2.1:8080 -h www &
httpd_pid=$!
# busybox nc exits when its peer closes, and half-closes when its stdin ends: stdin is a fifo
# held open (fd 3) until the guest is done, so that the upload is not cut short.
mkfifo hold
nc -l -p 5555 <hold >up.bin &
nc_pid=$!
exec 3>hold
echo "host: $tap 10.0.2.1/24 up, httpd on :8080 (data.bin md5 $data_md5), nc on :5555"

mark='L2: marker: linux booted under ember'
marker2='L2: net done'
run_ember_marker "$mark" --kernel "$linux_dir/vmlinuz" --initrd "$linux_dir/initrd.cpio.gz" \
    --mem-mib 256 --timings \
    --cmdline "console=ttyS0 reboot=k panic=1 i8042.noaux i8042.nomux i8042.dumbkbd quiet lab_net" \
    --net "tap=$tap,id=eth0,mac=06:00:00:00:00:02,mtu=1400"
tr -d '\r' <out >log # the guest's TTY ends lines with CR LF
tail -n +9 log # the rest of the guest's output (run_ember_marker printed 8 lines)
expect_status 0
[ -n "$marker_ms" ] || { tail -n 30 log; fail "no boot marker"; }
echo "TIME virtio_net: ember start to marker $marker_ms ms, to 'net done' ${marker2_ms:-(never)} ms"
grep -q '^L2: net done' log || { tail -n 30 log; fail "the guest's network test did not finish"; }
grep -q 'reboot: Power down' log || fail "the kernel did not power down"

# The guest's view.
has() { grep -qF -- "L2: net $1" log || fail "the guest did not print 'L2: net $1'"; }
if grep '^L2: net ERROR' log; then fail "the guest reported errors"; fi
has 'eth0 mac 06:00:00:00:00:02 mtu 1400 '
has 'ping status 0 3 packets transmitted, 3 packets received'
has "download status 0 bytes 4194304 in "
grep -qE "^L2: net download .* md5 $data_md5\$" log ||
    fail "the guest's download does not have the md5 of data.bin ($data_md5)"
has 'upload status 0 bytes 2097152 in '
has 'after reload: mac 06:00:00:00:00:02 ping status 0 2 packets transmitted, 2 packets received'

# ember's counters for the interface (--timings): "virtio-net iface 'eth0' (tap 'tap0'): rx N
# frames (B bytes), D dropped, ...; tx ...; ..., R resets". Linux resets the device when it probes
# and when it removes the driver: the reload makes at least 2.
counters=$(grep -F "iface 'eth0' (tap 'tap0'): rx " err) || fail "ember's --timings has no line for eth0"
case $counters in
*' 0 bad buffers,'*'; tx '*' 0 dropped, 0 tap errors,'*) ;;
*) fail "unexpected counters for eth0 (want 0 bad buffers, tx 0 dropped, 0 tap errors)" ;;
esac
case $counters in *DEVICE_NEEDS_RESET*) fail "the device raised DEVICE_NEEDS_RESET" ;; esac
resets=$(echo "$counters" | sed -n 's/.* \([0-9]*\) resets.*/\1/p')
[ "${resets:-0}" -ge 2 ] || fail "ember counted ${resets:-no} resets of eth0; the reload makes at least 2"

# The host side (L1): the upload.
exec 3>&-
n=0
while kill -0 "$nc_pid" 2>/dev/null && [ "$n" -lt 20 ]; do
    sleep 0.1
    n=$((n + 1))
done
up_md5=$(md5 <up.bin)
echo "host: received $(wc -c <up.bin) bytes, md5 $up_md5"
has "upload md5 $up_md5"
down_ms=$(sed -n 's/^L2: net download .* in \([0-9]*\) ms.*/\1/p' log)
up_ms=$(sed -n 's/^L2: net upload status .* in \([0-9]*\) ms.*/\1/p' log)
echo "TIME virtio_net: download 4 MiB in $down_ms ms ($((4096 * 1000 / (down_ms + 1))) KiB/s)," \
    "upload 2 MiB in $up_ms ms ($((2048 * 1000 / (up_ms + 1))) KiB/s) (nested TCG: informational)"
