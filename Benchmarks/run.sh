#!/usr/bin/env bash
# ipsectop benchmarks (BENCHMARKS.md). Run as root from anywhere:
#
#   Benchmarks/run.sh            N = 10,000 and 100,000 larval SAs + N policies (about 10 minutes)
#   Benchmarks/run.sh --short    N = 1,000, fewer runs (CI: keeps the benchmarks building and running)
#
# Options: --sizes "N ..." (fixture sizes), --runs R (whole-process runs per command),
# --steady S (seconds of dashboard CPU sampling), --out DIR (results; default a new /tmp dir).
# Environment: IPSECTOP_BIN=path uses that ipsectop binary instead of building one
# (IPSECTOP_COMMIT labels it in the results); IPSECTOP_BENCH_BIN=path the same for ipsectop-bench.
#
# For every N it builds one network namespace fixture (reused by every measurement), then:
# whole-process snapshot (model and --kernel-only) vs `ip -s xfrm state` vs the raw dump
# floor (wall, CPU, peak RSS, paired ratios); decode + model update per refresh vs the
# kernel's dump CPU; the dashboard's steady CPU at 1 s refresh and its resident size; time
# to first frame. At the largest N also: frame build p50/p99 sorted and filtered, the
# replayed-event ingest rate, and (in process, no kernel) memory and refresh cost of as many
# busy, rekeyed NAT-T SAs. Figures are printed, never asserted: the script exits 0 when
# everything ran and non-zero only when something broke (build, fixture, a failing command).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SHORT=0
SIZES=""
RUNS=""
STEADY=""
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --short) SHORT=1 ;;
    --sizes) SIZES=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --steady) STEADY=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$SHORT" = 1 ]; then
  SIZES=${SIZES:-1000}; RUNS=${RUNS:-3}; STEADY=${STEADY:-8}; FF_RUNS=2; ROUNDS=5; FRAMES=100
else
  SIZES=${SIZES:-10000 100000}; RUNS=${RUNS:-5}; STEADY=${STEADY:-30}; FF_RUNS=3; ROUNDS=10; FRAMES=300
fi
OUT=${OUT:-/tmp/ipsectop-bench-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"

if [ "$(id -u)" != 0 ]; then echo "run.sh: needs root (network namespaces, XFRM dumps)" >&2; exit 1; fi
for t in ip tmux python3 swift; do
  command -v "$t" >/dev/null || { echo "run.sh: $t is missing" >&2; exit 1; }
done
# Any C compiler: cc, or the clang that ships with the Swift toolchain (CI has no gcc).
CC=${CC:-$(command -v cc || command -v clang || true)}
[ -n "$CC" ] || { echo "run.sh: no C compiler (cc or clang)" >&2; exit 1; }

log() { printf '\n--- %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
MEASURE="python3 $HERE/measure.py"
# A private tmux server: nothing else on the machine can end our sessions, we end nobody else's.
export IPSB_TMUX_SOCKET=ipsectop-bench-$$
tm() { tmux -L "$IPSB_TMUX_SOCKET" "$@"; }
NAMESPACES=()
SESSIONS=()
cleanup() {
  for s in "${SESSIONS[@]:-}"; do [ -n "$s" ] && tm kill-session -t "$s" 2>/dev/null || true; done
  for n in "${NAMESPACES[@]:-}"; do [ -n "$n" ] && ip netns del "$n" 2>/dev/null || true; done
  tm kill-server 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build -------------------------------------------------------------------------------
log "build (release, scratch path .build-bench)"
T0=$(date +%s)
if [ -n "${IPSECTOP_BIN:-}" ]; then
  BIN=$IPSECTOP_BIN
  echo "using IPSECTOP_BIN=$BIN"
else
  (cd "$ROOT" && swift build -c release --scratch-path .build-bench --product ipsectop) || {
    echo "run.sh: the release build of ipsectop failed (see the compiler output above): not a benchmark failure" >&2
    exit 1
  }
  BIN=$ROOT/.build-bench/release/ipsectop
fi
if [ -n "${IPSECTOP_BENCH_BIN:-}" ]; then
  BENCH=$IPSECTOP_BENCH_BIN
  echo "using IPSECTOP_BENCH_BIN=$BENCH"
else
  (cd "$HERE" && swift build -c release --scratch-path .build-bench --product ipsectop-bench)
  BENCH=$HERE/.build-bench/release/ipsectop-bench
fi
"$CC" -O2 -Wall -Werror -o "$OUT/dumpfloor" "$HERE/dumpfloor.c"
"$CC" -O2 -Wall -Werror -o "$OUT/runstat" "$HERE/runstat.c"
export RUNSTAT=$OUT/runstat
FLOOR=$OUT/dumpfloor
echo "build_seconds $(( $(date +%s) - T0 ))" > "$OUT/build.kv"

# --- machine -----------------------------------------------------------------------------
{
  echo "machine.cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "machine.cores $(nproc)"
  echo "machine.mem_gib $(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)"
  echo "machine.kernel $(uname -r)"
  echo "machine.swift $(swift --version 2>&1 | head -1)"
  echo "machine.iproute2 $(ip -V 2>&1)"
  echo "machine.loadavg_at_start $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "ipsectop.commit ${IPSECTOP_COMMIT:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
} > "$OUT/machine.kv"
cat "$OUT/machine.kv"

# --- fixtures ----------------------------------------------------------------------------
# Larval SAs from allocspi expire after net.core.xfrm_acq_expires seconds (default 30):
# raise it in the namespace BEFORE creating them.
make_netns() { # NAME N
  local ns=$1 n=$2
  ip netns del "$ns" 2>/dev/null || true
  ip netns add "$ns"
  ip netns exec "$ns" sysctl -qw net.core.xfrm_acq_expires=86400
  python3 "$HERE/fixture.py" "$n" > "$OUT/fixture-$n.batch"
  local t0 t1
  t0=$(date +%s.%N)
  ip -n "$ns" -batch "$OUT/fixture-$n.batch" > /dev/null
  t1=$(date +%s.%N)
  local sas pols
  sas=$(ip -n "$ns" xfrm state count | awk '{print $NF}')
  pols=$(ip -n "$ns" xfrm policy count | awk '{print $3 + $5 + $7}')
  if [ "$sas" != "$n" ] || [ "$pols" != "$n" ]; then
    echo "run.sh: fixture $ns has $sas SAs and $pols policies, wanted $n" >&2
    exit 1
  fi
  echo "fixture.sas $sas"
  echo "fixture.policies $pols"
  echo "fixture.seconds $(python3 -c "print(round($t1 - $t0, 1))")"
}

# The dashboard in tmux: waits for its first frame, prints its PID. (Runs in $(...): the
# caller registers the session name in SESSIONS for cleanup.)
start_dashboard() { # SESSION NETNS
  local s=$1 ns=$2 i
  tm kill-session -t "$s" 2>/dev/null || true
  tm -f /dev/null new-session -d -s "$s" -x 200 -y 50 -e LANG=C.UTF-8 -e TERM=tmux-256color \
    "exec $BIN --netns $ns -d 1 2>$OUT/$s.stderr"
  for i in $(seq 1 600); do
    if tm capture-pane -p -t "$s" | grep -q ' SAs '; then break; fi
    sleep 0.1
  done
  tm capture-pane -p -t "$s" | grep -q ' SAs ' || { echo "run.sh: the dashboard did not draw" >&2; exit 1; }
  tm list-panes -t "$s" -F '#{pane_pid}'
}

# Quits the dashboard as a user would ("q"), then ends the session. A dashboard still
# alive after that is ended by its PID (and said so: it would skew every later figure).
stop_dashboard() { # SESSION PID
  local s=$1 pid=$2 i
  tm send-keys -t "$s" q 2>/dev/null || true
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  tm kill-session -t "$s" 2>/dev/null || true
  if kill -0 "$pid" 2>/dev/null; then
    echo "run.sh: the dashboard (pid $pid) did not quit on q nor on hangup; ending it" >&2
    kill -TERM "$pid" 2>/dev/null || true
    sleep 1
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

EMPTY=ipsb-$$-0
log "empty namespace (baseline)"
NAMESPACES+=("$EMPTY")
make_netns "$EMPTY" 0 > "$OUT/n0.kv"
SESSIONS+=("ipsb-$$-d0")
PID=$(start_dashboard "ipsb-$$-d0" "$EMPTY")
$MEASURE steady "$PID" 3 3 "$OUT/ipsb-$$-d0.stderr" | sed 's/^/dash0./' >> "$OUT/n0.kv"
stop_dashboard "ipsb-$$-d0" "$PID"

LARGEST=$(echo "$SIZES" | tr ' ' '\n' | sort -n | tail -1)
for N in $SIZES; do
  NS=ipsb-$$-$N
  KV=$OUT/n$N.kv
  log "fixture: $N larval SAs + $N policies in netns $NS"
  NAMESPACES+=("$NS")
  make_netns "$NS" "$N" > "$KV"
  echo "loadavg.before_measuring $(cut -d' ' -f1-3 /proc/loadavg)" >> "$KV"
  cat "$KV"

  log "N=$N whole-process: snapshot (model, kernel-only) vs ip -s xfrm state vs raw dump floor ($RUNS runs)"
  $MEASURE compare "$RUNS" \
    "model=$BIN snapshot --json --netns $NS" \
    "kernel=$BIN snapshot --json --kernel-only --netns $NS" \
    "ip=ip -n $NS -s xfrm state" \
    "ipboth=sh -c 'ip -n $NS -s xfrm state; ip -n $NS -s xfrm policy'" \
    "floor=$FLOOR $NS" | tee -a "$KV"

  log "N=$N decode + model update per refresh vs the kernel's dump CPU ($ROUNDS refreshes)"
  "$BENCH" refresh "$NS" "$ROUNDS" | tee -a "$KV"

  log "N=$N dashboard at 1 s refresh: steady CPU over $STEADY s"
  SESSIONS+=("ipsb-$$-d$N" "ipsb-$$-f$N")
  PID=$(start_dashboard "ipsb-$$-d$N" "$NS")
  $MEASURE steady "$PID" 5 "$STEADY" "$OUT/ipsb-$$-d$N.stderr" | sed 's/^/dash./' | tee -a "$KV"
  stop_dashboard "ipsb-$$-d$N" "$PID"

  log "N=$N time to first frame (launch to SA rows on screen, $FF_RUNS runs)"
  $MEASURE first-frame "$FF_RUNS" "ipsb-$$-f$N" 'esp/' "$BIN --netns $NS -d 1" | tee -a "$KV"

  if [ "$N" = "$LARGEST" ]; then
    log "N=$N frame build (200x50, sorted by rate, filtered), first frame in process, resident bytes"
    "$BENCH" frame "$NS" "$FRAMES" | tee -a "$KV"
    log "N=$N live heap per stage (malloc in-use bytes per SA; resident size before and after malloc_trim)"
    "$BENCH" memory "$NS" 3 | tee -a "$KV"
    log "N=$N replayed events through decode + model"
    "$BENCH" ingest "$NS" "$ROUNDS" | tee -a "$KV"
  fi
  echo "loadavg.after_measuring $(cut -d' ' -f1-3 /proc/loadavg)" >> "$KV"
  ip netns del "$NS"
done

log "decode throughput: 100,000 SAs cloned from the real NEWSA records of a lab fixture (no root needed)"
"$BENCH" decode "$ROOT/Tests/XFRMWireTests/Fixtures/strongswan-natt-6.1.xfrmrec" 100000 | tee "$OUT/decode.kv"

log "busy gateway, in process: $LARGEST rekeyed NAT-T SAs with traffic on every SA (memory, refresh on raw dumps)"
"$BENCH" memory-busy "$LARGEST" "$ROUNDS" | tee "$OUT/busy.kv"

log "results ($OUT)"
$MEASURE summary "$OUT" | tee "$OUT/summary.md"
