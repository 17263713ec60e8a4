#!/bin/sh
# The guest half of the virtio_net lab scenario (tests/lab/scenarios/virtio_net.sh, docs/lab.md):
# lab.sh puts it in the L2 initramfs as /net.sh, and the L2 /init runs it (busybox sh, devtmpfs
# and proc mounted) when the command line says lab_net. L1, the host side, has a tap with
# 10.0.2.1/24 behind ember's --net, serves /data.bin over HTTP on port 8080 and takes an upload
# with nc on port 5555. This script loads virtio_net (and what it needs), reports eth0's MAC, MTU
# and the virtio features the driver took, sets 10.0.2.2/24, pings 10.0.2.1, downloads the file
# (wget), uploads 2 MiB of random data (nc), reloads virtio_net (a device reset and a second
# activation) and pings again, and prints what it saw as "L2: net ..." lines for the scenario to
# check (errors: "L2: net ERROR"). It never stops early, so that /init always powers off. It ends
# with "L2: net done".
say() { echo "L2: net $*"; }
ms() {
    read -r up _ </proc/uptime
    echo $((${up%.*} * 1000 + 10 * $(echo "${up#*.}" | sed 's/^0//')))
}
mount -t sysfs sysfs /sys
mkdir -p /tmp
while read -r m; do
    insmod "/lib/modules/$m" || say "ERROR insmod $m failed"
done </lib/modules/order-net
n=0
while [ ! -e /sys/class/net/eth0 ] && [ "$n" -lt 100 ]; do
    sleep 0.1
    n=$((n + 1))
done
[ -e /sys/class/net/eth0 ] || say "ERROR no eth0 after $((n * 100)) ms"
e=/sys/class/net/eth0
say "eth0 mac $(cat $e/address) mtu $(cat $e/mtu) after $((n * 100)) ms"
say "eth0 features $(cat $e/device/features 2>/dev/null)"
ip addr add 10.0.2.2/24 dev eth0 || say "ERROR ip addr add failed"
ip link set eth0 up || say "ERROR ip link set eth0 up failed"
say "eth0 operstate $(cat $e/operstate) carrier $(cat $e/carrier 2>/dev/null)"

out=$(ping -c 3 -W 5 10.0.2.1 2>&1)
say "ping status $? $(echo "$out" | grep 'packets transmitted')"

t0=$(ms)
wget -q -O /tmp/dl.bin http://10.0.2.1:8080/data.bin
st=$?
t1=$(ms)
say "download status $st bytes $(wc -c </tmp/dl.bin) in $((t1 - t0)) ms md5 $(md5sum </tmp/dl.bin | cut -d' ' -f1)"
rm -f /tmp/dl.bin

dd if=/dev/urandom of=/tmp/up.bin bs=65536 count=32 2>/dev/null
say "upload md5 $(md5sum </tmp/up.bin | cut -d' ' -f1)"
t0=$(ms)
nc 10.0.2.1 5555 </tmp/up.bin
st=$?
t1=$(ms)
say "upload status $st bytes $(wc -c </tmp/up.bin) in $((t1 - t0)) ms"

s=$e/statistics
say "stats rx_packets $(cat $s/rx_packets) rx_bytes $(cat $s/rx_bytes) rx_dropped $(cat $s/rx_dropped)" \
    "tx_packets $(cat $s/tx_packets) tx_bytes $(cat $s/tx_bytes) tx_dropped $(cat $s/tx_dropped)"

# Unbind and bind the driver again: the device is reset and activated a second time.
rmmod virtio_net || say "ERROR rmmod virtio_net failed"
insmod /lib/modules/virtio_net.ko || say "ERROR insmod virtio_net again failed"
n=0
while [ ! -e $e ] && [ "$n" -lt 100 ]; do
    sleep 0.1
    n=$((n + 1))
done
if ! ip addr add 10.0.2.2/24 dev eth0 || ! ip link set eth0 up; then
    say "ERROR eth0 setup after reload failed"
fi
out=$(ping -c 2 -W 5 10.0.2.1 2>&1)
say "after reload: mac $(cat $e/address) ping status $? $(echo "$out" | grep 'packets transmitted')"

dmesg | grep -iE 'virtio|eth0|net_failover' | sed 's/^/L2: dmesg /'
if grep -q lab_debug /proc/cmdline; then dmesg; fi
say 'done'
