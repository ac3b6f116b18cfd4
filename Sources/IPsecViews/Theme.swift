#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A semantic role a cell is drawn with; themes map roles to colours and attributes.
public enum ThemeRole: String, CaseIterable, Hashable, Sendable, Comparable {
    case normal
    case header
    case headerLabel = "header-label"
    case headerOK = "header-ok"
    case headerWarn = "header-warn"
    case headerError = "header-error"
    case title
    case tab
    case tabActive = "tab-active"
    case breadcrumb
    case border
    case columnHeader = "column-header"
    case columnSorted = "column-sorted"
    case rowSelected = "row-selected"
    case rowTagged = "row-tagged"
    case changed
    case ok
    case warn
    case error
    case dim
    case rateIn = "rate-in"
    case rateOut = "rate-out"
    case barFill = "bar-fill"
    case barSoft = "bar-soft"
    case barEmpty = "bar-empty"
    case sparkline
    case footer
    case footerKey = "footer-key"
    case filter
    case dialog
    case dialogTitle = "dialog-title"
    case danger
    case helpKey = "help-key"

    /// Roles in declaration order: index + 1 is the role's colour pair number.
    public static let ordered: [ThemeRole] = allCases
    public var index: Int { ThemeRole.ordered.firstIndex(of: self)! }
    public static func < (a: Self, b: Self) -> Bool { a.index < b.index }
}

/// A terminal colour as a theme names it.
public enum ThemeColor: Hashable, Sendable {
    /// The terminal's default foreground or background (`-1` for ncurses).
    case terminalDefault
    /// One of the 256 xterm palette entries (0-7 basic, 8-15 bright).
    case palette(UInt8)

    static let basicNames = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"]

    /// Parses `default`, `red`, `bright-red`, `color208` or a number 0-255.
    public init?(name: String) {
        let n = name.lowercased()
        if n == "default" { self = .terminalDefault; return }
        if let i = ThemeColor.basicNames.firstIndex(of: n) { self = .palette(UInt8(i)); return }
        if n.hasPrefix("bright-"), let i = ThemeColor.basicNames.firstIndex(of: String(n.dropFirst(7))) {
            self = .palette(UInt8(i + 8)); return
        }
        let digits = n.hasPrefix("color") ? String(n.dropFirst(5)) : n
        if let v = UInt8(digits) { self = .palette(v); return }
        return nil
    }

    /// The colour reduced to a terminal with `depth` colours; nil means "no colour".
    public func reduced(to depth: ColorDepth) -> ThemeColor? {
        switch (self, depth) {
        case (_, .monochrome): return nil
        case (.terminalDefault, _): return self
        case (.palette, .colors256): return self
        case (.palette(let v), .colors16): return .palette(ThemeColor.nearest(v, among: 16))
        case (.palette(let v), .colors8):
            let n = v < 16 ? v & 7 : ThemeColor.nearest(v, among: 8)
            return n == ThemeColor.useDefault ? .terminalDefault : .palette(n)
        }
    }

    /// Nearest of the 16 basic colours for a 256-palette entry.
    static func to16(_ v: UInt8) -> UInt8 { nearest(v, among: 16) }

    /// `nearest` result meaning "use the terminal's default colour".
    static let useDefault: UInt8 = 255

    /// Nearest of the first `count` (8 or 16) basic colours for a 256-palette entry.
    static func nearest(_ v: UInt8, among count: Int) -> UInt8 {
        if v < 16 && Int(v) < count { return v }
        if v < 16 { return v & 7 }
        let rgb: (Int, Int, Int)
        if v >= 232 {
            let g = Int(v - 232) * 10 + 8
            rgb = (g, g, g)
        } else {
            let i = Int(v) - 16
            let level = [0, 95, 135, 175, 215, 255]
            rgb = (level[i / 36], level[(i / 6) % 6], level[i % 6])
        }
        // Saturated colours keep their hue (a light green stays green, not white).
        let (r, g, b) = rgb
        let maxc = max(r, g, b), minc = min(r, g, b), chroma = maxc - minc
        if chroma >= 64 {
            var h: Double
            if maxc == r { h = 60 * Double(g - b) / Double(chroma) }
            else if maxc == g { h = 120 + 60 * Double(b - r) / Double(chroma) }
            else { h = 240 + 60 * Double(r - g) / Double(chroma) }
            if h < 0 { h += 360 }
            // red, yellow, green, cyan, blue, magenta; light blues read better as cyan.
            let bucket = Int((h / 60).rounded()) % 6
            var c: UInt8 = [1, 3, 2, 6, 4, 5][bucket]
            if c == 4 && h < 225 { c = 6 }
            if count >= 16 && maxc >= 215 { c += 8 }
            return c
        }
        // Greys stay greys: black, (dark grey,) light grey or white by lightness.
        let lum = (r + g + b) / 3
        // 8 colours have no grey: mid greys use the terminal's default colour instead.
        if count < 16 { return lum < 60 ? 0 : (lum >= 170 ? 7 : ThemeColor.useDefault) }
        if lum < 50 { return 0 }
        if lum < 170 { return 8 }
        if lum < 235 { return 7 }
        return 15
    }
}

/// How many colours the terminal can show.
public enum ColorDepth: String, Sendable, CaseIterable {
    case colors256 = "256", colors16 = "16", colors8 = "8", monochrome = "mono"

    /// From the terminal's colour count (ncurses `COLORS`) and the environment
    /// (`NO_COLOR` set to anything non-empty forces monochrome, see no-color.org).
    public static func detect(colors: Int, environment: [String: String]) -> ColorDepth {
        if let nc = environment["NO_COLOR"], !nc.isEmpty { return .monochrome }
        if colors >= 256 { return .colors256 }
        if colors >= 16 { return .colors16 }
        if colors >= 8 { return .colors8 }
        return .monochrome
    }
}

/// How one role is drawn.
public struct ThemeStyle: Hashable, Sendable {
    public var foreground: ThemeColor
    public var background: ThemeColor
    public var attributes: TextAttributes
    public init(foreground: ThemeColor = .terminalDefault, background: ThemeColor = .terminalDefault,
                attributes: TextAttributes = []) {
        self.foreground = foreground; self.background = background; self.attributes = attributes
    }
}

/// A loaded theme: every role mapped to a style.
///
/// File format (`Themes/*.theme`, UTF-8): `#` starts a comment; `name = Text` names the
/// theme; every other line is `ROLE = FG BG [ATTR[,ATTR...]]`, where colours are `default`,
/// `black`..`white`, `bright-black`..`bright-white`, `colorN` or `N` (0-255), and attributes
/// are `bold`, `underline`, `reverse`, `dim` or `-`. Every role in `ThemeRole` must appear
/// exactly once; an unknown, duplicate or missing role is an error naming file, line and key.
public struct Theme: Hashable, Sendable {
    public var name: String
    public var styles: [ThemeRole: ThemeStyle]

    public init(name: String, styles: [ThemeRole: ThemeStyle]) { self.name = name; self.styles = styles }

    public func style(_ role: ThemeRole) -> ThemeStyle { styles[role] ?? ThemeStyle() }

    /// Why a theme file was rejected.
    public struct LoadError: Error, Hashable, Sendable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var key: String
        public var reason: String
        public var description: String { "\(file):\(line): \(key): \(reason)" }
    }

    /// Parses theme text; `file` is used in error messages.
    public static func parse(_ text: String, file: String) throws(LoadError) -> Theme {
        var name = file
        var styles: [ThemeRole: ThemeStyle] = [:]
        var lineNo = 0
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for raw in lines {
            lineNo += 1
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingSpaces
            if trimmed.isEmpty { continue }
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw LoadError(file: file, line: lineNo, key: String(trimmed), reason: "expected KEY = VALUE")
            }
            let key = String(trimmed[..<eq].trimmingSpaces)
            let value = trimmed[trimmed.index(after: eq)...].trimmingSpaces
            if key == "name" { name = String(value); continue }
            guard let role = ThemeRole(rawValue: key) else {
                throw LoadError(file: file, line: lineNo, key: key, reason: "unknown key")
            }
            if styles[role] != nil { throw LoadError(file: file, line: lineNo, key: key, reason: "duplicate key") }
            let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard words.count == 2 || words.count == 3 else {
                throw LoadError(file: file, line: lineNo, key: key, reason: "expected FG BG [ATTRS], got \"\(value)\"")
            }
            guard let fg = ThemeColor(name: words[0]) else {
                throw LoadError(file: file, line: lineNo, key: key, reason: "unknown colour \"\(words[0])\"")
            }
            guard let bg = ThemeColor(name: words[1]) else {
                throw LoadError(file: file, line: lineNo, key: key, reason: "unknown colour \"\(words[1])\"")
            }
            var attrs: TextAttributes = []
            if words.count == 3, words[2] != "-" {
                for a in words[2].split(separator: ",") {
                    guard let hit = TextAttributes.names.first(where: { $0.0 == a.lowercased() }) else {
                        throw LoadError(file: file, line: lineNo, key: key, reason: "unknown attribute \"\(a)\"")
                    }
                    attrs.formUnion(hit.1)
                }
            }
            styles[role] = ThemeStyle(foreground: fg, background: bg, attributes: attrs)
        }
        for role in ThemeRole.ordered where styles[role] == nil {
            throw LoadError(file: file, line: lineNo, key: role.rawValue, reason: "missing key")
        }
        return Theme(name: name, styles: styles)
    }

    /// Reads and parses a theme file.
    public static func load(path: String) throws(LoadError) -> Theme {
        guard let text = readTextFile(path) else {
            throw LoadError(file: path, line: 0, key: "-", reason: "cannot read file")
        }
        return try parse(text, file: path)
    }

    /// Attributes every role keeps on a monochrome terminal so the screen stays readable.
    static let monochromeFallback: [ThemeRole: TextAttributes] = [
        .header: .bold, .headerWarn: [.bold, .underline], .headerError: [.bold, .reverse], .title: .bold, .tabActive: .reverse, .columnHeader: .underline, .columnSorted: [.underline, .bold],
        .rowSelected: .reverse, .rowTagged: .bold, .changed: .bold, .error: .bold, .warn: .underline, .dim: .dim,
        .barFill: .reverse, .footerKey: .reverse, .dialogTitle: .bold, .danger: [.bold, .underline], .helpKey: .bold,
        .filter: .underline,
    ]

    /// The style actually used on a terminal of `depth`: colours reduced, attributes kept
    /// (plus readable fallbacks in monochrome).
    public func resolved(_ role: ThemeRole, depth: ColorDepth) -> (fg: ThemeColor?, bg: ThemeColor?, attributes: TextAttributes) {
        let s = style(role)
        var attrs = s.attributes
        if depth == .monochrome { attrs.formUnion(Theme.monochromeFallback[role] ?? []) }
        var fg = s.foreground.reduced(to: depth)
        let bg = s.background.reduced(to: depth)
        // Reduction can merge distinct colours: never draw text in its background colour.
        if case .palette(let f)? = fg, case .palette(let b)? = bg, f == b || (f & 7 == b & 7 && depth == .colors8) {
            let dark: Set<UInt8> = [0, 1, 4, 5, 8]
            fg = .palette(dark.contains(b) ? 7 : 0)
        }
        return (fg, bg, attrs)
    }

    /// A built-in monochrome theme, used when no theme file can be found.
    public static let builtinMonochrome: Theme = {
        var styles: [ThemeRole: ThemeStyle] = [:]
        for r in ThemeRole.ordered { styles[r] = ThemeStyle(attributes: monochromeFallback[r] ?? []) }
        return Theme(name: "built-in monochrome", styles: styles)
    }()
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return s
    }
}

/// Reads a whole file as UTF-8 (nil if it cannot be opened).
func readTextFile(_ path: String) -> String? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, 4096, f) }
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
        if bytes.count > 1 << 20 { return nil }
    }
    return String(decoding: bytes, as: UTF8.self)
}

func fileExists(_ path: String) -> Bool { access(path, R_OK) == 0 }

/// Finds theme files: `--theme NAME|PATH`, then `$XDG_CONFIG_HOME/ipsectop/themes`
/// (default `~/.config`), then the shipped `Themes/` directory next to the executable
/// (`../share/ipsectop/themes`, or any `Themes/` in a parent directory, which covers
/// `.build/debug/ipsectop` inside a checkout), then the source checkout this file was built from.
public struct ThemeLocator: Sendable {
    public var environment: [String: String]
    public var executablePath: String?
    public var sourceFile: String

    public static let defaultName = "default-dark"

    public init(environment: [String: String], executablePath: String?, sourceFile: String = #filePath) {
        self.environment = environment; self.executablePath = executablePath; self.sourceFile = sourceFile
    }

    /// Directories searched for `NAME.theme`, first match wins.
    public var searchDirectories: [String] {
        var dirs: [String] = []
        if let x = environment["XDG_CONFIG_HOME"], !x.isEmpty { dirs.append(x + "/ipsectop/themes") }
        else if let h = environment["HOME"], !h.isEmpty { dirs.append(h + "/.config/ipsectop/themes") }
        if let exe = executablePath {
            var dir = ThemeLocator.parent(exe)
            dirs.append(dir + "/../share/ipsectop/themes")
            for _ in 0..<6 {
                dirs.append(dir + "/Themes")
                let p = ThemeLocator.parent(dir)
                if p == dir { break }
                dir = p
            }
        }
        // Sources/IPsecViews/Theme.swift -> checkout root.
        let root = ThemeLocator.parent(ThemeLocator.parent(ThemeLocator.parent(sourceFile)))
        dirs.append(root + "/Themes")
        return dirs
    }

    /// The shipped themes directory, if one is found.
    public var shippedDirectory: String? {
        searchDirectories.dropFirst().first { fileExists($0 + "/" + ThemeLocator.defaultName + ".theme") }
    }

    /// The path a `--theme` argument names: an existing path as given, else the first
    /// `NAME.theme` in the search directories.
    public func path(for nameOrPath: String) -> String? {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".theme") {
            return fileExists(nameOrPath) ? nameOrPath : nil
        }
        for d in searchDirectories where fileExists(d + "/" + nameOrPath + ".theme") {
            return d + "/" + nameOrPath + ".theme"
        }
        return nil
    }

    /// Loads the named theme (default `default-dark`); an unknown name is an error that
    /// lists where it looked.
    public func load(_ nameOrPath: String?) throws(Theme.LoadError) -> Theme {
        let name = nameOrPath ?? ThemeLocator.defaultName
        guard let p = path(for: name) else {
            if nameOrPath == nil { return Theme.builtinMonochrome }
            throw Theme.LoadError(file: name, line: 0, key: "--theme",
                                  reason: "theme not found in " + searchDirectories.joined(separator: ", "))
        }
        return try Theme.load(path: p)
    }

    /// Theme names (file names without `.theme`) in the user and shipped directories,
    /// sorted, each once; `default-dark` first.
    public func availableThemes() -> [String] {
        var names = Set<String>()
        for d in searchDirectories {
            guard let dir = opendir(d) else { continue }
            while let e = readdir(dir) {
                let n = withUnsafeBytes(of: e.pointee.d_name) {
                    String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if n.hasSuffix(".theme"), n.count > 6 { names.insert(String(n.dropLast(6))) }
            }
            closedir(dir)
        }
        return names.sorted { ($0 == ThemeLocator.defaultName ? 0 : 1, $0) < ($1 == ThemeLocator.defaultName ? 0 : 1, $1) }
    }

    static func parent(_ p: String) -> String {
        var s = Substring(p)
        while s.count > 1, s.last == "/" { s.removeLast() }
        guard let i = s.lastIndex(of: "/") else { return "." }
        return i == s.startIndex ? "/" : String(s[..<i])
    }
}
