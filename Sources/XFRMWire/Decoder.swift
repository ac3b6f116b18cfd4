import CXFRM

/// Decodes NETLINK_XFRM datagrams into typed messages. Pure: no I/O, no traps.
public enum XFRMDecoder {
    /// Walks every message in a datagram (a dump datagram may end with NLMSG_DONE).
    public static func decodeDatagram(_ bytes: UnsafeRawBufferPointer) -> DecodedDatagram {
        var out: [DecodedMessage] = []
        var offset = 0
        while offset < bytes.count {
            let left = bytes.count - offset
            guard left >= NetlinkHeader.size else {
                return DecodedDatagram(messages: out, framingError: .truncatedHeader(available: left))
            }
            let header = NetlinkHeader(
                length: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self),
                type: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self),
                flags: bytes.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self),
                sequence: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self),
                portID: bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            guard header.length >= UInt32(NetlinkHeader.size) else {
                return DecodedDatagram(messages: out, framingError: .truncatedHeader(available: Int(header.length)))
            }
            guard Int(header.length) <= left else {
                return DecodedDatagram(messages: out,
                                       framingError: .messageLengthPastEnd(declared: header.length, available: left))
            }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[(offset + NetlinkHeader.size)..<(offset + Int(header.length))])
            let body: Result<XFRMMessage, WireError>
            do { body = .success(try decodeBody(type: header.type, flags: header.flags, payload: payload)) } catch {
                body = .failure(error)
            }
            out.append(DecodedMessage(header: header, body: body))
            let advance = Int(ipsectop_nlmsg_align(header.length))
            offset += advance
        }
        return DecodedDatagram(messages: out, framingError: nil)
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

    static func decodeBody(type: UInt16, flags: UInt16, payload p: UnsafeRawBufferPointer) throws(WireError) -> XFRMMessage {
        guard let kind = XFRMMessageType(rawValue: type) else {
            return .unknown(type: type, payload: Array(p))
        }
        switch kind {
        case .newSA, .updSA:
            let info = try need(xfrm_usersa_info.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_usersa_info>.size))
            let st = state(info, attrs)
            return kind == .newSA ? .newSA(st) : .updateSA(st)
        case .delSA:
            let id = try need(xfrm_usersa_id.self, p, type: type)
            let family = AddressFamily(kernel: id.family)
            let r = rest(p, after: MemoryLayout<xfrm_usersa_id>.size)
            var full: XFRMState?
            var attrs = XFRMAttributes()
            var saBody: xfrm_usersa_info?
            try walkAttributes(r) { (t, a) throws(WireError) in
                if t == XFRMAttributeType.sa.rawValue {
                    saBody = try attrStruct(xfrm_usersa_info.self, a, type: t)
                } else {
                    try applyAttribute(t, a, to: &attrs)
                }
            }
            if let info = saBody { full = state(info, attrs) }
            let ident = SAIdentity(family: family, destination: address(id.daddr, family), spi: UInt32(bigEndian: id.spi),
                                   proto: IPsecProtocol(rawValue: id.proto), mark: attrs.mark ?? full?.attributes.mark)
            return .deleteSA(ident, source: attrs.sourceAddress ?? full?.source, state: full)
        case .expire:
            let ue = try need(xfrm_user_expire.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_user_expire>.size))
            return .expire(state(ue.state, attrs), hard: ue.hard != 0)
        case .acquire:
            let a = try need(xfrm_user_acquire.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_user_acquire>.size))
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
            let info = try need(xfrm_userpolicy_info.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_userpolicy_info>.size))
            let pol = policy(info, attrs)
            return kind == .newPolicy ? .newPolicy(pol) : .updatePolicy(pol)
        case .delPolicy:
            let id = try need(xfrm_userpolicy_id.self, p, type: type)
            var attrs = XFRMAttributes()
            var body: xfrm_userpolicy_info?
            try walkAttributes(rest(p, after: MemoryLayout<xfrm_userpolicy_id>.size)) { (t, a) throws(WireError) in
                if t == XFRMAttributeType.policy.rawValue {
                    body = try attrStruct(xfrm_userpolicy_info.self, a, type: t)
                } else {
                    try applyAttribute(t, a, to: &attrs)
                }
            }
            let pid = XFRMPolicyID(selector: selector(id.sel), index: id.index, direction: PolicyDirection(rawValue: id.dir))
            return .deletePolicy(pid, policy: body.map { policy($0, attrs) }, attributes: attrs)
        case .polExpire:
            let pe = try need(xfrm_user_polexpire.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_user_polexpire>.size))
            return .policyExpire(policy(pe.pol, attrs), hard: pe.hard != 0)
        case .flushSA:
            let f = try need(xfrm_usersa_flush.self, p, type: type)
            return .flushSA(IPsecProtocol(rawValue: f.proto))
        case .flushPolicy:
            let attrs = try parseAttributes(p)
            return .flushPolicy(type: attrs.policyType)
        case .newAE, .getAE:
            let ae = try need(xfrm_aevent_id.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_aevent_id>.size))
            let fam = AddressFamily(kernel: ae.sa_id.family)
            let ident = SAIdentity(family: fam, destination: address(ae.sa_id.daddr, fam),
                                   spi: UInt32(bigEndian: ae.sa_id.spi), proto: IPsecProtocol(rawValue: ae.sa_id.proto),
                                   mark: attrs.mark)
            return .asyncEvent(XFRMAsyncEvent(identity: ident, source: address(ae.saddr, fam), flags: ae.flags,
                                              reqid: ae.reqid, attributes: attrs))
        case .report:
            let r = try need(xfrm_user_report.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_user_report>.size))
            return .report(proto: IPsecProtocol(rawValue: r.proto), selector: selector(r.sel),
                           careOfAddress: attrs.careOfAddress)
        case .mapping:
            let m = try need(xfrm_user_mapping.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_user_mapping>.size))
            let fam = AddressFamily(kernel: m.id.family)
            let ident = SAIdentity(family: fam, destination: address(m.id.daddr, fam), spi: UInt32(bigEndian: m.id.spi),
                                   proto: IPsecProtocol(rawValue: m.id.proto), mark: attrs.mark)
            return .mapping(XFRMMapping(identity: ident, reqid: m.reqid, oldSource: address(m.old_saddr, fam),
                                        newSource: address(m.new_saddr, fam), oldSourcePort: UInt16(bigEndian: m.old_sport),
                                        newSourcePort: UInt16(bigEndian: m.new_sport)))
        case .migrate:
            let id = try need(xfrm_userpolicy_id.self, p, type: type)
            let attrs = try parseAttributes(rest(p, after: MemoryLayout<xfrm_userpolicy_id>.size))
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

    /// Parses all attributes of a message into an `XFRMAttributes`.
    public static func parseAttributes(_ p: UnsafeRawBufferPointer) throws(WireError) -> XFRMAttributes {
        var attrs = XFRMAttributes()
        try walkAttributes(p) { (t, a) throws(WireError) in try applyAttribute(t, a, to: &attrs) }
        return attrs
    }

    static func applyAttribute(_ t: UInt16, _ a: UnsafeRawBufferPointer, to attrs: inout XFRMAttributes) throws(WireError) {
        guard let kind = XFRMAttributeType(rawValue: t) else {
            attrs.unknown.append(XFRMUnknownAttribute(type: t, payload: Array(a)))
            return
        }
        switch kind {
        case .algAuth: attrs.auth = try algorithm(a, type: t, extra: false)
        case .algCrypt: attrs.crypt = try algorithm(a, type: t, extra: false)
        case .algComp: attrs.comp = try algorithm(a, type: t, extra: false)
        case .algAEAD: attrs.aead = try algorithm(a, type: t, extra: true)
        case .algAuthTrunc: attrs.authTrunc = try algorithm(a, type: t, extra: true)
        case .encap:
            let e = try attrStruct(xfrm_encap_tmpl.self, a, type: t)
            // The original address carries no family of its own: IPv4 when the upper 12 bytes are zero.
            let oaBytes = withUnsafeBytes(of: e.encap_oa) { Array($0) }
            let v4 = oaBytes[4...].allSatisfy { $0 == 0 }
            attrs.encapsulation = XFRMEncapsulation(
                type: EncapsulationType(rawValue: e.encap_type), sourcePort: UInt16(bigEndian: e.encap_sport),
                destinationPort: UInt16(bigEndian: e.encap_dport), originalAddress: address(e.encap_oa, v4 ? .inet : .inet6))
        case .template:
            let size = MemoryLayout<xfrm_user_tmpl>.size
            guard a.count % size == 0 else { throw .truncatedAttribute(type: t, needed: size, available: a.count % size) }
            var i = 0
            while i + size <= a.count {
                let tm = a.loadUnaligned(fromByteOffset: i, as: xfrm_user_tmpl.self)
                let fam = AddressFamily(kernel: tm.family)
                attrs.templates.append(XFRMTemplate(
                    destination: address(tm.id.daddr, fam), spi: UInt32(bigEndian: tm.id.spi),
                    proto: IPsecProtocol(rawValue: tm.id.proto), family: fam, source: address(tm.saddr, fam),
                    reqid: tm.reqid, mode: XFRMMode(rawValue: tm.mode), share: tm.share, optional: tm.optional != 0,
                    authAlgorithms: tm.aalgos, encryptionAlgorithms: tm.ealgos, compressionAlgorithms: tm.calgos))
                i += size
            }
        case .sa, .policy:
            // Only meaningful inside DELSA/DELPOLICY, which handle them; keep elsewhere.
            attrs.unknown.append(XFRMUnknownAttribute(type: t, payload: []))
        case .securityContext:
            let hdr = Int(ipsectop_sizeof_user_sec_ctx())
            guard a.count >= hdr else { throw .truncatedAttribute(type: t, needed: hdr, available: a.count) }
            let c = a.loadUnaligned(as: xfrm_user_sec_ctx.self)
            let len = min(Int(c.ctx_len), a.count - hdr)
            attrs.securityContext = XFRMSecurityContext(
                doi: c.ctx_doi, algorithm: c.ctx_alg,
                context: cString(UnsafeRawBufferPointer(rebasing: a[hdr..<(hdr + len)]), max: len))
        case .lifetimeValue:
            attrs.lifetimeValue = lifetimeCurrent(try attrStruct(xfrm_lifetime_cur.self, a, type: t))
        case .replayValue:
            let r = try attrStruct(xfrm_replay_state.self, a, type: t)
            attrs.replay = XFRMReplayState(outboundSequence: r.oseq, inboundSequence: r.seq, bitmap: r.bitmap)
        case .replayESNValue:
            let r = try attrStruct(xfrm_replay_state_esn.self, a, type: t)
            let need = Int(ipsectop_sizeof_replay_esn()) + 4 * Int(min(r.bmp_len, 4096))
            guard a.count >= need, r.bmp_len <= 4096 else {
                throw .truncatedAttribute(type: t, needed: need, available: a.count)
            }
            attrs.replayESN = XFRMReplayStateESN(bitmapLength: r.bmp_len, outboundSequence: r.oseq,
                                                 inboundSequence: r.seq, outboundSequenceHigh: r.oseq_hi,
                                                 inboundSequenceHigh: r.seq_hi, replayWindow: r.replay_window)
        case .replayThreshold: attrs.replayThreshold = try attrStruct(UInt32.self, a, type: t)
        case .etimerThreshold: attrs.etimerThreshold = try attrStruct(UInt32.self, a, type: t)
        case .sourceAddress: attrs.sourceAddress = try rawAddress(a, type: t)
        case .careOfAddress: attrs.careOfAddress = try rawAddress(a, type: t)
        case .lastUsed: attrs.lastUsed = try attrStruct(UInt64.self, a, type: t)
        case .policyType: attrs.policyType = try attrStruct(xfrm_userpolicy_type.self, a, type: t).type
        case .mark:
            let m = try attrStruct(xfrm_mark.self, a, type: t)
            attrs.mark = XFRMMark(value: m.v, mask: m.m)
        case .tfcPad: attrs.tfcPad = try attrStruct(UInt32.self, a, type: t)
        case .saExtraFlags: attrs.extraFlags = try attrStruct(UInt32.self, a, type: t)
        case .offloadDevice:
            let o = try attrStruct(xfrm_user_offload.self, a, type: t)
            attrs.offload = XFRMOffload(ifindex: o.ifindex, flags: o.flags)
        case .setMark: attrs.setMark = try attrStruct(UInt32.self, a, type: t)
        case .setMarkMask: attrs.setMarkMask = try attrStruct(UInt32.self, a, type: t)
        case .ifID: attrs.ifID = try attrStruct(UInt32.self, a, type: t)
        case .mtimerThreshold: attrs.mtimerThreshold = try attrStruct(UInt32.self, a, type: t)
        case .saDirection:
            let v = try attrStruct(UInt8.self, a, type: t)
            attrs.direction = SADirection(rawValue: v)
            if attrs.direction == nil { attrs.rawDirection = v }
        case .natKeepaliveInterval: attrs.natKeepaliveInterval = try attrStruct(UInt32.self, a, type: t)
        case .saPerCPU: attrs.perCPU = try attrStruct(UInt32.self, a, type: t)
        case .iptfsDropTime:
            var i = attrs.iptfs ?? XFRMIPTFS(); i.dropTimeMicroseconds = try attrStruct(UInt32.self, a, type: t); attrs.iptfs = i
        case .iptfsReorderWindow:
            var i = attrs.iptfs ?? XFRMIPTFS(); i.reorderWindow = try attrStruct(UInt16.self, a, type: t); attrs.iptfs = i
        case .iptfsDontFragment:
            var i = attrs.iptfs ?? XFRMIPTFS(); i.dontFragment = true; attrs.iptfs = i
        case .iptfsInitialDelay:
            var i = attrs.iptfs ?? XFRMIPTFS(); i.initialDelayMicroseconds = try attrStruct(UInt32.self, a, type: t); attrs.iptfs = i
        case .iptfsMaxQueueSize:
            var i = attrs.iptfs ?? XFRMIPTFS(); i.maxQueueSize = try attrStruct(UInt32.self, a, type: t); attrs.iptfs = i
        case .iptfsPacketSize:
            var i = attrs.iptfs ?? XFRMIPTFS(); i.packetSize = try attrStruct(UInt32.self, a, type: t); attrs.iptfs = i
        case .migrate:
            let size = MemoryLayout<xfrm_user_migrate>.size
            var i = 0
            while i + size <= a.count {
                let m = a.loadUnaligned(fromByteOffset: i, as: xfrm_user_migrate.self)
                let of = AddressFamily(kernel: m.old_family), nf = AddressFamily(kernel: m.new_family)
                attrs.migrations.append(XFRMMigration(
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
            attrs.kmAddress = XFRMKMAddress(local: address(k.local, f), remote: address(k.remote, f), family: f)
        case .proto, .addressFilter, .pad:
            break
        }
    }

    /// Reads name and lengths of an algorithm attribute; the key that follows is never read.
    static func algorithm(_ a: UnsafeRawBufferPointer, type: UInt16, extra: Bool) throws(WireError) -> XFRMAlgorithm {
        let size = Int(extra ? ipsectop_sizeof_algo_aead() : ipsectop_sizeof_algo())
        guard a.count >= size else { throw .truncatedAttribute(type: type, needed: size, available: a.count) }
        let nameField = 64
        let name = cString(UnsafeRawBufferPointer(rebasing: a[0..<nameField]), max: nameField)
        if extra {
            let v = a.loadUnaligned(as: xfrm_algo_aead.self)
            return XFRMAlgorithm(name: name, keyBits: v.alg_key_len, icvBits: v.alg_icv_len)
        }
        let v = a.loadUnaligned(as: xfrm_algo.self)
        return XFRMAlgorithm(name: name, keyBits: v.alg_key_len)
    }

    static func rawAddress(_ a: UnsafeRawBufferPointer, type: UInt16) throws(WireError) -> IPAddress {
        let x = try attrStruct(xfrm_address_t.self, a, type: type)
        let b = withUnsafeBytes(of: x) { Array($0) }
        return address(x, b[4...].allSatisfy { $0 == 0 } ? .inet : .inet6)
    }

    /// Reads a NUL-terminated string (lossy UTF-8) of at most `max` bytes.
    static func cString(_ a: UnsafeRawBufferPointer, max: Int) -> String {
        var end = 0
        while end < min(max, a.count) && a[end] != 0 { end += 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: a[0..<end]), as: UTF8.self)
    }

    // MARK: - Struct conversion

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

    static func state(_ i: xfrm_usersa_info, _ attrs: XFRMAttributes) -> XFRMState {
        let f = AddressFamily(kernel: i.family)
        var attrs = attrs
        // The NAT original address has no family of its own: it is the SA's.
        if let oa = attrs.encapsulation?.originalAddress, oa.family != f, f != .unspecified {
            attrs.encapsulation?.originalAddress = oa.xfrmBytes.withUnsafeBytes { IPAddress(xfrmBytes: $0, family: f) }
        }
        return XFRMState(selector: selector(i.sel, fallback: f), destination: address(i.id.daddr, f), spi: UInt32(bigEndian: i.id.spi),
                         proto: IPsecProtocol(rawValue: i.id.proto), source: address(i.saddr, f),
                         lifetimeConfig: lifetimeConfig(i.lft), lifetimeCurrent: lifetimeCurrent(i.curlft),
                         stats: XFRMStats(replayWindow: i.stats.replay_window, replay: i.stats.replay,
                                          integrityFailed: i.stats.integrity_failed),
                         seq: i.seq, reqid: i.reqid, family: f, mode: XFRMMode(rawValue: i.mode),
                         replayWindow: i.replay_window, flags: i.flags, attributes: attrs)
    }

    static func policy(_ i: xfrm_userpolicy_info, _ attrs: XFRMAttributes) -> XFRMPolicy {
        XFRMPolicy(selector: selector(i.sel), lifetimeConfig: lifetimeConfig(i.lft),
                   lifetimeCurrent: lifetimeCurrent(i.curlft), priority: i.priority, index: i.index,
                   direction: PolicyDirection(rawValue: i.dir), action: i.action, flags: i.flags, share: i.share,
                   attributes: attrs)
    }
}
