import Glibc
import XFRMWire

/// A streaming JSON writer into a byte buffer: keys are written in the order
/// given, so documents have a stable field order, and no intermediate objects
/// are built (snapshots of 100,000 SAs stay cheap).
public struct JSONWriter {
    /// The output bytes, in a buffer of our own: `Array.append` checked uniqueness and capacity
    /// per byte run, which was a third of a large snapshot's time. The writer checks uniqueness once
    /// per call (it is a value: a copy writes into its own buffer) and capacity once per piece.
    private final class Storage {
        var base: UnsafeMutablePointer<UInt8>
        var count = 0
        var capacity: Int

        init(capacity: Int) {
            self.capacity = max(64, capacity)
            base = .allocate(capacity: self.capacity)
        }

        deinit { base.deallocate() }

        func copy() -> Storage {
            let c = Storage(capacity: capacity)
            c.base.update(from: base, count: count)
            c.count = count
            return c
        }

        @inline(__always)
        func reserve(_ n: Int) {
            if count + n > capacity { grow(count + n) }
        }

        func grow(_ need: Int) {
            let newCapacity = max(need, capacity * 2)
            let b = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
            b.update(from: base, count: count)
            base.deallocate()
            base = b
            capacity = newCapacity
        }

        @inline(__always)
        func put(_ byte: UInt8) {
            reserve(1)
            base[count] = byte
            count += 1
        }

        @inline(__always)
        func put(_ bytes: UnsafeRawBufferPointer) {
            guard let src = bytes.baseAddress, !bytes.isEmpty else { return }
            reserve(bytes.count)
            UnsafeMutableRawPointer(base + count).copyMemory(from: src, byteCount: bytes.count)
            count += bytes.count
        }

        @inline(__always)
        func put(_ byte: UInt8, times n: Int) {
            reserve(n)
            (base + count).initialize(repeating: byte, count: n)
            count += n
        }

        var array: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }
    }

    private var storage: Storage

    /// What was written so far (since the last flush, for streaming writers).
    public var bytes: [UInt8] { storage.array }

    /// Reads what was written so far in place (no copy: one NDJSON line per event).
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base, count: storage.count))
    }
    /// Whether the current (innermost) container already has a member: the next one needs a comma.
    private var comma = false
    /// The flags of the enclosing containers, innermost in bit 0 (an array of flags checked its
    /// uniqueness and capacity at every container); deeper than 64, in `deeper`.
    private var outer: UInt64 = 0
    private var depth = 0
    private var deeper: [Bool] = []

    @inline(__always)
    private mutating func pushContainer() {
        if depth >= 64 { deeper.append(outer >> 63 != 0) }
        outer = outer << 1 | (comma ? 1 : 0)
        depth += 1
        comma = false
    }

    @inline(__always)
    private mutating func popContainer() {
        precondition(depth > 0, "JSONWriter: more containers closed than opened")
        comma = outer & 1 != 0
        outer >>= 1
        depth -= 1
        if depth >= 64, let top = deeper.popLast() { outer |= (top ? 1 : 0) << 63 }
    }

    /// Streaming: when set, `bytes` is handed to the sink and emptied whenever it grows past
    /// `flushThreshold` (checked as containers open) and by `flush()`. The concatenated output is
    /// the same document; memory stays bounded by the threshold instead of the document size.
    /// The sink reads the bytes in place, during the call only.
    private var sink: ((UnsafeRawBufferPointer) -> Void)?
    private var flushThreshold = Int.max

    public init(reserve: Int = 4096) { storage = Storage(capacity: reserve) }

    /// A writer that hands its output to `sink` in chunks of about `chunk` bytes; call `flush()` at the end.
    public init(chunk: Int, sink: @escaping (UnsafeRawBufferPointer) -> Void) {
        storage = Storage(capacity: chunk + chunk / 4)
        self.sink = sink
        flushThreshold = chunk
    }

    /// The buffer, this writer's own (copied first if a copy of the writer shares it).
    @inline(__always)
    private mutating func out() -> Storage {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return storage
    }

    /// Hands what was written so far to the sink (streaming writers only).
    public mutating func flush() {
        guard let sink, storage.count > 0 else { return }
        let o = out()
        sink(UnsafeRawBufferPointer(start: o.base, count: o.count))
        o.count = 0
    }

    @inline(__always)
    private mutating func flushIfFull() {
        if storage.count >= flushThreshold { flush() }
    }

    @inline(__always)
    private mutating func separator(_ o: Storage) {
        if comma { o.put(UInt8(ascii: ",")) }
        comma = true
    }

    public mutating func beginObject() {
        flushIfFull()
        let o = out()
        separator(o); o.put(UInt8(ascii: "{")); pushContainer()
    }
    public mutating func endObject() { popContainer(); out().put(UInt8(ascii: "}")) }
    public mutating func beginArray() {
        let o = out()
        separator(o); o.put(UInt8(ascii: "[")); pushContainer()
    }
    public mutating func endArray() { popContainer(); out().put(UInt8(ascii: "]")) }

    /// Writes `"name":` ; the next value call completes the member.
    /// A member name written in code: copied as it is, without looking for bytes to escape (a
    /// name that needs escaping is a programming error, caught in debug builds).
    public mutating func key(_ name: StaticString) {
        assert(name.hasPointerRepresentation
               && !UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount).contains(where: JSONWriter.needsEscape),
               "member name \(name) needs escaping")
        let o = out()
        // One capacity check, then the bytes in place: `,"name":`.
        let n = name.utf8CodeUnitCount
        o.reserve(n + 4)
        var p = o.base + o.count
        if comma { p.pointee = UInt8(ascii: ","); p += 1 }
        p.pointee = UInt8(ascii: "\"")
        (p + 1).update(from: name.utf8Start, count: n)
        p += n + 1
        p[0] = UInt8(ascii: "\"")
        p[1] = UInt8(ascii: ":")
        o.count = p + 2 - o.base
        comma = false
    }

    /// A member name known only at run time (escaped as any string).
    public mutating func key(dynamic name: String) {
        let o = out()
        separator(o)
        JSONWriter.appendQuoted(name, to: o)
        o.put(UInt8(ascii: ":"))
        comma = false
    }

    public mutating func string(_ s: String) { let o = out(); separator(o); JSONWriter.appendQuoted(s, to: o) }

    /// An address as a string (`description`'s text, written in place), optionally with a
    /// prefix length (`"192.0.2.0/24"`).
    public mutating func address(_ a: IPAddress, prefixLength: UInt8? = nil) {
        let o = out()
        separator(o)
        o.reserve(IPAddress.maxTextLength + 1)
        o.base[o.count] = UInt8(ascii: "\"")
        o.count += 1 + a.writeText(to: o.base + o.count + 1) // (ASCII: nothing to escape)
        if let p = prefixLength {
            o.put(UInt8(ascii: "/"))
            JSONWriter.appendInteger(p, to: o)
        }
        o.put(UInt8(ascii: "\""))
    }
    /// Two addresses joined by `joiner`, with `:port` after the second unless `port` is 0, as
    /// one string written in place: a peer's text ("192.0.2.1 <-> 198.51.100.2:4500", as
    /// `PeerKey.description` gives it, see `peer(_:)`) without building it first.
    mutating func addressPair(_ a: IPAddress, _ joiner: StaticString, _ b: IPAddress, port: UInt16) {
        let o = out()
        separator(o)
        o.reserve(2 * IPAddress.maxTextLength + joiner.utf8CodeUnitCount + 8)
        o.base[o.count] = UInt8(ascii: "\"")
        o.count += 1 + a.writeText(to: o.base + o.count + 1)
        JSONWriter.put(joiner, to: o)
        o.count += b.writeText(to: o.base + o.count)
        if port != 0 {
            o.put(UInt8(ascii: ":"))
            JSONWriter.appendInteger(port, to: o)
        }
        o.put(UInt8(ascii: "\""))
    }
    public mutating func null() { let o = out(); separator(o); JSONWriter.put(JSONWriter.nullBytes, to: o) }
    public mutating func bool(_ b: Bool) {
        let o = out(); separator(o); JSONWriter.put(b ? JSONWriter.trueBytes : JSONWriter.falseBytes, to: o)
    }
    public mutating func int<T: BinaryInteger>(_ v: T) { let o = out(); separator(o); JSONWriter.appendInteger(v, to: o) }
    public mutating func double(_ v: Double, decimals: Int = 3) {
        let o = out()
        separator(o)
        guard v.isFinite else { JSONWriter.put(JSONWriter.nullBytes, to: o); return }
        // Whole numbers (idle rates are 0) print exactly as "%.*f" would: digits, then zeros.
        if v == v.rounded(.towardZero) && abs(v) < 9.0e15 && decimals >= 0 && decimals <= 20 {
            if v < 0 || (v == 0 && v.sign == .minus) { o.put(UInt8(ascii: "-")) }
            JSONWriter.appendInteger(UInt64(abs(v)), to: o)
            if decimals > 0 {
                o.put(UInt8(ascii: "."))
                o.put(UInt8(ascii: "0"), times: decimals)
            }
            return
        }
        if decimals >= 1 && decimals <= 6, JSONWriter.fixed(v, decimals: decimals, to: o) { return }
        // Huge magnitudes in exponent form (valid JSON) so the text always fits the buffer.
        var buf = [CChar](repeating: 0, count: 64)
        let n = abs(v) < 1e15
            ? withVaList([min(decimals, 17), v]) { vsnprintf(&buf, 64, "%.*f", $0) }
            : withVaList([v]) { vsnprintf(&buf, 64, "%.17g", $0) }
        buf.withUnsafeBytes { o.put(UnsafeRawBufferPointer(rebasing: $0[0..<max(0, min(Int(n), 63))])) }
    }

    private static let powersOfTen: [Double] = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000]

    /// `v` with `decimals` digits after the point, as `"%.*f"` prints it, in integers (the
    /// formatted call was most of the time of an SA's derived members: every age is fractional).
    /// Exact: the scaled value is below 2^40, so the product's rounding error is below 2^-12; when
    /// the fraction is within 2^-10 of one half, the rounding direction is left to the C library
    /// (returns false).
    private static func fixed(_ v: Double, decimals: Int, to o: Storage) -> Bool {
        let x = v.magnitude * powersOfTen[decimals]
        guard x < 1_099_511_627_776 else { return false }
        let whole = x.rounded(.down)
        let fraction = x - whole
        guard (fraction - 0.5).magnitude > 0.000_976_562_5 else { return false }
        let q = UInt64(whole) + (fraction > 0.5 ? 1 : 0)
        let scale = UInt64(powersOfTen[decimals])
        if v.sign == .minus { o.put(UInt8(ascii: "-")) }
        appendInteger(q / scale, to: o)
        o.put(UInt8(ascii: "."))
        appendInteger(q % scale, minimumDigits: decimals, to: o)
        return true
    }

    private static let nullBytes: StaticString = "null"
    private static let trueBytes: StaticString = "true"
    private static let falseBytes: StaticString = "false"

    @inline(__always)
    private static func put(_ s: StaticString, to o: Storage) {
        o.put(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    // Convenience members.
    public mutating func member(_ k: StaticString, _ v: String) { key(k); string(v) }
    public mutating func member(_ k: StaticString, _ v: String?) { key(k); if let v { string(v) } else { null() } }
    public mutating func member<T: BinaryInteger>(_ k: StaticString, _ v: T) { key(k); int(v) }
    public mutating func member<T: BinaryInteger>(_ k: StaticString, _ v: T?) { key(k); if let v { int(v) } else { null() } }
    public mutating func member(_ k: StaticString, _ v: Bool) { key(k); bool(v) }
    public mutating func member(_ k: StaticString, address a: IPAddress, prefixLength: UInt8? = nil) {
        key(k); address(a, prefixLength: prefixLength)
    }
    public mutating func member(_ k: StaticString, double v: Double?, decimals: Int = 3) {
        key(k); if let v { double(v, decimals: decimals) } else { null() }
    }

    /// Decimal digits written in place (no temporary array per number), zero-padded on the left to
    /// `minimumDigits`.
    private static func appendInteger<T: BinaryInteger>(_ v: T, minimumDigits: Int = 1, to o: Storage) {
        if v < 0 { o.put(UInt8(ascii: "-")) }
        var m = UInt64(v.magnitude)
        var digits = 1
        var t = m / 10
        while t > 0 { digits += 1; t /= 10 }
        digits = max(digits, minimumDigits)
        o.reserve(digits)
        var i = o.count + digits - 1
        for _ in 0..<digits {
            o.base[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: m % 10)
            m /= 10
            i -= 1
        }
        o.count += digits
    }

    @inline(__always)
    private static func needsEscape(_ b: UInt8) -> Bool { b < 0x20 || b == 0x22 || b == 0x5c || b == 0x7f }

    private static func appendQuoted(_ s: String, to o: Storage) {
        o.put(UInt8(ascii: "\""))
        // Fast path: nothing to escape (keys, addresses, names): one bulk copy.
        let copied = s.utf8.withContiguousStorageIfAvailable { u -> Bool in
            for b in u where needsEscape(b) { return false }
            o.put(UnsafeRawBufferPointer(u))
            return true
        } ?? false
        if !copied {
            for b in s.utf8 {
                switch b {
                case UInt8(ascii: "\""): o.put(92); o.put(34)
                case UInt8(ascii: "\\"): o.put(92); o.put(92)
                case 0x0a: o.put(92); o.put(UInt8(ascii: "n"))
                case 0x0d: o.put(92); o.put(UInt8(ascii: "r"))
                case 0x09: o.put(92); o.put(UInt8(ascii: "t"))
                case 0..<0x20, 0x7f:
                    let hex: StaticString = "0123456789abcdef"
                    o.put(92); o.put(UInt8(ascii: "u")); o.put(48); o.put(48)
                    o.put(hex.utf8Start[Int(b >> 4)]); o.put(hex.utf8Start[Int(b & 15)])
                default: o.put(b)
                }
            }
        }
        o.put(UInt8(ascii: "\""))
    }

    /// Appends array elements another writer wrote at its top level (`{...},{...}`): the array's
    /// next elements, as if written here one by one. Nothing to append: no change.
    public mutating func appendElements(of other: JSONWriter) {
        guard other.storage.count > 0 else { return }
        flushIfFull()
        let o = out()
        separator(o)
        let elements = UnsafeRawBufferPointer(start: other.storage.base, count: other.storage.count)
        if let sink, elements.count >= JSONWriter.directToSink {
            // A streaming writer hands a large block to its sink as it is (after what it holds),
            // instead of copying it into its own buffer first.
            if o.count > 0 { sink(UnsafeRawBufferPointer(start: o.base, count: o.count)) }
            o.count = 0
            sink(elements)
        } else {
            o.put(elements)
        }
    }

    /// Blocks of other writers at least this large go to a streaming writer's sink directly.
    static let directToSink = 64 << 10

    /// Appends a newline (NDJSON record separator).
    public mutating func newline() { out().put(0x0a) }

    /// Clears the buffer for the next record, keeping capacity.
    public mutating func reset() {
        out().count = 0; comma = false; outer = 0; depth = 0; deeper.removeAll(keepingCapacity: true)
    }
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
