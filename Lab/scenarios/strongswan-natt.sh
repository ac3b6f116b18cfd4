#!/bin/bash
# Lab/scenarios/strongswan-natt.sh - IKEv2 between two strongSwan charons
# (netns left behind the masquerading NAT with random ports, netns right
# public), checked with ipsectop (guest only):
#  1. NAT-T negotiated; right's SAs carry the NAT-chosen port (from
#     conntrack) and ipsectop snapshot --json shows exactly that port
#  2. traffic moves the counters; ipsectop's counters within one refresh
#  3. keep_alive = 5s: NAT keepalives seen on the NAT's public side
#  4. swanctl --rekey --child: new SPIs, NEWSA/UPDSA + DELSA events
#  5. conntrack flush: new NAT port, right's kernel emits XFRM_MSG_MAPPING,
#     charon moves its SAs; ipsectop shows the new port
#  6. ipsectop events --json in left and right = ip xfrm monitor, in order
. "$(dirname "$0")/lib.sh"

say "kernel $(uname -r), ipsectop=${IPSECTOP:-none}, $($CHARON --version 2>/dev/null | head -1)"
topo_up random
crypto_prewarm
capture_start right
ss_setup left initiator
ss_setup right responder
ss_start right || exit 1
ss_start left || exit 1
events_start left
events_start right
bg_start tcpdump-pub ip netns exec nat tcpdump -l -n -i n-right udp

say "1. initiate from left (behind the NAT)"
ss_ctl left --initiate --child net --timeout 60 > $ART/initiate.txt 2>&1; irc=$?
tail -2 $ART/initiate.txt
check "swanctl --initiate" [ $irc = 0 ]
check "left's charon: local host is behind NAT" grep -q "local host is behind NAT" $(ss_dir left)/charon.log
check "right's charon: remote host is behind NAT" grep -q "remote host is behind NAT" $(ss_dir right)/charon.log
port=$(nat_port)
echo "NAT-chosen public port of left's 4500 flow: $port"
check "conntrack shows the NAT's public port" [ -n "$port" ]

say "2. traffic"
ip netns exec left ping -c 5 -i 0.2 -W 3 -I $L_IN $R_IN | tail -2; prc=${PIPESTATUS[0]}
check "ping through the IKE tunnel" [ "$prc" = 0 ]
spis=$(ip -n right xfrm state | awk '/proto esp spi/ {print $4}')
snapshot_check right ss-right --expect-sas 2 \
    --expect "dst=$R_OUT,src=$NAT_PUB,encap.type=espinudp,encap.sport=${port:-none},encap.dport=4500" \
    --expect "src=$R_OUT,dst=$NAT_PUB,encap.type=espinudp,encap.sport=4500,encap.dport=${port:-none}" \
    $(for s in $spis; do echo --nonzero $s; done)
snapshot_check left ss-left --expect-sas 2 \
    --expect "src=$L_OUT,encap.sport=4500,encap.dport=4500" --expect "dst=$L_OUT,encap.sport=4500,encap.dport=4500"

TUI_LANGS=C.UTF-8 tui_check right tui-right $spis "$port.4500|4500.$port" "SAs 2 "

say "3. NAT keepalives (keep_alive = 5s) while idle"
wait_for 15 grep -q "$NAT_PUB.$port > $R_OUT.4500: isakmp-nat-keep-alive" $W/tcpdump-pub.out
check "keepalive $NAT_PUB.$port > $R_OUT.4500 seen on the NAT's public side" \
    grep -q "$NAT_PUB.$port > $R_OUT.4500: isakmp-nat-keep-alive" $W/tcpdump-pub.out

say "4. swanctl --rekey --child net"
s0=$(esp_spis left); echo "SPIs before: $s0"
ss_ctl left --rekey --child net > /dev/null
wait_for 30 bash -c "[ \"\$(ip -n left xfrm state | awk '/proto esp spi/ {print \$4}' | sort | tr '\n' ' ')\" != '$s0' ] && [ \$(ip -n left xfrm state | grep -c 'proto esp') = 2 ]"
s1=$(esp_spis left); echo "SPIs after:  $s1"
check "rekey gave new SPIs" [ -n "$s1" ] && [ "$s1" != "$s0" ]
ip netns exec left ping -c 2 -i 0.2 -W 3 -I $L_IN $R_IN > /dev/null; check "traffic after the rekey" [ $? = 0 ]

say "5. NAT rebinding: flush the NAT's conntrack table"
ip netns exec nat conntrack -F 2>/dev/null
ip netns exec left ping -c 6 -i 0.5 -W 1 -I $L_IN $R_IN | tail -1
newport=$(nat_port)
wait_for 20 bash -c "ip -n right xfrm state | grep -q 'dport $newport ' && ! ip -n right xfrm state | grep -q 'dport $port '"
echo "NAT port before $port, after $newport"
check "the NAT picked a new port" [ -n "$newport" ] && [ "$newport" != "$port" ]
check "ip xfrm monitor (right) shows the mapping change" grep -q 'Mapping change' $W/mon-right.out
ip netns exec left ping -c 3 -i 0.2 -W 2 -I $L_IN $R_IN > /dev/null; check "traffic after the rebinding" [ $? = 0 ]
snapshot_check right ss-right-rebound --expect-sas 2 \
    --expect "dst=$R_OUT,src=$NAT_PUB,encap.sport=${newport:-none},encap.dport=4500" \
    --expect "src=$R_OUT,dst=$NAT_PUB,encap.sport=4500,encap.dport=${newport:-none}"

say "6. event streams"
bg_stop tcpdump-pub
events_check left --min DELSA=2 --min REKEY=1
events_check right --min MAPPING=1 --order "MAPPING<DELSA<NEWSA"
ss_stop left right
capture_stop
finish
