#!/bin/bash
# Lab/guest/stage2.sh - PID 1 inside the lab guest, after /init switched to
# the overlay root (host / read-only over 9p + tmpfs).  run-in-guest.sh
# copies it into the run directory, which the guest sees as /lab:
#   /lab/payload     bash script to run      /lab/args   its arguments (NUL-separated)
#   /lab/env         KEY=VALUE settings (sourced)
#   /lab/src/        copy of the repository's Lab/ directory (the payload's cwd)
#   /lab/out/        results, read-write: output.log, rc, timing, dmesg.txt, files
# Output of the payload goes to /lab/out/output.log and the serial console;
# its exit status to /lab/out/rc.  Then the guest powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=dumb
export LAB_OUT=/lab/out LAB_SRC=/lab/src

off() { sync; echo o > /proc/sysrq-trigger; sleep 10; }
trap off EXIT
mkdir -p "$LAB_OUT"
LAB_GUEST_TIMEOUT=600
[ -r /lab/env ] && . /lab/env
export LAB_GUEST_TIMEOUT LAB_ACCEL LAB_KERNEL IPSECTOP LAB_CAPTURE_DIR
echo ipsectop-lab > /proc/sys/kernel/hostname
ip link set lo up
extra=$(ls /sys/class/net | grep -vx lo | tr '\n' ' ')
[ -n "$extra" ] && echo "ipsectop-lab-stage2: WARNING: network devices present: $extra" > /dev/console

args=()
[ -s /lab/args ] && mapfile -d '' -t args < /lab/args
up0=$(cut -d' ' -f1 /proc/uptime)
echo "ipsectop-lab-stage2: kernel $(uname -r) accel=${LAB_ACCEL:-?} uptime=${up0}s payload starts" > /dev/console
cd "$LAB_SRC" || cd /
setsid timeout -k 5 "$LAB_GUEST_TIMEOUT" bash /lab/payload "${args[@]}" < /dev/null > "$LAB_OUT/output.log" 2>&1 &
pid=$!
tail -n +1 -F --pid=$pid "$LAB_OUT/output.log" > /dev/console 2>/dev/null &
wait $pid
rc=$?
up1=$(cut -d' ' -f1 /proc/uptime)
sleep 1
# we are PID 1: this reaches every daemon the payload left behind
kill -TERM -1 2>/dev/null; sleep 0.5; kill -KILL -1 2>/dev/null
dmesg > "$LAB_OUT/dmesg.txt" 2>/dev/null; lsmod > "$LAB_OUT/lsmod.txt" 2>/dev/null
printf 'kernel=%s\naccel=%s\nuptime_payload_start=%s\nuptime_payload_end=%s\n' \
    "$(uname -r)" "${LAB_ACCEL:-?}" "$up0" "$up1" > "$LAB_OUT/timing"
echo "$rc" > "$LAB_OUT/rc"
echo "ipsectop-lab-stage2: payload rc=$rc at uptime ${up1}s, powering off" > /dev/console
exit 0
