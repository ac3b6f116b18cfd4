/// Text attributes a cell can carry on top of its theme role (`A_BOLD`, `A_UNDERLINE`, ...).
public struct TextAttributes: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let bold = TextAttributes(rawValue: 1)
    public static let underline = TextAttributes(rawValue: 2)
    public static let reverse = TextAttributes(rawValue: 4)
    public static let dim = TextAttributes(rawValue: 8)

    /// Attribute names in the order theme files and snapshots write them.
    public static let names: [(String, TextAttributes)] = [
        ("bold", .bold), ("underline", .underline), ("reverse", .reverse), ("dim", .dim),
    ]

    /// `bold,reverse` style text; `-` when empty.
    public var name: String {
        let parts = TextAttributes.names.filter { contains($0.1) }.map(\.0)
        return parts.isEmpty ? "-" : parts.joined(separator: ",")
    }
}

/// One terminal cell: a grapheme, its theme role and extra attributes.
///
/// A double-width grapheme occupies its cell and the next one; the next one is a
/// continuation cell (`isContinuation`) that the backend never draws itself.
public struct Cell: Hashable, Sendable {
    public var character: Character
    public var role: ThemeRole
    public var attributes: TextAttributes
    public var isContinuation: Bool

    public init(_ character: Character = " ", role: ThemeRole = .normal, attributes: TextAttributes = [],
                isContinuation: Bool = false) {
        self.character = character; self.role = role; self.attributes = attributes
        self.isContinuation = isContinuation
    }
    public static let blank = Cell()
}

/// A rectangle of styled cells at an explicit size: what every view renders into.
public struct ScreenBuffer: Hashable, Sendable {
    public let cols: Int
    public let rows: Int
    public private(set) var cells: [Cell]
    /// Where the backend should leave the cursor (filter input); nil hides it.
    public var cursor: (x: Int, y: Int)? {
        get { cursorX < 0 ? nil : (cursorX, cursorY) }
        set { cursorX = newValue?.x ?? -1; cursorY = newValue?.y ?? -1 }
    }
    private var cursorX = -1
    private var cursorY = -1

    public init(cols: Int, rows: Int) {
        self.cols = max(0, cols); self.rows = max(0, rows)
        cells = Array(repeating: .blank, count: self.cols * self.rows)
    }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * cols + x] }
        set { cells[y * cols + x] = newValue }
    }

    /// Fills a rectangle (clipped to the buffer) with blanks of a role.
    public mutating func fill(x: Int = 0, y: Int, width: Int? = nil, height: Int = 1, role: ThemeRole,
                              attributes: TextAttributes = [], character: Character = " ") {
        let w = width ?? (cols - x)
        let x0 = max(0, x), x1 = min(cols, x + w), y0 = max(0, y), y1 = min(rows, y + height)
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 {
            for xx in x0..<x1 { cells[yy * cols + xx] = Cell(character, role: role, attributes: attributes) }
        }
    }

    /// Writes text at (x, y), clipped to `maxWidth` columns and the buffer edge.
    /// Control characters are made visible, zero-width marks dropped and wide graphemes take
    /// two cells (never split: a wide grapheme that would straddle the limit becomes a space).
    /// Returns the number of columns written.
    @discardableResult
    public mutating func write(_ text: String, x: Int, y: Int, role: ThemeRole = .normal,
                               attributes: TextAttributes = [], maxWidth: Int? = nil) -> Int {
        guard y >= 0, y < rows else { return 0 }
        let limit = min(cols, maxWidth.map { x + max(0, $0) } ?? cols)
        var cx = x
        for ch in text {
            if cx >= limit { break }
            let w = TextWidth.of(ch)
            if w == 0 { continue }
            if w < 0 {
                // Control: draw a visible replacement instead.
                for r in TextWidth.visible(ch) {
                    if cx >= limit { break }
                    if cx >= 0 { setCell(cx, y, Cell(r, role: role, attributes: attributes)) }
                    cx += 1
                }
                continue
            }
            if cx + w > limit {
                if cx >= 0 { setCell(cx, y, Cell(" ", role: role, attributes: attributes)) }
                cx += 1
                break
            }
            if cx >= 0 {
                setCell(cx, y, Cell(ch, role: role, attributes: attributes))
                if w == 2 { setCell(cx + 1, y, Cell(" ", role: role, attributes: attributes, isContinuation: true)) }
            }
            cx += w
        }
        return max(0, min(cx, limit) - max(x, 0))
    }

    /// Changes the role/attributes of existing cells in a span (highlights, selection bars).
    public mutating func restyle(x: Int, y: Int, width: Int, role: ThemeRole? = nil, adding: TextAttributes = []) {
        guard y >= 0, y < rows else { return }
        for xx in max(0, x)..<max(max(0, x), min(cols, x + width)) {
            if let role { cells[y * cols + xx].role = role }
            cells[y * cols + xx].attributes.formUnion(adding)
        }
    }

    private mutating func setCell(_ x: Int, _ y: Int, _ cell: Cell) {
        guard x >= 0, x < cols else { return }
        let i = y * cols + x
        // Overwriting half of a wide grapheme blanks the other half.
        if cells[i].isContinuation, x > 0, !cell.isContinuation { cells[i - 1].character = " " }
        if !cells[i].isContinuation, TextWidth.of(cells[i].character) == 2, x + 1 < cols, !cell.isContinuation {
            cells[i + 1] = Cell(" ", role: cells[i + 1].role, attributes: cells[i + 1].attributes)
        }
        cells[i] = cell
    }

    /// Replaces every non-ASCII grapheme with an ASCII stand-in (`→` becomes `>`, unknown
    /// ones `?`), for terminals without a UTF-8 locale. Wide graphemes become two cells of ASCII.
    public mutating func foldToASCII() {
        for i in cells.indices {
            let c = cells[i].character
            if c.isASCII { continue }
            if cells[i].isContinuation { cells[i].isContinuation = false; cells[i].character = "?"; continue }
            cells[i].character = ScreenBuffer.asciiFold[c] ?? "?"
        }
    }

    static let asciiFold: [Character: Character] = [
        "→": ">", "←": "<", "↑": "^", "↓": "v", "⇄": "=", "…": "~", "∞": "-", "▲": "^", "▼": "v", "›": ">",
        "─": "-", "│": "|", "┌": "+", "┐": "+", "└": "+", "┘": "+", "█": "#", "░": ".", "●": "*",
        "▁": "_", "▂": ".", "▃": ",", "▄": "-", "▅": "=", "▆": "+", "▇": "*",
    ]

    /// The text of one row (continuation cells omitted), trailing spaces kept.
    public func line(_ y: Int) -> String {
        var s = ""
        s.reserveCapacity(cols)
        for x in 0..<cols where !self[x, y].isContinuation { s.append(self[x, y].character) }
        return s
    }

    /// The whole screen as text lines with trailing spaces trimmed.
    public var text: String {
        (0..<rows).map { y -> String in
            var l = line(y)
            while l.last == " " { l.removeLast() }
            return l
        }.joined(separator: "\n")
    }

    /// A run of cells on one row sharing a role and attributes.
    public struct StyleRun: Hashable, Sendable {
        public var row: Int, column: Int, length: Int
        public var role: ThemeRole
        public var attributes: TextAttributes
    }

    /// Style runs row by row; runs of `normal` with no attributes are left out.
    public var styleRuns: [StyleRun] {
        var out: [StyleRun] = []
        for y in 0..<rows {
            var x = 0
            while x < cols {
                let c = self[x, y]
                var e = x + 1
                while e < cols, self[e, y].role == c.role, self[e, y].attributes == c.attributes { e += 1 }
                if c.role != .normal || !c.attributes.isEmpty {
                    out.append(StyleRun(row: y, column: x, length: e - x, role: c.role, attributes: c.attributes))
                }
                x = e
            }
        }
        return out
    }

    /// The snapshot form: the text, a separator, then one line per style run
    /// (`row col+len role attrs`).
    public var snapshotText: String {
        var s = text + "\n--- styles (row col+len role attrs) ---\n"
        for r in styleRuns {
            s += "\(r.row) \(r.column)+\(r.length) \(r.role.rawValue)"
            if !r.attributes.isEmpty { s += " " + r.attributes.name }
            s += "\n"
        }
        return s
    }
}

/// Terminal column widths of graphemes, without relying on the C library's locale.
public enum TextWidth {
    /// Columns a grapheme occupies: 0 (combining/format), 1, 2 (wide/emoji), or -1 (control).
    public static func of(_ ch: Character) -> Int {
        guard let first = ch.unicodeScalars.first else { return 0 }
        let v = first.value
        if v < 0x20 || (v >= 0x7f && v < 0xa0) { return -1 }
        if v < 0x300 { return 1 }
        switch first.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format, .lineSeparator, .paragraphSeparator: return 0
        case .control: return -1
        default: break
        }
        if isWide(v) || first.properties.isEmojiPresentation { return 2 }
        return 1
    }

    /// Columns a string occupies when drawn by `ScreenBuffer.write`.
    public static func of(_ s: String) -> Int {
        var n = 0
        for ch in s {
            let w = of(ch)
            n += w < 0 ? visible(ch).count : w
        }
        return n
    }

    /// The printable replacement for a control grapheme (`^[`, `\x85`).
    public static func visible(_ ch: Character) -> String {
        guard let v = ch.unicodeScalars.first?.value else { return "" }
        if v < 0x20 { return "^" + String(Character(Unicode.Scalar(UInt8(v + 0x40)))) }
        if v == 0x7f { return "^?" }
        let h = String(v, radix: 16)
        return "\\x" + (h.count < 2 ? "0" + h : h)
    }

    static func isWide(_ v: UInt32) -> Bool {
        switch v {
        case 0x1100...0x115f, 0x2e80...0x303e, 0x3041...0x33ff, 0x3400...0x4dbf, 0x4e00...0x9fff,
             0xa000...0xa4cf, 0xac00...0xd7a3, 0xf900...0xfaff, 0xfe30...0xfe4f, 0xff00...0xff60,
             0xffe0...0xffe6, 0x1f300...0x1f64f, 0x1f900...0x1f9ff, 0x20000...0x2fffd, 0x30000...0x3fffd:
            return true
        default:
            return false
        }
    }

    /// Truncates to at most `width` columns, ending with `…` (or `~` in ASCII) when cut.
    public static func truncate(_ s: String, to width: Int, ellipsis: String = "…") -> String {
        guard width > 0 else { return "" }
        if of(s) <= width { return s }
        var out = ""
        var w = 0
        let ew = of(ellipsis)
        for ch in s {
            let cw = max(0, of(ch))
            if w + cw > width - ew { break }
            out.append(ch); w += cw
        }
        return out + ellipsis
    }

    /// Pads (or truncates) to exactly `width` columns.
    public static func pad(_ s: String, to width: Int, right: Bool = false, ellipsis: String = "…") -> String {
        let t = truncate(s, to: width, ellipsis: ellipsis)
        let gap = String(repeating: " ", count: max(0, width - of(t)))
        return right ? gap + t : t + gap
    }
}

/// Makes a kernel-supplied string safe to draw: control characters, escape sequences,
/// bidirectional overrides and zero-width characters become visible escapes.
public enum Sanitizer {
    public static func clean(_ s: String, maxLength: Int = 256) -> String {
        var out = ""
        var count = 0
        for scalar in s.unicodeScalars {
            if count >= maxLength { out += "…"; break }
            let v = scalar.value
            let bad = v < 0x20 || (v >= 0x7f && v < 0xa0) || (0x200b...0x200f).contains(v)
                || (0x202a...0x202e).contains(v) || (0x2066...0x2069).contains(v) || v == 0xfeff
                || scalar.properties.generalCategory == .format || scalar.properties.generalCategory == .surrogate
                || scalar.properties.generalCategory == .privateUse || scalar.properties.generalCategory == .unassigned
            if bad {
                let h = String(v, radix: 16)
                out += v <= 0xff ? "\\x" + (h.count < 2 ? "0" + h : h) : "\\u{" + h + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}
