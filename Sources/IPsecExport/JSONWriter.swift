import Glibc

/// A streaming JSON writer into a byte buffer: keys are written in the order
/// given, so documents have a stable field order, and no intermediate objects
/// are built (snapshots of 100,000 SAs stay cheap).
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// Whether the current (innermost) container already has a member: the next one needs a comma.
    private var comma = false
    /// The flags of the enclosing containers.
    private var outer: [Bool] = []

    /// Streaming: when set, `bytes` is handed to the sink and emptied whenever it grows past
    /// `flushThreshold` (checked as containers open) and by `flush()`. The concatenated output is
    /// the same document; memory stays bounded by the threshold instead of the document size.
    private var sink: (([UInt8]) -> Void)?
    private var flushThreshold = Int.max

    public init(reserve: Int = 4096) { bytes.reserveCapacity(reserve) }

    /// A writer that hands its output to `sink` in chunks of about `chunk` bytes; call `flush()` at the end.
    public init(chunk: Int, sink: @escaping ([UInt8]) -> Void) {
        bytes.reserveCapacity(chunk + chunk / 4)
        self.sink = sink
        flushThreshold = chunk
    }

    /// Hands what was written so far to the sink (streaming writers only).
    public mutating func flush() {
        guard let sink, !bytes.isEmpty else { return }
        sink(bytes)
        bytes.removeAll(keepingCapacity: true)
    }

    @inline(__always)
    private mutating func flushIfFull() {
        if bytes.count >= flushThreshold { flush() }
    }

    @inline(__always)
    private mutating func separator() {
        if comma { bytes.append(UInt8(ascii: ",")) }
        comma = true
    }

    public mutating func beginObject() {
        flushIfFull()
        separator(); bytes.append(UInt8(ascii: "{")); outer.append(comma); comma = false
    }
    public mutating func endObject() { comma = outer.removeLast(); bytes.append(UInt8(ascii: "}")) }
    public mutating func beginArray() { separator(); bytes.append(UInt8(ascii: "[")); outer.append(comma); comma = false }
    public mutating func endArray() { comma = outer.removeLast(); bytes.append(UInt8(ascii: "]")) }

    /// Writes `"name":` ; the next value call completes the member.
    public mutating func key(_ name: String) {
        separator()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        comma = false
    }

    public mutating func string(_ s: String) { separator(); appendQuoted(s) }
    public mutating func null() {
        separator()
        bytes.append(UInt8(ascii: "n")); bytes.append(UInt8(ascii: "u")); bytes.append(UInt8(ascii: "l")); bytes.append(UInt8(ascii: "l"))
    }
    public mutating func bool(_ b: Bool) { separator(); bytes.append(contentsOf: b ? JSONWriter.trueBytes : JSONWriter.falseBytes) }
    public mutating func int<T: BinaryInteger>(_ v: T) { separator(); appendInteger(v) }
    public mutating func double(_ v: Double, decimals: Int = 3) {
        separator()
        guard v.isFinite else { bytes.append(contentsOf: JSONWriter.nullBytes); return }
        // Whole numbers (idle rates are 0) print exactly as "%.*f" would: digits, then zeros.
        if v == v.rounded(.towardZero) && abs(v) < 9.0e15 && decimals >= 0 && decimals <= 20 {
            if v < 0 || (v == 0 && v.sign == .minus) { bytes.append(UInt8(ascii: "-")) }
            appendInteger(UInt64(abs(v)))
            if decimals > 0 {
                bytes.append(UInt8(ascii: "."))
                bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: decimals))
            }
            return
        }
        // Huge magnitudes in exponent form (valid JSON) so the text always fits the buffer.
        var buf = [CChar](repeating: 0, count: 64)
        let n = abs(v) < 1e15
            ? withVaList([min(decimals, 17), v]) { vsnprintf(&buf, 64, "%.*f", $0) }
            : withVaList([v]) { vsnprintf(&buf, 64, "%.17g", $0) }
        bytes.append(contentsOf: buf[0..<max(0, min(Int(n), 63))].map { UInt8(bitPattern: $0) })
    }

    private static let nullBytes: [UInt8] = Array("null".utf8)
    private static let trueBytes: [UInt8] = Array("true".utf8)
    private static let falseBytes: [UInt8] = Array("false".utf8)

    // Convenience members.
    public mutating func member(_ k: String, _ v: String) { key(k); string(v) }
    public mutating func member(_ k: String, _ v: String?) { key(k); if let v { string(v) } else { null() } }
    public mutating func member<T: BinaryInteger>(_ k: String, _ v: T) { key(k); int(v) }
    public mutating func member<T: BinaryInteger>(_ k: String, _ v: T?) { key(k); if let v { int(v) } else { null() } }
    public mutating func member(_ k: String, _ v: Bool) { key(k); bool(v) }
    public mutating func member(_ k: String, double v: Double?, decimals: Int = 3) {
        key(k); if let v { double(v, decimals: decimals) } else { null() }
    }

    /// Decimal digits written in place (no temporary array per number).
    private mutating func appendInteger<T: BinaryInteger>(_ v: T) {
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        var m = UInt64(v.magnitude)
        var count = 1
        var t = m / 10
        while t > 0 { count += 1; t /= 10 }
        let end = bytes.count + count
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: count))
        bytes.withUnsafeMutableBufferPointer { p in
            var i = end - 1
            repeat {
                p[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: m % 10)
                m /= 10
                i -= 1
            } while m > 0
        }
    }

    @inline(__always)
    private static func needsEscape(_ b: UInt8) -> Bool { b < 0x20 || b == 0x22 || b == 0x5c || b == 0x7f }

    private mutating func appendQuoted(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        // Fast path: nothing to escape (keys, addresses, names): one bulk copy.
        let copied = s.withUTF8 { u -> Bool in
            for b in u where JSONWriter.needsEscape(b) { return false }
            bytes.append(contentsOf: u)
            return true
        }
        if !copied {
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
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends a newline (NDJSON record separator).
    public mutating func newline() { bytes.append(0x0a) }

    /// Clears the buffer for the next record, keeping capacity.
    public mutating func reset() { bytes.removeAll(keepingCapacity: true); comma = false; outer.removeAll(keepingCapacity: true) }
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
