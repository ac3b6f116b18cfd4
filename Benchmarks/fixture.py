#!/usr/bin/env python3
"""Writes an `ip -batch` file: local addresses on lo, N larval SAs (allocspi, half
outbound, half inbound) and N policies.

Documentation addresses only (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
2001:db8::/32). Address pairs are spread so that the kernel's by-address hash
chains stay short (allocspi looks up a matching larval state first): creation
stays linear in N. Usage: fixture.py N > FILE
"""
import sys

n = int(sys.argv[1])
out = ["link set lo up"]
# The gateway's own addresses (ipsectop tells SA direction from them).
for a in range(1, 251):
    out.append("address add 203.0.113.%d/32 dev lo" % a)
out.append("address add 2001:db8:0:1::1/128 dev lo")
for i in range(n):
    spi = 0x1000 + i
    k = i // 4  # one v4 pair and one v6 pair of SAs (out + in) per k
    if i % 4 >= 2:
        # IPv6 SA (one local address, many peers)
        local = "2001:db8:0:1::1"
        remote = "2001:db8:2:%x::%x" % ((k >> 16) & 0xffff, k & 0xffff)
    else:
        local = "203.0.113.%d" % (k % 250 + 1)
        remote = "198.51.100.%d" % ((k // 250) % 250 + 1)
    # Even: outbound (local -> remote); odd: inbound (remote -> local).
    src, dst = (local, remote) if i % 2 == 0 else (remote, local)
    out.append("xfrm state allocspi src %s dst %s proto esp min 0x%x max 0x%x" % (src, dst, spi, spi))
for i in range(n):
    d = ("out", "in", "fwd")[i % 3]
    a = "2001:db8:a:%x::%x/128" % ((i >> 16) & 0xffff, i & 0xffff)
    b = "2001:db8:b:%x::%x/128" % ((i >> 16) & 0xffff, i & 0xffff)
    out.append("xfrm policy add src %s dst %s dir %s priority %d tmpl src 2001:db8:0:1::1 dst 2001:db8:0:2::%x proto esp reqid %d mode tunnel"
               % (a, b, d, 1000 + i % 100, i % 0xffff + 1, i % 1000 + 1))
sys.stdout.write("\n".join(out) + "\n")
