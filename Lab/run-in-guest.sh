#!/bin/bash
# Lab/run-in-guest.sh - run a script in a throw-away QEMU guest that has a
# full-IPsec Debian kernel, and bring back its output, files and exit code.
#
#   Lab/run-in-guest.sh [options] SCRIPT [ARGS...]
#   Lab/run-in-guest.sh [options] -c 'COMMANDS'
#
# Options:
#   -k KERNEL   default (Debian 12's 6.1), newest, 6.1, 6.12 or an exact
#               release (default: $LAB_KERNEL or "default")
#   -b PATH     ipsectop binary the payload should test (exported as
#               $IPSECTOP).  Default: $IPSECTOP, else the checkout's
#               .build-lab/debug/ipsectop, else .build/debug/ipsectop.
#   -o DIR      run directory (default: new $LAB_WORKDIR/run.XXXXXX); the
#               payload's files written to $LAB_OUT end up in DIR/out/
#   -t SECONDS  hard limit for the whole guest (default 600)
#   -a ACCEL    auto (default) | kvm | tcg.  auto = KVM only when it can
#               really run a stock kernel (lib/common.sh), and if a KVM guest
#               shows no life within 30 s it is killed and TCG is used.
#   -e K=V      extra environment for the payload (repeatable)
#   -f PATH     copy PATH into the guest as /lab/files/<name> (repeatable;
#               for inputs under /tmp, /run, /var/tmp: the guest has fresh
#               tmpfs there, everything else of / is visible read-only)
#   -m MEM -s CPUS  guest memory (1024M) and vCPUs (2)
#   -v          stream the guest console to stderr
#
# Stdout: the payload's stdout+stderr (merged, in order).  Stderr: lab:
# lines, ending with a summary "lab: kernel=... accel=... rc=... wall=...".
# Exit: the payload's status; 124 = timeout; 125 = the lab itself failed.
# The guest has no network device (-nic none -nodefaults): only two 9p
# shares (host / read-only, the run directory read-write) and a serial console.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

KREQ=${LAB_KERNEL:-default}; BIN=${IPSECTOP:-}; RUN=; TMO=600; ACCEL=${LAB_ACCEL:-auto}
MEM=1024M; CPUS=2; VERBOSE=0; CMDS=; ENVS=(); FILES=()
while getopts ":k:b:o:t:a:e:f:m:s:c:vh" o; do
    case $o in
        k) KREQ=$OPTARG ;; b) BIN=$OPTARG ;; o) RUN=$OPTARG ;; t) TMO=$OPTARG ;;
        a) ACCEL=$OPTARG ;; e) ENVS+=("$OPTARG") ;; f) FILES+=("$OPTARG") ;;
        m) MEM=$OPTARG ;; s) CPUS=$OPTARG ;; c) CMDS=$OPTARG ;; v) VERBOSE=1 ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) lab_die "bad option -$OPTARG (-h for help)" ;;
    esac
done
shift $((OPTIND - 1))
[ -n "$CMDS" ] || [ $# -ge 1 ] || lab_die "nothing to run (SCRIPT or -c CMDS; -h for help)"
command -v qemu-system-x86_64 >/dev/null || lab_die "qemu-system-x86_64 missing: apt-get install qemu-system-x86"

KREL=$(lab_kernel "$KREQ") || exit 125
BOOT=$LAB_WORKDIR/boot/$KREL
if [ ! -s "$BOOT/initramfs.cpio.gz" ] || [ "$LAB_DIR/build-initramfs.sh" -nt "$BOOT/initramfs.cpio.gz" ] ||
   [ "/boot/vmlinuz-$KREL" -nt "$BOOT/initramfs.cpio.gz" ]; then
    "$LAB_DIR/build-initramfs.sh" "$KREL" > /dev/null || lab_die "initramfs build failed"
fi
KERNEL=/boot/vmlinuz-$KREL
[ -s "$BOOT/vmlinux" ] && KERNEL=$BOOT/vmlinux

if [ -z "$BIN" ]; then
    for b in "$REPO_DIR/.build-lab/debug/ipsectop" "$REPO_DIR/.build/debug/ipsectop"; do
        [ -x "$b" ] && { BIN=$b; break; }
    done
fi

mkdir -p "$LAB_WORKDIR"
if [ -n "$RUN" ]; then mkdir -p "$RUN"; RUN=$(cd "$RUN" && pwd); rm -rf "$RUN/out" "$RUN/src" "$RUN/files"
else RUN=$(mktemp -d "$LAB_WORKDIR/run.XXXXXX"); fi
mkdir -p "$RUN/out" "$RUN/files"
cp "$LAB_DIR/guest/stage2.sh" "$RUN/stage2.sh"
tar -C "$LAB_DIR" --exclude=./.cache -cf - . | (mkdir -p "$RUN/src" && tar -C "$RUN/src" -xf -)
for f in "${FILES[@]}"; do cp -a "$f" "$RUN/files/" || lab_die "cannot copy $f"; done
# A binary under a path the guest hides behind tmpfs is copied in.
if [ -n "$BIN" ]; then
    BIN=$(readlink -f "$BIN")
    case $BIN in /tmp/*|/run/*|/var/tmp/*) cp "$BIN" "$RUN/files/ipsectop"; BIN=/lab/files/ipsectop ;; esac
fi
if [ -n "$CMDS" ]; then
    printf '%s\n' "$CMDS" > "$RUN/payload"; : > "$RUN/args"
else
    s=$(readlink -f "$1") || lab_die "no script $1"
    [ -r "$s" ] || lab_die "cannot read $1"
    case $s in
        "$LAB_DIR"/*) printf 'exec bash %q "$@"\n' "/lab/src/${s#"$LAB_DIR"/}" > "$RUN/payload" ;;
        *) cp "$s" "$RUN/payload" ;;
    esac
    shift
    : > "$RUN/args"; [ $# -gt 0 ] && printf '%s\0' "$@" > "$RUN/args"
fi
{
    printf 'LAB_GUEST_TIMEOUT=%q\nLAB_KERNEL=%q\nIPSECTOP=%q\n' "$((TMO > 50 ? TMO - 25 : TMO * 2 / 3))" "$KREL" "$BIN"
    for e in "${ENVS[@]}"; do printf 'export %q=%q\n' "${e%%=*}" "${e#*=}"; done
} > "$RUN/env"

case $ACCEL in auto) ACCEL=$(lab_accel); PROBE=1 ;; kvm) PROBE=1 ;; tcg) PROBE=0 ;; *) lab_die "bad accel $ACCEL" ;; esac

# boot ACCEL: one QEMU run; sets QRC (99 = KVM guest showed no life)
boot() {
    local acc=$1 a append="console=ttyS0 panic=-1 loglevel=4 mitigations=off cryptomgr.notests"
    if [ "$acc" = kvm ]; then a=(-accel kvm -cpu host)
    else
        # tsc=unstable: 6.12 under TCG otherwise switches sched_clock to
        # "stable" a few seconds in, live-patching code the other vCPU may be
        # running (seen as an early Oops: int3).  6.1 marks the TSC unstable
        # by itself.  -cpu max gives AES-NI & co., as on real hardware.
        a=(-accel tcg -cpu max); append+=" tsc=unstable"
    fi
    sed -i "/^LAB_ACCEL=/d" "$RUN/env"; echo "LAB_ACCEL=$acc" >> "$RUN/env"
    # cryptomgr.notests: skip the crypto self-tests that run when a template
    # is first instantiated (seconds per algorithm under TCG; we test XFRM,
    # not the kernel's crypto).
    local cmd=(qemu-system-x86_64 "${a[@]}" -M pc -smp "$CPUS" -m "$MEM"
        -nodefaults -no-user-config -nic none -display none -monitor none -vga none
        -serial "file:$RUN/console.log" -no-reboot
        -kernel "$KERNEL" -initrd "$BOOT/initramfs.cpio.gz" -append "$append${LAB_APPEND:+ $LAB_APPEND}"
        -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
        -virtfs "local,path=$RUN,mount_tag=labio,security_model=none,multidevs=remap")
    printf '%q ' "${cmd[@]}" > "$RUN/qemu-cmdline"
    : > "$RUN/console.log"; rm -f "$RUN/out/rc"
    lab_log "booting kernel=$KREL accel=$acc timeout=${TMO}s run=$RUN"
    timeout -k 5 "$TMO" "${cmd[@]}" < /dev/null > "$RUN/qemu.log" 2>&1 &
    local qpid=$! i
    if [ "$acc" = kvm ] && [ "$PROBE" = 1 ]; then
        for ((i = 0; i < 150; i++)); do
            grep -q 'ipsectop-lab-init' "$RUN/console.log" && break
            kill -0 $qpid 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 $qpid 2>/dev/null && ! grep -q 'ipsectop-lab-init' "$RUN/console.log"; then
            lab_log "KVM guest showed no life in 30 s: killing it, using TCG"
            kill $qpid; wait $qpid 2>/dev/null || true; QRC=99; return
        fi
    fi
    QRC=0; wait $qpid || QRC=$?
}

tailpid=
if [ "$VERBOSE" = 1 ]; then : > "$RUN/console.log"; tail -n +1 -F "$RUN/console.log" >&2 2>/dev/null & tailpid=$!; fi
t0=$(date +%s.%N)
boot "$ACCEL"
if [ "$QRC" = 99 ]; then ACCEL=tcg; boot tcg; fi
# One more boot when the guest kernel crashed before the payload started.
if [ ! -s "$RUN/out/rc" ] && [ "$QRC" != 124 ] && [ "$QRC" != 137 ] &&
   ! grep -q 'ipsectop-lab-stage2: kernel' "$RUN/console.log" &&
   grep -qE 'Kernel panic|Oops|BUG:|general protection' "$RUN/console.log"; then
    cp "$RUN/console.log" "$RUN/console.crash.log"
    lab_log "guest kernel crashed before the payload ($(grep -m1 -oE '(Kernel panic|Oops|BUG:|general protection)[^[]{0,80}' "$RUN/console.log")); console kept as console.crash.log; booting once more"
    boot "$ACCEL"
fi
wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
[ -n "$tailpid" ] && { sleep 0.3; kill "$tailpid" 2>/dev/null || true; }

[ -f "$RUN/out/output.log" ] && cat "$RUN/out/output.log"
if [ -s "$RUN/out/rc" ]; then
    rc=$(cat "$RUN/out/rc")
    lab_log "kernel=$KREL accel=$ACCEL rc=$rc wall=${wall}s guest-payload=$(awk -F= '/start/{s=$2} /end/{e=$2} END{printf "%.1f", e-s}' "$RUN/out/timing")s run=$RUN"
    exit "$rc"
fi
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
    lab_log "TIMEOUT after ${wall}s (kernel=$KREL accel=$ACCEL run=$RUN); console tail:"
    tail -n 25 "$RUN/console.log" >&2
    exit 124
fi
lab_log "guest gave no result (qemu rc=$QRC, ${wall}s, run=$RUN); console tail:"
cat "$RUN/qemu.log" >&2; tail -n 30 "$RUN/console.log" >&2
exit 125
