#!/bin/bash
# Lab/run-lab.sh - CI entry point of the full-IPsec lab.
#
#   Lab/run-lab.sh [-k "6.1 6.12"] [-s "SCENARIO ..."] [-b IPSECTOP] [-B] [-o DIR]
#
#   -k KERNELS   kernels to boot (default "6.1 6.12"; see run-in-guest.sh -k)
#   -s NAMES     scenarios (default: every Lab/scenarios/*.sh except lib.sh
#                and the capture-only sample-*.sh)
#   -b PATH      ipsectop binary (default $IPSECTOP, else .build-lab/debug/ipsectop)
#   -B           build it first: swift build --scratch-path .build-lab
#   -o DIR       results directory (default $LAB_WORKDIR/results); one
#                sub-directory per kernel and scenario with the payload's
#                output (output.log), console.log, dmesg and the artefacts
#
# Checks every prerequisite first; a missing one fails the run and names the
# Debian package (never a silent skip).  Runs one guest at a time, prints a
# summary, exits 1 if any scenario failed (2 = prerequisites missing).
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"

KERNELS="6.1 6.12"; SCENARIOS=; BIN=${IPSECTOP:-}; BUILD=0; RES=$LAB_WORKDIR/results
while getopts ":k:s:b:Bo:h" o; do
    case $o in
        k) KERNELS=$OPTARG ;; s) SCENARIOS=$OPTARG ;; b) BIN=$OPTARG ;; B) BUILD=1 ;; o) RES=$OPTARG ;;
        h) sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bad option -$OPTARG" >&2; exit 2 ;;
    esac
done
T0=$(date +%s)
echo "== ipsectop lab: prerequisites"
lab_check_prereqs $KERNELS || exit 2
if [ "$BUILD" = 1 ]; then
    command -v swift >/dev/null || { echo "lab: swift not found (needed for -B)" >&2; exit 2; }
    echo "== swift build --scratch-path .build-lab"
    (cd "$REPO_DIR" && swift build --scratch-path .build-lab) || { echo "lab: swift build failed" >&2; exit 1; }
fi
if [ -z "$BIN" ]; then BIN=$REPO_DIR/.build-lab/debug/ipsectop; fi
if [ ! -x "$BIN" ]; then
    echo "lab: ipsectop binary $BIN missing: build it (swift build --scratch-path .build-lab, or run-lab.sh -B) or pass -b PATH" >&2
    exit 2
fi
BIN=$(readlink -f "$BIN")
[ -n "$SCENARIOS" ] || SCENARIOS=$(cd "$LAB_DIR/scenarios" && ls *.sh | grep -vE '^(lib|sample-.*)\.sh$' | sed 's/\.sh$//' | tr '\n' ' ')
echo "== ipsectop: $BIN ($(stat -c '%y' "$BIN" | cut -d. -f1))"
echo "== kernels: $KERNELS; scenarios: $SCENARIOS; results: $RES"

mkdir -p "$RES"
SUMMARY=(); FAILED=0
for k in $KERNELS; do
    krel=$(lab_kernel "$k") || { FAILED=1; SUMMARY+=("$k - FAIL (kernel not installed)"); continue; }
    for s in $SCENARIOS; do
        out=$RES/$k/$s
        rm -rf "$out"; mkdir -p "$out"
        echo "== [$k] $s"
        t=$(date +%s)
        "$LAB_DIR/run-in-guest.sh" -k "$krel" -b "$BIN" -t 420 -o "$out" "$LAB_DIR/scenarios/$s.sh" \
            > "$out/stdout.log" 2> "$out/lab.log"
        rc=$?
        dt=$(( $(date +%s) - t ))
        np=$(grep -c '^CHECK PASS' "$out/stdout.log"); nf=$(grep -c '^CHECK FAIL' "$out/stdout.log")
        if [ $rc = 0 ] && [ "$nf" = 0 ] && [ "$np" -gt 0 ]; then st=PASS; else st=FAIL; FAILED=1; fi
        line=$(printf '%-5s %-18s %-4s %3d checks passed, %2d failed, rc=%-3s %4ds' "$k" "$s" "$st" "$np" "$nf" "$rc" "$dt")
        SUMMARY+=("$line")
        echo "   $line"
        if [ $st = FAIL ]; then
            grep '^CHECK FAIL' "$out/stdout.log" | sed 's/^/   /'
            grep -E '^lab: (TIMEOUT|guest gave|ERROR|guest kernel crashed)' "$out/lab.log" | sed 's/^/   /'
            [ "$np" -gt 0 ] || tail -n 15 "$out/stdout.log" | sed 's/^/   | /'
            echo "   artefacts: $out (stdout.log, lab.log, console.log, out/)"
        fi
    done
done
echo
echo "== summary (total $(( $(date +%s) - T0 )) s; accel and boot details in each lab.log)"
printf '   %s\n' "${SUMMARY[@]}"
[ $FAILED = 0 ] && echo "== lab PASSED" || echo "== lab FAILED"
exit $FAILED
