import CXFRM

/// Removes key material from raw datagrams before anything else sees them.
public enum XFRMRedaction {
    /// Fixed payload size of the message types that can carry algorithm attributes.
    static func fixedPayloadSize(type: UInt16) -> Int? {
        switch XFRMMessageType(rawValue: type) {
        case .newSA?, .updSA?, .getSA? : return MemoryLayout<xfrm_usersa_info>.size
        case .delSA?: return MemoryLayout<xfrm_usersa_id>.size
        case .expire?: return MemoryLayout<xfrm_user_expire>.size
        default: return nil
        }
    }

    /// Algorithm attribute type -> size of its header (name + lengths) before the key.
    static func keyOffset(attributeType t: UInt16) -> Int? {
        switch XFRMAttributeType(rawValue: t) {
        case .algAuth?, .algCrypt?, .algComp?: return Int(ipsectop_sizeof_algo())
        case .algAEAD?: return Int(ipsectop_sizeof_algo_aead())
        case .algAuthTrunc?: return Int(ipsectop_sizeof_algo_auth())
        default: return nil
        }
    }

    /// Overwrites with zeros the key bytes of every algorithm attribute in the datagram.
    /// When a message cannot be walked, everything after its fixed payload is zeroed.
    /// Returns the number of bytes zeroed.
    @discardableResult
    public static func redactKeys(_ bytes: inout [UInt8]) -> Int {
        var zeroed = 0
        bytes.withUnsafeMutableBytes { buf in
            var off = 0
            while off + NetlinkHeader.size <= buf.count {
                let len = Int(buf.loadUnaligned(fromByteOffset: off, as: UInt32.self))
                let type = buf.loadUnaligned(fromByteOffset: off + 4, as: UInt16.self)
                guard len >= NetlinkHeader.size, off + len <= buf.count else {
                    // Unframeable tail: it may hold anything, wipe it.
                    for i in off..<buf.count where buf[i] != 0 { buf[i] = 0; zeroed += 1 }
                    return
                }
                if let fixed = fixedPayloadSize(type: type) {
                    let attrStart = off + NetlinkHeader.size + Int(ipsectop_nlmsg_align(UInt32(fixed)))
                    zeroed += redactAttributes(buf, from: attrStart, to: off + len)
                }
                off += Int(ipsectop_nlmsg_align(UInt32(len)))
            }
        }
        return zeroed
    }

    static func redactAttributes(_ buf: UnsafeMutableRawBufferPointer, from start: Int, to end: Int) -> Int {
        var zeroed = 0
        var a = start
        while a + 4 <= end {
            let alen = Int(buf.loadUnaligned(fromByteOffset: a, as: UInt16.self))
            let atype = buf.loadUnaligned(fromByteOffset: a + 2, as: UInt16.self) & ipsectop_nla_type_mask()
            guard alen >= 4, a + alen <= end else {
                for i in a..<end where buf[i] != 0 { buf[i] = 0; zeroed += 1 }
                return zeroed
            }
            if let k = keyOffset(attributeType: atype) {
                let keyStart = a + 4 + k
                if keyStart < a + alen {
                    for i in keyStart..<(a + alen) where buf[i] != 0 { buf[i] = 0; zeroed += 1 }
                }
            }
            a += Int(ipsectop_nla_align(UInt32(alen)))
        }
        return zeroed
    }
}
