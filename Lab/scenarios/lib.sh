# Lab/scenarios/lib.sh - shared by the scenario scripts (runs INSIDE the guest).
#
# Topology (documentation addresses only; the guest has no NIC at all):
#
#   netns left                    netns nat                      netns right
#   l-eth 192.0.2.2/24 ------ n-left 192.0.2.1/24
#         2001:db8:1::2/64           2001:db8:1::1/64
#   lo 198.51.100.1, 2001:db8:a::1   nftables masquerade (v4)
#                                n-right 203.0.113.1/24 ------ r-eth 203.0.113.2/24
#                                        2001:db8:2::1/64             2001:db8:2::2/64
#                                                               lo 198.51.100.129, 2001:db8:b::1
#
# left is behind the NAT (initiator), right is public (responder); the
# loopback addresses are the tunnel-protected inner hosts.  IPv6 is routed
# without NAT.
set -u
L_OUT=192.0.2.2; NAT_IN=192.0.2.1; NAT_PUB=203.0.113.1; R_OUT=203.0.113.2
L_IN=198.51.100.1; R_IN=198.51.100.129
L_OUT6=2001:db8:1::2; NAT_IN6=2001:db8:1::1; NAT_R6=2001:db8:2::1; R_OUT6=2001:db8:2::2
L_IN6=2001:db8:a::1; R_IN6=2001:db8:b::1

LAB_SRC=${LAB_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
LAB_OUT=${LAB_OUT:-/tmp/lab-out}
SCEN=${SCEN:-$(basename "$0" .sh)}
ART=$LAB_OUT/$SCEN                  # artefacts of this scenario (come back to the host)
mkdir -p "$ART"
W=/tmp/w; mkdir -p $W               # scratch (guest tmpfs)
XNL="python3 $LAB_SRC/guest/xfrmnl.py"
CHECK="python3 $LAB_SRC/guest/check.py"
IPSECTOP=${IPSECTOP:-}
CAPTURE=${LAB_CAPTURE_DIR:-}        # set by capture-fixtures.sh: record fixtures there
KMAJMIN=$(uname -r | cut -d. -f1,2)

NPASS=0; NFAIL=0
say() { printf '\n===== [%6.1fs] %s =====\n' "$(cut -d' ' -f1 /proc/uptime)" "$*"; }
pass() { NPASS=$((NPASS + 1)); echo "CHECK PASS: $*"; }
fail() { NFAIL=$((NFAIL + 1)); echo "CHECK FAIL: $*"; }
# check DESCRIPTION CMD...: run CMD, PASS if it succeeds
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
# wait_for SECONDS CMD...: poll CMD every 0.2 s
wait_for() { local t=$1 i; shift; for ((i = 0; i < t * 5; i++)); do "$@" && return 0; sleep 0.2; done; return 1; }
finish() {
    say "RESULT $SCEN on $(uname -r): $NPASS passed, $NFAIL failed"
    [ "$NFAIL" = 0 ]
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

# Never keep key bytes in artefacts: `ip xfrm state` prints keys after the
# algorithm name ("aead rfc4106(gcm(aes)) 0x0123... 160").
nokeys() { sed -E 's/^(\s*(aead|enc|auth|auth-trunc|comp) \S+) 0x[0-9a-fA-F]+/\1 0x<key removed>/'; }
save_state() {   # save_state NS NAME: ip -s xfrm state/policy of NS into $ART/NAME.*
    ip -n "$1" -s xfrm state | nokeys > "$ART/$2.state.txt"
    ip -n "$1" -s xfrm policy > "$ART/$2.policy.txt"
}

topo_up() {      # topo_up [fixed|random]: fixed = left's UDP 4500 always -> NAT_PUB:44500
    local mode=${1:-fixed} ns rule=""
    for m in veth nf_tables nft_nat nft_masq nft_chain_nat nf_conntrack xfrm_user esp4 esp6 \
             xfrm4_tunnel xfrm6_tunnel tunnel4 tunnel6 af_packet; do modprobe -q $m 2>/dev/null; done
    for ns in left nat right; do ip netns add $ns; ip -n $ns link set lo up; done
    ip link add l-eth netns left type veth peer name n-left netns nat
    ip link add r-eth netns right type veth peer name n-right netns nat
    ip -n left addr add $L_OUT/24 dev l-eth
    ip -n left addr add $L_OUT6/64 dev l-eth nodad
    ip -n left addr add $L_IN/32 dev lo
    ip -n left addr add $L_IN6/128 dev lo
    ip -n left link set l-eth up
    ip -n left route add default via $NAT_IN
    ip -n left -6 route add default via $NAT_IN6
    ip -n nat addr add $NAT_IN/24 dev n-left
    ip -n nat addr add $NAT_IN6/64 dev n-left nodad
    ip -n nat addr add $NAT_PUB/24 dev n-right
    ip -n nat addr add $NAT_R6/64 dev n-right nodad
    ip -n nat link set n-left up
    ip -n nat link set n-right up
    ip netns exec nat sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    ip -n right addr add $R_OUT/24 dev r-eth
    ip -n right addr add $R_OUT6/64 dev r-eth nodad
    ip -n right addr add $R_IN/32 dev lo
    ip -n right addr add $R_IN6/128 dev lo
    ip -n right link set r-eth up
    ip -n right route add default via $NAT_PUB       # no route to 192.0.2.0/24: only the NAT is visible
    ip -n right -6 route add default via $NAT_R6
    [ "$mode" = fixed ] && rule="ip saddr $L_OUT udp sport 4500 oifname \"n-right\" snat ip to $NAT_PUB:44500"
    ip netns exec nat nft -f - <<NFT
table ip nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        $rule
        oifname "n-right" ip saddr 192.0.2.0/24 masquerade random
    }
}
NFT
}

# Throw-away SAs with each algorithm, so that the crypto templates are
# instantiated before anything timing-sensitive (IKE) runs.
crypto_prewarm() {
    ip netns add warm
    ip -n warm xfrm state add src 192.0.2.250 dst 192.0.2.251 proto esp spi 1 mode tunnel \
        aead 'rfc4106(gcm(aes))' 0x$(printf '%040d' 0) 128
    ip -n warm xfrm state add src 2001:db8::250 dst 2001:db8::251 proto esp spi 2 mode tunnel \
        enc 'cbc(aes)' 0x$(printf '%032d' 0) auth-trunc 'hmac(sha256)' 0x$(printf '%064d' 0) 128
    ip netns del warm
}

# UDP sockets with UDP_ENCAP_ESPINUDP on :4500: hand-made ESP-in-UDP SAs only
# receive when one exists (an IKE daemon normally has it).  One python
# process holds all of them (encap_sockets left:4 left:6 right:4 ...).
encap_sockets() {
    python3 $LAB_SRC/guest/xfrmnl.py encap-sockets "$@" > $W/encap.log 2>&1 &
    wait_for 20 grep -q ready $W/encap.log || { echo "WARN: encap sockets not ready"; cat $W/encap.log; }
}

# bg_start NAME CMD...: start CMD in the background, output to $W/NAME.out,
# wait until it has a netlink or packet socket open (or printed "listening").
# Its PID goes to $W/NAME.pid.
bg_start() {
    local name=$1 pid i; shift
    "$@" > "$W/$name.out" 2> "$W/$name.err" &
    pid=$!; echo $pid > "$W/$name.pid"
    for ((i = 0; i < 150; i++)); do
        kill -0 $pid 2>/dev/null || { echo "WARN: $name exited early: $(head -c 300 "$W/$name.err")"; return 1; }
        if grep -q 'listening' "$W/$name.err" "$W/$name.out" 2>/dev/null ||
           ls -l /proc/$pid/fd 2>/dev/null | grep -q socket: ; then
            # a child (ip netns exec -> exec) may still be setting up groups
            sleep 0.3; return 0
        fi
        sleep 0.1
    done
    echo "WARN: $name not listening after 15 s"
}
bg_stop() {      # bg_stop NAME...: SIGTERM (background jobs of a script ignore SIGINT), wait
    local n pid i
    for n in "$@"; do
        pid=$(cat "$W/$n.pid" 2>/dev/null) && kill -TERM "$pid" 2>/dev/null
    done
    for n in "$@"; do
        pid=$(cat "$W/$n.pid" 2>/dev/null) || continue
        for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && { echo "WARN: $n (pid $pid) ignored SIGTERM: killed"; kill -KILL "$pid" 2>/dev/null; }
        wait "$pid" 2>/dev/null
        rm -f "$W/$n.pid"
        # (ip xfrm monitor prints key bytes: never into the artefacts)
        nokeys < "$W/$n.out" > "$ART/$n.out" 2>/dev/null; cp "$W/$n.err" "$ART/$n.err" 2>/dev/null
    done
    return 0
}
alive() {       # running and not a zombie
    local st
    st=$(cat /proc/$1/stat 2>/dev/null) || return 1
    st=${st##*) }; [ "${st%% *}" != Z ]
}

# ---- ipsectop ---------------------------------------------------------------
have_ipsectop() {
    if [ -z "$IPSECTOP" ] || [ ! -x "$IPSECTOP" ]; then
        fail "ipsectop binary available (IPSECTOP='$IPSECTOP'; build it with: swift build --scratch-path .build-lab)"
        return 1
    fi
}
# snapshot_check NS LABEL [check.py options]: `ip -s xfrm state` before and
# after `ipsectop snapshot --json --netns NS`, then check.py compares.
snapshot_check() {
    local ns=$1 label=$2; shift 2
    have_ipsectop || return 1
    ip -n "$ns" -s xfrm state > $W/$label.before.txt
    ip -n "$ns" xfrm policy > $W/$label.policy.txt
    if ! "$IPSECTOP" snapshot --json --netns "$ns" > "$ART/$label.snapshot.json" 2> "$ART/$label.snapshot.err"; then
        fail "$label: ipsectop snapshot --json --netns $ns exits 0 ($(head -c 300 "$ART/$label.snapshot.err"))"
        return 1
    fi
    ip -n "$ns" -s xfrm state > $W/$label.after.txt
    nokeys < $W/$label.before.txt > "$ART/$label.state.txt"
    cp $W/$label.policy.txt "$ART/$label.policy.txt"
    $CHECK snapshot --label "$label" --json "$ART/$label.snapshot.json" \
        --before $W/$label.before.txt --after $W/$label.after.txt --policy $W/$label.policy.txt "$@" | tee "$ART/$label.check.txt"
    local r=${PIPESTATUS[0]}
    NPASS=$((NPASS + $(grep -c '^CHECK PASS' "$ART/$label.check.txt")))
    NFAIL=$((NFAIL + $(grep -c '^CHECK FAIL' "$ART/$label.check.txt")))
    return $r
}
# events_start NS: ipsectop events --json and `ip xfrm monitor` side by side
events_start() {
    local ns=$1
    bg_start mon-$ns ip -n "$ns" xfrm monitor
    if [ -n "$IPSECTOP" ] && [ -x "$IPSECTOP" ]; then
        bg_start ev-$ns "$IPSECTOP" events --json --netns "$ns"
    fi
}
# capture_start NS / capture_stop: in capture mode (capture-fixtures.sh sets
# LAB_CAPTURE_DIR) record netns NS for the whole scenario into
# $LAB_CAPTURE_DIR/$SCEN.xfrmrec with ipsectop's own recorder: the live
# source of the dashboard (events, dumps every LAB_RECORD_REFRESH s,
# keepalive capture), key bytes zeroed by XFRMRedaction.  LAB_RECORDER=python
# uses the prototype recorder in xfrmnl.py (same format, same redaction).
capture_start() {
    [ -n "$CAPTURE" ] || return 0
    mkdir -p "$CAPTURE"
    if [ "${LAB_RECORDER:-ipsectop}" = ipsectop ]; then
        bg_start rec "$IPSECTOP" snapshot --json --follow 0 --refresh "${LAB_RECORD_REFRESH:-10}" \
            --netns "$1" --record "$CAPTURE/$SCEN.xfrmrec"
    else
        bg_start rec ip netns exec "$1" $XNL record "$CAPTURE/$SCEN.xfrmrec" --netns "$1" \
            --dump-interval "${LAB_RECORD_REFRESH:-10}"
    fi
}
capture_stop() {
    [ -n "$CAPTURE" ] || return 0
    sleep 1; bg_stop rec
    echo "capture: $CAPTURE/$SCEN.xfrmrec: $(wc -l < "$CAPTURE/$SCEN.xfrmrec") records"
}
# events_check NS [check.py options]: stop both, compare
events_check() {
    local ns=$1; shift
    sleep 0.5
    bg_stop mon-$ns ev-$ns
    have_ipsectop || return 1
    $CHECK events --label "events-$ns" --ndjson "$ART/ev-$ns.out" --monitor "$ART/mon-$ns.out" "$@" | tee "$ART/events-$ns.check.txt"
    NPASS=$((NPASS + $(grep -c '^CHECK PASS' "$ART/events-$ns.check.txt")))
    NFAIL=$((NFAIL + $(grep -c '^CHECK FAIL' "$ART/events-$ns.check.txt")))
}

# tui_check NS LABEL REGEX...: the live dashboard (ipsectop dashboard --netns
# NS --read-only) in a detached tmux session of 160x40 (own server socket,
# remain-on-exit: a dashboard that dies stays visible); poll the screen until
# every REGEX is on it (max 30 s), keep the screen ($ART/LABEL.LANG.screen.txt,
# colours in .screen.ansi), quit with q and check the exit status.  Done with
# a UTF-8 locale and, unless TUI_LANGS says otherwise, with LANG=C (ASCII).
TUI_LANGS=${TUI_LANGS:-C.UTF-8 C}
tmx() { tmux -L lab -f $W/tmux.conf "$@"; }
tui_exited() { tmx capture-pane -p -t lab-tui 2>/dev/null | grep -q 'EXIT='; }
tui_check() {
    local ns=$1 label=$2 i ok miss re lang
    shift 2
    have_ipsectop || return 1
    printf 'set -g remain-on-exit on\nset -g exit-empty off\n' > $W/tmux.conf
    for lang in $TUI_LANGS; do
        if ! tmx new-session -d -s lab-tui -x 160 -y 40 -e LANG=$lang -e LC_ALL=$lang -e TERM=tmux-256color \
            "$IPSECTOP dashboard --netns $ns --read-only --no-capture 2> $W/tui.err; echo EXIT=\$?; sleep 60" 2> $W/tmux.err; then
            fail "TUI ($label, LANG=$lang): tmux new-session: $(head -c 200 $W/tmux.err)"
            continue
        fi
        ok=0
        for ((i = 0; i < 150; i++)); do
            if ! tmx capture-pane -p -t lab-tui > $W/screen.txt 2> $W/tmux.err; then
                echo "   tmux: $(cat $W/tmux.err)"; break
            fi
            grep -q 'EXIT=' $W/screen.txt && break
            miss=
            for re in "$@"; do grep -qE -- "$re" $W/screen.txt || { miss=$re; break; }; done
            [ -z "$miss" ] && { ok=1; break; }
            sleep 0.2
        done
        cp $W/screen.txt "$ART/$label.$lang.screen.txt"
        tmx capture-pane -e -p -t lab-tui > "$ART/$label.$lang.screen.ansi" 2>/dev/null
        check "TUI ($label, LANG=$lang): dashboard shows $*" [ $ok = 1 ]
        if [ $ok != 1 ]; then
            echo "   missing: '$miss'; dashboard stderr: $(head -c 300 $W/tui.err); screen:"
            sed 's/^/   | /' $W/screen.txt | grep -v '^   | *$' | head -20
        fi
        tmx send-keys -t lab-tui q 2>/dev/null
        wait_for 10 tui_exited
        tmx capture-pane -p -t lab-tui > $W/screen-end.txt 2>/dev/null
        check "TUI ($label, LANG=$lang): q quits with exit status 0" grep -q 'EXIT=0' $W/screen-end.txt
        tmx kill-session -t lab-tui 2>/dev/null
    done
    tmx kill-server 2>/dev/null
    return 0
}

# ---- strongSwan: one charon per netns ---------------------------------------
CHARON=/usr/lib/ipsec/charon
ss_dir() { echo /tmp/ss-$1; }
ss_setup() {     # ss_setup NS initiator|responder [EXTRA CHILD OPTIONS]
    local ns=$1 role=$2 extra=${3:-} d me peer myid peerid lts rts
    d=$(ss_dir $ns); mkdir -p $d
    (cd $d && mkdir -p x509 x509ca x509ocsp x509aa x509ac x509crl pubkey private rsa ecdsa bliss pkcs8 pkcs12)
    cat > $d/strongswan.conf <<CONF
charon {
    load_modular = yes
    plugins {
        include /etc/strongswan.d/charon/*.conf
        vici { socket = unix://$d/charon.vici }
        stroke { load = no }
        bypass-lan { load = no }
        resolve { load = no }
    }
    keep_alive = ${SS_KEEPALIVE:-5s}
    filelog {
        lab {
            path = $d/charon.log
            time_format = %H:%M:%S
            default = 1
            ike = 2
            knl = 2
            flush_line = yes
        }
    }
    syslog { daemon { default = -1 } }
}
swanctl { load = random nonce pem pkcs1 pkcs8 x509 pubkey }
CONF
    if [ $role = initiator ]; then me=$L_OUT peer=$R_OUT myid=left.example peerid=right.example lts=$L_IN rts=$R_IN
    else me=$R_OUT peer=%any myid=right.example peerid=left.example lts=$R_IN rts=$L_IN; fi
    cat > $d/swanctl.conf <<CONF
connections {
    natt {
        version = 2
        local_addrs = $me
        remote_addrs = $peer
        # Debian's strongswan-charon alone has no openssl/gcm plugin: MODP via gmp
        proposals = aes128-sha256-modp2048
        local { auth = psk
                id = $myid }
        remote { auth = psk
                 id = $peerid }
        children {
            net {
                local_ts = $lts/32
                remote_ts = $rts/32
                esp_proposals = aes128gcm16
                mode = tunnel
                $extra
            }
        }
    }
}
secrets { ike-lab { id-l = left.example
                    id-r = right.example
                    secret = "lab-only-psk" } }
CONF
}
ss_start() {     # charon's pid file is fixed (/run/charon.pid): private /run per instance
    local ns=$1 d
    d=$(ss_dir $ns)
    ip netns exec $ns sh -c "mount -t tmpfs tmpfs /run && STRONGSWAN_CONF=$d/strongswan.conf exec $CHARON" > $d/stdout 2>&1 &
    echo $! > $d/pid
    wait_for 30 test -S $d/charon.vici || { echo "charon in $ns did not start"; tail $d/stdout; return 1; }
    ss_ctl $ns --load-all --file $d/swanctl.conf > /dev/null
}
ss_ctl() {       # ss_ctl NS --CMD [ARGS]
    local ns=$1 cmd=$2; shift 2
    ip netns exec $ns env STRONGSWAN_CONF=$(ss_dir $ns)/strongswan.conf swanctl $cmd --uri unix://$(ss_dir $ns)/charon.vici "$@"
}
ss_stop() { local ns; for ns in "$@"; do kill $(cat $(ss_dir $ns)/pid) 2>/dev/null; cp $(ss_dir $ns)/charon.log $ART/charon-$ns.log 2>/dev/null; done; return 0; }
esp_spis() { ip -n $1 xfrm state | awk '/proto esp spi/ {print $4}' | sort | tr '\n' ' '; }
# NAT's public source port for left's IKE/ESP-in-UDP flow (from conntrack)
nat_port() {
    ip netns exec nat conntrack -L -p udp --orig-src $L_OUT --orig-port-src 4500 2>/dev/null |
        sed -n 's/.*src=203\.0\.113\.2 dst=203\.0\.113\.1 sport=4500 dport=\([0-9]*\).*/\1/p' | head -1
}
