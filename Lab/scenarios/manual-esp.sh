#!/bin/bash
# Lab/scenarios/manual-esp.sh - hand-made ESP SAs, no IKE daemon (guest only).
#  1. IPv4 tunnel, rfc4106(gcm(aes)), ESP-in-UDP through the NAT, which maps
#     left's UDP 4500 to 203.0.113.1:44500; right's SAs use port 44500.
#  2. IPv6 tunnel, cbc(aes)+hmac(sha256), ESP-in-UDP (routed, no NAT).
#  3. A marked SA pair + policy (mark 0x10/0xff, if_id 7) in left.
#  4. Pings; ipsectop snapshot --json in left and right against ip -s xfrm
#     state / ip xfrm policy (every SA, same fields, encap port 44500 =
#     the NAT's port, counters within one refresh).
#  5. NAT rebinding -> XFRM_MSG_MAPPING in right.
#  6. Kernel >= 6.11: outbound SA with XFRMA_SA_DIR=out and a NAT keepalive
#     interval of 2 s (our netlink helper; iproute2 6.1 cannot): ipsectop
#     shows dir "out" and the interval, tcpdump sees the 0xFF keepalives on
#     the NAT's public side (44500 -> 4500).  On 6.1 the kernel drops the
#     attributes: ipsectop must show null for both.
#  7. ipsectop events --json in right against ip xfrm monitor (same events,
#     same order), through to a final flush.
. "$(dirname "$0")/lib.sh"

say "kernel $(uname -r), ipsectop=${IPSECTOP:-none}"
topo_up fixed
crypto_prewarm
capture_start left
events_start right

K1=0x0123456789abcdef0123456789abcdef01234567
K2=0x89abcdef0123456789abcdef0123456789abcdef
say "1. IPv4 ESP-in-UDP through the NAT"
ip -n left xfrm state add src $L_OUT dst $R_OUT proto esp spi 0xc001 reqid 1 mode tunnel \
    aead 'rfc4106(gcm(aes))' $K1 128 encap espinudp 4500 4500 0.0.0.0
ip -n left xfrm state add src $R_OUT dst $L_OUT proto esp spi 0xc002 reqid 1 mode tunnel \
    aead 'rfc4106(gcm(aes))' $K2 128 encap espinudp 4500 4500 0.0.0.0
ip -n left xfrm policy add src $L_IN/32 dst $R_IN/32 dir out tmpl src $L_OUT dst $R_OUT proto esp reqid 1 mode tunnel
ip -n left xfrm policy add src $R_IN/32 dst $L_IN/32 dir in tmpl src $R_OUT dst $L_OUT proto esp reqid 1 mode tunnel
ip -n right xfrm state add src $NAT_PUB dst $R_OUT proto esp spi 0xc001 reqid 1 mode tunnel \
    aead 'rfc4106(gcm(aes))' $K1 128 encap espinudp 44500 4500 0.0.0.0
ip -n right xfrm state add src $R_OUT dst $NAT_PUB proto esp spi 0xc002 reqid 1 mode tunnel \
    aead 'rfc4106(gcm(aes))' $K2 128 encap espinudp 4500 44500 0.0.0.0
ip -n right xfrm policy add src $R_IN/32 dst $L_IN/32 dir out tmpl src $R_OUT dst $NAT_PUB proto esp reqid 1 mode tunnel
ip -n right xfrm policy add src $L_IN/32 dst $R_IN/32 dir in tmpl src $NAT_PUB dst $R_OUT proto esp reqid 1 mode tunnel

say "2. IPv6 ESP-in-UDP"
E1=0x00112233445566778899aabbccddeeff; E2=0xffeeddccbbaa99887766554433221100
A1=0x$(printf '01%.0s' {1..32}); A2=0x$(printf '02%.0s' {1..32})
for ns in left right; do
    if [ $ns = left ]; then me=$L_OUT6 pe=$R_OUT6 mi=$L_IN6 pi=$R_IN6 so=0xc601 si=0xc602 eo=$E1 ei=$E2 ao=$A1 ai=$A2
    else me=$R_OUT6 pe=$L_OUT6 mi=$R_IN6 pi=$L_IN6 so=0xc602 si=0xc601 eo=$E2 ei=$E1 ao=$A2 ai=$A1; fi
    ip -n $ns xfrm state add src $me dst $pe proto esp spi $so reqid 2 mode tunnel \
        enc 'cbc(aes)' $eo auth-trunc 'hmac(sha256)' $ao 128 encap espinudp 4500 4500 ::
    ip -n $ns xfrm state add src $pe dst $me proto esp spi $si reqid 2 mode tunnel replay-window 32 \
        enc 'cbc(aes)' $ei auth-trunc 'hmac(sha256)' $ai 128 encap espinudp 4500 4500 ::
    ip -n $ns xfrm policy add src $mi/128 dst $pi/128 dir out tmpl src $me dst $pe proto esp reqid 2 mode tunnel
    ip -n $ns xfrm policy add src $pi/128 dst $mi/128 dir in tmpl src $pe dst $me proto esp reqid 2 mode tunnel
done

say "3. marked SA pair (mark 0x10/0xff, if_id 7) in left"
ip -n left xfrm state add src $L_OUT dst $R_OUT proto esp spi 0xc010 reqid 10 mode tunnel \
    mark 0x10 mask 0xff if_id 7 aead 'rfc4106(gcm(aes))' $K1 128
ip -n left xfrm state add src $L_OUT dst $R_OUT proto esp spi 0xc010 reqid 11 mode tunnel \
    mark 0x20 mask 0xff if_id 8 aead 'rfc4106(gcm(aes))' $K2 128
ip -n left xfrm policy add src 198.51.100.16/28 dst 198.51.100.32/28 dir out mark 0x10 mask 0xff if_id 7 \
    tmpl src $L_OUT dst $R_OUT proto esp reqid 10 mode tunnel

encap_sockets left:4 left:6 right:4 right:6

say "4. traffic"
bg_start tcpdump-pub ip netns exec nat tcpdump -l -n -i n-right udp
ip netns exec left ping -c 5 -i 0.2 -W 2 -I $L_IN $R_IN | tail -2; p4=${PIPESTATUS[0]}
ip netns exec left ping -6 -c 4 -i 0.2 -W 2 -I $L_IN6 $R_IN6 | tail -2; p6=${PIPESTATUS[0]}
check "IPv4 ping through ESP-in-UDP and the NAT" [ "$p4" = 0 ]
check "IPv6 ping through ESP-in-UDP" [ "$p6" = 0 ]
check "NAT public side shows $NAT_PUB.44500 > $R_OUT.4500 UDP-encap" \
    grep -q "$NAT_PUB.44500 > $R_OUT.4500: UDP-encap" $W/tcpdump-pub.out

say "snapshot checks"
snapshot_check left manual-left --expect-sas 6 --expect-policies 5 \
    --expect 'spi=0x0000c010,mark.value=16,mark.mask=255,if_id=7' \
    --expect 'spi=0x0000c001,encap.sport=4500,encap.dport=4500,encap.type=espinudp' \
    --expect 'spi=0x0000c601,family=inet6'
snapshot_check right manual-right --expect-sas 4 --expect-policies 4 \
    --expect "spi=0x0000c001,src=$NAT_PUB,encap.sport=44500,encap.dport=4500" \
    --expect "spi=0x0000c002,dst=$NAT_PUB,encap.sport=4500,encap.dport=44500" \
    --nonzero 0x0000c001 --nonzero 0x0000c002
save_state left left-after-traffic; save_state right right-after-traffic
tui_check right tui-right '0x0000c001 +1 44500.4500 .* 420 +5 ' '0x0000c002 +1 4500.44500 ' 'c601' 'c602' 'SAs 4 +pol 4'

say "5. NAT rebinding: left's 4500 now leaves as 44501 -> XFRM_MSG_MAPPING on right"
ip netns exec nat nft flush chain ip nat postrouting
ip netns exec nat nft add rule ip nat postrouting ip saddr $L_OUT udp sport 4500 oifname n-right snat ip to $NAT_PUB:44501
ip netns exec nat conntrack -D -p udp --orig-port-src 4500 > /dev/null 2>&1
ip netns exec left ping -c 2 -i 0.3 -W 1 -I $L_IN $R_IN > /dev/null   # replies go to the old port: lost
wait_for 5 grep -qi 'mapping change' $W/mon-right.out
check "ip xfrm monitor (right) shows the mapping change" grep -qi 'mapping change' $W/mon-right.out

say "6. outbound SA with XFRMA_SA_DIR=out + NAT keepalive interval 2 s (left)"
ip netns exec left $XNL add-sa $L_OUT $R_OUT 0xc0a1 --reqid 20 --encap 4500:4500 --dir out --natka 2
ip netns exec left $XNL get-sa $R_OUT 0xc0a1 | tee $ART/natka-getsa.json
if ip netns exec left $XNL natka-supported $L_OUT 203.0.113.99; then
    sleep 5
    check "kernel NAT keepalives (0xFF, 1 byte) seen on the NAT's public side from port 44501" \
        grep -q "$NAT_PUB.44501 > $R_OUT.4500: isakmp-nat-keep-alive" $W/tcpdump-pub.out
    snapshot_check left natka-left --expect 'spi=0x0000c0a1,dir=out,nat_keepalive_interval=2,encap.sport=4500'
else
    echo "kernel $(uname -r) drops XFRMA_SA_DIR/XFRMA_NAT_KEEPALIVE_INTERVAL (needs >= 6.11)"
    snapshot_check left natka-left --expect 'spi=0x0000c0a1,dir=null,nat_keepalive_interval=null'
fi
bg_stop tcpdump-pub

say "7. flush, then the event stream"
ip -n right xfrm state delete src $R_OUT dst $NAT_PUB proto esp spi 0xc002
ip -n right xfrm policy flush
ip -n right xfrm state flush
events_check right --min NEWSA=4 --min NEWPOLICY=4 --min MAPPING=1 --min DELSA=1
save_state left left-end
capture_stop
finish
