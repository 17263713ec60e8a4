#!/bin/sh
# The guest half of the virtio_vsock lab scenario (tests/lab/scenarios/virtio_vsock.sh,
# docs/lab.md): lab.sh puts it in the L2 initramfs as /vsock.sh, and the L2 /init runs it (busybox
# sh, devtmpfs and proc mounted) when the command line says lab_vsock. It loads vsock and its
# virtio transport, prints the local CID, then
#   - guest-initiated: echoes 1 MiB, then 4 x 256 KiB at once, through CID 2 port 6000 (ember
#     connects each to <uds>_6000, where L1's vsock_tool uds-echo answers), and connects to port
#     6001, where nothing listens (ember must refuse it with a reset);
#   - host-initiated: runs `vsock_tool vsock-echo 5000 6` (prints "listening on vsock port 5000"
#     for L1 to start; one line per connection) while L1 connects through ember's Unix socket.
# Everything is an "L2: vsock ..." line (errors: "L2: vsock ERROR"); it never stops early, so that
# /init always powers off. It ends with "L2: vsock done".
say() { echo "L2: vsock $*"; }
ms() {
    read -r up _ </proc/uptime
    echo $((${up%.*} * 1000 + 10 * $(echo "${up#*.}" | sed 's/^0//')))
}
md5() { md5sum "$1" | cut -d' ' -f1; }
mount -t sysfs sysfs /sys
mkdir -p /tmp
while read -r m; do
    insmod "/lib/modules/$m" || say "ERROR insmod $m failed"
done </lib/modules/order-vsock
n=0
# The driver is vmw_vsock_virtio_transport (its module's name) in sysfs.
drv=/sys/bus/virtio/drivers/vmw_vsock_virtio_transport
while ! ls "$drv"/virtio* >/dev/null 2>&1 && [ "$n" -lt 100 ]; do
    sleep 0.1
    n=$((n + 1))
done
bound=''
for d in "$drv"/virtio*; do [ -e "$d" ] && bound="$bound ${d##*/}"; done
say "device bound after $((n * 100)) ms:$bound"
say "local cid $(vsock_tool vsock-cid 2>&1)"
export TAG="L2: vsock"

# Guest-initiated.
dd if=/dev/urandom of=/tmp/g.bin bs=65536 count=16 2>/dev/null
t0=$(ms)
vsock_tool vsock-connect 2 6000 </tmp/g.bin >/tmp/g.out
st=$?
t1=$(ms)
say "guest echo status $st bytes $(wc -c </tmp/g.out) in $((t1 - t0)) ms" \
    "md5 $(md5 /tmp/g.out) sent $(md5 /tmp/g.bin)"
for i in 1 2 3 4; do
    dd if=/dev/urandom of=/tmp/g$i.bin bs=65536 count=4 2>/dev/null
    (
        vsock_tool vsock-connect 2 6000 </tmp/g$i.bin >/tmp/g$i.out
        echo $? >/tmp/g$i.st
    ) &
done
wait
for i in 1 2 3 4; do
    if cmp -s /tmp/g$i.bin /tmp/g$i.out; then r=same; else r=differs; fi
    say "guest echo concurrent $i status $(cat /tmp/g$i.st) bytes $(wc -c </tmp/g$i.out) $r"
done
TAG='' vsock_tool vsock-connect 2 6001 </dev/null >/dev/null 2>/tmp/refused
say "connect to a port nobody listens on: status $? $(cat /tmp/refused)"
rm -f /tmp/g*

# Host-initiated: L1 connects 6 times (1 MiB; one that closes early; 4 x 256 KiB at once).
vsock_tool --timeout 90 vsock-echo 5000 6
say "echo server status $?"
dmesg | grep -iE 'vsock|virtio' | sed 's/^/L2: dmesg /'
if grep -q lab_debug /proc/cmdline; then dmesg; fi
say 'done'
