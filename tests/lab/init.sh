#!/bin/sh
# /init of the lab's L1 initramfs (tests/lab/lab.sh builds it; docs/lab.md). Runs under busybox
# sh inside the QEMU (TCG, -cpu max) guest: mounts the pseudo file systems, loads the KVM
# modules, checks /dev/kvm, then runs the scenarios named in /lab/selected — or, when /lab/mode
# says "shell", gives a shell on the console — and powers off. lab.sh reads the "LAB: " lines.
export PATH=/bin
mkdir -p /dev /proc /sys /tmp
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp

uptime_s() { cut -d' ' -f1 /proc/uptime; }

echo
echo "LAB: L1 up at $(uptime_s)s: kernel $(uname -r), $(nproc) CPUs," \
    "$(grep -c '^flags.* svm' /proc/cpuinfo) with svm, $(grep -c '^flags.* npt' /proc/cpuinfo) with npt"
while read -r module; do
    insmod "/lib/modules/$module" || echo "LAB: ERROR insmod $module failed"
done </lib/modules/order
kvm_ok=1
if [ -c /dev/kvm ]; then
    echo "LAB: /dev/kvm ready at $(uptime_s)s (modules: $(cut -d" " -f1 /proc/modules | tr "\n" " "))"
else
    kvm_ok=0
    echo "LAB: ERROR no /dev/kvm after loading the modules; kernel log:"
    dmesg | tail -n 30
fi

if [ "$(cat /lab/mode)" = shell ]; then
    echo "LAB: shell (ember: /ember/ember, guests: /ember/guests, scenarios: /lab/scenarios;"
    echo "LAB: run one: EMBER=/ember/ember GUESTS=/ember/guests LAB_LIB=/lab/lib.sh sh /lab/scenarios/hello.sh)"
    echo "LAB: 'exit' powers L1 off"
    setsid cttyhack sh -l
    poweroff -f
fi

pass=0 fail=0
while read -r name; do
    dir=/tmp/scenario/$name
    mkdir -p "$dir"
    start=$(uptime_s)
    rc=0
    if [ "$kvm_ok" -eq 1 ]; then
        (cd "$dir" && EMBER=/ember/ember GUESTS=/ember/guests LAB_LIB=/lab/lib.sh \
            timeout "$(cat /lab/scenario_timeout)" sh "/lab/scenarios/$name.sh" \
            /ember/ember /ember/guests) </dev/null >"$dir.log" 2>&1 || rc=$?
    else
        echo "no /dev/kvm in L1" >"$dir.log"
        rc=1
    fi
    end=$(uptime_s)
    echo "LAB: ---- $name (log)"
    sed '/^LAB: /!s/^/  | /' "$dir.log"
    took=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    if [ "$rc" -eq 0 ]; then
        pass=$((pass + 1))
        echo "LAB: PASS $name (${took}s)"
    else
        fail=$((fail + 1))
        echo "LAB: FAIL $name (status $rc, ${took}s)"
    fi
done </lab/selected
echo "LAB: DONE pass=$pass fail=$fail at $(uptime_s)s"
sync
poweroff -f
