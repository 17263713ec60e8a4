#!/bin/sh
# The guest half of the virtio_blk lab scenario (tests/lab/scenarios/virtio_blk.sh, docs/lab.md):
# lab.sh puts it in the L2 initramfs as /blk.sh, and the L2 /init runs it (busybox sh, devtmpfs
# and proc mounted) when the command line says lab_blk. The disks, in ember's --drive order:
#   vda  ext4, read-write: mount, read /hello.txt, write /guest.txt and /big.bin, sync, fstrim,
#        unmount
#   vdb  raw, read-write: md5sum of the whole disk, a 4 KiB write at 1 MiB, a 64 KiB discard at
#        64 KiB (read back with O_DIRECT)
#   vdc  ext4, ro: /sys/block/vdc/ro, a raw write that must fail, mount -o ro and read /hello.txt
# Everything it finds is an "L2: blk ..." line for the scenario to check (errors: "L2: blk ERROR");
# it never stops early, so that /init always powers off. It ends with "L2: blk done".
say() { echo "L2: blk $*"; }
mount -t sysfs sysfs /sys
while read -r m; do
    insmod "/lib/modules/$m" || say "ERROR insmod $m failed"
done </lib/modules/order-blk
n=0
while [ ! -b /dev/vdc ] && [ "$n" -lt 100 ]; do
    sleep 0.1
    n=$((n + 1))
done
disks=0
for d in /sys/block/vd*; do [ -e "$d" ] && disks=$((disks + 1)); done
say "modules loaded, $disks disks after $((n * 100)) ms"
bound=''
for b in /sys/bus/platform/drivers/virtio-mmio/*; do
    [ -L "$b" ] && [ "${b##*/}" != module ] && bound="$bound ${b##*/}"
done
say "virtio-mmio platform devices:$bound"
for d in /sys/block/vd*; do
    [ -e "$d" ] || break
    q=$d/queue
    say "disk ${d##*/} sectors=$(cat "$d/size") ro=$(cat "$d/ro")" \
        "serial=$(cat "$d/serial" 2>/dev/null)" "cache=$(tr ' ' _ <"$q/write_cache")" \
        "discard_max=$(cat "$q/discard_max_bytes")" \
        "write_zeroes_max=$(cat "$q/write_zeroes_max_bytes")" \
        "max_segments=$(cat "$q/max_segments")"
done

# vda: the ext4 image from the host side.
if mount -t ext4 /dev/vda /mnt; then
    say "vda hello: $(cat /mnt/hello.txt)"
    echo "written by the L2 guest through virtio-blk" >/mnt/guest.txt
    yes 'ember virtio-blk guest data' | head -c 1048576 >/mnt/big.bin
    say "vda big.bin md5 $(md5sum </mnt/big.bin | cut -d' ' -f1)"
    sync
    say "vda sync status $?"
    out=$(fstrim -v /mnt 2>&1)
    say "vda fstrim status $? $out"
    umount /mnt
    say "vda umount status $?"
else
    say "ERROR mount -t ext4 /dev/vda failed"
fi

# vdb: raw bytes.
say "vdb md5 $(dd if=/dev/vdb bs=65536 2>/dev/null | md5sum | cut -d' ' -f1)"
yes 'guest raw write' | head -c 4096 | dd of=/dev/vdb bs=4096 seek=256 conv=fsync 2>/dev/null
say "vdb write status $?"
blkdiscard -o 65536 -l 65536 /dev/vdb
say "vdb discard status $?"
zero=$(dd if=/dev/zero bs=65536 count=1 2>/dev/null | md5sum | cut -d' ' -f1)
back=$(dd if=/dev/vdb bs=65536 skip=1 count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
if [ "$back" = "$zero" ]; then say "vdb discarded range reads zeros"; else say "vdb discarded range reads data"; fi

# vdc: read-only.
say "vdc ro $(cat /sys/block/vdc/ro 2>/dev/null)"
if err=$(dd if=/dev/zero of=/dev/vdc bs=4096 count=1 conv=fsync 2>&1 >/dev/null); then
    say "ERROR vdc accepted a write"
else
    say "vdc write refused: $(echo "$err" | head -n 1)"
fi
if mount -t ext4 -o ro /dev/vdc /mnt; then
    say "vdc hello: $(cat /mnt/hello.txt)"
    umount /mnt
else
    say "ERROR mount -o ro /dev/vdc failed"
fi

# What the kernel said about the devices (the lead wants the virtio-mmio probe messages).
dmesg | grep -iE 'virtio|vd[a-d]|LNRO|EXT4-fs|I/O error|blk_update' | sed 's/^/L2: dmesg /'
if grep -q lab_debug /proc/cmdline; then dmesg; fi
say 'done'
