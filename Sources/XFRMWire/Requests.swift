import CXFRM

/// Builds NETLINK_XFRM request datagrams. Every non-dump request asks for an ACK.
public struct XFRMRequestBuilder {
    public internal(set) var bytes: [UInt8] = []

    public init(type: XFRMMessageType, flags: UInt16, sequence: UInt32) {
        bytes = [UInt8](repeating: 0, count: NetlinkHeader.size)
        put(UInt16(type.rawValue), at: 4)
        put(flags, at: 6)
        put(sequence, at: 8)
        updateLength()
    }

    mutating func put<T: FixedWidthInteger>(_ v: T, at offset: Int) {
        withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { bytes[offset + i] = b } }
    }

    mutating func updateLength() { put(UInt32(bytes.count), at: 0) }

    mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    /// Appends a C struct as the fixed payload.
    public mutating func appendStruct<T>(_ value: T) {
        var v = value
        withUnsafeBytes(of: &v) { bytes.append(contentsOf: $0) }
        pad()
        updateLength()
    }

    /// Appends an attribute with a raw payload.
    public mutating func appendAttribute(_ type: XFRMAttributeType, _ payload: [UInt8]) {
        let len = UInt16(4 + payload.count)
        withUnsafeBytes(of: len.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: type.rawValue.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: payload)
        pad()
        updateLength()
    }

    public mutating func appendAttribute<T>(_ type: XFRMAttributeType, value: T) {
        var v = value
        let payload = withUnsafeBytes(of: &v) { Array($0) }
        appendAttribute(type, payload)
    }
}

/// Request factories. Each names its iproute2 equivalent.
public enum XFRMRequest {
    static let ackRequest = NetlinkFlags.request | NetlinkFlags.ack

    /// Optional dump filter: XFRMA_ADDRESS_FILTER and/or XFRMA_PROTO.
    public struct DumpFilter: Sendable {
        public var source: (IPAddress, UInt8)?
        public var destination: (IPAddress, UInt8)?
        public var proto: IPsecProtocol?
        public init(source: (IPAddress, UInt8)? = nil, destination: (IPAddress, UInt8)? = nil, proto: IPsecProtocol? = nil) {
            self.source = source; self.destination = destination; self.proto = proto
        }
    }

    /// Dump all SAs. Equivalent to `ip -s xfrm state` (the request it sends).
    public static func dumpSAs(sequence: UInt32, filter: DumpFilter? = nil) -> [UInt8] {
        var b = XFRMRequestBuilder(type: .getSA, flags: NetlinkFlags.request | NetlinkFlags.dump, sequence: sequence)
        if let f = filter {
            if f.source != nil || f.destination != nil {
                var af = xfrm_address_filter()
                let fam = (f.source?.0.family ?? f.destination?.0.family) ?? .inet
                if let (a, len) = f.source { setAddress(&af.saddr, a); af.splen = len }
                if let (a, len) = f.destination { setAddress(&af.daddr, a); af.dplen = len }
                af.family = fam.rawValue
                b.appendAttribute(.addressFilter, value: af)
            }
            if let p = f.proto { b.appendAttribute(.proto, [p.rawValue]) }
        }
        return b.bytes
    }

    /// Dump all policies. Equivalent to `ip xfrm policy`.
    public static func dumpPolicies(sequence: UInt32) -> [UInt8] {
        XFRMRequestBuilder(type: .getPolicy, flags: NetlinkFlags.request | NetlinkFlags.dump, sequence: sequence).bytes
    }

    /// SA counts. Equivalent to `ip xfrm state count`.
    public static func getSADInfo(sequence: UInt32) -> [UInt8] {
        var b = XFRMRequestBuilder(type: .getSADInfo, flags: NetlinkFlags.request, sequence: sequence)
        b.appendStruct(UInt32(0))
        return b.bytes
    }

    /// Policy counts. Equivalent to `ip xfrm policy count`.
    public static func getSPDInfo(sequence: UInt32) -> [UInt8] {
        var b = XFRMRequestBuilder(type: .getSPDInfo, flags: NetlinkFlags.request, sequence: sequence)
        b.appendStruct(UInt32(0))
        return b.bytes
    }

    /// Replay and lifetime values of one SA (answered with NEWAE).
    public static func getAsyncEvent(sequence: UInt32, identity: SAIdentity, source: IPAddress, reqid: UInt32) -> [UInt8] {
        var b = XFRMRequestBuilder(type: .getAE, flags: NetlinkFlags.request, sequence: sequence)
        var ae = xfrm_aevent_id()
        setAddress(&ae.sa_id.daddr, identity.destination)
        ae.sa_id.spi = identity.spi.bigEndian
        ae.sa_id.family = identity.family.rawValue
        ae.sa_id.proto = identity.proto.rawValue
        setAddress(&ae.saddr, source)
        ae.reqid = reqid
        ae.flags = 2 | 4 // XFRM_AE_RVAL | XFRM_AE_LVAL
        b.appendStruct(ae)
        appendMark(&b, identity.mark)
        return b.bytes
    }

    /// One SA by identity. Equivalent to `ip xfrm state get dst D proto P spi S`.
    public static func getSA(sequence: UInt32, identity: SAIdentity) -> [UInt8] {
        var b = XFRMRequestBuilder(type: .getSA, flags: NetlinkFlags.request, sequence: sequence)
        b.appendStruct(usersaID(identity))
        appendMark(&b, identity.mark)
        return b.bytes
    }

    /// Equivalent to `ip xfrm state delete dst D proto P spi S [mark M]`.
    public static func deleteSA(sequence: UInt32, identity: SAIdentity, source: IPAddress? = nil) -> [UInt8] {
        var b = XFRMRequestBuilder(type: .delSA, flags: ackRequest, sequence: sequence)
        b.appendStruct(usersaID(identity))
        appendMark(&b, identity.mark)
        if let s = source, !s.isZero { b.appendAttribute(.sourceAddress, s.xfrmBytes) }
        return b.bytes
    }

    /// Soft (rekey) or hard expire of one SA. Equivalent to
    /// `ip xfrm state expire` has no iproute2 form; IKE daemons answer a soft one by rekeying.
    public static func expireSA(sequence: UInt32, identity: SAIdentity, hard: Bool) -> [UInt8] {
        var b = XFRMRequestBuilder(type: .expire, flags: ackRequest, sequence: sequence)
        var ue = xfrm_user_expire()
        setAddress(&ue.state.id.daddr, identity.destination)
        ue.state.id.spi = identity.spi.bigEndian
        ue.state.id.proto = identity.proto.rawValue
        ue.state.family = identity.family.rawValue
        ue.hard = hard ? 1 : 0
        b.appendStruct(ue)
        appendMark(&b, identity.mark)
        return b.bytes
    }

    /// Equivalent to `ip xfrm policy delete index I dir D` (by index) or by selector.
    public static func deletePolicy(sequence: UInt32, identity: PolicyIdentity) -> [UInt8] {
        var b = XFRMRequestBuilder(type: .delPolicy, flags: ackRequest, sequence: sequence)
        var id = xfrm_userpolicy_id()
        id.index = identity.index
        id.dir = identity.direction.rawValue
        if identity.index == 0 { id.sel = cSelector(identity.selector) }
        b.appendStruct(id)
        appendMark(&b, identity.mark)
        if identity.ifID != 0 { b.appendAttribute(.ifID, value: identity.ifID) }
        if identity.type != 0 {
            var t = xfrm_userpolicy_type()
            t.type = identity.type
            b.appendAttribute(.policyType, value: t)
        }
        return b.bytes
    }

    static func usersaID(_ identity: SAIdentity) -> xfrm_usersa_id {
        var id = xfrm_usersa_id()
        setAddress(&id.daddr, identity.destination)
        id.spi = identity.spi.bigEndian
        id.family = identity.family.rawValue
        id.proto = identity.proto.rawValue
        return id
    }

    static func appendMark(_ b: inout XFRMRequestBuilder, _ mark: XFRMMark?) {
        guard let m = mark, !m.isZero else { return }
        var xm = xfrm_mark()
        xm.v = m.value
        xm.m = m.mask
        b.appendAttribute(.mark, value: xm)
    }

    /// An address as the kernel's `xfrm_address_t` (16 bytes, IPv4 in the first 4).
    public static func setAddress(_ dst: inout xfrm_address_t, _ a: IPAddress) {
        let bytes = a.xfrmBytes
        withUnsafeMutableBytes(of: &dst) { raw in for i in 0..<16 { raw[i] = bytes[i] } }
    }

    /// A selector as the kernel's `xfrm_selector`.
    public static func cSelector(_ s: XFRMSelector) -> xfrm_selector {
        var c = xfrm_selector()
        setAddress(&c.daddr, s.destination)
        setAddress(&c.saddr, s.source)
        c.dport = s.destinationPort.bigEndian; c.dport_mask = s.destinationPortMask.bigEndian
        c.sport = s.sourcePort.bigEndian; c.sport_mask = s.sourcePortMask.bigEndian
        c.family = s.family.rawValue
        c.prefixlen_d = s.destinationPrefixLength; c.prefixlen_s = s.sourcePrefixLength
        c.proto = s.upperProtocol; c.ifindex = s.ifindex; c.user = s.user
        return c
    }
}
