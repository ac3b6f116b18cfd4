#!/usr/bin/env python3
"""Whole-process measurements for Benchmarks/run.sh (public tools only: Python's os.wait4).

  measure.py compare RUNS NAME=CMD [NAME=CMD ...]
      Runs the commands (each under runstat, $RUNSTAT) in turn (A B C ... A B C ...), one warm-up round first, stdout to
      /dev/null. Per command: wall, user, sys, cpu (user+sys) and peak RSS (ru_maxrss of the
      process), each as min/median/max; then for every pair the ratio first/second of the
      paired wall and cpu figures (round by round), as min/median/max. Prints `key value`
      lines. Exit 1 if any run exits non-zero.

  measure.py steady PID WARMUP SECONDS [STDERR_FILE]
      Waits WARMUP seconds, then reads utime+stime from /proc/PID/stat for SECONDS and
      prints the CPU share of one core, and VmRSS/VmHWM.

  measure.py summary OUT
      The results table (markdown) and the targets of issue 7 from run.sh's OUT directory.

  measure.py first-frame RUNS SESSION PATTERN CMD
      Starts CMD in a detached tmux session (200x50), polls the pane until PATTERN appears and
      prints the time from launch to that frame (min/median/max); kills the session each time.
"""
import os
import re
import shlex
import statistics
import subprocess
import sys
import time


def emit(key, value):
    print(f"{key} {value}", flush=True)


def triple(xs, scale=1.0, digits=3):
    xs = sorted(x * scale for x in xs)
    return f"{xs[0]:.{digits}f}/{statistics.median(xs):.{digits}f}/{xs[-1]:.{digits}f}"


RUNSTAT = os.environ.get("RUNSTAT", "runstat")


def run_once(argv):
    """Runs argv under runstat (a small C parent: see runstat.c) and parses its report."""
    r = subprocess.run([RUNSTAT, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = r.stderr.splitlines()
    rep = [l for l in lines if l.startswith("runstat ")]
    if r.returncode != 0 or not rep:
        sys.stderr.write(r.stderr)
        return 1, float("nan"), float("nan"), float("nan"), float("nan")
    code, wall, user, sys_, rss_kib = rep[-1].split()[1:]
    if int(code) != 0:
        sys.stderr.write("\n".join(l for l in lines if not l.startswith("runstat ")) + "\n")
    return int(code), float(wall), float(user), float(sys_), int(rss_kib) * 1024


def compare(runs, specs):
    cmds = []
    for s in specs:
        name, _, cmd = s.partition("=")
        cmds.append((name, shlex.split(cmd)))
    results = {n: [] for n, _ in cmds}
    failed = False
    for rnd in range(runs + 1):
        for name, argv in cmds:
            code, wall, user, sys_, rss = run_once(argv)
            if code != 0:
                print(f"measure: {name} exited {code}: {shlex.join(argv)}", file=sys.stderr)
                failed = True
            if rnd > 0:
                results[name].append((wall, user, sys_, user + sys_, rss))
    for name, _ in cmds:
        r = results[name]
        emit(f"{name}.runs", len(r))
        emit(f"{name}.wall_s", triple([x[0] for x in r]))
        emit(f"{name}.user_s", triple([x[1] for x in r]))
        emit(f"{name}.sys_s", triple([x[2] for x in r]))
        emit(f"{name}.cpu_s", triple([x[3] for x in r]))
        emit(f"{name}.peak_rss_mib", triple([x[4] for x in r], 1 / 1048576, 1))
    names = [n for n, _ in cmds]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ra, rb = results[a], results[b]
            emit(f"ratio.{a}/{b}.wall", triple([x[0] / y[0] for x, y in zip(ra, rb)], digits=2))
            emit(f"ratio.{a}/{b}.cpu", triple([x[3] / y[3] if y[3] > 0 else float("nan")
                                               for x, y in zip(ra, rb)], digits=2))
    return 1 if failed else 0


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck  # utime, stime


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def steady(pid, warmup, seconds, stderr_file=None):
    def gone():
        print(f"measure: process {pid} ended during the sample", file=sys.stderr)
        if stderr_file and os.path.exists(stderr_file):
            sys.stderr.write(open(stderr_file, errors="replace").read()[-4000:])
        return 1
    time.sleep(warmup)
    try:
        u0, s0 = proc_cpu(pid)
    except FileNotFoundError:
        return gone()
    t0 = time.monotonic()
    time.sleep(seconds)
    try:
        u1, s1 = proc_cpu(pid)
    except FileNotFoundError:
        return gone()
    t1 = time.monotonic()
    el = t1 - t0
    emit("steady.seconds", f"{el:.1f}")
    emit("steady.user_s", f"{u1 - u0:.2f}")
    emit("steady.sys_s", f"{s1 - s0:.2f}")
    emit("steady.percent_of_one_core", f"{100 * ((u1 - u0) + (s1 - s0)) / el:.2f}")
    emit("steady.vmrss_bytes", proc_status(pid, "VmRSS"))
    emit("steady.vmhwm_bytes", proc_status(pid, "VmHWM"))
    return 0


def tmux(*args):
    sock = os.environ.get("IPSB_TMUX_SOCKET")
    return subprocess.run(["tmux", *(["-L", sock] if sock else []), *args], capture_output=True, text=True)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def quit_session(session):
    """Quits the program in the session with "q", ends the session, and makes sure the
    program (the pane's process, started by us) is gone: a survivor would skew what follows."""
    r = tmux("list-panes", "-t", session, "-F", "#{pane_pid}")
    pid = int(r.stdout.split()[0]) if r.returncode == 0 and r.stdout.strip() else None
    tmux("send-keys", "-t", session, "q")
    for _ in range(50):
        if pid is None or not alive(pid):
            break
        time.sleep(0.1)
    tmux("kill-session", "-t", session)
    if pid is not None and alive(pid):
        print(f"measure: pid {pid} did not quit on q nor on hangup; ending it", file=sys.stderr)
        os.kill(pid, 15)
        time.sleep(1)
        if alive(pid):
            os.kill(pid, 9)


def first_frame(runs, session, pattern, cmd):
    rx = re.compile(pattern)
    times = []
    for _ in range(runs):
        tmux("kill-session", "-t", session)
        t0 = time.monotonic()
        r = tmux("-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                 "-e", "LANG=C.UTF-8", "-e", "TERM=tmux-256color", "exec " + cmd)
        if r.returncode != 0:
            print(f"measure: tmux: {r.stderr.strip()}", file=sys.stderr)
            return 1
        seen = None
        while time.monotonic() - t0 < 60:
            out = tmux("capture-pane", "-p", "-t", session).stdout
            if rx.search(out):
                seen = time.monotonic() - t0
                break
            time.sleep(0.005)
        quit_session(session)
        if seen is None:
            print(f"measure: no frame matching {pattern!r} within 60 s; last screen:\n{out}", file=sys.stderr)
            return 1
        times.append(seen)
        time.sleep(0.5)
    emit("first_frame.runs", len(times))
    emit("first_frame.s", triple(times))
    return 0


def load_kv(path):
    d = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition(" ")
                if k:
                    d[k] = v
    except FileNotFoundError:
        pass
    return d


def med(v):
    """The median of a min/median/max triple, or the value itself."""
    if v is None:
        return None
    parts = v.split("/")
    try:
        return float(parts[1] if len(parts) == 3 else parts[0])
    except ValueError:
        return None


def summary(out):
    """The results table (markdown) from the key-value files run.sh wrote into OUT."""
    import glob
    m = load_kv(os.path.join(out, "machine.kv"))
    sizes = sorted(int(os.path.basename(p)[1:-3]) for p in glob.glob(os.path.join(out, "n*.kv")))
    runs = {n: load_kv(os.path.join(out, f"n{n}.kv")) for n in sizes}
    base = runs.get(0, {})
    sizes = [n for n in sizes if n > 0]
    lines = [f"machine: {m.get('machine.cpu', '?')}, {m.get('machine.cores', '?')} cores, "
             f"{m.get('machine.mem_gib', '?')} GiB, kernel {m.get('machine.kernel', '?')}, "
             f"{m.get('machine.swift', '?')}, {m.get('machine.iproute2', '?')}, ipsectop {m.get('ipsectop.commit', '?')}",
             "", "whole-process figures are min/median/max over the runs; ratios are paired, run by run", ""]
    lines.append("| N | command | wall s | CPU s (user+sys) | peak RSS MiB |")
    lines.append("|---:|---|---:|---:|---:|")
    label = {"model": "`ipsectop snapshot --json`", "kernel": "`ipsectop snapshot --json --kernel-only`",
             "ip": "`ip -s xfrm state`", "ipboth": "`ip -s xfrm state; ip -s xfrm policy`", "floor": "raw dump floor (dumpfloor.c)"}
    for n in sizes:
        r = runs[n]
        for c in ("model", "kernel", "ip", "ipboth", "floor"):
            if f"{c}.wall_s" in r:
                lines.append(f"| {n} | {label[c]} | {r[f'{c}.wall_s']} | {r[f'{c}.cpu_s']} | {r[f'{c}.peak_rss_mib']} |")
    lines += ["", "| N | ratio (paired) | wall | CPU |", "|---:|---|---:|---:|"]
    for n in sizes:
        r = runs[n]
        for a, b in (("model", "ip"), ("kernel", "ip"), ("model", "ipboth"), ("kernel", "ipboth"),
                     ("model", "floor"), ("kernel", "floor"), ("ip", "floor")):
            k = f"ratio.{a}/{b}"
            if k + ".wall" in r:
                lines.append(f"| {n} | {a} / {b} | {r[k + '.wall']} | {r[k + '.cpu']} |")
    lines += ["", "| N | figure | value |", "|---:|---|---:|"]
    pick = [("refresh.kernel_dump_sys_ms", "system time of the GETSA dump inside the refresh (kernel + page faults), ms"),
            ("refresh.recv_decode_user_ms", "receive of that dump (user; the model decodes changed records only), ms"),
            ("refresh.model_update_user_ms", "model update per refresh (user), ms"),
            ("refresh.ratio_vs_kernel", "decode + model update / that system time"),
            ("refresh.streamed_user_ms", "streamed refresh as the live source does it: receive + model (user), ms"),
            ("refresh.streamed_sys_ms", "streamed refresh: system time, ms"),
            ("refresh.streamed_with_churn_user_ms",
             "streamed refresh after one SA came by event and went (regroups the peers of its addresses): user, ms"),
            ("dash.steady.percent_of_one_core", "dashboard at 1 s refresh, % of one core"),
            ("dash.steady.user_s", "dashboard user CPU over the sample, s"),
            ("dash.steady.sys_s", "dashboard system CPU over the sample, s"),
            ("dash.steady.vmrss_bytes", "dashboard VmRSS, bytes"),
            ("dash.steady.vmhwm_bytes", "dashboard peak resident size (VmHWM) since launch, bytes"),
            ("first_frame.s", "time to first frame (launch to SA rows in tmux), s"),
            ("first.total_in_process_ms", "first frame in process (SA dump, model, view data, frame), ms"),
            ("first.sa_dump_ms", "  of which: GETSA dump received, ms"),
            ("first.model_sa_ms", "  of which: model from the dump (scan, decode, insert, derive), ms"),
            ("first.view_data_and_update_ms", "  of which: DashboardData + Dashboard.update, ms"),
            ("first.render_ms", "  of which: first frame build, ms"),
            ("after_first.policies_ms", "after the first frame: policy dump + model, ms"),
            ("after_first.view_data_and_update_ms", "after the first frame: view data with policies, ms"),
            ("frame.sort_rate_desc_ms", "re-sort by rate descending, ms"),
            ("frame.sorted_build_p50_ms", "frame build p50, sorted, ms"),
            ("frame.sorted_build_p99_ms", "frame build p99, sorted, ms"),
            ("frame.filter_keystroke_max_ms", "filter keystroke, max, ms"),
            ("frame.sorted_filtered_build_p50_ms", "frame build p50, sorted + filtered, ms"),
            ("frame.sorted_filtered_build_p99_ms", "frame build p99, sorted + filtered, ms"),
            ("frame.refresh_update_plus_frame_median_ms", "refresh (view data + update + frame), sorted + filtered, ms"),
            ("ingest.events", "replayed events (NEWSA, UPDSA, hard EXPIRE per SA)"),
            ("ingest.decode_only_events_per_s", "decode only, events/s"),
            ("ingest.decode_plus_model_events_per_s", "decode + model, events/s (median)"),
            ("memory.model_estimate_bytes_per_sa", "model's own estimate (approximateResidentBytes), bytes/SA"),
            ("memory.rss_growth_bytes_per_sa", "in-process RSS growth (model + view data + dashboard), bytes/SA"),
            ("memory.rss_after_sa_dump_and_model_bytes_per_sa", "  after the SA dump and model (no policies yet), bytes/SA"),
            ("memory.rss_after_dumps_and_model_bytes_per_sa", "  after the policy dump too (SAs, policies, model), bytes/SA"),
            ("memory.rss_view_data_bytes_per_sa", "  of which: DashboardData, bytes/SA"),
            ("memory.rss_dashboard_update_bytes_per_sa", "  of which: Dashboard.update, bytes/SA"),
            ("heap.heap_sa_model_bytes_per_sa", "live heap (malloc in use): SA model, bytes/SA"),
            ("heap.heap_policies_bytes_per_sa", "live heap: policies added to the model, bytes/SA"),
            ("heap.heap_dashboard_bytes_per_sa", "live heap: view data + dashboard, bytes/SA"),
            ("heap.heap_after_refreshes_bytes_per_sa", "live heap after 3 refreshes (all of the above), bytes/SA"),
            ("heap.rss_after_refreshes_bytes_per_sa", "resident growth at the same point, bytes/SA"),
            ("heap.rss_after_trim_bytes_per_sa", "resident growth after malloc_trim, bytes/SA"),
            ("heap.trim_ms", "malloc_trim at that point, ms")]
    for n in sizes:
        r = runs[n]
        for k in ("loadavg.before_measuring", "loadavg.after_measuring"):
            if k in r:
                lines.append(f"| {n} | {k.replace('.', ' ').replace('_', ' ')} (1/5/15 min; 2 cores) | {r[k]} |")
        for k, text in pick:
            if k in r:
                lines.append(f"| {n} | {text} | {r[k]} |")
        if "refresh.decode_plus_model_ms" in r and med(r.get("floor.sys_s")):
            # The kernel's own CPU for one dump: the raw floor's system time (its user time is ~0).
            k = med(r["floor.sys_s"]) * 1e3
            ours = med(r["refresh.recv_decode_user_ms"]) + med(r["refresh.model_update_user_ms"])
            r["derived.refresh_vs_floor"] = f"{ours / k:.2f}"
            lines.append(f"| {n} | raw dump floor CPU (kernel dump alone, system time), ms | {k:.1f} |")
            lines.append(f"| {n} | decode + model update / raw dump floor CPU | {ours / k:.2f} |")
            if "refresh.streamed_user_ms" in r:
                streamed = med(r["refresh.streamed_user_ms"])
                r["derived.streamed_vs_floor"] = f"{streamed / k:.2f}"
                lines.append(f"| {n} | streamed refresh (receive + model, user) / raw dump floor CPU | {streamed / k:.2f} |")
        if "dash.steady.vmrss_bytes" in r and "dash0.steady.vmrss_bytes" in base:
            per = (int(r["dash.steady.vmrss_bytes"]) - int(base["dash0.steady.vmrss_bytes"])) / n
            r["derived.dash_bytes_per_sa"] = f"{per:.0f}"
            lines.append(f"| {n} | dashboard VmRSS minus empty-netns dashboard, bytes/SA | {per:.0f} |")

    # Targets (issue 7), at the largest N measured (10,000 for the dashboard CPU).
    if sizes:
        big = runs[sizes[-1]]
        ten = runs.get(10000, runs[sizes[0]])
        tn = 10000 if 10000 in runs else sizes[0]
        def row(name, value, limit, better, unit, n):
            if value is None or value != value:
                return f"| {name} (N={n}) | {limit:g} {unit} | not measurable at this N | |"
            ok = value <= limit if better == "le" else value >= limit
            verdict = "met" if ok else (f"missed by {value / limit:.2f}x" if better == "le" else f"missed: {value / limit:.2f}x of target")
            return f"| {name} (N={n}) | {'<=' if better == 'le' else '>='} {limit:g} {unit} | {value:g} {unit} | {verdict} |"
        frame_p99 = [med(big.get(k)) for k in ("frame.sorted_build_p99_ms", "frame.sorted_filtered_build_p99_ms")]
        frame_p99 = max([x for x in frame_p99 if x is not None], default=None)
        per_sa = med(big.get("derived.dash_bytes_per_sa"))
        lines += ["", "| target | limit | measured | verdict |", "|---|---:|---:|---|",
                  row("snapshot wall / ip -s xfrm state wall", med(big.get("ratio.model/ip.wall")), 0.25, "le", "x", sizes[-1]),
                  row("snapshot --kernel-only wall / ip wall", med(big.get("ratio.kernel/ip.wall")), 0.25, "le", "x", sizes[-1]),
                  row("decode + model update / kernel dump CPU (raw floor)", med(big.get("derived.refresh_vs_floor")), 1.5, "le", "x", sizes[-1]),
                  row("decode + model update / same refresh's system time", med(big.get("refresh.ratio_vs_kernel")), 1.5, "le", "x", sizes[-1]),
                  row("streamed refresh (as the live source) / kernel dump CPU", med(big.get("derived.streamed_vs_floor")), 1.5, "le", "x", sizes[-1]),
                  row("dashboard CPU at 1 s refresh", med(ten.get("dash.steady.percent_of_one_core")), 2, "le", "% core", tn),
                  row("frame build p99 (sorted; sorted + filtered)", frame_p99, 8, "le", "ms", sizes[-1]),
                  row("replayed events, decode + model", med(big.get("ingest.decode_plus_model_events_per_s")), 500000, "ge", "events/s", sizes[-1]),
                  row("resident bytes per SA (dashboard)", per_sa, 600, "le", "B", sizes[-1]),
                  row("time to first frame", med(big.get("first_frame.s")), 0.5, "le", "s", sizes[-1])]
    busy = load_kv(os.path.join(out, "busy.kv")) if os.path.exists(os.path.join(out, "busy.kv")) else {}
    if busy:
        n = busy.get("busy.sas", "?")
        lines += ["", f"busy gateway, in process (no kernel): {n} rekeyed NAT-T SAs, traffic on every SA each refresh", "",
                  "| measurement | value |", "|---|---:|"]
        for k, text in (("busy.heap_model_and_dashboard_bytes_per_sa", "live heap of model and dashboard, bytes/SA"),
                        ("busy.refresh_model_update_user_ms", "model update per refresh (raw dump scanned, every SA moved, user), ms"),
                        ("busy.refresh_dashboard_user_ms", "dashboard update + render per refresh (user), ms"),
                        ("busy.refresh_counter_only_derives", "timed refreshes that kept the grouping (no regroup)")):
            if k in busy:
                v = busy[k]
                if k == "busy.refresh_counter_only_derives":
                    v = f"{v} of {busy.get('busy.refresh_rounds', '?')}"
                lines.append(f"| {text} | {v} |")
    print("\n".join(lines))
    return 0


def main():
    a = sys.argv[1:]
    if not a:
        print(__doc__, file=sys.stderr)
        return 2
    if a[0] == "compare":
        return compare(int(a[1]), a[2:])
    if a[0] == "steady":
        return steady(int(a[1]), float(a[2]), float(a[3]), a[4] if len(a) > 4 else None)
    if a[0] == "summary":
        return summary(a[1])
    if a[0] == "first-frame":
        return first_frame(int(a[1]), a[2], a[3], a[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
