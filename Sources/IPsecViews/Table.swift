import XFRMWire

/// What a cell renderer needs besides the row.
struct RenderContext {
    var now: Double
    var glyphs: Glyphs
    var utcOffset: Int
    /// When each SA's counters or encapsulation last changed (`Dashboard.changeTime(of:)`).
    var changedSA: (SAIdentity) -> Double?
    /// When each peer's NAT mapping last changed.
    var changedPeer: [String: Double]
    /// How long a change stays highlighted.
    var highlight: Double

    func saChanged(_ id: SAIdentity) -> Bool { changedSA(id).map { now - $0 < highlight } ?? false }
    func peerChanged(_ id: String) -> Bool { changedPeer[id].map { now - $0 < highlight } ?? false }
}

/// How a column sorts its rows.
enum SortKey<Row>: Sendable {
    case number(@Sendable (Row) -> Double)
    /// Four 64-bit words compared in order (addresses): computed once per row.
    case words(@Sendable (Row) -> SortWords)
    /// A comparator, for short lists (it runs n log n times on copies of the rows).
    case ordered(@Sendable (Row, Row) -> Bool)
}

/// A fixed-size sort key (e.g. two IP addresses as family+high, low words).
struct SortWords: Comparable, Sendable {
    var a: UInt64, b: UInt64, c: UInt64, d: UInt64
    static func < (x: Self, y: Self) -> Bool { (x.a, x.b, x.c, x.d) < (y.a, y.b, y.c, y.d) }

    /// Two addresses: family folded into the high word's top bits is not needed since
    /// IPv4 addresses have high == 0 and sort before IPv6 anyway within a family.
    init(_ x: IPAddress, _ y: IPAddress) {
        a = UInt64(x.family.rawValue) << 56 ^ x.high; b = x.low
        c = UInt64(y.family.rawValue) << 56 ^ y.high; d = y.low
    }
}

/// One table column: width, priority (lower survives longer at narrow widths) and renderers.
struct Column<Row>: Sendable {
    var id: String
    var title: String
    var width: Int
    var priority: Int
    var rightAligned = false
    var flexible = false
    /// Largest width a flexible column grows to (nil: no limit).
    var maxWidth: Int? = nil
    var text: @Sendable (Row, RenderContext) -> String
    var role: @Sendable (Row, RenderContext) -> ThemeRole = { _, _ in .normal }
    var sort: SortKey<Row>?
    /// Custom drawing (bars, sparklines); replaces `text` when set.
    var draw: (@Sendable (inout ScreenBuffer, Int, Int, Int, Row, RenderContext) -> Void)? = nil
}

/// A column placed at an x position and width.
struct PlacedColumn {
    var index: Int
    var x: Int
    var width: Int
}

enum TableLayout {
    /// Keeps the most important columns that fit `width` (1-cell gaps, 2-cell marker first),
    /// in their declared order; flexible columns share the spare space.
    static func place<Row>(_ columns: [Column<Row>], width: Int) -> [PlacedColumn] {
        let marker = 2
        var chosen = Set<Int>()
        var used = marker
        for i in columns.indices.sorted(by: { (columns[$0].priority, $0) < (columns[$1].priority, $1) }) {
            let need = columns[i].width + (chosen.isEmpty ? 0 : 1)
            if used + need <= width { chosen.insert(i); used += need }
        }
        let order = columns.indices.filter { chosen.contains($0) }
        let flex = order.filter { columns[$0].flexible }
        var spare = max(0, width - used)
        // Share the spare space: capped columns first (up to their cap), the rest to uncapped ones.
        var extra: [Int: Int] = [:]
        let capped = flex.filter { columns[$0].maxWidth != nil }
        let uncapped = flex.filter { columns[$0].maxWidth == nil }
        for (k, i) in capped.enumerated() {
            let share = spare / (capped.count - k + (uncapped.isEmpty ? 0 : uncapped.count))
            let give = min(share, max(0, columns[i].maxWidth! - columns[i].width))
            extra[i] = give; spare -= give
        }
        for (k, i) in uncapped.enumerated() {
            let share = spare / (uncapped.count - k)
            extra[i] = share; spare -= share
        }
        var x = marker
        var out: [PlacedColumn] = []
        for (n, i) in order.enumerated() {
            let w = columns[i].width + (extra[i] ?? 0)
            out.append(PlacedColumn(index: i, x: x, width: w))
            x += w + (n == order.count - 1 ? 0 : 1)
        }
        return out
    }

    static func drawHeader<Row>(_ columns: [Column<Row>], placed: [PlacedColumn], into b: inout ScreenBuffer, y: Int,
                                sortColumn: String?, ascending: Bool, glyphs: Glyphs) {
        b.fill(y: y, role: .columnHeader)
        for p in placed {
            let c = columns[p.index]
            let sorted = c.id == sortColumn
            var title = c.title
            let arrow = ascending ? glyphs.sortAscending : glyphs.sortDescending
            if sorted, TextWidth.of(title + arrow) <= p.width { title += arrow }
            let t = TextWidth.pad(title, to: p.width, right: c.rightAligned, ellipsis: glyphs.ellipsis)
            b.write(t, x: p.x, y: y, role: sorted ? .columnSorted : .columnHeader, maxWidth: p.width)
        }
    }

    static func drawRow<Row>(_ columns: [Column<Row>], placed: [PlacedColumn], row: Row, into b: inout ScreenBuffer,
                             y: Int, context: RenderContext) {
        for p in placed {
            let c = columns[p.index]
            if let d = c.draw { d(&b, p.x, y, p.width, row, context); continue }
            let t = TextWidth.pad(c.text(row, context), to: p.width, right: c.rightAligned, ellipsis: context.glyphs.ellipsis)
            b.write(t, x: p.x, y: y, role: c.role(row, context), maxWidth: p.width)
        }
    }

    /// Indices of `keys` sorted by key (stable: ties keep index order), descending when asked.
    static func sorted(numbers keys: [Double], ascending: Bool) -> [Int] {
        var pairs = keys.enumerated().map { ($1, $0) }
        if ascending {
            pairs.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        } else {
            pairs.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        }
        return pairs.map(\.1)
    }

    /// Indices of `keys` sorted by key (stable: ties keep index order), descending when asked.
    static func sorted(words keys: [SortWords], ascending: Bool) -> [Int] {
        var pairs = keys.enumerated().map { ($1, $0) }
        if ascending {
            pairs.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        } else {
            pairs.sort { $1.0 < $0.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        }
        return pairs.map(\.1)
    }

    /// Row indices sorted by a column (stable: ties keep data order), descending when asked.
    static func sorted<Row>(_ rows: [Row], by key: SortKey<Row>?, ascending: Bool) -> [Int] {
        var idx = Array(rows.indices)
        guard let key else { return ascending ? idx : idx.reversed() }
        switch key {
        case .number(let f):
            idx = sorted(numbers: rows.withUnsafeBufferPointer { buf in buf.indices.map { f(buf[$0]) } }, ascending: ascending)
        case .words(let f):
            idx = sorted(words: rows.withUnsafeBufferPointer { buf in buf.indices.map { f(buf[$0]) } }, ascending: ascending)
        case .ordered(let less):
            // Borrow rows from the buffer: copying a row per comparison costs more than comparing.
            rows.withUnsafeBufferPointer { buf in
                idx.sort { a, b in
                    let (i, j) = ascending ? (a, b) : (b, a)
                    if less(buf[i], buf[j]) { return true }
                    if less(buf[j], buf[i]) { return false }
                    return a < b
                }
            }
        }
        return idx
    }
}

/// Case-insensitive substring search over precomputed lower-case ASCII/UTF-8 keys.
struct SearchMatcher {
    let needle: [UInt8]
    let inverted: Bool

    init(_ filter: String) {
        var f = Substring(filter)
        var inv = false
        if f.first == "!" { inv = true; f = f.dropFirst() }
        inverted = inv
        needle = Array(String(f).lowercased().utf8)
    }

    var isEmpty: Bool { needle.isEmpty }

    func matches(_ hay: [UInt8]) -> Bool {
        if needle.isEmpty { return true }
        return SearchMatcher.contains(hay, needle) != inverted
    }

    static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        let n = needle.count, h = hay.count
        if n > h { return false }
        return hay.withUnsafeBufferPointer { hp in
            needle.withUnsafeBufferPointer { np in
                let first = np[0]
                var i = 0
                while i <= h - n {
                    if hp[i] == first {
                        var j = 1
                        while j < n && hp[i + j] == np[j] { j += 1 }
                        if j == n { return true }
                    }
                    i += 1
                }
                return false
            }
        }
    }

    /// The parts joined by spaces, lower-cased (`parts.joined(separator: " ").lowercased()` as UTF-8).
    static func key(_ parts: [String]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(parts.reduce(parts.count) { $0 + $1.utf8.count })
        var ascii = true
        for (i, p) in parts.enumerated() {
            if i > 0 { out.append(0x20) }
            for c in p.utf8 {
                if c >= 0x80 { ascii = false }
                out.append(c >= 0x41 && c <= 0x5a ? c | 0x20 : c)
            }
        }
        // ASCII lower-casing is all `lowercased()` does to ASCII text; anything else goes through it.
        return ascii ? out : Array(parts.joined(separator: " ").lowercased().utf8)
    }
}
