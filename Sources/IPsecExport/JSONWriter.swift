import Glibc

/// A streaming JSON writer into a byte buffer: keys are written in the order
/// given, so documents have a stable field order, and no intermediate objects
/// are built (snapshots of 100,000 SAs stay cheap).
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]

    public init(reserve: Int = 4096) { bytes.reserveCapacity(reserve) }

    private mutating func separator() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    public mutating func beginObject() { separator(); bytes.append(UInt8(ascii: "{")); needsComma.append(false) }
    public mutating func endObject() { needsComma.removeLast(); bytes.append(UInt8(ascii: "}")) }
    public mutating func beginArray() { separator(); bytes.append(UInt8(ascii: "[")); needsComma.append(false) }
    public mutating func endArray() { needsComma.removeLast(); bytes.append(UInt8(ascii: "]")) }

    /// Writes `"name":` ; the next value call completes the member.
    public mutating func key(_ name: String) {
        separator()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
    }

    public mutating func string(_ s: String) { separator(); appendQuoted(s) }
    public mutating func null() { separator(); bytes.append(contentsOf: Array("null".utf8)) }
    public mutating func bool(_ b: Bool) { separator(); bytes.append(contentsOf: Array((b ? "true" : "false").utf8)) }
    public mutating func int<T: BinaryInteger>(_ v: T) { separator(); appendInteger(v) }
    public mutating func double(_ v: Double, decimals: Int = 3) {
        separator()
        guard v.isFinite else { bytes.append(contentsOf: Array("null".utf8)); return }
        var buf = [CChar](repeating: 0, count: 64)
        let n = withVaList([decimals, v]) { vsnprintf(&buf, 64, "%.*f", $0) }
        bytes.append(contentsOf: buf[0..<Int(n)].map { UInt8(bitPattern: $0) })
    }

    // Convenience members.
    public mutating func member(_ k: String, _ v: String) { key(k); string(v) }
    public mutating func member(_ k: String, _ v: String?) { key(k); if let v { string(v) } else { null() } }
    public mutating func member<T: BinaryInteger>(_ k: String, _ v: T) { key(k); int(v) }
    public mutating func member<T: BinaryInteger>(_ k: String, _ v: T?) { key(k); if let v { int(v) } else { null() } }
    public mutating func member(_ k: String, _ v: Bool) { key(k); bool(v) }
    public mutating func member(_ k: String, double v: Double?, decimals: Int = 3) {
        key(k); if let v { double(v, decimals: decimals) } else { null() }
    }

    private mutating func appendInteger<T: BinaryInteger>(_ v: T) {
        if v == 0 { bytes.append(UInt8(ascii: "0")); return }
        var digits: [UInt8] = []
        var m = v.magnitude
        while m > 0 { digits.append(UInt8(ascii: "0") + UInt8(m % 10)); m /= 10 }
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        bytes.append(contentsOf: digits.reversed())
    }

    private mutating func appendQuoted(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [92, 92])
            case 0x0a: bytes.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0d: bytes.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0..<0x20, 0x7f:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends a newline (NDJSON record separator).
    public mutating func newline() { bytes.append(0x0a) }

    /// Clears the buffer for the next record, keeping capacity.
    public mutating func reset() { bytes.removeAll(keepingCapacity: true); needsComma = [false] }
}

/// Formats epoch seconds as ISO 8601 UTC (`2026-11-29T06:00:00Z`).
public func iso8601(_ epoch: Double) -> String {
    var t = time_t(epoch.rounded(.down))
    var tmv = tm()
    gmtime_r(&t, &tmv)
    var buf = [CChar](repeating: 0, count: 32)
    let n = strftime(&buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tmv)
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Formats epoch seconds with milliseconds (`2026-11-29T06:00:00.123Z`).
public func iso8601Milliseconds(_ epoch: Double) -> String {
    let whole = iso8601(epoch)
    let ms = Int((epoch - epoch.rounded(.down)) * 1000)
    let pad = ms < 10 ? "00" : (ms < 100 ? "0" : "")
    return String(whole.dropLast()) + ".\(pad)\(ms)Z"
}
