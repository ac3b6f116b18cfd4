import XFRMWire

/// Everything one snapshot shows, read from the kernel (or a replay).
public struct SnapshotData {
    public var takenAt: Double
    public var host: String
    public var netns: String?
    public var kernel: String
    public var sas: [XFRMState]
    public var policies: [XFRMPolicy]
    public var sad: XFRMSADInfo?
    public var spd: XFRMSPDInfo?
    public var xfrmStat: [(name: String, value: UInt64)]
    public init(takenAt: Double, host: String, netns: String?, kernel: String, sas: [XFRMState],
                policies: [XFRMPolicy], sad: XFRMSADInfo?, spd: XFRMSPDInfo?, xfrmStat: [(name: String, value: UInt64)]) {
        self.takenAt = takenAt; self.host = host; self.netns = netns; self.kernel = kernel
        self.sas = sas; self.policies = policies; self.sad = sad; self.spd = spd; self.xfrmStat = xfrmStat
    }
}

/// Parses /proc/net/xfrm_stat ("XfrmInError   0" lines), keeping the kernel's order.
public func parseXFRMStat(_ text: String) -> [(name: String, value: UInt64)] {
    var out: [(String, UInt64)] = []
    for line in text.split(separator: "\n") {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 2, let v = UInt64(parts[1]) else { continue }
        out.append((String(parts[0]), v))
    }
    return out
}

/// The `snapshot --json` document.
public enum SnapshotJSON {
    /// Schema version; bumped only on incompatible changes.
    public static let schemaVersion = 1

    public static func render(_ s: SnapshotData) -> [UInt8] {
        var w = JSONWriter(reserve: 2048 + s.sas.count * 1100 + s.policies.count * 700)
        write(&w, s)
        return w.bytes
    }

    /// The same document, handed to `sink` in chunks of about `chunk` bytes (bounded memory).
    public static func write(_ s: SnapshotData, chunk: Int = 1 << 20, to sink: @escaping (UnsafeRawBufferPointer) -> Void) {
        var w = JSONWriter(chunk: chunk, sink: sink)
        write(&w, s)
        w.flush()
    }

    static func write(_ w: inout JSONWriter, _ s: SnapshotData) {
        w.beginObject()
        w.member("schema", schemaVersion)
        w.member("taken_at", iso8601(s.takenAt))
        w.member("taken_at_epoch", double: s.takenAt, decimals: 3)
        w.member("host", s.host)
        w.member("netns", s.netns)
        w.member("kernel", s.kernel)
        w.key("sas")
        w.beginArray()
        let sas = s.sas
        ParallelJSON.elements(into: &w, count: sas.count) { w, range in
            for sa in sas[range] { KernelJSON.sa(&w, sa) }
        }
        w.endArray()
        w.key("policies")
        w.beginArray()
        let policies = s.policies
        ParallelJSON.elements(into: &w, count: policies.count) { w, range in
            for p in policies[range] { KernelJSON.policy(&w, p) }
        }
        w.endArray()
        KernelJSON.counts(&w, sad: s.sad, spd: s.spd)
        w.key("xfrm_stat")
        w.beginObject()
        for (k, v) in s.xfrmStat { w.key(dynamic: k); w.int(v) }
        w.endObject()
        w.endObject()
        w.newline()
    }
}

/// The human-readable `snapshot` tables.
public enum SnapshotText {
    /// Formats a byte count with binary units (`1.5 KiB`).
    public static func bytes(_ v: UInt64) -> String {
        if v < 1024 { return "\(v) B" }
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB"]
        var x = Double(v) / 1024
        var i = 0
        while x >= 1024 && i < units.count - 1 { x /= 1024; i += 1 }
        return format1(x) + " " + units[i]
    }

    static func format1(_ x: Double) -> String {
        let r = (x * 10).rounded() / 10
        let whole = Int(r)
        let frac = Int(((r - Double(whole)) * 10).rounded())
        return "\(whole).\(frac)"
    }

    /// Lays out rows as left-aligned columns separated by two spaces (widths in characters).
    public static func table(_ header: [String], _ rows: [[String]]) -> String {
        // Written as bytes: at 100,000 rows, counting characters and joining strings cell by cell
        // was most of the text snapshot's time. A cell is almost always ASCII, where its width is
        // its UTF-8 length; only other cells have their characters counted.
        func width(_ c: String) -> Int {
            let u = c.utf8
            return u.allSatisfy { $0 < 0x80 } ? u.count : c.count
        }
        // Cell widths in one flat array, row after row (the header first).
        var cellWidths: [Int] = header.map(width)
        var widths = cellWidths
        var bytes = 0
        for r in rows {
            for (i, c) in r.enumerated() {
                let w = width(c)
                cellWidths.append(w)
                if i < widths.count { widths[i] = max(widths[i], w) }
                bytes += c.utf8.count
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes + (rows.count + 1) * (widths.reduce(0, +) + 2 * widths.count + 1))
        var k = 0
        for j in 0...rows.count {
            let cells = j == 0 ? header : rows[j - 1]
            for (i, c) in cells.enumerated() {
                out.append(contentsOf: c.utf8)
                if i < cells.count - 1 { out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: widths[i] - cellWidths[k] + 2)) }
                k += 1
            }
            out.append(UInt8(ascii: "\n"))
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func render(_ s: SnapshotData) -> String {
        var out = "ipsectop snapshot  host \(s.host)  netns \(s.netns ?? "(current)")  kernel \(s.kernel)  at \(iso8601(s.takenAt))\n\n"
        out += "SAs (\(s.sas.count))\n"
        let saRows: [[String]] = s.sas.map { sa in
            let a = sa.attributes
            let enc = a.encapsulation.map { "\($0.type) \($0.sourcePort)->\($0.destinationPort)" } ?? "-"
            let alg = a.aead?.name ?? [a.crypt?.name, (a.authTrunc ?? a.auth)?.name].compactMap { $0 }.joined(separator: "+")
            return [a.direction?.name ?? "-", "\(sa.source) -> \(sa.destination)", "\(sa.proto)/\(sa.mode)",
                    SAIdentity.hex(sa.spi), String(sa.reqid), enc, a.mark.map { $0.description } ?? "-",
                    sa.isLarval ? "(larval)" : (alg.isEmpty ? "-" : alg),
                    bytes(sa.lifetimeCurrent.bytes), String(sa.lifetimeCurrent.packets)]
        }
        out += table(["DIR", "SRC -> DST", "PROTO/MODE", "SPI", "REQID", "ENCAP", "MARK", "ALGORITHMS", "BYTES", "PACKETS"], saRows)
        out += "\nPolicies (\(s.policies.count))\n"
        let polRows: [[String]] = s.policies.map { p in
            let tmpl = p.attributes.templates.map { "\($0.proto) \($0.mode) \($0.source)->\($0.destination) reqid \($0.reqid)" }
                .joined(separator: "; ")
            return [p.direction.description, p.selector.summary, p.actionName, String(p.priority), String(p.index),
                    tmpl.isEmpty ? "-" : tmpl]
        }
        out += table(["DIR", "SELECTOR", "ACTION", "PRIORITY", "INDEX", "TEMPLATES"], polRows)
        if let sad = s.sad {
            out += "\nSAD: \(sad.count.map(String.init) ?? "?") SAs, hash \(sad.hashCount.map(String.init) ?? "?")/\(sad.hashMax.map(String.init) ?? "?")\n"
        }
        if let spd = s.spd {
            out += "SPD: in \(spd.inbound ?? 0) out \(spd.outbound ?? 0) fwd \(spd.forward ?? 0) (socket: in \(spd.inboundSocket ?? 0) out \(spd.outboundSocket ?? 0) fwd \(spd.forwardSocket ?? 0))\n"
        }
        if !s.xfrmStat.isEmpty {
            let nonzero = s.xfrmStat.filter { $0.value != 0 }
            out += "\n/proc/net/xfrm_stat: " + (nonzero.isEmpty ? "all \(s.xfrmStat.count) counters zero\n"
                : nonzero.map { "\($0.name) \($0.value)" }.joined(separator: ", ") + "\n")
        }
        return out
    }
}
