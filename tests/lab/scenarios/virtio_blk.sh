#!/bin/sh
# virtio-blk driven by Linux's own drivers (virtio_mmio + virtio_blk, found through ACPI): the
# Debian kernel boots under ember with three --drive's and lab_blk on its command line, and its
# /blk.sh (tests/lab/l2-blk.sh) mounts an ext4 image made on the host (mkfs.ext4 -d, by lab.sh),
# reads a file, writes two and unmounts; reads a raw pattern disk (md5sum), writes 4 KiB to it and
# discards 64 KiB; checks that a `ro` drive is read-only and still mounts with -o ro; and checks
# GET_ID (/sys/block/vdX/serial). Afterwards L1, the host side, checks the images: e2fsck (when
# lab.sh found e2fsck-static), the guest's files through a loop mount, the raw disk byte for
# byte, the ro image unchanged.
# shellcheck source=tests/lab/lib.sh
. "$LAB_LIB"
LAB_RETRY_TRIPLE_FAULT=1 # Linux guests: docs/lab.md, "Flaky runs"
linux_dir=$(dirname "$EMBER")/linux
[ -f "$linux_dir/ext4.img" ] ||
    fail "no $linux_dir/ext4.img: lab.sh makes it with mkfs.ext4 (e2fsprogs) on the host"
md5() { md5sum | cut -d' ' -f1; }
cp "$linux_dir/ext4.img" root.img
cp "$linux_dir/ext4.img" ro.img
ro_md5=$(md5 <ro.img)
yes 'ember virtio-blk raw pattern 0123456789abcdef' | head -c 2097152 >raw.img
cp raw.img raw.orig
raw_md5=$(md5 <raw.img)
big_md5=$(yes 'ember virtio-blk guest data' | head -c 1048576 | md5)

mark='L2: marker: linux booted under ember'
marker2='L2: blk done'
run_ember_marker "$mark" --kernel "$linux_dir/vmlinuz" --initrd "$linux_dir/initrd.cpio.gz" \
    --mem-mib 256 \
    --cmdline "console=ttyS0 reboot=k panic=1 i8042.noaux i8042.nomux i8042.dumbkbd quiet lab_blk" \
    --drive path=root.img,id=lab-root,cache=writeback \
    --drive path=raw.img,id=lab-raw \
    --drive path=ro.img,id=lab-ro,ro
tr -d '\r' <out >log # the guest's TTY ends lines with CR LF
tail -n +9 log # the rest of the guest's output (run_ember_marker printed 8 lines)
expect_status 0
[ -n "$marker_ms" ] || { tail -n 30 log; fail "no boot marker"; }
echo "TIME virtio_blk: ember start to marker $marker_ms ms, to 'blk done' ${marker2_ms:-(never)} ms"
grep -q '^L2: blk done' log || { tail -n 30 log; fail "the guest's block test did not finish"; }
grep -q 'reboot: Power down' log || fail "the kernel did not power down"

# The guest's view.
has() { grep -qF -- "L2: blk $1" log || fail "the guest did not print 'L2: blk $1'"; }
if grep '^L2: blk ERROR' log; then fail "the guest reported errors"; fi
has 'modules loaded, 3 disks'
has 'disk vda sectors=16384 ro=0 serial=lab-root cache=write_back'
has 'disk vdb sectors=4096 ro=0 serial=lab-raw'
has 'disk vdc sectors=16384 ro=1 serial=lab-ro'
has 'vda hello: hello from L1, the host side'
has "vda big.bin md5 $big_md5"
has 'vda sync status 0'
has 'vda fstrim status 0'
has 'vda umount status 0'
has "vdb md5 $raw_md5"
has 'vdb write status 0'
has 'vdb discard status 0'
has 'vdc ro 1'
has 'vdc write refused: '
has 'vdc hello: hello from L1, the host side'

# The host side (L1) afterwards.
if [ -x /bin/e2fsck ]; then
    echo "+ e2fsck -fn root.img"
    /bin/e2fsck -fn root.img || fail "e2fsck found errors in the image the guest wrote"
else
    echo "(no e2fsck in L1: lab.sh could not get e2fsck-static; skipping the fsck)"
fi
mkdir mnt
mount -t ext4 -o loop,ro root.img mnt || fail "L1 cannot mount the image the guest wrote"
echo "host: guest.txt: $(cat mnt/guest.txt)"
got=$(cat mnt/guest.txt)
big=$(md5 <mnt/big.bin)
umount mnt
[ "$got" = "written by the L2 guest through virtio-blk" ] || fail "guest.txt is not what the guest wrote"
[ "$big" = "$big_md5" ] || fail "big.bin has md5 $big, the guest wrote $big_md5"
# raw.img: the original pattern with the guest's 4 KiB at 1 MiB, and the discarded 64 KiB at
# 64 KiB either unchanged or zeros (a discard leaves the data unspecified; ember punches a hole).
yes 'guest raw write' | head -c 4096 | dd of=raw.orig bs=4096 seek=256 conv=notrunc 2>/dev/null
zero=$(dd if=/dev/zero bs=65536 count=1 2>/dev/null | md5)
if [ "$(dd if=raw.img bs=65536 skip=1 count=1 2>/dev/null | md5)" = "$zero" ]; then
    echo "host: the discarded range reads zeros"
    dd if=/dev/zero of=raw.orig bs=65536 seek=1 count=1 conv=notrunc 2>/dev/null
else
    echo "host: the discarded range still holds data"
fi
cmp raw.img raw.orig || fail "raw.img differs from what the guest should have left"
[ "$(md5 <ro.img)" = "$ro_md5" ] || fail "the ro image changed"
echo "host: root.img clean with the guest's files, raw.img as expected, ro.img unchanged"
