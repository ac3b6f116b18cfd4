#!/bin/bash
# Lab/capture-fixtures.sh - record the real netlink messages of the lab
# scenarios with ipsectop's own recorder and install them as test fixtures.
#
#   Lab/capture-fixtures.sh [-k "6.1 6.12"] [-s "SCENARIO ..."] [-S KERNEL] [-b IPSECTOP] [-n]
#
#   -k KERNELS  kernels for the scenario fixtures (default "6.1 6.12")
#   -s NAMES    scenarios (default: manual-esp strongswan-natt kernel-lifetimes)
#   -S KERNEL   kernel for the sample recording (default 6.1; "none" = skip)
#   -b PATH     ipsectop binary (default .build-lab/debug/ipsectop)
#   -n          dry run: record and verify under $LAB_WORKDIR/capture, install nothing
#   LAB_RECORDER=python: use the prototype recorder (Lab/guest/xfrmnl.py record)
#
# Results:
#   Tests/XFRMWireTests/Fixtures/<scenario>-<kernel>.xfrmrec  (one per scenario and kernel;
#       netns left for manual-esp and kernel-lifetimes, right for strongswan-natt;
#       dumps every 10 s plus every event)
#   Samples/natt-strongswan.xfrmrec  (~100 s, netns right, dumps every second)
# Each file is verified (Lab/guest/verify_recording.py: header, framing, no
# key bytes) and replayed with `ipsectop snapshot --replay` before it is
# installed.  Key bytes never reach a file: the recorder zeroes them.
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"

KERNELS="6.1 6.12"; SCENARIOS="manual-esp strongswan-natt kernel-lifetimes"; SK=6.1
BIN=${IPSECTOP:-$REPO_DIR/.build-lab/debug/ipsectop}; DRY=0
while getopts ":k:s:S:b:nh" o; do
    case $o in
        k) KERNELS=$OPTARG ;; s) SCENARIOS=$OPTARG ;; S) SK=$OPTARG ;; b) BIN=$OPTARG ;; n) DRY=1 ;;
        h) sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bad option -$OPTARG" >&2; exit 2 ;;
    esac
done
lab_check_prereqs $KERNELS $([ "$SK" != none ] && echo "$SK") || exit 2
[ -x "$BIN" ] || { echo "lab: ipsectop binary $BIN missing (swift build --scratch-path .build-lab)" >&2; exit 2; }
BIN=$(readlink -f "$BIN")
CAP=$LAB_WORKDIR/capture
FIX=$REPO_DIR/Tests/XFRMWireTests/Fixtures
rc=0

capture() {   # capture KERNEL SCENARIO DEST
    local k=$1 s=$2 dest=$3 run=$CAP/$1/$2 f
    rm -rf "$run"; mkdir -p "$run"
    echo "== [$k] $s -> $dest"
    "$LAB_DIR/run-in-guest.sh" -k "$k" -b "$BIN" -t 420 -o "$run" -e LAB_CAPTURE_DIR=/lab/out/capture \
        -e LAB_RECORDER="${LAB_RECORDER:-ipsectop}" "$LAB_DIR/scenarios/$s.sh" > "$run/stdout.log" 2> "$run/lab.log"
    local grc=$?
    grep -E '^CHECK FAIL|^capture:' "$run/stdout.log" | sed 's/^/   /'
    tail -n 1 "$run/lab.log" | sed 's/^/   /'
    f=$run/out/capture/$s.xfrmrec
    if [ ! -s "$f" ]; then echo "   ERROR: no recording (guest rc=$grc; see $run)"; rc=1; return; fi
    [ "$grc" = 0 ] || echo "   note: scenario checks failed (rc=$grc); the recording is still the kernel's real messages"
    if ! python3 "$LAB_DIR/guest/verify_recording.py" "$f" | sed 's/^/   /' || ! python3 "$LAB_DIR/guest/verify_recording.py" "$f" > /dev/null; then
        echo "   ERROR: verification failed: not installed"; rc=1; return
    fi
    if ! "$BIN" snapshot --json --replay "$f" > "$run/replay.json" 2> "$run/replay.err"; then
        echo "   ERROR: ipsectop snapshot --replay failed: $(head -c 300 "$run/replay.err")"; rc=1; return
    fi
    echo "   replay: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d.get("sas",[])), "SAs,", len(d.get("policies",[])), "policies at the end")' "$run/replay.json")"
    if [ $DRY = 0 ]; then mkdir -p "$(dirname "$dest")"; cp "$f" "$dest"; echo "   installed $(du -h "$dest" | cut -f1) $dest"; fi
}

for k in $KERNELS; do
    krel=$(lab_kernel "$k") || { rc=1; continue; }
    kshort=$(echo "$krel" | cut -d. -f1,2)
    for s in $SCENARIOS; do capture "$krel" "$s" "$FIX/$s-$kshort.xfrmrec"; done
done
if [ "$SK" != none ]; then
    capture "$(lab_kernel "$SK")" sample-natt "$REPO_DIR/Samples/natt-strongswan.xfrmrec"
fi
exit $rc
