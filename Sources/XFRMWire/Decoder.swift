import CXFRM
import Glibc

/// Decodes NETLINK_XFRM datagrams into typed messages. Pure: no I/O, no traps.
public enum XFRMDecoder {
    /// Walks every message in a datagram (a dump datagram may end with NLMSG_DONE).
    public static func decodeDatagram(_ bytes: UnsafeRawBufferPointer) -> DecodedDatagram {
        var out: [DecodedMessage] = []
        out.reserveCapacity(messageCount(bytes))
        var context = XFRMDecoder.Context()
        let framingError = forEachMessage(in: bytes) { header, payload in
            // Appended where decoded: no intermediate copy of the (large) message.
            do throws(WireError) {
                out.append(DecodedMessage(header: header, body: .success(
                    try decodeBody(type: header.type, flags: header.flags, payload: payload, context: &context))))
            } catch {
                out.append(DecodedMessage(header: header, body: .failure(error)))
            }
        }
        return DecodedDatagram(messages: out, framingError: framingError)
    }

    /// Frames the messages of a datagram: `body` receives each header and payload, in order.
    /// Returns the framing error that stopped the walk, if any (the messages before it were delivered).
    @inline(__always)
    public static func forEachMessage<E: Error>(in bytes: UnsafeRawBufferPointer,
                                                _ body: (NetlinkHeader, UnsafeRawBufferPointer) throws(E) -> Void) throws(E) -> WireError? {
        var offset = 0
        while offset < bytes.count {
            let left = bytes.count - offset
            guard left >= NetlinkHeader.size else { return .truncatedHeader(available: left) }
            let header = NetlinkHeader(
                length: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self),
                type: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self),
                flags: bytes.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self),
                sequence: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self),
                portID: bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            guard header.length >= UInt32(NetlinkHeader.size) else { return .truncatedHeader(available: Int(header.length)) }
            guard Int(header.length) <= left else {
                return .messageLengthPastEnd(declared: header.length, available: left)
            }
            try body(header, UnsafeRawBufferPointer(rebasing: bytes[(offset + NetlinkHeader.size)..<(offset + Int(header.length))]))
            offset += Int(ipsectop_nlmsg_align(header.length))
        }
        return nil
    }

    /// Number of messages `forEachMessage` will deliver (a framing pass without decoding).
    static func messageCount(_ bytes: UnsafeRawBufferPointer) -> Int {
        var n = 0, offset = 0
        while bytes.count - offset >= NetlinkHeader.size {
            let length = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            guard length >= UInt32(NetlinkHeader.size), Int(length) <= bytes.count - offset else { break }
            n += 1
            offset += Int(ipsectop_nlmsg_align(length))
        }
        return n
    }

    /// Convenience for byte arrays.
    public static func decodeDatagram(_ bytes: [UInt8]) -> DecodedDatagram {
        bytes.withUnsafeBytes { decodeDatagram($0) }
    }

    // MARK: - Bodies

    static func need<T>(_ t: T.Type, _ p: UnsafeRawBufferPointer, type: UInt16) throws(WireError) -> T {
        let size = MemoryLayout<T>.size
        guard p.count >= size else { throw .truncatedPayload(type: type, needed: size, available: p.count) }
        return p.loadUnaligned(as: T.self)
    }

    static func rest(_ p: UnsafeRawBufferPointer, after size: Int) -> UnsafeRawBufferPointer {
        let start = min(p.count, Int(ipsectop_nlmsg_align(UInt32(size))))
        return UnsafeRawBufferPointer(rebasing: p[start...])
    }

    /// Decodes one message body (what `decodeDatagram` does for each message).
    public static func decodeBody(type: UInt16, flags: UInt16, payload p: UnsafeRawBufferPointer) throws(WireError) -> XFRMMessage {
        var context = XFRMDecoder.Context()
        return try decodeBody(type: type, flags: flags, payload: p, context: &context)
    }

    /// Decodes one message body, sharing `context` with the other messages of a run.
    public static func decodeBody(type: UInt16, flags: UInt16, payload p: UnsafeRawBufferPointer,
                                  context: inout Context) throws(WireError) -> XFRMMessage {
        guard let kind = XFRMMessageType(rawValue: type) else {
            return .unknown(type: type, payload: Array(p))
        }
        switch kind {
        case .newSA, .updSA:
            let st = try decodeState(payload: p, type: type, context: &context)
            return kind == .newSA ? .newSA(st) : .updateSA(st)
        case .delSA:
            let id = try need(xfrm_usersa_id.self, p, type: type)
            let family = AddressFamily(kernel: id.family)
            let r = rest(p, after: MemoryLayout<xfrm_usersa_id>.size)
            var full: XFRMState?
            var builder = AttributeBuilder()
            var saBody: xfrm_usersa_info?
            try walkAttributes(r) { (t, a) throws(WireError) in
                if t == XFRMAttributeType.sa.rawValue {
                    saBody = try attrStruct(xfrm_usersa_info.self, a, type: t)
                } else {
                    try applyAttribute(t, a, to: &builder, context: &context)
                }
            }
            let attrs = builder.finish(&context)
            if let info = saBody { full = state(info, attrs) }
            let ident = SAIdentity(family: family, destination: address(id.daddr, family), spi: UInt32(bigEndian: id.spi),
                                   proto: IPsecProtocol(rawValue: id.proto), mark: attrs.mark ?? full?.attributes.mark)
            return .deleteSA(ident, source: attrs.sourceAddress ?? full?.source, state: full)
        case .expire:
            let ue = try need(xfrm_user_expire.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_user_expire>.size), context: &context)
            return .expire(state(ue.state, attrs), hard: ue.hard != 0)
        case .acquire:
            let a = try need(xfrm_user_acquire.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_user_acquire>.size), context: &context)
            let fam = AddressFamily(kernel: a.policy.sel.family)
            let sel = selector(a.sel)
            let pol = policy(a.policy, XFRMAttributes())
            let famID = sel.family == .unspecified ? fam : sel.family
            return .acquire(XFRMAcquire(destination: address(a.id.daddr, famID), spi: UInt32(bigEndian: a.id.spi),
                                        proto: IPsecProtocol(rawValue: a.id.proto), source: address(a.saddr, famID),
                                        selector: sel, policy: pol, authAlgorithms: a.aalgos,
                                        encryptionAlgorithms: a.ealgos, compressionAlgorithms: a.calgos, seq: a.seq,
                                        attributes: attrs))
        case .newPolicy, .updPolicy:
            let pol = try decodePolicy(payload: p, type: type, context: &context)
            return kind == .newPolicy ? .newPolicy(pol) : .updatePolicy(pol)
        case .delPolicy:
            let id = try need(xfrm_userpolicy_id.self, p, type: type)
            var builder = AttributeBuilder()
            var body: xfrm_userpolicy_info?
            try walkAttributes(rest(p, after: MemoryLayout<xfrm_userpolicy_id>.size)) { (t, a) throws(WireError) in
                if t == XFRMAttributeType.policy.rawValue {
                    body = try attrStruct(xfrm_userpolicy_info.self, a, type: t)
                } else {
                    try applyAttribute(t, a, to: &builder, context: &context)
                }
            }
            let attrs = builder.finish(&context)
            let pid = XFRMPolicyID(selector: selector(id.sel), index: id.index, direction: PolicyDirection(rawValue: id.dir))
            return .deletePolicy(pid, policy: body.map { policy($0, attrs) }, attributes: attrs)
        case .polExpire:
            let pe = try need(xfrm_user_polexpire.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_user_polexpire>.size), context: &context)
            return .policyExpire(policy(pe.pol, attrs), hard: pe.hard != 0)
        case .flushSA:
            let f = try need(xfrm_usersa_flush.self, p, type: type)
            return .flushSA(IPsecProtocol(rawValue: f.proto))
        case .flushPolicy:
            let attrs = try parseAttributes(p, context: &context)
            return .flushPolicy(type: attrs.policyType)
        case .newAE, .getAE:
            let ae = try need(xfrm_aevent_id.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_aevent_id>.size), context: &context)
            let fam = AddressFamily(kernel: ae.sa_id.family)
            let ident = SAIdentity(family: fam, destination: address(ae.sa_id.daddr, fam),
                                   spi: UInt32(bigEndian: ae.sa_id.spi), proto: IPsecProtocol(rawValue: ae.sa_id.proto),
                                   mark: attrs.mark)
            return .asyncEvent(XFRMAsyncEvent(identity: ident, source: address(ae.saddr, fam), flags: ae.flags,
                                              reqid: ae.reqid, attributes: attrs))
        case .report:
            let r = try need(xfrm_user_report.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_user_report>.size), context: &context)
            return .report(proto: IPsecProtocol(rawValue: r.proto), selector: selector(r.sel),
                           careOfAddress: attrs.careOfAddress)
        case .mapping:
            let m = try need(xfrm_user_mapping.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_user_mapping>.size), context: &context)
            let fam = AddressFamily(kernel: m.id.family)
            let ident = SAIdentity(family: fam, destination: address(m.id.daddr, fam), spi: UInt32(bigEndian: m.id.spi),
                                   proto: IPsecProtocol(rawValue: m.id.proto), mark: attrs.mark)
            return .mapping(XFRMMapping(identity: ident, reqid: m.reqid, oldSource: address(m.old_saddr, fam),
                                        newSource: address(m.new_saddr, fam), oldSourcePort: UInt16(bigEndian: m.old_sport),
                                        newSourcePort: UInt16(bigEndian: m.new_sport)))
        case .migrate:
            let id = try need(xfrm_userpolicy_id.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_userpolicy_id>.size), context: &context)
            return .migrate(XFRMPolicyID(selector: selector(id.sel), index: id.index,
                                         direction: PolicyDirection(rawValue: id.dir)), attributes: attrs)
        case .newSADInfo:
            guard p.count >= 4 else { throw .truncatedPayload(type: type, needed: 4, available: p.count) }
            var info = XFRMSADInfo()
            try walkAttributes(rest(p, after: 4)) { (t, a) throws(WireError) in
                switch t {
                case 1: info.count = try attrStruct(UInt32.self, a, type: t)
                case 2:
                    let h = try attrStruct(xfrmu_sadhinfo.self, a, type: t)
                    info.hashCount = h.sadhcnt; info.hashMax = h.sadhmcnt
                default: break
                }
            }
            return .sadInfo(info)
        case .newSPDInfo:
            guard p.count >= 4 else { throw .truncatedPayload(type: type, needed: 4, available: p.count) }
            var info = XFRMSPDInfo()
            try walkAttributes(rest(p, after: 4)) { (t, a) throws(WireError) in
                switch t {
                case 1:
                    let s = try attrStruct(xfrmu_spdinfo.self, a, type: t)
                    info.inbound = s.incnt; info.outbound = s.outcnt; info.forward = s.fwdcnt
                    info.inboundSocket = s.inscnt; info.outboundSocket = s.outscnt; info.forwardSocket = s.fwdscnt
                case 2:
                    let h = try attrStruct(xfrmu_spdhinfo.self, a, type: t)
                    info.hashCount = h.spdhcnt; info.hashMax = h.spdhmcnt
                case 3:
                    let th = try attrStruct(xfrmu_spdhthresh.self, a, type: t)
                    info.ipv4Threshold = (th.lbits, th.rbits)
                case 4:
                    let th = try attrStruct(xfrmu_spdhthresh.self, a, type: t)
                    info.ipv6Threshold = (th.lbits, th.rbits)
                default: break
                }
            }
            return .spdInfo(info)
        case .getDefault, .setDefault:
            let d = try need(xfrm_userpolicy_default.self, p, type: type)
            return .defaultPolicy(XFRMDefaultPolicy(inbound: d.in, forward: d.fwd, outbound: d.out))
        case .error:
            return .error(try decodeError(flags: flags, payload: p))
        case .done:
            let e: Int32 = p.count >= 4 ? p.loadUnaligned(as: Int32.self) : 0
            return .done(errno: positiveErrno(e))
        case .noop, .overrun, .getSA, .getPolicy, .allocSPI, .getSADInfo, .getSPDInfo:
            return .unknown(type: type, payload: Array(p))
        }
    }

    static func decodeError(flags: UInt16, payload p: UnsafeRawBufferPointer) throws(WireError) -> NetlinkError {
        let base = Int(ipsectop_sizeof_nlmsgerr())
        guard p.count >= base else {
            throw .truncatedPayload(type: XFRMMessageType.error.rawValue, needed: base, available: p.count)
        }
        let code = p.loadUnaligned(as: Int32.self)
        let reqLen = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let reqType = p.loadUnaligned(fromByteOffset: 8, as: UInt16.self)
        let reqSeq = p.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
        var err = NetlinkError(errno: positiveErrno(code), requestType: reqType, requestSequence: reqSeq,
                               message: nil, offset: nil)
        if flags & NetlinkFlags.ackTLVs != 0 {
            // Without NLM_F_CAPPED the request's payload is echoed after the header.
            var tlvStart = base
            if flags & NetlinkFlags.capped == 0 && code != 0 {
                tlvStart = 4 + Int(ipsectop_nlmsg_align(reqLen))
            }
            guard tlvStart <= p.count else { return err }
            try walkAttributes(UnsafeRawBufferPointer(rebasing: p[tlvStart...])) { (t, a) throws(WireError) in
                switch t {
                case 1: err.message = cString(a, max: a.count)
                case 2: if a.count >= 4 { err.offset = a.loadUnaligned(as: UInt32.self) }
                default: break
                }
            }
        }
        return err
    }

    /// Netlink carries errors as negative errno; garbage may hold Int32.min, which has no negation.
    static func positiveErrno(_ v: Int32) -> Int32 { v == .min ? .max : (v < 0 ? -v : v) }

    // MARK: - Attributes

    /// Walks netlink attributes; `body` receives the type (flags masked off) and payload.
    static func walkAttributes(_ p: UnsafeRawBufferPointer,
                               _ body: (UInt16, UnsafeRawBufferPointer) throws(WireError) -> Void) throws(WireError) {
        var off = 0
        while off + 4 <= p.count {
            let len = p.loadUnaligned(fromByteOffset: off, as: UInt16.self)
            let rawType = p.loadUnaligned(fromByteOffset: off + 2, as: UInt16.self)
            let t = rawType & ipsectop_nla_type_mask()
            guard len >= 4, off + Int(len) <= p.count else {
                throw .badAttributeLength(type: t, length: len, available: p.count - off)
            }
            try body(t, UnsafeRawBufferPointer(rebasing: p[(off + 4)..<(off + Int(len))]))
            off += Int(ipsectop_nla_align(UInt32(len)))
        }
        // 1-3 trailing bytes cannot hold an attribute header: garbage.
        if off < p.count {
            throw .badAttributeLength(type: 0, length: UInt16(p.count - off), available: p.count - off)
        }
    }

    static func attrStruct<T>(_ t: T.Type, _ a: UnsafeRawBufferPointer, type: UInt16) throws(WireError) -> T {
        let size = MemoryLayout<T>.size
        guard a.count >= size else { throw .truncatedAttribute(type: type, needed: size, available: a.count) }
        return a.loadUnaligned(as: T.self)
    }

    /// XFRMA_REPLAY_VAL.
    static func replayState(_ a: UnsafeRawBufferPointer, type t: UInt16) throws(WireError) -> XFRMReplayState {
        let r = try attrStruct(xfrm_replay_state.self, a, type: t)
        return XFRMReplayState(outboundSequence: r.oseq, inboundSequence: r.seq, bitmap: r.bitmap)
    }

    /// XFRMA_REPLAY_ESN_VAL: the fixed part, and a bitmap that fits the attribute (at most 4096 words).
    static func replayStateESN(_ a: UnsafeRawBufferPointer, type t: UInt16) throws(WireError) -> XFRMReplayStateESN {
        let r = try attrStruct(xfrm_replay_state_esn.self, a, type: t)
        let need = Int(ipsectop_sizeof_replay_esn()) + 4 * Int(min(r.bmp_len, 4096))
        guard a.count >= need, r.bmp_len <= 4096 else {
            throw .truncatedAttribute(type: t, needed: need, available: a.count)
        }
        return XFRMReplayStateESN(bitmapLength: r.bmp_len, outboundSequence: r.oseq, inboundSequence: r.seq,
                                  outboundSequenceHigh: r.oseq_hi, inboundSequenceHigh: r.seq_hi,
                                  replayWindow: r.replay_window)
    }

    /// XFRMA_MARK.
    static func mark(_ a: UnsafeRawBufferPointer, type t: UInt16) throws(WireError) -> XFRMMark {
        let m = try attrStruct(xfrm_mark.self, a, type: t)
        return XFRMMark(value: m.v, mask: m.m)
    }

    /// Parses all attributes of a message into an `XFRMAttributes`.
    public static func parseAttributes(_ p: UnsafeRawBufferPointer) throws(WireError) -> XFRMAttributes {
        var context = XFRMDecoder.Context()
        return try parseAttributes(p, context: &context)
    }

    static func parseAttributes(_ p: UnsafeRawBufferPointer, context: inout XFRMDecoder.Context) throws(WireError) -> XFRMAttributes {
        var builder = AttributeBuilder()
        try walkAttributes(p) { (t, a) throws(WireError) in try applyAttribute(t, a, to: &builder, context: &context) }
        return builder.finish(&context)
    }

    /// Decodes a NEWSA/UPDSA body (`xfrm_usersa_info` and attributes) straight into an `XFRMState`,
    /// as `decodeBody` does for those types (dumps use it to skip the `XFRMMessage` wrapping).
    public static func decodeState(payload p: UnsafeRawBufferPointer, context: inout Context) throws(WireError) -> XFRMState {
        try decodeState(payload: p, type: XFRMMessageType.newSA.rawValue, context: &context)
    }

    /// Decodes a NEWPOLICY/UPDPOLICY body straight into an `XFRMPolicy`, as `decodeBody` does for those types.
    public static func decodePolicy(payload p: UnsafeRawBufferPointer, context: inout Context) throws(WireError) -> XFRMPolicy {
        try decodePolicy(payload: p, type: XFRMMessageType.newPolicy.rawValue, context: &context)
    }

    static func decodeState(payload p: UnsafeRawBufferPointer, type: UInt16,
                            context: inout XFRMDecoder.Context) throws(WireError) -> XFRMState {
        let info = try need(xfrm_usersa_info.self, p, type: type)
        let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_usersa_info>.size), context: &context)
        return state(info, attrs)
    }

    /// Decodes a NEWPOLICY/UPDPOLICY body (`xfrm_userpolicy_info` and attributes).
    static func decodePolicy(payload p: UnsafeRawBufferPointer, type: UInt16,
                             context: inout XFRMDecoder.Context) throws(WireError) -> XFRMPolicy {
        let info = try need(xfrm_userpolicy_info.self, p, type: type)
        let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_userpolicy_info>.size), context: &context)
        return policy(info, attrs)
    }

    /// What the attributes of one message decode to, before the boxes are made.
    struct AttributeBuilder {
        var attrs = XFRMAttributes()
        var algorithms = XFRMAlgorithmSet()
        var hasAlgorithms = false
        /// Made on the first rare attribute only (most messages have none).
        var rareValues: XFRMRareAttributes?
        var rare: XFRMRareAttributes {
            get { rareValues ?? XFRMRareAttributes() }
            set { rareValues = newValue }
        }

        /// The final value: the algorithm box is shared with the previous message when equal.
        mutating func finish(_ context: inout XFRMDecoder.Context) -> XFRMAttributes {
            if hasAlgorithms {
                if let last = context.lastAlgorithms, last.value == algorithms {
                    attrs.algorithmBox = last
                } else {
                    let box = ValueBox(algorithms)
                    context.lastAlgorithms = box
                    attrs.algorithmBox = box
                }
            }
            if let r = rareValues, !r.isEmpty { attrs.rareBox = ValueBox(r) }
            return attrs
        }
    }

    static func applyAttribute(_ t: UInt16, _ a: UnsafeRawBufferPointer, to b: inout AttributeBuilder,
                               context: inout XFRMDecoder.Context) throws(WireError) {
        guard let kind = XFRMAttributeType(rawValue: t) else {
            b.rare.unknown.append(XFRMUnknownAttribute(type: t, payload: Array(a)))
            return
        }
        switch kind {
        case .algAuth:
            b.algorithms.auth = try algorithm(a, type: t, extra: false, context: &context); b.hasAlgorithms = true
        case .algCrypt:
            b.algorithms.crypt = try algorithm(a, type: t, extra: false, context: &context); b.hasAlgorithms = true
        case .algComp:
            b.algorithms.comp = try algorithm(a, type: t, extra: false, context: &context); b.hasAlgorithms = true
        case .algAEAD:
            b.algorithms.aead = try algorithm(a, type: t, extra: true, context: &context); b.hasAlgorithms = true
        case .algAuthTrunc:
            b.algorithms.authTrunc = try algorithm(a, type: t, extra: true, context: &context); b.hasAlgorithms = true
        case .encap:
            let e = try attrStruct(xfrm_encap_tmpl.self, a, type: t)
            // The original address carries no family of its own: IPv4 when the upper 12 bytes are zero.
            b.attrs.encapsulation = XFRMEncapsulation(
                type: EncapsulationType(rawValue: e.encap_type), sourcePort: UInt16(bigEndian: e.encap_sport),
                destinationPort: UInt16(bigEndian: e.encap_dport), originalAddress: guessedAddress(e.encap_oa))
        case .template:
            let size = MemoryLayout<xfrm_user_tmpl>.size
            guard a.count % size == 0 else { throw .truncatedAttribute(type: t, needed: size, available: a.count % size) }
            b.attrs.templates.reserveCapacity(b.attrs.templates.count + a.count / size)
            var i = 0
            while i + size <= a.count {
                let tm = a.loadUnaligned(fromByteOffset: i, as: xfrm_user_tmpl.self)
                let fam = AddressFamily(kernel: tm.family)
                b.attrs.templates.append(XFRMTemplate(
                    destination: address(tm.id.daddr, fam), spi: UInt32(bigEndian: tm.id.spi),
                    proto: IPsecProtocol(rawValue: tm.id.proto), family: fam, source: address(tm.saddr, fam),
                    reqid: tm.reqid, mode: XFRMMode(rawValue: tm.mode), share: tm.share, optional: tm.optional != 0,
                    authAlgorithms: tm.aalgos, encryptionAlgorithms: tm.ealgos, compressionAlgorithms: tm.calgos))
                i += size
            }
        case .sa, .policy:
            // Only meaningful inside DELSA/DELPOLICY, which handle them; keep elsewhere.
            b.rare.unknown.append(XFRMUnknownAttribute(type: t, payload: []))
        case .securityContext:
            let hdr = Int(ipsectop_sizeof_user_sec_ctx())
            guard a.count >= hdr else { throw .truncatedAttribute(type: t, needed: hdr, available: a.count) }
            let c = a.loadUnaligned(as: xfrm_user_sec_ctx.self)
            let len = min(Int(c.ctx_len), a.count - hdr)
            b.rare.securityContext = XFRMSecurityContext(
                doi: c.ctx_doi, algorithm: c.ctx_alg,
                context: cString(UnsafeRawBufferPointer(rebasing: a[hdr..<(hdr + len)]), max: len))
        case .lifetimeValue:
            b.rare.lifetimeValue = lifetimeCurrent(try attrStruct(xfrm_lifetime_cur.self, a, type: t))
        case .replayValue: b.attrs.replay = try replayState(a, type: t)
        case .replayESNValue: b.attrs.replayESN = try replayStateESN(a, type: t)
        case .replayThreshold: b.rare.replayThreshold = try attrStruct(UInt32.self, a, type: t)
        case .etimerThreshold: b.rare.etimerThreshold = try attrStruct(UInt32.self, a, type: t)
        case .sourceAddress: b.rare.sourceAddress = try rawAddress(a, type: t)
        case .careOfAddress: b.rare.careOfAddress = try rawAddress(a, type: t)
        case .lastUsed: b.attrs.lastUsed = try attrStruct(UInt64.self, a, type: t)
        case .policyType: b.attrs.policyType = try attrStruct(xfrm_userpolicy_type.self, a, type: t).type
        case .mark: b.attrs.mark = try mark(a, type: t)
        case .tfcPad: b.rare.tfcPad = try attrStruct(UInt32.self, a, type: t)
        case .saExtraFlags: b.attrs.extraFlags = try attrStruct(UInt32.self, a, type: t)
        case .offloadDevice:
            let o = try attrStruct(xfrm_user_offload.self, a, type: t)
            b.rare.offload = XFRMOffload(ifindex: o.ifindex, flags: o.flags)
        case .setMark: b.rare.setMark = try attrStruct(UInt32.self, a, type: t)
        case .setMarkMask: b.rare.setMarkMask = try attrStruct(UInt32.self, a, type: t)
        case .ifID: b.attrs.ifID = try attrStruct(UInt32.self, a, type: t)
        case .mtimerThreshold: b.rare.mtimerThreshold = try attrStruct(UInt32.self, a, type: t)
        case .saDirection:
            let v = try attrStruct(UInt8.self, a, type: t)
            b.attrs.direction = SADirection(rawValue: v)
            if b.attrs.direction == nil { b.rare.rawDirection = v }
        case .natKeepaliveInterval: b.attrs.natKeepaliveInterval = try attrStruct(UInt32.self, a, type: t)
        case .saPerCPU: b.rare.perCPU = try attrStruct(UInt32.self, a, type: t)
        case .iptfsDropTime:
            var i = b.rare.iptfs ?? XFRMIPTFS(); i.dropTimeMicroseconds = try attrStruct(UInt32.self, a, type: t)
            b.rare.iptfs = i
        case .iptfsReorderWindow:
            var i = b.rare.iptfs ?? XFRMIPTFS(); i.reorderWindow = try attrStruct(UInt16.self, a, type: t)
            b.rare.iptfs = i
        case .iptfsDontFragment:
            var i = b.rare.iptfs ?? XFRMIPTFS(); i.dontFragment = true
            b.rare.iptfs = i
        case .iptfsInitialDelay:
            var i = b.rare.iptfs ?? XFRMIPTFS(); i.initialDelayMicroseconds = try attrStruct(UInt32.self, a, type: t)
            b.rare.iptfs = i
        case .iptfsMaxQueueSize:
            var i = b.rare.iptfs ?? XFRMIPTFS(); i.maxQueueSize = try attrStruct(UInt32.self, a, type: t)
            b.rare.iptfs = i
        case .iptfsPacketSize:
            var i = b.rare.iptfs ?? XFRMIPTFS(); i.packetSize = try attrStruct(UInt32.self, a, type: t)
            b.rare.iptfs = i
        case .migrate:
            let size = MemoryLayout<xfrm_user_migrate>.size
            var i = 0
            while i + size <= a.count {
                let m = a.loadUnaligned(fromByteOffset: i, as: xfrm_user_migrate.self)
                let of = AddressFamily(kernel: m.old_family), nf = AddressFamily(kernel: m.new_family)
                b.rare.migrations.append(XFRMMigration(
                    oldDestination: address(m.old_daddr, of), oldSource: address(m.old_saddr, of),
                    newDestination: address(m.new_daddr, nf), newSource: address(m.new_saddr, nf),
                    proto: IPsecProtocol(rawValue: m.proto), mode: XFRMMode(rawValue: m.mode), reqid: m.reqid,
                    oldFamily: of, newFamily: nf))
                    i += size
            }
            if i != a.count { throw .truncatedAttribute(type: t, needed: size, available: a.count - i) }
        case .kmAddress:
            let k = try attrStruct(xfrm_user_kmaddress.self, a, type: t)
            let f = AddressFamily(kernel: k.family)
            b.rare.kmAddress = XFRMKMAddress(local: address(k.local, f), remote: address(k.remote, f), family: f)
        case .proto, .addressFilter, .pad:
            break
        }
    }

    /// Reads name and lengths of an algorithm attribute; the key that follows is never read.
    static func algorithm(_ a: UnsafeRawBufferPointer, type: UInt16, extra: Bool,
                          context: inout XFRMDecoder.Context) throws(WireError) -> XFRMAlgorithm {
        let size = Int(extra ? ipsectop_sizeof_algo_aead() : ipsectop_sizeof_algo())
        guard a.count >= size else { throw .truncatedAttribute(type: type, needed: size, available: a.count) }
        let name = context.algorithmName(UnsafeRawBufferPointer(rebasing: a[0..<64]))
        // alg_key_len follows the 64-byte name; alg_icv_len (AEAD) / alg_trunc_len (AUTH_TRUNC) follows it.
        let keyBits = a.loadUnaligned(fromByteOffset: 64, as: UInt32.self)
        if extra {
            return XFRMAlgorithm(name: name, keyBits: keyBits, icvBits: a.loadUnaligned(fromByteOffset: 68, as: UInt32.self))
        }
        return XFRMAlgorithm(name: name, keyBits: keyBits)
    }

    /// An address without a family: IPv4 when the upper 12 bytes are zero.
    static func guessedAddress(_ x: xfrm_address_t) -> IPAddress {
        withUnsafeBytes(of: x) { raw in
            let v4 = raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self) == 0
                && raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == 0
            return IPAddress(xfrmBytes: raw, family: v4 ? .inet : .inet6)
        }
    }

    static func rawAddress(_ a: UnsafeRawBufferPointer, type: UInt16) throws(WireError) -> IPAddress {
        guessedAddress(try attrStruct(xfrm_address_t.self, a, type: type))
    }

    /// Length of the NUL-terminated string at the start of `a`, at most `max` bytes.
    static func cStringLength(_ a: UnsafeRawBufferPointer, max: Int) -> Int {
        let limit = min(max, a.count)
        guard limit > 0, let base = a.baseAddress else { return 0 }
        guard let nul = memchr(base, 0, limit) else { return limit }
        return base.distance(to: UnsafeRawPointer(nul))
    }

    /// Reads a NUL-terminated string (lossy UTF-8) of at most `max` bytes.
    static func cString(_ a: UnsafeRawBufferPointer, max: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: a[0..<cStringLength(a, max: max)]), as: UTF8.self)
    }

    // MARK: - Struct conversion

    @inline(__always)
    static func address(_ a: xfrm_address_t, _ family: AddressFamily) -> IPAddress {
        withUnsafeBytes(of: a) { IPAddress(xfrmBytes: $0, family: family) }
    }

    /// `fallback` is the owning SA's family, used when the selector's own family is 0 (larval SAs).
    static func selector(_ s: xfrm_selector, fallback: AddressFamily = .unspecified) -> XFRMSelector {
        var f = AddressFamily(kernel: s.family)
        if f == .unspecified { f = fallback }
        return XFRMSelector(destination: address(s.daddr, f), source: address(s.saddr, f),
                            destinationPort: UInt16(bigEndian: s.dport), destinationPortMask: UInt16(bigEndian: s.dport_mask),
                            sourcePort: UInt16(bigEndian: s.sport), sourcePortMask: UInt16(bigEndian: s.sport_mask),
                            family: f, destinationPrefixLength: s.prefixlen_d, sourcePrefixLength: s.prefixlen_s,
                            upperProtocol: s.proto, ifindex: s.ifindex, user: s.user)
    }

    static func lifetimeConfig(_ l: xfrm_lifetime_cfg) -> XFRMLifetimeConfig {
        XFRMLifetimeConfig(softByteLimit: l.soft_byte_limit, hardByteLimit: l.hard_byte_limit,
                           softPacketLimit: l.soft_packet_limit, hardPacketLimit: l.hard_packet_limit,
                           softAddExpiresSeconds: l.soft_add_expires_seconds,
                           hardAddExpiresSeconds: l.hard_add_expires_seconds,
                           softUseExpiresSeconds: l.soft_use_expires_seconds,
                           hardUseExpiresSeconds: l.hard_use_expires_seconds)
    }

    static func lifetimeCurrent(_ c: xfrm_lifetime_cur) -> XFRMLifetimeCurrent {
        XFRMLifetimeCurrent(bytes: c.bytes, packets: c.packets, addTime: c.add_time, useTime: c.use_time)
    }

    static func state(_ i: xfrm_usersa_info, _ attrs: consuming XFRMAttributes) -> XFRMState {
        let f = AddressFamily(kernel: i.family)
        // The NAT original address has no family of its own: it is the SA's.
        if let oa = attrs.encapsulation?.originalAddress, oa.family != f, f != .unspecified {
            attrs.encapsulation?.originalAddress = oa.reinterpreted(as: f)
        }
        return XFRMState(selector: selector(i.sel, fallback: f), destination: address(i.id.daddr, f), spi: UInt32(bigEndian: i.id.spi),
                         proto: IPsecProtocol(rawValue: i.id.proto), source: address(i.saddr, f),
                         lifetimeConfig: lifetimeConfig(i.lft), lifetimeCurrent: lifetimeCurrent(i.curlft),
                         stats: XFRMStats(replayWindow: i.stats.replay_window, replay: i.stats.replay,
                                          integrityFailed: i.stats.integrity_failed),
                         seq: i.seq, reqid: i.reqid, family: f, mode: XFRMMode(rawValue: i.mode),
                         replayWindow: i.replay_window, flags: i.flags, attributes: attrs)
    }

    static func policy(_ i: xfrm_userpolicy_info, _ attrs: consuming XFRMAttributes) -> XFRMPolicy {
        XFRMPolicy(selector: selector(i.sel), lifetimeConfig: lifetimeConfig(i.lft),
                   lifetimeCurrent: lifetimeCurrent(i.curlft), priority: i.priority, index: i.index,
                   direction: PolicyDirection(rawValue: i.dir), action: i.action, flags: i.flags, share: i.share,
                   attributes: attrs)
    }
}

extension XFRMDecoder {
    /// State kept while decoding a run of messages (a datagram, or a whole dump): the last algorithm
    /// set, so that the SAs of a dump share one box, and the long algorithm names already made, so that
    /// they share one string. Decoded values are the same with a fresh context or a reused one.
    public struct Context: Sendable {
        var lastAlgorithms: ValueBox<XFRMAlgorithmSet>?

        public init() {}

        /// Names longer than a small (inline) string that are not in `commonAlgorithmNames`.
        var longNames: [String] = []

        /// Kernel crypto names too long to be small (inline, allocation-free) strings: the same
        /// immortal literal is shared by every SA instead of a new heap string per SA.
        static let commonAlgorithmNames: [String] = [
            "rfc4106(gcm(aes))", "rfc4309(ccm(aes))", "rfc4543(gcm(aes))", "rfc3686(ctr(aes))",
            "rfc7539esp(chacha20,poly1305)", "rfc7539(chacha20,poly1305)", "ecb(cipher_null)",
            "rfc4106(gcm(sm4))", "rfc4309(ccm(sm4))", "hmac(streebog256)", "hmac(streebog512)",
        ]

        /// The name in a 64-byte `alg_name` field (NUL-terminated, lossy UTF-8).
        mutating func algorithmName(_ field: UnsafeRawBufferPointer) -> String {
            let length = XFRMDecoder.cStringLength(field, max: 64)
            let bytes = UnsafeRawBufferPointer(rebasing: field[0..<length])
            // Up to 15 UTF-8 bytes: a small string, made without allocating.
            if length <= 15 { return String(decoding: bytes, as: UTF8.self) }
            for name in Context.commonAlgorithmNames where Context.equal(name, bytes) { return name }
            for name in longNames where Context.equal(name, bytes) { return name }
            let name = String(decoding: bytes, as: UTF8.self)
            if longNames.count < 8 { longNames.append(name) }
            return name
        }

        /// Whether a string's UTF-8 is exactly `bytes`.
        static func equal(_ s: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
            guard s.utf8.count == bytes.count else { return false }
            return s.utf8.withContiguousStorageIfAvailable { u in
                memcmp(u.baseAddress!, bytes.baseAddress!, bytes.count) == 0
            } ?? s.utf8.elementsEqual(bytes)
        }
    }
}
