#!/usr/bin/env python3
"""Writes one seed file per datagram found in ipsectop recordings (.xfrmrec)."""
import hashlib, json, os, sys

out = sys.argv[1]
n = 0
for root in sys.argv[2:]:
    if not os.path.isdir(root):
        continue
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".xfrmrec"):
                continue
            with open(os.path.join(dirpath, f)) as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    h = rec.get("hex")
                    if not h:
                        continue
                    data = bytes.fromhex(h)
                    name = hashlib.sha1(data).hexdigest()
                    with open(os.path.join(out, name), "wb") as o:
                        o.write(data)
                    n += 1
# A minimal NLMSG_DONE and an empty message keep the corpus non-empty.
with open(os.path.join(out, "done"), "wb") as o:
    o.write(bytes([20, 0, 0, 0, 3, 0, 2, 0] + [0] * 12))
print(f"seed-corpus: {n} datagrams")
