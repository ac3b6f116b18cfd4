#!/bin/bash
# Lab/scenarios/live-actions.sh - ipsectop's live model and its actions against
# two strongSwan charons through the masquerading NAT (left behind the NAT,
# right public). One `ipsectop snapshot --json --follow 0` runs in right for the
# whole scenario; SIGUSR1 makes it print the model of that moment.
#  1. rates above zero both ways while pinging; zero in the 10 s window after
#  2. the peer's NAT-T port equals the port the NAT chose
#  3. keepalives (keep_alive = 5s): OK, then LATE within 10 s of the NAT
#     dropping them, with the reason
#  4. conntrack flush: the mapping change appears with old and new port
#  5. swanctl --rekey --child: tunnel totals keep rising, new SPI linked to old
#  6. ipsectop rekey through the kernel path, then through VICI: new SPIs
#     within 5 s, old ones gone after charon deletes them, pings flow
#  7. ipsectop delete: exactly that SA leaves; a marked SA is rekeyed and
#     deleted by mark; --dry-run sends nothing
#  8. the dashboard: r (rekey, through VICI) and d (delete) with confirmation;
#     --read-only offers neither; no output mode ever holds key material
. "$(dirname "$0")/lib.sh"

say "kernel $(uname -r), ipsectop=${IPSECTOP:-none}"
have_ipsectop || { finish; exit 1; }
topo_up random
crypto_prewarm
ss_setup left initiator
ss_setup right responder
ss_start right || exit 1
ss_start left || exit 1
ss_ctl left --initiate --child net --timeout 60 > $ART/initiate.txt 2>&1
check "swanctl --initiate" grep -q "initiate completed successfully" $ART/initiate.txt
port=$(nat_port)
echo "NAT-chosen port: $port"

F=$ART/follow-right.ndjson
"$IPSECTOP" snapshot --json --follow 0 --refresh 1 --netns right > $F 2> $ART/follow-right.err &
FPID=$!
wait_for 20 grep -q "following XFRM events" $ART/follow-right.err
check "model follower running in right" alive $FPID

# snap: ask the follower for the model of this moment -> $W/snap.json
snap() {
    local n
    n=$(wc -l < $F)
    kill -USR1 $FPID 2>/dev/null || return 1
    wait_for 10 bash -c "[ \$(wc -l < $F) -gt $n ]" || return 1
    tail -n 1 $F > $W/snap.json
}
# jpy EXPR: evaluate a python expression on the last snapshot (d); peer = right's peer with left
jpy() {
    python3 - "$W/snap.json" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
peers = [p for p in d["peers"] if p["remote"] == "203.0.113.1"]
peer = peers[-1] if peers else {}
sa = lambda spi: next((s for s in d["sas"] if s["spi"] == spi), None)
print(eval(sys.argv[2]))
PY
}
# new_spis NS "OLD LIST": SPIs in NS that are not in OLD
new_spis() { printf '%s\n' $2 none > $W/old-spis; ip -n $1 xfrm state | awk '/proto esp spi/ {print $4}' | grep -vxF -f $W/old-spis; }
is_true() { [ "$(jpy "$1" 2>>$W/jpy.err)" = True ]; }
snap_true() { snap && is_true "$1"; }

say "1. rates while pinging, then idle"
ip netns exec left ping -q -c 40 -i 0.2 -I $L_IN $R_IN > $W/ping1.txt 2>&1 &
PING=$!
sleep 4
snap
echo "peer rates: $(jpy 'peer.get("inbound_rates", {}).get("2s"), peer.get("outbound_rates", {}).get("2s")')"
check "rates above zero inbound (2 s window) while pinging" is_true 'peer["inbound_rates"]["2s"]["bytes_per_s"] > 0'
check "rates above zero outbound (2 s window) while pinging" is_true 'peer["outbound_rates"]["2s"]["bytes_per_s"] > 0'
wait $PING
t0=$(date +%s.%N)
wait_for 20 snap_true 'peer["inbound_rates"]["10s"]["bytes_per_s"] == 0 and peer["outbound_rates"]["10s"]["bytes_per_s"] == 0'
r=$?
echo "10 s window back to zero after $(elapsed $t0) s"
check "rates fall to zero in the 10 s window after the traffic stops" [ $r = 0 ]

say "2. NAT-T port"
echo "peer nat: $(jpy 'peer.get("nat")')"
check "peer's NAT-T remote port equals the NAT's port $port" is_true "peer['nat']['remote_port'] == int('${port:-0}')"
check "peer is behind NAT" is_true 'peer["nat"]["behind_nat"]'

say "3. keepalives"
wait_for 25 snap_true 'peer["keepalive"]["status"] == "OK"'; r=$?
check "keepalive status OK with keep_alive = 5s" [ $r = 0 ]
echo "keepalive: $(jpy 'peer["keepalive"]')"
ip netns exec nat nft add table inet kadrop
ip netns exec nat nft add chain inet kadrop f '{ type filter hook forward priority -5 ; }'
ip netns exec nat nft add rule inet kadrop f udp length 9 @th,64,8 0xff drop
t0=$(date +%s.%N)
wait_for 20 snap_true 'peer["keepalive"]["status"] == "LATE"'
r=$?
late=$(elapsed $t0)
echo "LATE after $late s: $(jpy 'peer["keepalive"]["reason"]')"
check "keepalive LATE after the NAT drops them (seen by polling after $late s)" [ $r = 0 ]
# When the model turns LATE: the last keepalive received + 1.5 x the interval, measured from the drop.
turn=$(jpy "round(peer['keepalive']['last_received_epoch'] + 1.5 * peer['keepalive']['interval'] - $(date -d @${t0%.*} +%s), 1)")
echo "status turns LATE $turn s after the drop began (polling adds the rest)"
check "... within 10 s of the drop ($turn s)" awk -v t="$turn" 'BEGIN { exit !(t != "" && t <= 10) }'
check "... with a reason" is_true 'len(peer["keepalive"]["reason"]) > 10'
ip netns exec nat nft delete table inet kadrop

say "4. NAT rebinding"
ip netns exec nat conntrack -F > /dev/null 2>&1
ip netns exec left ping -q -c 3 -i 0.3 -I $L_IN $R_IN > /dev/null 2>&1
newport=$(nat_port)
echo "port $port -> $newport"
wait_for 20 snap_true "any(m['old'].endswith(':$port') and m['new'].endswith(':$newport') for p in d['peers'] if p['nat'] for m in p['nat']['mapping_changes'])"; r=$?
check "mapping change $port -> $newport in the model" [ $r = 0 ]
echo "mapping history: $(jpy "[m for p in d['peers'] if p['nat'] for m in p['nat']['mapping_changes']]")"

say "5. swanctl --rekey --child"
ip netns exec left ping -q -c 5 -i 0.2 -I $L_IN $R_IN > /dev/null 2>&1
sleep 1.5
snap
old_in=$(jpy "next(s['spi'] for s in d['sas'] if s['dst'] == '$R_OUT' and not s['larval'])")
tot0=$(jpy "sa('$old_in')['derived']['tunnel_totals']['bytes']")
echo "inbound SA $old_in, tunnel total $tot0 bytes"
s0=$(esp_spis right)
ss_ctl left --rekey --child net > /dev/null
wait_for 30 bash -c "[ \"\$(ip -n right xfrm state | awk '/proto esp spi/ {print \$4}' | sort | tr '\n' ' ')\" != '$s0' ]"
ip netns exec left ping -q -c 5 -i 0.2 -I $L_IN $R_IN > /dev/null 2>&1
sleep 1.5
wait_for 15 snap_true "any(s['derived']['rekeyed_from'] == '$old_in' for s in d['sas'])"; r=$?
check "new inbound SPI linked to the old one ($old_in)" [ $r = 0 ]
new_in=$(jpy "next(s['spi'] for s in d['sas'] if s['derived']['rekeyed_from'] == '$old_in')")
tot1=$(jpy "sa('$new_in')['derived']['tunnel_totals']['bytes']")
echo "new inbound SA $new_in, tunnel total $tot1 bytes"
check "tunnel totals keep rising across the rekey ($tot0 -> $tot1)" [ "${tot1:-0}" -gt "${tot0:-0}" ]

say "6. ipsectop rekey (kernel path, then VICI)"
for via in kernel vici; do
    s0=$(esp_spis left)
    spi=$(ip -n left xfrm state | awk -v d="$R_OUT" '$1 == "src" && $4 == d {getline; print $4; exit}')
    "$IPSECTOP" rekey --netns left --spi "$spi" --via $via --vici "$(ss_dir left)/charon.vici" --yes > $ART/rekey-$via.txt 2>&1
    rc=$?; cat $ART/rekey-$via.txt
    check "ipsectop rekey --via $via exits 0" [ $rc = 0 ]
    check "... reports the $via path" grep -q "via $via: ok" $ART/rekey-$via.txt
    t0=$(date +%s.%N)
    for i in $(seq 1 25); do [ -n "$(new_spis left "$s0")" ] && break; sleep 0.2; done
    took=$(elapsed $t0)
    check "... new SPIs within 5 s (took $took s: $(new_spis left "$s0" | tr '\n' ' '))" awk -v t="$took" -v n="$(new_spis left "$s0" | wc -l)" 'BEGIN { exit !(n > 0 && t <= 5) }'
    for i in $(seq 1 150); do ip -n left xfrm state | grep -q "spi $spi " || break; sleep 0.2; done
    check "... the old SA $spi is gone after charon deleted it" bash -c "! ip -n left xfrm state | grep -q 'spi $spi '"
    ip netns exec left ping -q -c 3 -i 0.3 -W 3 -I $L_IN $R_IN > /dev/null 2>&1; r=$?
    check "... pings flow after the rekey" [ $r = 0 ]
done

say "7. ipsectop delete, marked SAs"
# charon deletes the rekeyed SAs a moment after the rekey: wait for right's table to settle.
wait_for 30 bash -c "[ \$(ip -n right xfrm state | grep -c 'proto esp') = 2 ]"
before=$(esp_spis right)
victim=$(echo $before | awk '{print $1}')
"$IPSECTOP" delete --netns right --spi "$victim" --dry-run > $ART/delete-dry.txt 2>&1
check "delete --dry-run shows the request" grep -q "would send: XFRM_MSG_DELSA" $ART/delete-dry.txt
check "... and sends nothing" [ "$(esp_spis right)" = "$before" ]
"$IPSECTOP" delete --netns right --spi "$victim" --yes > $ART/delete.txt 2>&1
check "ipsectop delete exits 0" [ $? = 0 ]
after=$(esp_spis right)
check "exactly $victim left ip xfrm state" [ "$(echo $before | tr ' ' '\n' | grep -v "^$victim$" | tr '\n' ' ')" = "$after" ]
ip netns add mk
ip -n mk link set lo up
K=0x0123456789abcdef0123456789abcdef01234567
# Every output mode watches the SAs being added with a known key.
bg_start ev-mk "$IPSECTOP" events --json --netns mk --record $W/mk-events.xfrmrec
for m in 0x10 0x20; do
    ip -n mk xfrm state add src 192.0.2.2 dst 203.0.113.2 proto esp spi 0xc010 reqid $((m)) mode tunnel \
        mark $m mask 0xff aead 'rfc4106(gcm(aes))' $K 128
done
sleep 1
bg_stop ev-mk
"$IPSECTOP" snapshot --netns mk > $W/mk-snapshot.txt 2>&1
"$IPSECTOP" snapshot --json --netns mk --record $W/mk-snapshot.xfrmrec > $W/mk-snapshot.json 2>&1
"$IPSECTOP" snapshot --json --kernel-only --netns mk > $W/mk-kernel-only.json 2>&1
check "the SAs with the known key are in every output" bash -c "grep -q 0x0000c010 $W/mk-snapshot.txt && grep -q c010 $W/ev-mk.out && grep -o '\"spi\":\"0x0000c010\"' $W/mk-snapshot.json | wc -l | grep -qx 2"
key=${K#0x}
for f in $W/mk-snapshot.txt $W/mk-snapshot.json $W/mk-kernel-only.json $W/ev-mk.out $W/mk-events.xfrmrec $W/mk-snapshot.xfrmrec; do
    check "no key material in $(basename $f) (text, hex or any 8-byte run of the key)" \
        python3 -c "import sys; k=bytes.fromhex('$key'); d=open('$f','rb').read(); h=d.lower(); sys.exit(any(k[i:i+8].hex().encode() in h or k[i:i+8] in d for i in range(len(k)-7)))"
done
bg_start mon-mk ip -n mk xfrm monitor
sleep 0.5
"$IPSECTOP" rekey --netns mk --spi 0xc010 --mark 0x10/0xff --via kernel --yes > $ART/rekey-mark.txt 2>&1
check "rekey of the marked SA (mark 0x10/0xff) exits 0" [ $? = 0 ]
wait_for 5 grep -q "hard 0" $W/mon-mk.out
check "... the kernel expired exactly that SA (soft, mark 0x10/0xff)" bash -c "awk '/Expired/{b=1} b{print} /hard/{b=0}' $W/mon-mk.out | grep -q 'mark 0x10/0xff' && ! awk '/Expired/{b=1} b{print} /hard/{b=0}' $W/mon-mk.out | grep -q 'mark 0x20/0xff'"
"$IPSECTOP" delete --netns mk --spi 0xc010 --mark 0x20/0xff --yes > $ART/delete-mark.txt 2>&1
check "delete of the marked SA (mark 0x20/0xff) exits 0" [ $? = 0 ]
check "... only the 0x20 SA left, the 0x10 SA stays" bash -c "ip -n mk xfrm state | grep -q 'mark 0x10/0xff' && ! ip -n mk xfrm state | grep -q 'mark 0x20/0xff'"
bg_stop mon-mk

say "8. the dashboard"
printf 'set -g remain-on-exit on\nset -g exit-empty off\n' > $W/tmux.conf
tmx new-session -d -s act -x 160 -y 40 -e LANG=C.UTF-8 -e LC_ALL=C.UTF-8 -e TERM=tmux-256color \
    "$IPSECTOP --netns left --no-capture -d 1 --vici $(ss_dir left)/charon.vici 2> $W/tui.err; echo EXIT=\$?; sleep 60"
target=$(ip -n left xfrm state | awk -v d="$R_OUT" '$1 == "src" && $4 == d {getline; print $4; exit}')
hex=${target#0x}
wait_for 20 bash -c "tmux -L lab -f $W/tmux.conf capture-pane -p -t act | grep -q '$target'"; r=$?
check "dashboard shows left's SA $target" [ $r = 0 ]
s0=$(esp_spis left)
tmx send-keys -t act / ; for c in $(echo $hex | fold -w1); do tmx send-keys -t act "$c"; done; tmx send-keys -t act Enter
sleep 0.5
tmx send-keys -t act r
wait_for 5 bash -c "tmux -L lab -f $W/tmux.conf capture-pane -p -t act | grep -qi 'rekey'"
tmx capture-pane -p -t act > $ART/tui-rekey-confirm.txt
check "r asks for confirmation naming $target" grep -q "$target" $ART/tui-rekey-confirm.txt
tmx send-keys -t act y
t0=$(date +%s.%N)
for i in $(seq 1 25); do [ -n "$(new_spis left "$s0")" ] && break; sleep 0.2; done
took=$(elapsed $t0)
check "r + y in the dashboard: new SPIs within 5 s (took $took s)" awk -v t="$took" -v n="$(new_spis left "$s0" | wc -l)" 'BEGIN { exit !(n > 0 && t <= 5) }'
tmx send-keys -t act 6
sleep 1
tmx capture-pane -p -t act > $ART/tui-actions-log.txt
check "the dashboard's action log says the rekey went through VICI" grep -q "vici-rekey" $ART/tui-actions-log.txt
tmx send-keys -t act 1

tmx send-keys -t act Escape Escape
wait_for 30 bash -c "! ip -n left xfrm state | grep -q 'spi $target '"
# ... and its partner: charon removes both old SAs of the rekeyed child.
wait_for 30 bash -c "[ \$(ip -n left xfrm state | grep -c 'proto esp') = 2 ]"
victim=$(ip -n left xfrm state | awk '/proto esp spi/ {print $4; exit}')
before=$(esp_spis left)
tmx send-keys -t act / ; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do tmx send-keys -t act BSpace; done
for c in $(echo ${victim#0x} | fold -w1); do tmx send-keys -t act "$c"; done; tmx send-keys -t act Enter
sleep 0.5
tmx send-keys -t act d
wait_for 5 bash -c "tmux -L lab -f $W/tmux.conf capture-pane -p -t act | grep -qi 'delete'"
tmx capture-pane -p -t act > $ART/tui-delete-confirm.txt
check "d asks for confirmation naming $victim" grep -q "$victim" $ART/tui-delete-confirm.txt
tmx send-keys -t act y
wait_for 5 bash -c "! ip -n left xfrm state | grep -q 'spi $victim '"; r=$?
check "d + y in the dashboard: $victim deleted" [ $r = 0 ]
check "... and nothing else" [ "$(echo $before | tr ' ' '\n' | grep -v "^$victim$" | tr '\n' ' ')" = "$(esp_spis left)" ]
tmx send-keys -t act q
wait_for 10 bash -c "tmux -L lab -f $W/tmux.conf capture-pane -p -t act | grep -q 'EXIT=0'"; r=$?
check "dashboard quits with 0" [ $r = 0 ]
tmx kill-session -t act 2>/dev/null
# read-only: neither key does anything
tmx new-session -d -s ro -x 160 -y 40 -e LANG=C.UTF-8 -e LC_ALL=C.UTF-8 -e TERM=tmux-256color \
    "$IPSECTOP --netns left --no-capture --read-only 2> $W/tui-ro.err; echo EXIT=\$?; sleep 60"
wait_for 20 bash -c "tmux -L lab -f $W/tmux.conf capture-pane -p -t ro | grep -q 'read-only'"
s0=$(esp_spis left)
tmx send-keys -t ro d; sleep 0.3; tmx send-keys -t ro y; sleep 0.3; tmx send-keys -t ro r; sleep 0.3; tmx send-keys -t ro y; sleep 2
tmx capture-pane -p -t ro > $ART/tui-readonly.txt
check "--read-only: no confirmation dialog" bash -c "! grep -qiE 'delete [0-9]+ SA|rekey [0-9]+ SA|\\?.*\\[y' $ART/tui-readonly.txt"
check "--read-only: the SAs are unchanged" [ "$(esp_spis left)" = "$s0" ]
tmx send-keys -t ro q
tmx kill-server 2>/dev/null

kill -TERM $FPID 2>/dev/null; wait $FPID 2>/dev/null
ss_stop left right
finish
