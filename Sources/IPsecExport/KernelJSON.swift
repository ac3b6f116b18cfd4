import XFRMWire

/// JSON encodings of kernel objects. The schema is documented in docs/json.md;
/// fields are only ever added, never renamed.
public enum KernelJSON {
    /// A 64-bit limit: `null` when infinite (XFRM_INF).
    static func limit(_ w: inout JSONWriter, _ k: StaticString, _ v: UInt64) {
        w.key(k)
        if v == .max { w.null() } else { w.int(v) }
    }

    /// `k` (ISO 8601) and `kEpoch` (seconds): `null` both when the kernel says 0.
    static func time(_ w: inout JSONWriter, _ k: StaticString, _ kEpoch: StaticString, _ epoch: UInt64?) {
        if let e = epoch, e != 0 {
            w.member(k, iso8601(Double(e)))
            w.member(kEpoch, e)
        } else {
            w.member(k, nil as String?)
            w.member(kEpoch, nil as UInt64?)
        }
    }

    static func selector(_ w: inout JSONWriter, _ s: XFRMSelector) {
        w.beginObject()
        w.member("family", s.family.name)
        w.member("src", address: s.source, prefixLength: s.sourcePrefixLength)
        w.member("dst", address: s.destination, prefixLength: s.destinationPrefixLength)
        w.member("proto", s.upperProtocol)
        w.member("sport", s.sourcePortMask != 0 ? s.sourcePort : nil)
        w.member("dport", s.destinationPortMask != 0 ? s.destinationPort : nil)
        w.member("ifindex", s.ifindex)
        w.endObject()
    }

    static func algorithm(_ w: inout JSONWriter, _ k: StaticString, _ a: XFRMAlgorithm?, icvName: StaticString = "icv_bits") {
        w.key(k)
        guard let a else { w.null(); return }
        w.beginObject()
        w.member("name", a.name)
        w.member("key_bits", a.keyBits)
        if let icv = a.icvBits { w.member(icvName, icv) }
        w.endObject()
    }

    static func mark(_ w: inout JSONWriter, _ k: StaticString, _ m: XFRMMark?) {
        w.key(k)
        guard let m, !m.isZero else { w.null(); return }
        w.beginObject(); w.member("value", m.value); w.member("mask", m.mask); w.endObject()
    }

    static func lifetimeLimits(_ w: inout JSONWriter, _ l: XFRMLifetimeConfig) {
        w.key("limits")
        w.beginObject()
        limit(&w, "soft_bytes", l.softByteLimit)
        limit(&w, "hard_bytes", l.hardByteLimit)
        limit(&w, "soft_packets", l.softPacketLimit)
        limit(&w, "hard_packets", l.hardPacketLimit)
        w.member("soft_add_seconds", l.softAddExpiresSeconds)
        w.member("hard_add_seconds", l.hardAddExpiresSeconds)
        w.member("soft_use_seconds", l.softUseExpiresSeconds)
        w.member("hard_use_seconds", l.hardUseExpiresSeconds)
        w.endObject()
    }

    /// Members describing one SA (written into an already open object).
    public static func saMembers(_ w: inout JSONWriter, _ s: XFRMState) {
        let a = s.attributes
        w.member("family", s.family.name)
        w.member("src", address: s.source)
        w.member("dst", address: s.destination)
        w.member("proto", s.proto.description)
        w.member("spi", SAIdentity.hex(s.spi))
        w.member("mode", s.mode.description)
        w.member("reqid", s.reqid)
        w.member("dir", a.direction?.name)
        mark(&w, "mark", a.mark)
        w.member("if_id", a.ifID)
        w.member("larval", s.isLarval)
        w.key("encap")
        if let e = a.encapsulation {
            w.beginObject()
            w.member("type", e.type.description)
            w.member("sport", e.sourcePort)
            w.member("dport", e.destinationPort)
            w.member("oa", address: e.originalAddress)
            w.endObject()
        } else { w.null() }
        w.member("nat_keepalive_interval", a.natKeepaliveInterval)
        w.member("bytes", s.lifetimeCurrent.bytes)
        w.member("packets", s.lifetimeCurrent.packets)
        time(&w, "add_time", "add_time_epoch", s.lifetimeCurrent.addTime)
        time(&w, "first_use", "first_use_epoch", s.lifetimeCurrent.useTime)
        time(&w, "last_used", "last_used_epoch", a.lastUsed)
        lifetimeLimits(&w, s.lifetimeConfig)
        w.key("algorithms")
        w.beginObject()
        algorithm(&w, "aead", a.aead)
        algorithm(&w, "auth", a.auth)
        algorithm(&w, "auth_trunc", a.authTrunc, icvName: "trunc_bits")
        algorithm(&w, "crypt", a.crypt)
        algorithm(&w, "comp", a.comp)
        w.endObject()
        w.key("selector"); selector(&w, s.selector)
        w.member("replay_window", s.effectiveReplayWindow)
        w.key("replay")
        if let e = a.replayESN {
            w.beginObject()
            w.member("esn", true)
            w.member("oseq", e.outbound64)
            w.member("seq", e.inbound64)
            w.member("bitmap_words", e.bitmapLength)
            w.endObject()
        } else if let r = a.replay {
            w.beginObject()
            w.member("esn", false)
            w.member("oseq", r.outboundSequence)
            w.member("seq", r.inboundSequence)
            w.member("bitmap", r.bitmap)
            w.endObject()
        } else { w.null() }
        w.key("stats")
        w.beginObject()
        w.member("replay_window", s.stats.replayWindow)
        w.member("replay", s.stats.replay)
        w.member("integrity_failed", s.stats.integrityFailed)
        w.endObject()
        w.key("flags"); w.beginArray(); for f in s.flagNames { w.string(f) }; w.endArray()
        w.member("extra_flags", a.extraFlags)
        w.member("seq", s.seq)
        w.member("security_context", a.securityContext?.context)
        w.member("tfcpad", a.tfcPad)
        w.member("set_mark", a.setMark)
        w.member("set_mark_mask", a.setMarkMask)
        w.member("pcpu", a.perCPU)
        w.member("replay_threshold", a.replayThreshold)
        w.member("etimer_threshold", a.etimerThreshold)
        w.member("mtimer_threshold", a.mtimerThreshold)
        w.member("coaddr", a.careOfAddress?.description)
        w.key("offload")
        if let o = a.offload {
            w.beginObject(); w.member("ifindex", o.ifindex); w.member("flags", o.flags); w.endObject()
        } else { w.null() }
        if !a.unknown.isEmpty {
            w.key("unknown_attributes"); w.beginArray(); for u in a.unknown { w.int(u.type) }; w.endArray()
        }
    }

    /// The `sad` and `spd` members of a snapshot (`null` when not read).
    public static func counts(_ w: inout JSONWriter, sad: XFRMSADInfo?, spd: XFRMSPDInfo?) {
        w.key("sad")
        if let sad {
            w.beginObject()
            w.member("count", sad.count)
            w.member("hash_buckets", sad.hashCount)
            w.member("hash_max", sad.hashMax)
            w.endObject()
        } else { w.null() }
        w.key("spd")
        if let spd {
            w.beginObject()
            w.member("in", spd.inbound); w.member("out", spd.outbound); w.member("fwd", spd.forward)
            w.member("in_socket", spd.inboundSocket); w.member("out_socket", spd.outboundSocket)
            w.member("fwd_socket", spd.forwardSocket)
            w.member("hash_buckets", spd.hashCount); w.member("hash_max", spd.hashMax)
            w.endObject()
        } else { w.null() }
    }

    public static func sa(_ w: inout JSONWriter, _ s: XFRMState) {
        w.beginObject(); saMembers(&w, s); w.endObject()
    }

    static func template(_ w: inout JSONWriter, _ t: XFRMTemplate) {
        w.beginObject()
        w.member("family", t.family.name)
        w.member("src", address: t.source)
        w.member("dst", address: t.destination)
        w.member("proto", t.proto.description)
        w.member("spi", SAIdentity.hex(t.spi))
        w.member("reqid", t.reqid)
        w.member("mode", t.mode.description)
        w.member("optional", t.optional)
        w.member("share", t.share)
        w.endObject()
    }

    public static func policyMembers(_ w: inout JSONWriter, _ p: XFRMPolicy) {
        w.member("dir", p.direction.description)
        w.member("index", p.index)
        w.member("priority", p.priority)
        w.member("action", p.actionName)
        w.member("type", (p.attributes.policyType ?? 0) == 0 ? "main" : "sub")
        w.key("selector"); selector(&w, p.selector)
        mark(&w, "mark", p.attributes.mark)
        w.member("if_id", p.attributes.ifID)
        w.member("flags", p.flags)
        w.member("share", p.share)
        w.key("templates"); w.beginArray(); for t in p.attributes.templates { template(&w, t) }; w.endArray()
        w.member("security_context", p.attributes.securityContext?.context)
        w.member("bytes", p.lifetimeCurrent.bytes)
        w.member("packets", p.lifetimeCurrent.packets)
        time(&w, "add_time", "add_time_epoch", p.lifetimeCurrent.addTime)
        time(&w, "use_time", "use_time_epoch", p.lifetimeCurrent.useTime)
        lifetimeLimits(&w, p.lifetimeConfig)
    }

    public static func policy(_ w: inout JSONWriter, _ p: XFRMPolicy) {
        w.beginObject(); policyMembers(&w, p); w.endObject()
    }

    static func identity(_ w: inout JSONWriter, _ id: SAIdentity) {
        w.member("family", id.family.name)
        w.member("dst", id.destination.description)
        w.member("proto", id.proto.description)
        w.member("spi", SAIdentity.hex(id.spi))
        mark(&w, "mark", id.mark)
    }

    /// One NDJSON event object (without trailing newline) for a kernel message.
    public static func event(_ w: inout JSONWriter, _ m: XFRMMessage, time t: Double, group: UInt32,
                             extra: ((inout JSONWriter) -> Void)? = nil) {
        w.beginObject()
        w.member("time", iso8601Milliseconds(t))
        w.member("epoch", double: t, decimals: 6)
        w.member("type", m.kindName)
        let groupName = XFRMGroup.allCases.first { group & $0.bindMask != 0 }.map { "\($0)" }
        w.member("group", groupName)
        switch m {
        case .newSA(let s), .updateSA(let s):
            w.key("sa"); sa(&w, s)
        case .deleteSA(let id, let src, let s):
            identity(&w, id)
            w.member("src", src?.description)
            if let s { w.key("sa"); sa(&w, s) }
        case .expire(let s, let hard):
            w.member("hard", hard)
            w.key("sa"); sa(&w, s)
        case .acquire(let a):
            w.member("src", a.source.description)
            w.member("dst", a.destination.description)
            w.member("proto", a.proto.description)
            w.member("seq", a.seq)
            w.key("selector"); selector(&w, a.selector)
            w.key("policy"); policy(&w, a.policy)
            w.key("templates"); w.beginArray(); for t in a.attributes.templates { template(&w, t) }; w.endArray()
        case .newPolicy(let p), .updatePolicy(let p):
            w.key("policy"); policy(&w, p)
        case .deletePolicy(let id, let p, _):
            w.member("dir", id.direction.description)
            w.member("index", id.index)
            w.key("selector"); selector(&w, id.selector)
            if let p { w.key("policy"); policy(&w, p) }
        case .policyExpire(let p, let hard):
            w.member("hard", hard)
            w.key("policy"); policy(&w, p)
        case .flushSA(let proto):
            w.member("proto", proto.rawValue == 0 ? "all" : proto.description)
        case .flushPolicy(let type):
            w.member("policy_type", type.map { $0 == 0 ? "main" : "sub" })
        case .asyncEvent(let ae):
            identity(&w, ae.identity)
            w.member("reqid", ae.reqid)
            w.member("flags", ae.flags)
            w.member("bytes", ae.attributes.lifetimeValue?.bytes)
            w.member("packets", ae.attributes.lifetimeValue?.packets)
        case .report(let proto, let sel, let coaddr):
            w.member("proto", proto.description)
            w.key("selector"); selector(&w, sel)
            w.member("coaddr", coaddr?.description)
        case .mapping(let mp):
            identity(&w, mp.identity)
            w.member("reqid", mp.reqid)
            w.member("old_src", mp.oldSource.description)
            w.member("old_sport", mp.oldSourcePort)
            w.member("new_src", mp.newSource.description)
            w.member("new_sport", mp.newSourcePort)
        case .migrate(let id, let attrs):
            w.member("dir", id.direction.description)
            w.key("selector"); selector(&w, id.selector)
            w.key("migrations"); w.beginArray()
            for mg in attrs.migrations {
                w.beginObject()
                w.member("proto", mg.proto.description)
                w.member("mode", mg.mode.description)
                w.member("reqid", mg.reqid)
                w.member("old_src", mg.oldSource.description); w.member("old_dst", mg.oldDestination.description)
                w.member("new_src", mg.newSource.description); w.member("new_dst", mg.newDestination.description)
                w.endObject()
            }
            w.endArray()
        case .sadInfo(let i):
            w.member("count", i.count)
        case .spdInfo(let i):
            w.member("in", i.inbound); w.member("out", i.outbound); w.member("fwd", i.forward)
        case .defaultPolicy(let d):
            w.member("in", d.inbound); w.member("fwd", d.forward); w.member("out", d.outbound)
        case .error(let e):
            w.member("errno", e.errno)
            w.member("message", e.message)
        case .done(let e):
            w.member("errno", e)
        case .unknown(let type, let payload):
            w.member("raw_type", type)
            w.member("length", payload.count)
        }
        extra?(&w)
        w.endObject()
    }
}
