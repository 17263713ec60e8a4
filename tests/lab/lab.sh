#!/usr/bin/env bash
# The nested test lab (docs/lab.md): boots a Debian 12 cloud kernel under QEMU TCG with -cpu max
# (AMD SVM with nested paging), so that L1 has a real /dev/kvm from kvm_amd, and runs ember's
# scenarios (tests/lab/scenarios/*.sh) there, against ordinary KVM rather than this host's.
#
# usage: lab.sh [--build-dir DIR] [--ember PATH] [--guests DIR] [--timeout SECONDS]
#               [--shell | --list] [SCENARIO...]
#
#   SCENARIO...   scenarios to run, by name (hello, spew, ...); all of them by default
#   --shell       a busybox shell on the console of L1 instead of the scenarios (Ctrl-A x quits)
#   --list        print the scenario names and exit
#   --build-dir   ember's build folder (default: <repo>/build); --ember defaults to
#                 <build>/vmm/ember, --guests to <build>/resources/guests
#   --timeout     hard limit on the whole QEMU run (default: $EMBER_LAB_TIMEOUT or 600)
#
# The kernel and busybox packages are downloaded once (apt-get download) into
# ${EMBER_LAB_CACHE:-<build>/lab-cache}; the initramfs and the console log of the last run are in
# ${EMBER_LAB_WORK:-<build>/lab-work}. Exits 0 when every scenario passed, 1 when one failed or
# the run did not finish, 2 for bad arguments, 77 (skip) when qemu-system-x86_64 or apt-get is
# missing.
set -euo pipefail

lab_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$lab_dir/../.." && pwd)
build_dir=$repo/build
ember='' guests='' shell=0 list=0
timeout_s=${EMBER_LAB_TIMEOUT:-600}
scenario_timeout=${EMBER_LAB_SCENARIO_TIMEOUT:-120}
qemu=${QEMU:-qemu-system-x86_64}
scenarios=()

die() {
    echo "lab.sh: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
    --build-dir | --ember | --guests | --timeout)
        [ $# -ge 2 ] || { echo "lab.sh: $1 needs a value" >&2; exit 2; }
        case $1 in
        --build-dir) build_dir=$2 ;;
        --ember) ember=$2 ;;
        --guests) guests=$2 ;;
        --timeout) timeout_s=$2 ;;
        esac
        shift 2
        ;;
    --shell) shell=1; shift ;;
    --list) list=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "lab.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) scenarios+=("$1"); shift ;;
    esac
done

all_scenarios=()
for f in "$lab_dir"/scenarios/*.sh; do
    all_scenarios+=("$(basename "$f" .sh)")
done
if [ "$list" -eq 1 ]; then
    printf '%s\n' "${all_scenarios[@]}"
    exit 0
fi
if [ ${#scenarios[@]} -eq 0 ]; then
    scenarios=("${all_scenarios[@]}")
fi
for s in "${scenarios[@]}"; do
    [ -f "$lab_dir/scenarios/$s.sh" ] || {
        echo "lab.sh: no scenario '$s' (have: ${all_scenarios[*]})" >&2
        exit 2
    }
done

ember=${ember:-$build_dir/vmm/ember}
guests=${guests:-$build_dir/resources/guests}
cache=${EMBER_LAB_CACHE:-$build_dir/lab-cache}
work=${EMBER_LAB_WORK:-$build_dir/lab-work}

for tool in "$qemu" apt-get; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool not found (the lab needs QEMU and a Debian host; docs/lab.md)"
        exit 77
    fi
done
for tool in apt-cache dpkg-deb gzip timeout; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done
[ -x "$ember" ] || die "no ember binary at '$ember' (build the ember target, or pass --ember)"
compgen -G "$guests/*.elf" >/dev/null || die "no test guests in '$guests' (build ember_guests)"
# ember must run in a busybox initramfs with no C library: it is linked static-pie.
if ! ldd "$ember" 2>&1 | grep -qE 'statically linked|not a dynamic executable'; then
    die "'$ember' is dynamically linked; the lab needs the static-pie build (no libraries in L1)"
fi

start_s=$(date +%s.%N)
elapsed() { awk -v a="$start_s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "lab: [$(elapsed)s] $*"; }

# --- fetch (once): the Debian 12 cloud kernel and busybox-static ---------------------------------

# apt_retry CMD...: runs CMD; if it fails (or prints nothing), runs apt-get update once (the
# package index may be missing on a fresh machine) and runs CMD again.
updated=0
apt_retry() {
    local out
    if out=$("$@" 2>&1) && [ -n "$out" ]; then
        printf '%s\n' "$out"
        return 0
    fi
    if [ "$updated" -eq 0 ]; then
        log "'$*' failed; running apt-get update" >&2
        apt-get update -qq >&2 || die "apt-get update failed"
        updated=1
    fi
    "$@"
}

# fetch_deb PACKAGE DEST: downloads PACKAGE into the cache and unpacks it into DEST, once.
fetch_deb() {
    local pkg=$1 dest=$2 deb
    [ -f "$dest/.unpacked" ] && return 0
    mkdir -p "$cache/debs"
    log "downloading $pkg"
    (cd "$cache/debs" && apt_retry apt-get download -qq "$pkg" >/dev/null) ||
        die "apt-get download $pkg failed"
    deb=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_*.deb" | sort | tail -n 1)
    [ -n "$deb" ] || die "apt-get download $pkg left no .deb in $cache/debs"
    rm -rf "$dest"
    dpkg-deb -x "$deb" "$dest.tmp"
    mv "$dest.tmp" "$dest"
    touch "$dest/.unpacked"
}

mkdir -p "$cache" "$work"
cache=$(cd "$cache" && pwd)
work=$(cd "$work" && pwd)
kernel_pkg=${EMBER_LAB_KERNEL_PKG:-}
if [ -z "$kernel_pkg" ] && [ -f "$cache/kernel-package" ]; then
    kernel_pkg=$(cat "$cache/kernel-package")
fi
if [ -z "$kernel_pkg" ]; then
    # linux-image-cloud-amd64 is a metapackage; the kernel is the package it depends on.
    kernel_pkg=$(apt_retry apt-cache depends linux-image-cloud-amd64 |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }') || true
    [ -n "$kernel_pkg" ] || die "cannot resolve linux-image-cloud-amd64 (is this Debian 12?)"
fi
fetch_deb "$kernel_pkg" "$cache/$kernel_pkg"
echo "$kernel_pkg" >"$cache/kernel-package"
fetch_deb busybox-static "$cache/busybox-static"
# Optional: a static e2fsck for L1, where the virtio_blk scenario checks the ext4 image that its
# guest wrote. Without it (no such package, no network) that check is skipped, nothing else; a
# failed try is remembered in the cache (delete e2fsck-static.missing to try again).
if [ ! -f "$cache/e2fsck-static.missing" ] && ! (fetch_deb e2fsck-static "$cache/e2fsck-static"); then
    log "no e2fsck-static: the virtio_blk scenario will not e2fsck its image in L1"
    touch "$cache/e2fsck-static.missing"
fi

kroot=$cache/$kernel_pkg
vmlinuz=$(find "$kroot/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n 1)
moddir=$(find "$kroot/lib/modules" "$kroot/usr/lib/modules" -mindepth 1 -maxdepth 1 -type d \
    2>/dev/null | head -n 1 || true)
busybox=$cache/busybox-static/bin/busybox
if [ -z "$vmlinuz" ] || [ -z "$moddir" ] || [ ! -x "$busybox" ]; then
    die "unexpected package contents in $cache (delete it and run again)"
fi

# --- the L1 initramfs -----------------------------------------------------------------------------

# module_file NAME: the module's file under $moddir (kvm_amd is kvm-amd.ko, maybe compressed).
module_file() {
    local pattern="${1//[-_]/[-_]}.ko*"
    find "$moddir" -name "$pattern" | head -n 1
}

# module_deps NAME: the modules NAME needs, from modules.dep when the package has one (depmod
# writes it at install time), otherwise from the depends= field of the module's .modinfo.
module_deps() {
    local file
    file=$(module_file "$1")
    [ -n "$file" ] || die "module $1 not found in $moddir"
    if [ -f "$moddir/modules.dep" ]; then
        grep -E "(^|/)$(basename "$file"):" "$moddir/modules.dep" | cut -d: -f2 |
            tr ' ' '\n' | sed -n 's|.*/||; s/\.ko.*//p'
    else
        decompress "$file" | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' '\n'
    fi
}

decompress() {
    case $1 in
    *.xz) xz -dc "$1" ;;
    *.zst) zstd -dcq "$1" ;;
    *.gz) gzip -dc "$1" ;;
    *) cat "$1" ;;
    esac
}

# Load order: every module after the modules it depends on.
load_order=()
add_module() {
    local m dep
    m=$(echo "$1" | tr - _)
    for dep in "${load_order[@]}"; do
        [ "$dep" = "$m" ] && return 0
    done
    for dep in $(module_deps "$m"); do
        [ -n "$dep" ] && add_module "$dep"
    done
    load_order+=("$m")
}
# kvm_amd brings kvm, which brings irqbypass; loop lets a scenario mount, in L1, a disk image
# that its guest wrote (virtio_blk); tun gives /dev/net/tun for the tap of virtio_net.
add_module kvm_amd
add_module loop
add_module tun
l1_modules=("${load_order[@]}")
# L2's, one group per scenario, each in load order (virtio and virtio_ring come with
# virtio_mmio): virtio_blk's block driver (ext4, jbd2, mbcache, crc16 and crc32c are built into
# this kernel), virtio_net's network driver (with failover and net_failover), and virtio_vsock's
# vsock core and virtio transport. /init loads none of them: /blk.sh, /net.sh and /vsock.sh load
# their group's list, /lib/modules/order-<group>.
l2_modules=()
l2_group() {
    local group=$1 m have
    shift
    load_order=()
    add_module virtio_mmio
    for m in "$@"; do add_module "$m"; done
    printf '%s.ko\n' "${load_order[@]}" >"$work/l2/lib/modules/order-$group"
    for m in "${load_order[@]}"; do
        for have in "${l2_modules[@]}"; do [ "$have" = "$m" ] && continue 2; done
        l2_modules+=("$m")
    done
}

root=$work/root
rm -rf "$work"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules,ember/guests,lab/scenarios}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
# busybox insmod takes a plain .ko: compressed modules are decompressed here.
for m in "${l1_modules[@]}"; do
    decompress "$(module_file "$m")" >"$root/lib/modules/$m.ko"
    echo "$m.ko" >>"$root/lib/modules/order"
done
e2fsck_static=$cache/e2fsck-static/sbin/e2fsck.static
[ -x "$e2fsck_static" ] && cp "$e2fsck_static" "$root/bin/e2fsck"
if command -v strip >/dev/null 2>&1; then
    strip -o "$root/ember/ember" "$ember"
else
    cp "$ember" "$root/ember/ember"
fi
cp "$guests"/*.elf "$root/ember/guests/"
# vsock_tool (tests/lab/vsock_tool.c): both ends of the virtio_vsock scenario, AF_VSOCK in L2 and
# ember's Unix sockets in L1; static, since neither initramfs has a C library.
lab_cc=${LAB_CC:-cc}
command -v "$lab_cc" >/dev/null 2>&1 || die "no C compiler '$lab_cc' for vsock_tool.c (set LAB_CC)"
"$lab_cc" -static -O2 -Wall -Wextra -Werror -s -o "$root/bin/vsock_tool" "$lab_dir/vsock_tool.c" ||
    die "cannot build tests/lab/vsock_tool.c with '$lab_cc -static' (needs libc6-dev)"
# L2: the same Debian kernel as a guest of ember, with a busybox initramfs whose /init prints a
# marker and facts (CPUs, memory), then powers off (ACPI S5 through ember's port 0x600). With
# lab_blk on the command line it first runs /blk.sh (tests/lab/l2-blk.sh: the virtio_blk
# scenario's guest half), which loads the virtio modules listed in /lib/modules/order-blk;
# lab_net and lab_vsock run /net.sh and /vsock.sh the same way (l2-net.sh, l2-vsock.sh).
mkdir -p "$root/ember/linux" "$work/l2/bin" "$work/l2/proc" "$work/l2/dev" "$work/l2/sys" \
    "$work/l2/mnt" "$work/l2/lib/modules"
cp "$vmlinuz" "$root/ember/linux/vmlinuz"
cp "$busybox" "$work/l2/bin/busybox"
for applet in sh mount grep cat echo poweroff reboot insmod sleep dd md5sum cut head yes sync \
    umount dmesg sed blkdiscard fstrim tr ip ping wget nc wc awk cmp rmmod; do
    ln -s busybox "$work/l2/bin/$applet"
done
cp "$root/bin/vsock_tool" "$work/l2/bin/vsock_tool"
l2_group blk virtio_blk
l2_group net virtio_net
l2_group vsock vmw_vsock_virtio_transport
for m in "${l2_modules[@]}"; do
    decompress "$(module_file "$m")" >"$work/l2/lib/modules/$m.ko"
done
for half in blk net vsock; do
    cp "$lab_dir/l2-$half.sh" "$work/l2/$half.sh"
    chmod 755 "$work/l2/$half.sh"
done
# The virtio_blk scenario's ext4 image, made here since L1 has no mkfs.ext4 (e2fsprogs is part
# of every Debian; without it the scenario fails and says why): 8 MiB, one file.
mkfs_ext4=$(PATH=$PATH:/usr/sbin:/sbin command -v mkfs.ext4 || true)
if [ -n "$mkfs_ext4" ]; then
    mkdir -p "$work/ext4-root"
    echo "hello from L1, the host side" >"$work/ext4-root/hello.txt"
    "$mkfs_ext4" -q -F -L ember-lab -d "$work/ext4-root" "$root/ember/linux/ext4.img" 8M >/dev/null ||
        die "mkfs.ext4 failed"
else
    log "no mkfs.ext4 (e2fsprogs): the virtio_blk scenario will fail"
fi
cat >"$work/l2/init" <<'L2INIT'
#!/bin/sh
# An external initramfs has no /dev/console, so the kernel starts /init without stdio.
/bin/busybox mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox mount -t proc proc /proc
echo "L2: marker: linux booted under ember"
echo "L2: cpus $(grep -c ^processor /proc/cpuinfo)"
echo "L2: $(grep MemTotal /proc/meminfo)"
echo "L2: cmdline $(cat /proc/cmdline)"
if grep -q lab_blk /proc/cmdline; then /bin/sh /blk.sh; fi
if grep -q lab_net /proc/cmdline; then /bin/sh /net.sh; fi
if grep -q lab_vsock /proc/cmdline; then /bin/sh /vsock.sh; fi
if grep -q lab_debug /proc/cmdline; then cat /proc/interrupts; fi
if grep -q lab_reboot /proc/cmdline; then reboot -f; fi
poweroff -f
L2INIT
chmod 755 "$work/l2/init"
(cd "$work/l2" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) |
    gzip -1 >"$root/ember/linux/initrd.cpio.gz"
cp "$lab_dir/init.sh" "$root/init"
cp "$lab_dir/lib.sh" "$root/lab/lib.sh"
cp "$lab_dir"/scenarios/*.sh "$root/lab/scenarios/"
chmod 755 "$root/init"
printf '%s\n' "${scenarios[@]}" >"$root/lab/selected"
if [ "$shell" -eq 1 ]; then echo shell; else echo run; fi >"$root/lab/mode"
echo "$scenario_timeout" >"$root/lab/scenario_timeout"
initramfs=$work/initramfs.cpio.gz
(cd "$root" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) |
    gzip -1 >"$initramfs"
log "L1: $(basename "$vmlinuz"), modules ${l1_modules[*]}, L2 modules ${l2_modules[*]}, initramfs $(($(stat -c %s "$initramfs") / 1024)) KiB"

# --- boot L1 --------------------------------------------------------------------------------------

qemu_cmd=("$qemu" -M q35 -accel tcg -cpu max -smp 2 -m 2G -nographic -no-reboot -nic none
    -kernel "$vmlinuz" -initrd "$initramfs"
    -append "console=ttyS0 panic=1 loglevel=4 quiet")
console=$work/console.log
log "booting L1: timeout ${timeout_s}s ${qemu_cmd[*]}"
if [ "$shell" -eq 1 ]; then
    exec timeout --foreground "$timeout_s" "${qemu_cmd[@]}"
fi
set +e
timeout -k 10 "$timeout_s" "${qemu_cmd[@]}" </dev/null 2>&1 | tee "$console"
qemu_rc=${PIPESTATUS[0]}
set -e

# --- verdict --------------------------------------------------------------------------------------
# Plain text: no carriage returns, no terminal escapes (SeaBIOS and the kernel clear the screen).
tr -d '\r' <"$console" | sed 's/\x1b[^a-zA-Z]*[a-zA-Z]//g' >"$console.txt"
echo
echo "=== lab summary (qemu status $qemu_rc, wall $(elapsed)s; console: $console)"
grep -E '^LAB: (L1 up|/dev/kvm|ERROR|TIMING|PASS|FAIL|DONE)' "$console.txt" || true
status=0
passed=$(grep -c '^LAB: PASS ' "$console.txt" || true)
failed=$(grep -c '^LAB: FAIL ' "$console.txt" || true)
if ! grep -q "^LAB: DONE pass=${#scenarios[@]} fail=0" "$console.txt"; then
    status=1
fi
if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
    echo "lab: QEMU ran past ${timeout_s}s and was killed"
    status=1
fi
if [ "$passed" -ne ${#scenarios[@]} ] || [ "$failed" -ne 0 ]; then
    status=1
fi
if [ "$status" -eq 0 ]; then
    echo "lab: PASS: all ${#scenarios[@]} scenarios (${scenarios[*]}) in $(elapsed)s"
else
    echo "lab: FAIL: $passed of ${#scenarios[@]} scenarios passed, $failed failed"
    grep -q '^LAB: DONE ' "$console.txt" ||
        echo "lab: L1 did not finish (no 'LAB: DONE' line): see the console above"
fi
exit "$status"
