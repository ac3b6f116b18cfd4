#!/bin/bash
# Lab/scenarios/kernel-lifetimes.sh - expiries driven by the kernel's own SA
# lifetimes (guest only), watched by ipsectop events --json and ip xfrm monitor:
#  - SA 0xe001: limit time-soft 3 time-hard 6  -> EXPIRE soft, EXPIRE hard, gone
#  - SA 0xe002: limit byte-soft 1000 byte-hard 2000, pinged through a policy
#               -> EXPIRE soft, EXPIRE hard (bytes), gone
#  - SA 0xe003: limit packet-soft 5 packet-hard 1000 -> EXPIRE soft only
# ipsectop snapshot must show the limits and counters; after the hard
# expiries the SAs are gone from both ipsectop and ip xfrm state.
. "$(dirname "$0")/lib.sh"

say "kernel $(uname -r), ipsectop=${IPSECTOP:-none}"
topo_up fixed
crypto_prewarm
capture_start left
events_start left
K=0x0123456789abcdef0123456789abcdef01234567
say "SAs with lifetimes"
t0=$(date +%s.%N)
ip -n left xfrm state add src $L_OUT dst $R_OUT proto esp spi 0xe001 reqid 5 mode tunnel \
    aead 'rfc4106(gcm(aes))' $K 128 limit time-soft 3 limit time-hard 6
ip -n left xfrm state add src $L_OUT dst $R_OUT proto esp spi 0xe002 reqid 6 mode tunnel \
    aead 'rfc4106(gcm(aes))' $K 128 limit byte-soft 1000 limit byte-hard 2000
ip -n left xfrm state add src $L_OUT dst $R_OUT proto esp spi 0xe003 reqid 7 mode tunnel \
    aead 'rfc4106(gcm(aes))' $K 128 limit packet-soft 5 limit packet-hard 1000
ip -n left xfrm policy add src $L_IN/32 dst $R_IN/32 dir out tmpl src $L_OUT dst $R_OUT proto esp reqid 6 mode tunnel
ip -n left xfrm policy add src $L_IN/32 dst 198.51.100.130/32 dir out tmpl src $L_OUT dst $R_OUT proto esp reqid 7 mode tunnel
snapshot_check left lifetimes-start --expect-sas 3 --expect-policies 2 \
    --expect 'spi=0x0000e001,limits.soft_add_seconds=3,limits.hard_add_seconds=6' \
    --expect 'spi=0x0000e002,limits.soft_bytes=1000,limits.hard_bytes=2000' \
    --expect 'spi=0x0000e003,limits.soft_packets=5,limits.hard_packets=1000'

say "traffic: 84-byte pings (unanswered: right has no SA); the kernel checks the limit before counting a packet"
ip netns exec left ping -c 30 -i 0.1 -W 1 -I $L_IN $R_IN > /dev/null
ip netns exec left ping -c 8 -i 0.1 -W 1 -I $L_IN 198.51.100.130 > /dev/null
snapshot_check left lifetimes-mid --nonzero 0x0000e003
wait_for 15 bash -c "! ip -n left xfrm state | grep -qE 'spi 0x0000e00[12]'"
echo "time and byte hard expiries done after $(elapsed $t0) s"
check "SAs 0xe001 and 0xe002 removed by the kernel" bash -c "! ip -n left xfrm state | grep -qE 'spi 0x0000e00[12]'"
# (the pings after the hard expiry hit a policy without SA: ACQUIRE + a larval SA)
snapshot_check left lifetimes-end --expect 'spi=0x0000e003' --absent 0x0000e001 --absent 0x0000e002
ip -n left xfrm state flush; ip -n left xfrm policy flush
events_check left --order 'NEWSA:0x0000e001<EXPIRE:0x0000e001/soft<EXPIRE:0x0000e001/hard' \
    --order 'NEWSA:0x0000e002<EXPIRE:0x0000e002/soft<EXPIRE:0x0000e002/hard' \
    --order 'NEWSA:0x0000e003<EXPIRE:0x0000e003/soft<FLUSHSA' --min EXPIRE=5
check "ip xfrm monitor: no hard expire for 0xe003" bash -c "! grep -A12 '^Expired' $ART/mon-left.out | awk '/^Expired/{s=0} /spi 0x0000e003/{s=1} s && /hard 1/{f=1} END{exit !f}'"
capture_stop
finish
