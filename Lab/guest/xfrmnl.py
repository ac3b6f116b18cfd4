#!/usr/bin/env python3
"""xfrmnl.py - the lab's raw NETLINK_XFRM helper (python3 stdlib only).

Runs inside the guest, as root, in the network namespace it should act on.
Key bytes are never printed or written anywhere.

  add-sa SRC DST SPI [--reqid N] [--mode tunnel|transport] [--encap SPORT:DPORT]
         [--dir in|out] [--natka SECONDS] [--mark VALUE/MASK] [--if-id N]
         [--replay-window N] [--key HEX]
      XFRM_MSG_NEWSA for an ESP SA with rfc4106(gcm(aes)) 128 (20 key bytes).
      --dir sets XFRMA_SA_DIR (33) and --natka XFRMA_NAT_KEEPALIVE_INTERVAL
      (34), which iproute2 6.1 cannot set.  Prints the kernel's answer with
      the extended-ACK text; exit 1 on error.
  get-sa DST SPI [--mark VALUE/MASK]
      XFRM_MSG_GETSA; prints the SA as one JSON object (attribute numbers,
      SA_DIR, NAT keepalive interval, encap, mark, if_id; no keys).
  expire DST SPI [--hard] [--mark VALUE/MASK]
      XFRM_MSG_EXPIRE from userspace (soft by default).
  natka-supported SRC DST
      exit 0 if the kernel keeps XFRMA_NAT_KEEPALIVE_INTERVAL on an outbound
      ESP-in-UDP SA (6.11+), 1 if it drops it (6.1), after a throw-away SA.
  encap-sockets NS:4|6 ...
      Hold a UDP socket with UDP_ENCAP_ESPINUDP on port 4500 in each
      namespace (hand-made ESP-in-UDP SAs only receive when one exists).
  record FILE [--duration S] [--dump-interval S] [--netns NAME]
      Prototype recorder in ipsectop's recording format (docs/recording.md):
      header, SA+policy dumps (at start, every --dump-interval seconds, at
      end), /proc/net/xfrm_stat, every multicast datagram of groups 1-8.
      Key bytes of ALG attributes 1,2,3,18,20 are zeroed before writing,
      exactly as XFRMRedaction.redactKeys does.  Stops after --duration or
      on SIGTERM/SIGINT.
"""
import argparse, datetime, json, os, select, signal, socket, struct, sys, time

NETLINK_XFRM = 6
SOL_NETLINK, NETLINK_EXT_ACK, NETLINK_CAP_ACK = 270, 11, 10
F_REQUEST, F_ACK, F_DUMP = 0x1, 0x4, 0x300
F_CAPPED, F_ACK_TLVS = 0x100, 0x200
NLMSG_ERROR, NLMSG_DONE = 2, 3
NEWSA, DELSA, GETSA, GETPOLICY, EXPIRE, UPDSA = 0x10, 0x11, 0x12, 0x15, 0x18, 0x1a
A_ENCAP, A_AEAD, A_MARK, A_IF_ID, A_DIR, A_NATKA = 4, 18, 21, 31, 33, 34
USERSA_INFO, USERSA_ID, USER_EXPIRE = 224, 24, 232
INF = (1 << 64) - 1
TEST_KEY = bytes(range(20))


def pad4(n):
    return (n + 3) & ~3


def attr(t, payload):
    return struct.pack("=HH", 4 + len(payload), t) + payload + b"\0" * (pad4(4 + len(payload)) - 4 - len(payload))


def attrs(buf):
    off = 0
    while off + 4 <= len(buf):
        ln, t = struct.unpack_from("=HH", buf, off)
        if ln < 4:
            return
        yield t & 0x3FFF, buf[off + 4:off + ln]
        off += pad4(ln)


def inet(addr):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    return fam, socket.inet_pton(fam, addr).ljust(16, b"\0")


def ntop(fam, raw):
    return socket.inet_ntop(fam, raw[:16] if fam == socket.AF_INET6 else raw[:4])


def mark_arg(s):
    if not s:
        return None
    v, _, m = s.partition("/")
    return int(v, 0), int(m or "0xffffffff", 0)


def usersa_info(src, dst, spi, reqid=0, mode=1, replay_window=0):
    fam, d = inet(dst)
    s = inet(src)[1] if src else b"\0" * 16
    sel = struct.pack("=16s16sHHHHHBBB3xiI", b"", b"", 0, 0, 0, 0, fam, 0, 0, 0, 0, 0)
    b = (sel + d + struct.pack(">I", spi) + struct.pack("=B3x", 50) + s
         + struct.pack("=8Q", INF, INF, INF, INF, 0, 0, 0, 0) + bytes(32) + bytes(12)
         + struct.pack("=IIHBBB7x", 0, reqid, fam, mode, replay_window, 0))
    assert len(b) == USERSA_INFO
    return b


def usersa_id(dst, spi):
    fam, d = inet(dst)
    return d + struct.pack(">I", spi) + struct.pack("=HB1x", fam, 50)


class Xfrm:
    def __init__(self, groups=0):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_XFRM)
        for o in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):
            try:
                self.s.setsockopt(SOL_NETLINK, o, 1)
            except OSError:
                pass
        if groups:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.bind((0, groups))
        self.seq = int(time.time()) & 0xFFFF
        self.extack = ""

    def request(self, mtype, payload, flags=F_REQUEST | F_ACK, raw_cb=None):
        """Returns (errno, [(type, body)]).  raw_cb(datagram) sees every reply datagram."""
        self.seq += 1
        self.extack = ""
        self.s.send(struct.pack("=IHHII", 16 + len(payload), mtype, flags, self.seq, 0) + payload)
        out = []
        while True:
            data = self.s.recv(1 << 16)
            if raw_cb:
                raw_cb(data)
            off = 0
            while off + 16 <= len(data):
                ln, t, fl, seq, _ = struct.unpack_from("=IHHII", data, off)
                body = data[off + 16:off + ln]
                off += pad4(ln)
                if seq != self.seq:
                    continue
                if t == NLMSG_ERROR:
                    err = struct.unpack_from("=i", body)[0]
                    if fl & F_ACK_TLVS:
                        olen = struct.unpack_from("=I", body, 4)[0]
                        for at, v in attrs(body[4 + (16 if fl & F_CAPPED else pad4(olen)):]):
                            if at == 1:
                                self.extack = v.rstrip(b"\0").decode(errors="replace")
                    return err, out
                if t == NLMSG_DONE:
                    return 0, out
                out.append((t, body))
                if not flags & F_ACK and flags & F_DUMP != F_DUMP:
                    return 0, out

    def why(self, err):
        if not err:
            return "ok"
        return os.strerror(-err) + (f" [extack: {self.extack}]" if self.extack else "")


def decode_sa(body):
    """Dict view of an xfrm_usersa_info + attributes (no key bytes)."""
    fam = struct.unpack_from("=H", body, 212)[0]
    seq, reqid, fam, mode, rwin, flags = struct.unpack_from("=IIHBBB", body, 204)
    cur = struct.unpack_from("=4Q", body, 160)
    d = {"src": ntop(fam, body[80:96]), "dst": ntop(fam, body[56:72]),
         "spi": "0x%08x" % struct.unpack_from(">I", body, 72)[0], "proto": body[76],
         "reqid": reqid, "mode": mode, "replay_window": rwin, "bytes": cur[0], "packets": cur[1],
         "attrs": [], "dir": None, "nat_keepalive_interval": None, "mark": None, "if_id": None,
         "encap": None, "alg": None}
    for t, v in attrs(body[USERSA_INFO:]):
        d["attrs"].append(t)
        if t == A_DIR:
            d["dir"] = {1: "in", 2: "out"}.get(v[0], v[0])
        elif t == A_NATKA:
            d["nat_keepalive_interval"] = struct.unpack_from("=I", v)[0]
        elif t == A_MARK:
            d["mark"] = dict(zip(("value", "mask"), struct.unpack_from("=II", v)))
        elif t == A_IF_ID:
            d["if_id"] = struct.unpack_from("=I", v)[0]
        elif t == A_ENCAP:
            et, sp, dp = struct.unpack_from("=HHH", v)
            d["encap"] = {"type": et, "sport": socket.ntohs(sp), "dport": socket.ntohs(dp),
                          "oa": ntop(fam, v[8:24])}
        elif t in (1, 2, 3, 18, 20):
            d["alg"] = v[:64].split(b"\0")[0].decode()
    return d


def cmd_add_sa(a):
    encap = tuple(int(p) for p in a.encap.split(":")) if a.encap else None
    key = bytes.fromhex(a.key.removeprefix("0x")) if a.key else TEST_KEY
    p = usersa_info(a.src, a.dst, int(a.spi, 0), a.reqid, 1 if a.mode == "tunnel" else 0, a.replay_window)
    p += attr(A_AEAD, struct.pack("=64sII", b"rfc4106(gcm(aes))", len(key) * 8, 128) + key)
    if encap:
        p += attr(A_ENCAP, struct.pack("=HHH2x16s", 2, socket.htons(encap[0]), socket.htons(encap[1]), b""))
    m = mark_arg(a.mark)
    if m:
        p += attr(A_MARK, struct.pack("=II", *m))
    if a.if_id is not None:
        p += attr(A_IF_ID, struct.pack("=I", a.if_id))
    if a.dir:
        p += attr(A_DIR, struct.pack("=B", {"in": 1, "out": 2}[a.dir]))
    if a.natka is not None:
        p += attr(A_NATKA, struct.pack("=I", a.natka))
    x = Xfrm()
    err, _ = x.request(NEWSA, p)
    print(f"NEWSA {a.src} -> {a.dst} spi {a.spi} encap={a.encap} dir={a.dir} natka={a.natka} "
          f"mark={a.mark} if_id={a.if_id}: {x.why(err)}")
    return 1 if err else 0


def get_sa(dst, spi, mark=None):
    x = Xfrm()
    p = usersa_id(dst, spi)
    if mark:
        p += attr(A_MARK, struct.pack("=II", *mark))
    err, msgs = x.request(GETSA, p, F_REQUEST)
    return (decode_sa(msgs[0][1]) if msgs else None), x.why(err)


def cmd_natka_supported(a):
    x = Xfrm()
    p = usersa_info(a.src, a.dst, 0x9fff, 99)
    p += attr(A_AEAD, struct.pack("=64sII", b"rfc4106(gcm(aes))", 160, 128) + TEST_KEY)
    p += attr(A_ENCAP, struct.pack("=HHH2x16s", 2, socket.htons(4500), socket.htons(4500), b""))
    p += attr(A_DIR, b"\x02") + attr(A_NATKA, struct.pack("=I", 20))
    err, _ = x.request(NEWSA, p)
    if err:
        print("probe SA rejected:", x.why(err))
        return 1
    sa, _ = get_sa(a.dst, 0x9fff)
    x.request(DELSA, usersa_id(a.dst, 0x9fff))
    kept = bool(sa and sa["nat_keepalive_interval"] == 20)
    print("kernel keeps XFRMA_NAT_KEEPALIVE_INTERVAL:", "yes" if kept else "no (silently dropped)",
          "; attributes read back:", sa and sa["attrs"])
    return 0 if kept else 1


def cmd_expire(a):
    x = Xfrm()
    p = usersa_info(None, a.dst, int(a.spi, 0)) + struct.pack("=B7x", 1 if a.hard else 0)
    m = mark_arg(a.mark)
    if m:
        p += attr(A_MARK, struct.pack("=II", *m))
    err, _ = x.request(EXPIRE, p)
    print(f"EXPIRE dst {a.dst} spi {a.spi} hard={int(a.hard)}: {x.why(err)}")
    return 1 if err else 0


def cmd_encap_sockets(a):
    """One UDP_ENCAP_ESPINUDP socket on :4500 per NS:FAMILY, each created inside its netns."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    socks = []
    for spec in a.specs:
        ns, _, fam = spec.partition(":")
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        if libc.setns(fd, 0x40000000) != 0:                 # CLONE_NEWNET
            sys.exit(f"setns {ns}: {os.strerror(ctypes.get_errno())}")
        f = socket.AF_INET6 if fam == "6" else socket.AF_INET
        s = socket.socket(f, socket.SOCK_DGRAM)
        if f == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(("::" if f == socket.AF_INET6 else "0.0.0.0", 4500))
        s.setsockopt(socket.IPPROTO_UDP, 100, 2)             # UDP_ENCAP = UDP_ENCAP_ESPINUDP
        socks.append(s)
        os.close(fd)
    libc.setns(own, 0x40000000)
    print("ready", flush=True)
    while True:
        select.select(socks, [], [])
        for s in socks:
            try:
                s.recv(65535, socket.MSG_DONTWAIT)         # non-ESP datagrams (keepalives)
            except BlockingIOError:
                pass


# ---- recorder (prototype of ipsectop --record; same redaction) -------------
ALG_KEY_OFFSET = {1: 68, 2: 68, 3: 68, 18: 72, 20: 72}     # name[64] + key_len (+ icv/trunc len)
FIXED = {NEWSA: USERSA_INFO, UPDSA: USERSA_INFO, GETSA: USERSA_INFO, DELSA: USERSA_ID, EXPIRE: USER_EXPIRE}


def redact(dgram):
    b = bytearray(dgram)
    off = 0
    while off + 16 <= len(b):
        ln, t = struct.unpack_from("=IH", b, off)
        if ln < 16 or off + ln > len(b):
            b[off:] = bytes(len(b) - off)           # unframeable tail: wipe it
            break
        if t in FIXED:
            a, end = off + 16 + pad4(FIXED[t]), off + ln
            while a + 4 <= end:
                alen, at = struct.unpack_from("=HH", b, a)
                if alen < 4 or a + alen > end:
                    b[a:end] = bytes(end - a)
                    break
                k = ALG_KEY_OFFSET.get(at & 0x3FFF)
                if k is not None and a + 4 + k < a + alen:
                    b[a + 4 + k:a + alen] = bytes(a + alen - (a + 4 + k))
                a += pad4(alen)
        off += pad4(ln)
    return bytes(b)


def cmd_record(a):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    ev = Xfrm(groups=0xEF)                 # groups 1..8 (ACQUIRE .. MAPPING) but not 5 (AEVENTS), like ipsectop
    cmd = Xfrm()
    out = open(a.file, "w")

    def rec(kind, **kw):
        out.write(json.dumps(dict(t=round(time.time(), 6), kind=kind, **kw), separators=(",", ":")) + "\n")
        out.flush()

    out.write(json.dumps({"format": "ipsectop-recording", "version": 1,
                          "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "host": socket.gethostname(), "netns": a.netns or "",
                          "kernel": os.uname().release, "recorder": "Lab/guest/xfrmnl.py"},
                         separators=(",", ":")) + "\n")

    def dump():
        for what, t in (("sa", GETSA), ("policy", GETPOLICY)):
            cmd.request(t, b"", F_REQUEST | F_DUMP, raw_cb=lambda d, w=what: rec("dump", what=w, hex=redact(d).hex()))
        try:
            rec("proc", text=open("/proc/net/xfrm_stat").read())
        except OSError:
            pass
    print("recorder: listening", flush=True)
    dump()
    t_end = time.time() + a.duration if a.duration else None
    next_dump = time.time() + a.dump_interval if a.dump_interval else None
    while not stop:
        now = time.time()
        if t_end and now >= t_end:
            break
        if next_dump and now >= next_dump:
            dump()
            next_dump = now + a.dump_interval
        timeout = min([x for x in (t_end, next_dump) if x] or [now + 0.5]) - now
        try:
            r, _, _ = select.select([ev.s], [], [], max(0.0, min(timeout, 0.5)))
        except InterruptedError:
            continue
        if not r:
            continue
        try:
            data, (pid, groups) = ev.s.recvfrom(1 << 17)
        except OSError as e:
            if e.errno == 105:                       # ENOBUFS
                rec("enobufs")
                continue
            raise
        if pid != 0:
            continue
        g = (groups & -groups).bit_length()          # lowest set bit -> group number
        rec("event", group=g, hex=redact(data).hex())
    dump()
    out.close()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("add-sa")
    for n in ("src", "dst", "spi"):
        p.add_argument(n)
    p.add_argument("--reqid", type=int, default=0)
    p.add_argument("--mode", choices=("tunnel", "transport"), default="tunnel")
    p.add_argument("--encap")
    p.add_argument("--dir", choices=("in", "out"))
    p.add_argument("--natka", type=int)
    p.add_argument("--mark")
    p.add_argument("--if-id", type=int)
    p.add_argument("--replay-window", type=int, default=0)
    p.add_argument("--key")
    p = sub.add_parser("get-sa")
    p.add_argument("dst"); p.add_argument("spi"); p.add_argument("--mark")
    p = sub.add_parser("expire")
    p.add_argument("dst"); p.add_argument("spi"); p.add_argument("--hard", action="store_true"); p.add_argument("--mark")
    p = sub.add_parser("natka-supported")
    p.add_argument("src"); p.add_argument("dst")
    p = sub.add_parser("record")
    p.add_argument("file"); p.add_argument("--duration", type=float, default=0)
    p.add_argument("--dump-interval", type=float, default=0); p.add_argument("--netns", default="")
    p = sub.add_parser("encap-sockets")
    p.add_argument("specs", nargs="+", metavar="NS:4|6")
    a = ap.parse_args()
    if a.cmd == "encap-sockets":
        return cmd_encap_sockets(a)
    if a.cmd == "add-sa":
        return cmd_add_sa(a)
    if a.cmd == "get-sa":
        sa, why = get_sa(a.dst, int(a.spi, 0), mark_arg(a.mark))
        print(json.dumps(sa) if sa else f"GETSA: {why}")
        return 0 if sa else 1
    if a.cmd == "expire":
        return cmd_expire(a)
    if a.cmd == "natka-supported":
        return cmd_natka_supported(a)
    if a.cmd == "record":
        return cmd_record(a)


if __name__ == "__main__":
    sys.exit(main())
