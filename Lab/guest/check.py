#!/usr/bin/env python3
"""check.py - compare ipsectop's output with iproute2's (runs in the guest).

  check.py snapshot --json SNAP.json --before STATE.txt --after STATE.txt
                    --policy POLICY.txt [--expect-sas N] [--expect-policies N]
                    [--expect 'spi=0x..,field.sub=value,...']... [--nonzero SPI]...
      Every SA of `ip -s xfrm state` must be in the snapshot (matched by
      dst, spi, proto, mark) with the same src, mode, reqid, family, mark,
      if_id, encap, algorithm names and replay window; byte and packet
      counters must lie between the two `ip -s xfrm state` runs taken before
      and after the snapshot (= within one refresh).  Policies: same count,
      and every (dir, selector) of `ip xfrm policy` present.
  check.py events --ndjson EV.ndjson --monitor MON.txt [--min TYPE=N]...
      Events of `ip xfrm monitor` and ipsectop events --json, reduced to
      (type, spi/selector) keys, must be the same sequence; timestamps must
      not go backwards.

Prints "CHECK PASS: ..." / "CHECK FAIL: ..." lines; exit 1 if any failed.
Field names of ipsectop's JSON are looked up through FIELD below, so that a
rename is a one-line change.
"""
import argparse, json, re, sys
from collections import Counter

FAILED = []
LABEL = ""


def check(ok, what):
    print(("CHECK PASS: " if ok else "CHECK FAIL: ") + (LABEL + ": " if LABEL else "") + what)
    if not ok:
        FAILED.append(what)
    return ok


# ipsectop JSON paths (dots = nesting); adjust here when the schema moves.
FIELD = {
    "sas": "sas", "policies": "policies",
    "src": "src", "dst": "dst", "spi": "spi", "proto": "proto", "mode": "mode", "reqid": "reqid",
    "family": "family", "mark": "mark", "if_id": "if_id", "encap": "encap", "bytes": "bytes",
    "packets": "packets", "replay_window": "replay_window", "dir": "dir",
    "algorithms": "algorithms",
}


def get(obj, path, default=None):
    for p in path.split("."):
        if isinstance(obj, dict) and p in obj:
            obj = obj[p]
        else:
            return default
    return obj


# ---- iproute2 text parsers --------------------------------------------------
def blocks(text):
    """Split iproute2 output into blocks: a block starts at a non-indented line."""
    cur = []
    for line in text.splitlines():
        if line and not line[0].isspace() and cur:
            yield cur
            cur = []
        if line.strip():
            cur.append(line)
    if cur:
        yield cur


def parse_state_block(lines):
    sa = {"mark": None, "if_id": None, "encap": None, "algs": {}, "bytes": None, "packets": None}
    head = lines[0].split()
    # possibly prefixed: "Deleted src ..", "Updated src ..", "Expired src .."
    i = head.index("src")
    sa["src"], sa["dst"] = head[i + 1], head[i + 3]
    sa["family"] = "inet6" if ":" in sa["dst"] else "inet"
    for idx, raw in enumerate(lines[1:], 1):
        w = raw.split()
        if not w:
            continue
        if w[0] == "proto":
            sa["proto"] = w[1]
            sa["spi"] = "0x%08x" % int(w[3].split("(")[0], 16)
            sa["reqid"] = int(w[5].split("(")[0])
            sa["mode"] = w[7]
        elif w[0] == "replay-window" and "replay_window" not in sa:   # not the stats: line
            sa["replay_window"] = int(w[1])
        elif w[0] == "mark":
            v, m = w[1].split("/")
            sa["mark"] = {"value": int(v, 16), "mask": int(m, 16)}
        elif w[0] == "if_id":
            sa["if_id"] = int(w[1], 16)
        elif w[0] in ("aead", "enc", "auth", "auth-trunc", "comp"):
            sa["algs"][w[0]] = w[1]
        elif w[0] == "encap":
            sa["encap"] = {"type": w[2], "sport": int(w[4]), "dport": int(w[6]), "oa": w[8]}
        elif w[0] == "lifetime" and w[1] == "current:":
            m = re.match(r"\s*(\d+)\(bytes\), (\d+)\(packets\)", lines[idx + 1])
            if m:
                sa["bytes"], sa["packets"] = int(m.group(1)), int(m.group(2))
        elif w[0] == "dir":
            sa["dir"] = w[1]
    return sa


def parse_states(text):
    return [parse_state_block(b) for b in blocks(text) if " src " in " " + b[0] and len(b) > 1 and b[1].split()[0] == "proto"]


def parse_policies(text):
    """[(dir, src, dst)]; per-socket policies ("socket in") as "in(sock)" like ipsectop"""
    out = []
    for b in blocks(text):
        h = b[0].split()
        if "src" not in h or len(b) < 2:
            continue
        w = b[1].split()
        if w[0] == "dir":
            d = w[1]
        elif w[0] == "socket":
            d = w[1] + "(sock)"
        else:
            continue
        i = h.index("src")
        out.append((d, h[i + 1], h[i + 3]))
    return out


def sa_key(src, dst, spi, proto, mark):
    m = (mark or {}).get("value", 0), (mark or {}).get("mask", 0)
    if m[0] == 0 and m[1] == 0:
        m = (0, 0)
    return (dst, spi.lower(), proto, m)


def norm_mark(m):
    if not m or (m.get("value", 0) == 0 and m.get("mask", 0) == 0):
        return None
    return {"value": m["value"], "mask": m["mask"]}


ALG_JSON = {"aead": "aead", "enc": "crypt", "auth": "auth", "auth-trunc": "auth_trunc", "comp": "comp"}


def cmd_snapshot(a):
    snap = json.load(open(a.json))
    sas = get(snap, FIELD["sas"], [])
    pols = get(snap, FIELD["policies"], [])
    before = {sa_key(s["src"], s["dst"], s["spi"], s["proto"], s["mark"]): s for s in parse_states(open(a.before).read())}
    after = {sa_key(s["src"], s["dst"], s["spi"], s["proto"], s["mark"]): s for s in parse_states(open(a.after).read())}
    check(isinstance(sas, list) and isinstance(pols, list), "snapshot has 'sas' and 'policies' arrays")
    by_key = {}
    for s in sas:
        k = sa_key(get(s, FIELD["src"]), get(s, FIELD["dst"]), str(get(s, FIELD["spi"], "")), get(s, FIELD["proto"]),
                   get(s, FIELD["mark"]))
        by_key[k] = s
    if a.expect_sas is not None:
        check(len(sas) == a.expect_sas == len(before), f"{len(sas)} SAs in the snapshot, {len(before)} in ip xfrm state, expected {a.expect_sas}")
    check(set(by_key) == set(before), "same SA set as ip -s xfrm state"
          + ("" if set(by_key) == set(before) else f" (only ipsectop: {sorted(set(by_key) - set(before))}, only ip: {sorted(set(before) - set(by_key))})"))
    for k, ip in sorted(before.items()):
        s = by_key.get(k)
        if s is None:
            continue
        name = f"SA {ip['spi']} dst {ip['dst']}" + (f" mark {ip['mark']['value']:#x}" if ip["mark"] else "")
        diffs = []
        for f in ("src", "mode", "reqid", "family", "replay_window"):
            if f in ip and get(s, FIELD[f]) != ip[f]:
                diffs.append(f"{f}: ipsectop {get(s, FIELD[f])!r} ip {ip[f]!r}")
        if norm_mark(get(s, FIELD["mark"])) != ip["mark"]:
            diffs.append(f"mark: ipsectop {get(s, FIELD['mark'])!r} ip {ip['mark']!r}")
        if (get(s, FIELD["if_id"]) or None) != ip["if_id"]:
            diffs.append(f"if_id: ipsectop {get(s, FIELD['if_id'])!r} ip {ip['if_id']!r}")
        e = get(s, FIELD["encap"])
        if ip["encap"] is None:
            if e is not None:
                diffs.append(f"encap: ipsectop {e!r} ip none")
        elif not e or any(e.get(x) != ip["encap"][x] for x in ("type", "sport", "dport", "oa")):
            diffs.append(f"encap: ipsectop {e!r} ip {ip['encap']!r}")
        for alg, name_ip in ip["algs"].items():
            got = get(s, FIELD["algorithms"] + "." + ALG_JSON[alg] + ".name")
            if got != name_ip:
                diffs.append(f"{alg}: ipsectop {got!r} ip {name_ip!r}")
        check(not diffs, f"{name}: same fields as ip -s xfrm state" + ("" if not diffs else " -- " + "; ".join(diffs)))
        lo, hi = ip, after.get(k, ip)
        for c in ("bytes", "packets"):
            v = get(s, FIELD[c])
            ok = isinstance(v, int) and lo[c] is not None and lo[c] <= v <= hi[c]
            check(ok, f"{name}: {c} {v} within one refresh [{lo[c]}, {hi[c]}]")
    ippol = parse_policies(open(a.policy).read()) if a.policy else []
    if a.expect_policies is not None:
        check(len(pols) == a.expect_policies == len(ippol), f"{len(pols)} policies in the snapshot, {len(ippol)} in ip xfrm policy, expected {a.expect_policies}")
    if a.policy:
        mine = Counter((get(q, "dir"), get(q, "selector.src"), get(q, "selector.dst")) for q in pols)
        theirs = Counter(ippol)
        check(mine == theirs, f"same {len(ippol)} policies (dir, selector) as ip xfrm policy"
              + ("" if mine == theirs else f" -- only ipsectop: {sorted((mine - theirs).elements())}; only ip: {sorted((theirs - mine).elements())}"))
    for spec in a.expect or []:
        conds = dict(c.split("=", 1) for c in spec.split(","))
        spi = conds.pop("spi", None)
        cands = [s for s in sas if spi is None or str(get(s, FIELD["spi"])) == spi]
        ok, why = False, f"no SA with spi {spi}"
        for s in cands:
            bad = []
            for path, want in conds.items():
                got = get(s, path)
                gs = "null" if got is None else (str(got).lower() if isinstance(got, bool) else str(got))
                if gs != want:
                    bad.append(f"{path}={gs!r}")
            if not bad:
                ok = True
                break
            why = "got " + ", ".join(bad)
        check(ok, f"SA {spec}" + ("" if ok else f" ({why})"))
    for spi in a.absent or []:
        check(not any(str(get(s, FIELD["spi"])) == spi for s in sas), f"no SA {spi} any more")
    for spi in a.nonzero or []:
        vals = [get(s, FIELD["bytes"]) for s in sas if str(get(s, FIELD["spi"])) == spi]
        check(bool(vals) and all(isinstance(v, int) and v > 0 for v in vals), f"SA {spi} has non-zero byte counters {vals}")
    return 1 if FAILED else 0


# ---- events -----------------------------------------------------------------
def monitor_events(text):
    """`ip xfrm monitor` output -> [(type, key)]"""
    out = []
    for b in blocks(text):
        h = b[0]
        w = h.split()
        second = b[1].split()[0] if len(b) > 1 else ""
        if h.startswith("Flushed state"):
            out.append(("FLUSHSA", None))
        elif h.startswith("Flushed policy"):
            out.append(("FLUSHPOLICY", None))
        elif h.startswith("Async event"):
            out.append(("NEWAE", None))
        elif h.startswith("acquire"):
            out.append(("ACQUIRE", None))
        elif h.lower().startswith("mapping change") or "Mapping change" in h:
            out.append(("MAPPING", None))
        elif h.startswith("report"):
            out.append(("REPORT", None))
        elif "src" in w:
            prefix = w[0] if w[0] != "src" else ""
            if second == "proto":        # an SA
                sa = parse_state_block(b)
                t = {"": "NEWSA", "Deleted": "DELSA", "Updated": "UPDSA", "Expired": "EXPIRE"}.get(prefix, prefix)
                if t == "EXPIRE":
                    hard = any(l.split()[:1] == ["hard"] and l.split()[1] == "1" for l in b)
                    out.append((t, sa["spi"] + ("/hard" if hard else "/soft")))
                else:
                    out.append((t, sa["spi"]))
            elif second == "dir" or (len(b) > 1 and "dir" in b[1].split()):
                t = {"": "NEWPOLICY", "Deleted": "DELPOLICY", "Updated": "UPDPOLICY", "Expired": "POLEXPIRE"}.get(prefix, prefix)
                out.append((t, None))
    return out


KERNEL_TYPES = {"NEWSA", "UPDSA", "DELSA", "EXPIRE", "ACQUIRE", "NEWPOLICY", "UPDPOLICY", "DELPOLICY",
                "POLEXPIRE", "FLUSHSA", "FLUSHPOLICY", "MAPPING", "REPORT", "MIGRATE"}


def ipsectop_events(lines):
    out, times = [], []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            e = json.loads(line)
        except ValueError:
            check(False, f"NDJSON line {n} is valid JSON: {line[:120]!r}")
            continue
        t = e.get("type")
        if "kind" in e and e.get("kind") != "kernel" and t in KERNEL_TYPES:
            t = "model:" + str(t)
        times.append(e.get("epoch", e.get("time")))
        spi = get(e, "sa.spi") or e.get("spi")
        if t in ("NEWSA", "UPDSA", "DELSA"):
            out.append((t, spi))
        elif t == "EXPIRE":
            out.append((t, str(spi) + ("/hard" if e.get("hard") else "/soft")))
        else:
            out.append((t, None))
    return out, times


def cmd_events(a):
    ev, times = ipsectop_events(open(a.ndjson).read().splitlines())
    mon = monitor_events(open(a.monitor).read())
    # Only kernel messages are compared: ipsectop also streams model entries
    # (RESYNC, RESYNCED, REKEY, actions: objects with a "kind"), and does not
    # subscribe to AEVENTS (NEWAE).
    ev_f = [e for e in ev if e[0] in KERNEL_TYPES]
    mon_f = [e for e in mon if e[0] in KERNEL_TYPES]
    model = [e[0] for e in ev if e[0] not in KERNEL_TYPES]
    if model:
        print("  ipsectop model entries (not compared):", " ".join(model))
    check(len(ev) > 0, f"ipsectop reported {len(ev)} events")
    check(all(t is not None for t in times), "every event has a timestamp")
    nums = [t for t in times if isinstance(t, (int, float))]
    check(nums == sorted(nums), "timestamps do not go backwards")
    same = ev_f == mon_f
    detail = ""
    if not same:
        for i, (x, y) in enumerate(zip(ev_f + [None] * len(mon_f), mon_f + [None] * len(ev_f))):
            if x != y:
                detail = f" -- first difference at #{i}: ipsectop {x} vs ip xfrm monitor {y}"
                break
    check(same, f"same {len(mon_f)} events in the same order as ip xfrm monitor" + detail)
    print("  ipsectop :", " ".join(e[0] for e in ev_f))
    print("  monitor  :", " ".join(e[0] for e in mon_f))
    for spec in a.min or []:
        t, n = spec.split("=")
        c = sum(1 for e in ev if e[0] == t)
        check(c >= int(n), f"at least {n} {t} events (ipsectop: {c})")
    for spec in a.order or []:        # "EXPIRE:0x0000e001/soft<EXPIRE:0x0000e001/hard": in this order
        seq = spec.split("<")
        pos, ok = -1, True
        for s in seq:
            t, _, rest = s.partition(":")
            idx = next((i for i, e in enumerate(ev) if i > pos and e[0] == t and (not rest or rest in str(e[1]))), None)
            if idx is None:
                ok = False
                break
            pos = idx
        check(ok, f"events in order: {spec}")
    return 1 if FAILED else 0


def main():
    global LABEL
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("snapshot")
    p.add_argument("--label", default="")
    p.add_argument("--json", required=True); p.add_argument("--before", required=True)
    p.add_argument("--after", required=True); p.add_argument("--policy")
    p.add_argument("--expect-sas", type=int); p.add_argument("--expect-policies", type=int)
    p.add_argument("--expect", action="append"); p.add_argument("--nonzero", action="append")
    p.add_argument("--absent", action="append")
    p = sub.add_parser("events")
    p.add_argument("--label", default="")
    p.add_argument("--ndjson", required=True); p.add_argument("--monitor", required=True)
    p.add_argument("--min", action="append"); p.add_argument("--order", action="append")
    a = ap.parse_args()
    LABEL = a.label
    try:
        return cmd_snapshot(a) if a.cmd == "snapshot" else cmd_events(a)
    except Exception as e:               # a crash is a failed check, with the reason
        check(False, f"check.py {a.cmd} ran ({type(e).__name__}: {e})")
        return 1


if __name__ == "__main__":
    sys.exit(main())
