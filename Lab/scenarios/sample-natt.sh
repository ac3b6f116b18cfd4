#!/bin/bash
# Lab/scenarios/sample-natt.sh - capture only (capture-fixtures.sh): the
# sample recording Samples/natt-strongswan.xfrmrec for `ipsectop --replay`.
# Two strongSwan charons through the masquerading NAT, recorded in netns
# right (the public responder) by ipsectop's own recorder with a 1 s
# refresh, about 100 s:
#   0 s   IKE_SA + CHILD_SA up (NAT-T, keep_alive 5s)
#   ..    steady traffic (ping every 0.25 s), then an idle stretch with NAT keepalives
#   ~35 s swanctl --rekey --child (new SPIs; the old SAs linger, then go)
#   ~55 s conntrack flush on the NAT: new public port, XFRM_MSG_MAPPING, SAs move
#   ~75 s a second child (different traffic selector) and a burst of traffic
#   ~90 s swanctl --rekey --ike, then the recording ends
. "$(dirname "$0")/lib.sh"
[ -n "$CAPTURE" ] || { echo "sample-natt.sh is for capture-fixtures.sh (LAB_CAPTURE_DIR unset)"; exit 2; }
have_ipsectop || exit 1
export LAB_RECORD_REFRESH=1
say "kernel $(uname -r)"
topo_up random
crypto_prewarm
ip -n left addr add 198.51.100.2/32 dev lo
ip -n right addr add 198.51.100.130/32 dev lo
ss_setup left initiator
ss_setup right responder
# a second child on both sides: .2 <-> .130
for ns in left right; do
    if [ $ns = left ]; then l=198.51.100.2 r=198.51.100.130; else l=198.51.100.130 r=198.51.100.2; fi
    python3 - "$(ss_dir $ns)/swanctl.conf" "$l" "$r" <<'PY'
import sys
p, l, r = sys.argv[1:]
s = open(p).read()
s = s.replace("        children {\n", "        children {\n            db {\n                local_ts = %s/32\n"
              "                remote_ts = %s/32\n                esp_proposals = aes128gcm16\n"
              "                mode = tunnel\n            }\n" % (l, r), 1)
open(p, "w").write(s)
PY
done
ss_start right || exit 1
ss_start left || exit 1
t0=$(date +%s.%N)
capture_start right
at() { local s; s=$(awk -v t0="$t0" -v n="$(date +%s.%N)" -v w="$1" 'BEGIN{d = t0 + w - n; print (d > 0 ? d : 0)}'); sleep "$s"; say "t=$1 s: $2"; }

at 1 "initiate"
ss_ctl left --initiate --child net --timeout 60 | tail -1
ip netns exec left ping -q -i 0.25 -s 200 -I $L_IN $R_IN > /dev/null 2>&1 & P1=$!
at 20 "idle (keepalives every 5 s)"
kill $P1
at 35 "swanctl --rekey --child net"
ss_ctl left --rekey --child net | tail -1
ip netns exec left ping -q -i 0.5 -I $L_IN $R_IN > /dev/null 2>&1 & P1=$!
at 55 "NAT rebinding: conntrack -F on the NAT"
ip netns exec nat conntrack -F 2>/dev/null
at 75 "second child 'db' + traffic burst"
ss_ctl left --initiate --child db --timeout 60 | tail -1
ip netns exec left ping -q -c 200 -i 0.05 -s 1000 -I 198.51.100.2 198.51.100.130 > /dev/null 2>&1
at 90 "swanctl --rekey --ike natt"
ss_ctl left --rekey --ike natt | tail -1
at 100 "end"
kill $P1
capture_stop
ss_stop left right
ip -n right -s xfrm state | nokeys > $ART/right-end.state.txt
echo "sample recorded"
