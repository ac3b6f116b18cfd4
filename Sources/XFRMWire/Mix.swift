/// A 64-bit mix for hashing value types: feeding a `Hasher` one pre-mixed word instead of every
/// field costs one SipHash round instead of one per field. Equal values mix equally, which is all
/// `Hashable` asks; the `Hasher` still seeds and finalizes, so tables stay randomized per process.
public enum Mix64 {
    @inline(__always)
    public static func step(_ h: UInt64, _ v: UInt64) -> UInt64 {
        var x = (h ^ v) &* 0x9E37_79B9_7F4A_7C15
        x ^= x >> 29
        return x
    }
}

extension IPAddress {
    /// Family, high and low mixed into one word.
    @inline(__always)
    public var mix64: UInt64 {
        Mix64.step(Mix64.step(UInt64(family.rawValue) &+ 0x2545_F491_4F6C_DD1D, high), low)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(mix64) }
}

extension XFRMSelector {
    /// Every field mixed into one word.
    public var mix64: UInt64 {
        var h = Mix64.step(destination.mix64, source.mix64)
        h = Mix64.step(h, UInt64(destinationPort) | UInt64(destinationPortMask) << 16
                       | UInt64(sourcePort) << 32 | UInt64(sourcePortMask) << 48)
        h = Mix64.step(h, UInt64(family.rawValue) | UInt64(destinationPrefixLength) << 16
                       | UInt64(sourcePrefixLength) << 24 | UInt64(upperProtocol) << 32)
        return Mix64.step(h, UInt64(UInt32(bitPattern: ifindex)) | UInt64(user) << 32)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(mix64) }
}
