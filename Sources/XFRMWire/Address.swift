import Glibc

/// An address family as carried in XFRM structures (`AF_INET`, `AF_INET6`, or unspecified).
public enum AddressFamily: UInt16, Sendable, Hashable, Codable {
    case unspecified = 0
    case inet = 2
    case inet6 = 10

    /// Decodes a kernel family value; anything unknown is `.unspecified`.
    public init(kernel value: UInt16) { self = AddressFamily(rawValue: value) ?? .unspecified }

    /// Short name as `ip xfrm` prints it.
    public var name: String {
        switch self {
        case .unspecified: return "unspec"
        case .inet: return "inet"
        case .inet6: return "inet6"
        }
    }
}

/// An IPv4 or IPv6 address (`xfrm_address_t` interpreted with a family), stored
/// in 16 bytes in network order.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let family: AddressFamily
    /// First 8 bytes of the address in network order (0 for IPv4).
    public let high: UInt64
    /// Last 8 bytes in network order (for IPv4, the address in the low 32 bits).
    public let low: UInt64

    public init(family: AddressFamily, high: UInt64, low: UInt64) {
        self.family = family
        self.high = high
        self.low = low
    }

    /// The all-zero address of a family.
    public static func zero(_ family: AddressFamily) -> IPAddress { IPAddress(family: family, high: 0, low: 0) }

    /// Builds an address from the 16 raw bytes of an `xfrm_address_t`.
    public init(xfrmBytes raw: UnsafeRawBufferPointer, family: AddressFamily) {
        precondition(raw.count >= 16)
        switch family {
        case .inet:
            var v: UInt64 = 0
            for i in 0..<4 { v = v << 8 | UInt64(raw[i]) }
            self.init(family: .inet, high: 0, low: v)
        default:
            var h: UInt64 = 0, l: UInt64 = 0
            for i in 0..<8 { h = h << 8 | UInt64(raw[i]) }
            for i in 8..<16 { l = l << 8 | UInt64(raw[i]) }
            self.init(family: family, high: h, low: l)
        }
    }

    /// Parses textual IPv4 or IPv6 notation.
    public init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            let b = withUnsafeBytes(of: &v4) { Array($0) }
            var v: UInt64 = 0
            for x in b { v = v << 8 | UInt64(x) }
            self.init(family: .inet, high: 0, low: v)
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            let b = withUnsafeBytes(of: &v6) { Array($0) }
            self = b.withUnsafeBytes { IPAddress(xfrmBytes: $0, family: .inet6) }
        } else {
            return nil
        }
    }

    /// The 16 bytes of an `xfrm_address_t` holding this address.
    public var xfrmBytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        if family == .inet {
            for i in 0..<4 { out[i] = UInt8(truncatingIfNeeded: low >> (8 * (3 - i))) }
        } else {
            for i in 0..<8 { out[i] = UInt8(truncatingIfNeeded: high >> (8 * (7 - i))) }
            for i in 0..<8 { out[8 + i] = UInt8(truncatingIfNeeded: low >> (8 * (7 - i))) }
        }
        return out
    }

    public var isZero: Bool { high == 0 && low == 0 }

    /// Text as `ip` prints it: dotted quad, or RFC 5952 compressed IPv6.
    public var description: String {
        switch family {
        case .inet:
            let v = UInt32(truncatingIfNeeded: low)
            return "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
        case .inet6, .unspecified:
            if family == .unspecified && isZero { return "0.0.0.0" }
            var groups = [UInt16](repeating: 0, count: 8)
            for i in 0..<4 { groups[i] = UInt16(truncatingIfNeeded: high >> (16 * (3 - i))) }
            for i in 0..<4 { groups[4 + i] = UInt16(truncatingIfNeeded: low >> (16 * (3 - i))) }
            // RFC 5952: compress the longest run (length >= 2) of zero groups, first one on ties.
            var bestStart = -1, bestLen = 0, i = 0
            while i < 8 {
                if groups[i] == 0 {
                    var j = i
                    while j < 8 && groups[j] == 0 { j += 1 }
                    if j - i > bestLen { bestStart = i; bestLen = j - i }
                    i = j
                } else { i += 1 }
            }
            if bestLen < 2 { bestStart = -1 }
            // IPv4-mapped addresses keep the dotted tail.
            if high == 0 && (low >> 32) == 0xffff {
                let v = UInt32(truncatingIfNeeded: low)
                return "::ffff:\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
            }
            var parts: [String] = []
            var k = 0
            var out = ""
            while k < 8 {
                if k == bestStart {
                    out += (parts.isEmpty ? "" : parts.joined(separator: ":")) + "::"
                    parts = []
                    k += bestLen
                    continue
                }
                parts.append(String(groups[k], radix: 16))
                k += 1
            }
            if bestStart >= 0 { return out + parts.joined(separator: ":") }
            return parts.joined(separator: ":")
        }
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        if a.family != b.family { return a.family.rawValue < b.family.rawValue }
        if a.high != b.high { return a.high < b.high }
        return a.low < b.low
    }
}
