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
    // The family last: Swift lays fields out in declaration order and packs the next field of an
    // enclosing struct right after the last byte, so an address takes 17 bytes there instead of 24
    // (family first, then 7 bytes of padding before `high`).
    /// First 8 bytes of the address in network order (0 for IPv4).
    public let high: UInt64
    /// Last 8 bytes in network order (for IPv4, the address in the low 32 bits).
    public let low: UInt64
    public let family: AddressFamily

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
        // Two unaligned big-endian loads instead of sixteen byte reads.
        let h = UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self))
        if family == .inet {
            self.init(family: .inet, high: 0, low: h >> 32)
        } else {
            self.init(family: family, high: h, low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
    }

    /// The same 16 raw bytes read with another family (no byte array in between).
    func reinterpreted(as family: AddressFamily) -> IPAddress {
        // Raw bytes 0-7 and 8-15 as big-endian numbers.
        let rawHigh = self.family == .inet ? low << 32 : high
        let rawLow = self.family == .inet ? 0 : low
        if family == .inet { return IPAddress(family: .inet, high: 0, low: rawHigh >> 32) }
        return IPAddress(family: family, high: rawHigh, low: rawLow)
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
    /// (Formatted into a stack buffer: snapshots and views format hundreds of thousands.)
    public var description: String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: IPAddress.maxTextLength) { buf in
            String(decoding: UnsafeBufferPointer(start: buf.baseAddress!, count: writeText(to: buf.baseAddress!)),
                   as: UTF8.self)
        }
    }

    /// The most bytes `writeText(to:)` writes (an IPv4-mapped IPv6 address takes 45).
    public static let maxTextLength = 48

    /// Writes the text of `description` (ASCII, at most `maxTextLength` bytes) at `out` and returns
    /// its length. Not generic: writers in other modules call it without generic metadata lookups
    /// (`withText` from there ran its unspecialized generic form, a few percent of a snapshot).
    public func writeText(to out: UnsafeMutablePointer<UInt8>) -> Int {
        if family == .unspecified && isZero {
            let zero: StaticString = "0.0.0.0"
            out.update(from: zero.utf8Start, count: zero.utf8CodeUnitCount)
            return zero.utf8CodeUnitCount
        }
        var n = 0
        func put(_ b: UInt8) { out[n] = b; n += 1 }
        func decimal(_ v: UInt32) {
            if v >= 100 { put(UInt8(ascii: "0") &+ UInt8(v / 100)) }
            if v >= 10 { put(UInt8(ascii: "0") &+ UInt8(v / 10 % 10)) }
            put(UInt8(ascii: "0") &+ UInt8(v % 10))
        }
        func dotted(_ v: UInt32) {
            decimal(v >> 24); put(UInt8(ascii: "."))
            decimal(v >> 16 & 0xff); put(UInt8(ascii: "."))
            decimal(v >> 8 & 0xff); put(UInt8(ascii: "."))
            decimal(v & 0xff)
        }
        func hexGroup(_ g: UInt16) {
            let digits: StaticString = "0123456789abcdef"
            var started = false
            for shift in stride(from: 12, through: 0, by: -4) {
                let d = Int(g >> UInt16(shift) & 0xf)
                if d != 0 || started || shift == 0 {
                    started = true
                    put(digits.utf8Start[d])
                }
            }
        }
        switch family {
        case .inet:
            dotted(UInt32(truncatingIfNeeded: low))
        case .inet6, .unspecified:
            // IPv4-mapped addresses keep the dotted tail.
            if high == 0 && (low >> 32) == 0xffff {
                for c in "::ffff:".utf8 { put(c) }
                dotted(UInt32(truncatingIfNeeded: low))
                break
            }
            func group(_ i: Int) -> UInt16 {
                i < 4 ? UInt16(truncatingIfNeeded: high >> (16 * (3 - i))) : UInt16(truncatingIfNeeded: low >> (16 * (7 - i)))
            }
            // RFC 5952: compress the longest run (length >= 2) of zero groups, first one on ties.
            var bestStart = -1, bestLen = 0, i = 0
            while i < 8 {
                if group(i) == 0 {
                    var j = i
                    while j < 8 && group(j) == 0 { j += 1 }
                    if j - i > bestLen { bestStart = i; bestLen = j - i }
                    i = j
                } else { i += 1 }
            }
            if bestLen < 2 { bestStart = -1 }
            var k = 0
            var first = true
            while k < 8 {
                if k == bestStart {
                    put(UInt8(ascii: ":")); put(UInt8(ascii: ":"))
                    first = true
                    k += bestLen
                    continue
                }
                if !first { put(UInt8(ascii: ":")) }
                first = false
                hexGroup(group(k))
                k += 1
            }
        }
        return n
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        if a.family != b.family { return a.family.rawValue < b.family.rawValue }
        if a.high != b.high { return a.high < b.high }
        return a.low < b.low
    }
}
