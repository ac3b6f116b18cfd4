#!/usr/bin/env python3
"""verify_recording.py FILE... - sanity checks of ipsectop recordings (.xfrmrec).

For every file: line 1 is an ipsectop-recording version 1 header; every
record has t and kind; every hex datagram frames cleanly; NO key bytes: each
datagram is unchanged by the redaction (ALG attributes 1,2,3,18,20 have only
zeros after their name/length fields), and none of the lab's fixed test keys
appears anywhere.  Prints a per-file summary (records by kind, message types);
exit 1 on any problem.
"""
import collections, json, os, struct, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from xfrmnl import redact  # noqa: E402

TEST_KEYS = ["0123456789abcdef0123456789abcdef", "89abcdef0123456789abcdef01234567",
             "00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100",
             "01" * 16, "02" * 16, bytes(range(20)).hex()]
NAMES = {0x10: "NEWSA", 0x11: "DELSA", 0x13: "NEWPOLICY", 0x14: "DELPOLICY", 0x17: "ACQUIRE", 0x18: "EXPIRE",
         0x19: "UPDPOLICY", 0x1a: "UPDSA", 0x1b: "POLEXPIRE", 0x1c: "FLUSHSA", 0x1d: "FLUSHPOLICY",
         0x1e: "NEWAE", 0x20: "REPORT", 0x21: "MIGRATE", 0x22: "NEWSADINFO", 0x24: "NEWSPDINFO",
         0x26: "MAPPING", 2: "ERROR/ACK", 3: "DONE"}


def verify(path):
    problems = []
    kinds, types = collections.Counter(), collections.Counter()
    with open(path) as f:
        lines = f.read().splitlines()
    try:
        head = json.loads(lines[0])
        if head.get("format") != "ipsectop-recording" or head.get("version") != 1:
            problems.append(f"bad header {lines[0][:100]}")
    except (ValueError, IndexError):
        problems.append("no JSON header line")
        head = {}
    for n, line in enumerate(lines[1:], 2):
        try:
            r = json.loads(line)
        except ValueError:
            problems.append(f"line {n}: not JSON")
            continue
        if "t" not in r or "kind" not in r:
            problems.append(f"line {n}: no t/kind")
        kinds[r.get("kind")] += 1
        hx = r.get("hex")
        if hx is None:
            continue
        d = bytes.fromhex(hx)
        if redact(d) != d:
            problems.append(f"line {n}: KEY BYTES PRESENT (datagram changes under redaction)")
        for k in TEST_KEYS:
            if k in hx:
                problems.append(f"line {n}: a lab test key appears in the datagram")
        off = 0
        while off + 16 <= len(d):
            ln, t = struct.unpack_from("=IH", d, off)
            if ln < 16 or off + ln > len(d):
                problems.append(f"line {n}: datagram does not frame at offset {off}")
                break
            types[(r.get("kind"), NAMES.get(t, hex(t)))] += 1
            off += (ln + 3) & ~3
    print(f"{path}: kernel {head.get('kernel')} netns {head.get('netns')}, {len(lines) - 1} records "
          f"{dict(kinds)}")
    print("   messages: " + ", ".join(f"{k}/{t} {c}" for (k, t), c in sorted(types.items())))
    for p in problems[:20]:
        print("   PROBLEM:", p)
    return not problems


if __name__ == "__main__":
    ok = all([verify(p) for p in sys.argv[1:]])
    sys.exit(0 if ok else 1)
