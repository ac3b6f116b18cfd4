import CNCurses
import IPsecViews
#if canImport(Glibc)
import Glibc
#endif

/// The ncurses screen: the only code in ipsectop that calls curses.
///
/// Owned by the single thread that runs the poll loop. `start()` installs signal handlers:
/// SIGINT, SIGTERM and SIGHUP ask the loop to quit (`takeStopSignal()`; a second one before
/// the loop reacts restores the terminal and dies of it); SIGQUIT and crash signals (SEGV,
/// BUS, ILL, FPE, ABRT, TRAP) restore the terminal and die; `exit()` restores through
/// `atexit`. `stop()` restores explicitly and is safe to call more than once.
public final class Terminal {
    /// Why the dashboard cannot start.
    public struct StartError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The message printed when stdin or stdout is not a terminal.
    public static let notATTYMessage = """
        ipsectop: the dashboard needs a terminal, but stdin or stdout is not a TTY.
        For scripts and pipes use `ipsectop snapshot` (one JSON or text snapshot) \
        or `ipsectop events` (an NDJSON event stream).
        """

    /// nil when stdin and stdout are terminals, else `notATTYMessage`.
    public static func ttyProblem() -> String? {
        (isatty(0) == 1 && isatty(1) == 1) ? nil : notATTYMessage
    }

    /// The file descriptor keys arrive on: add it to the main loop's poll set and call
    /// `nextInput(timeoutMs: 0)` until it returns nil whenever it is readable.
    public static let inputFileDescriptor: Int32 = 0

    public private(set) var isActive = false
    /// UTF-8 locale: line drawing and non-ASCII text allowed.
    public private(set) var isUTF8 = false
    public private(set) var colorDepth: ColorDepth = .monochrome
    public private(set) var theme: Theme
    private let environment: [String: String]
    private var previous: ScreenBuffer?
    private var attrsForRole: [attr_t] = []
    private var pairForRole: [Int16] = []

    public init(theme: Theme, environment: [String: String]) {
        self.theme = theme
        self.environment = environment
    }

    /// Enters curses mode. Throws when not on a TTY or TERM is unknown.
    public func start(mouse: Bool = true) throws(StartError) {
        guard !isActive else { return }
        if let p = Terminal.ttyProblem() { throw StartError(description: p) }
        ipsectop_setlocale()
        isUTF8 = ipsectop_locale_is_utf8() != 0
        guard ipsectop_start() == 0 else {
            throw StartError(description: "ipsectop: cannot start the terminal (TERM=\(environment["TERM"] ?? "unset") unknown?)")
        }
        ipsectop_install_restore_handlers()
        isActive = true
        let colors = Int(ipsectop_start_color())
        colorDepth = ColorDepth.detect(colors: colors, environment: environment)
        if mouse { ipsectop_enable_mouse() }
        apply(theme: theme)
    }

    /// Leaves curses mode and restores the terminal (and the default SIGINT/SIGTERM/SIGHUP
    /// actions, so a later Ctrl-C interrupts as usual).
    public func stop() {
        guard isActive else { return }
        ipsectop_restore()
        ipsectop_reset_stop_handlers()
        isActive = false
        previous = nil
    }

    deinit { if isActive { ipsectop_restore() } }

    /// Current size in cells.
    public var size: (cols: Int, rows: Int) {
        var c: Int32 = 80, r: Int32 = 24
        if isActive { ipsectop_size(&c, &r) }
        return (Int(c), Int(r))
    }

    /// Switches theme: one colour pair per role (pair number = role index + 1).
    public func apply(theme: Theme) {
        self.theme = theme
        attrsForRole = []
        pairForRole = []
        for (i, role) in ThemeRole.ordered.enumerated() {
            let r = theme.resolved(role, depth: colorDepth)
            var a = ipsectop_a_normal()
            if r.attributes.contains(.bold) { a |= ipsectop_a_bold() }
            if r.attributes.contains(.underline) { a |= ipsectop_a_underline() }
            if r.attributes.contains(.reverse) { a |= ipsectop_a_reverse() }
            if r.attributes.contains(.dim) { a |= ipsectop_a_dim() }
            attrsForRole.append(a)
            var pair: Int16 = 0
            if colorDepth != .monochrome, isActive, i + 1 < Int(ipsectop_color_pairs()) {
                _ = ipsectop_init_pair(Int32(i + 1), Terminal.code(r.fg), Terminal.code(r.bg))
                pair = Int16(i + 1)
            }
            pairForRole.append(pair)
        }
        previous = nil
        if isActive { ipsectop_clear() }
    }

    private static func code(_ c: ThemeColor?) -> Int32 {
        switch c {
        case .palette(let v)?: return Int32(v)
        default: return -1
        }
    }

    /// For main loops that take SIGWINCH through a signalfd (so curses never sees it):
    /// re-reads the terminal size and returns a resize event when it changed.
    public func checkResize() -> InputEvent? {
        guard isActive, ipsectop_resize_from_tty() != 0 else { return nil }
        invalidate()
        let s = size
        return .resize(cols: s.cols, rows: s.rows)
    }

    /// The SIGINT/SIGTERM/SIGHUP received since the last call, if any (then quit gracefully).
    public func takeStopSignal() -> Int32? {
        let s = ipsectop_take_stop_request()
        return s == 0 ? nil : s
    }

    /// Forces a full repaint on the next `draw` (Ctrl-L, resize).
    public func invalidate() {
        previous = nil
        if isActive { ipsectop_clear() }
    }

    /// Draws a buffer, sending only the cells that differ from the last one drawn.
    public func draw(_ buffer: ScreenBuffer) {
        guard isActive else { return }
        let old = (previous?.cols == buffer.cols && previous?.rows == buffer.rows) ? previous : nil
        if old == nil { ipsectop_clear() }
        for y in 0..<buffer.rows {
            var x = 0
            while x < buffer.cols {
                let c = buffer[x, y]
                if let old, old[x, y] == c { x += 1; continue }
                if c.isContinuation { x += 1; continue }
                // A run of changed cells sharing a style.
                var text = ""
                let start = x
                while x < buffer.cols {
                    let d = buffer[x, y]
                    if d.role != c.role || d.attributes != c.attributes { break }
                    if let old, old[x, y] == d, x > start { break }
                    if !d.isContinuation { text.append(isUTF8 ? d.character : Terminal.ascii(d.character)) }
                    x += 1
                }
                put(text, x: start, y: y, cell: c)
            }
        }
        if let cur = buffer.cursor { ipsectop_cursor(Int32(cur.y), Int32(cur.x)) } else { ipsectop_cursor(-1, -1) }
        ipsectop_refresh()
        previous = buffer
    }

    private func put(_ text: String, x: Int, y: Int, cell: Cell) {
        let i = cell.role.index
        var a = attrsForRole.indices.contains(i) ? attrsForRole[i] : ipsectop_a_normal()
        if cell.attributes.contains(.bold) { a |= ipsectop_a_bold() }
        if cell.attributes.contains(.underline) { a |= ipsectop_a_underline() }
        if cell.attributes.contains(.reverse) { a |= ipsectop_a_reverse() }
        if cell.attributes.contains(.dim) { a |= ipsectop_a_dim() }
        let pair = pairForRole.indices.contains(i) ? pairForRole[i] : 0
        ipsectop_put(Int32(y), Int32(x), text, a, pair)
    }

    private static func ascii(_ c: Character) -> Character {
        guard let v = c.unicodeScalars.first?.value else { return " " }
        return v < 0x7f ? c : "?"
    }

    /// Reads the next input event, waiting at most `timeoutMs` (0 polls, -1 blocks).
    /// Returns nil on timeout. Ctrl-L repaints and is reported as a resize.
    public func nextInput(timeoutMs: Int32) -> InputEvent? {
        guard isActive else { return nil }
        while true {
            var ch: UInt32 = 0
            let r = ipsectop_read_key(timeoutMs, &ch)
            if r < 0 { return nil }
            if r == 1 {
                let code = Int32(bitPattern: ch)
                if code == ipsectop_key_resize() {
                    invalidate()
                    let s = size
                    return .resize(cols: s.cols, rows: s.rows)
                }
                if code == ipsectop_key_mouse() {
                    var mx: Int32 = 0, my: Int32 = 0
                    switch ipsectop_mouse_click(&mx, &my) {
                    case 1: return .mouse(MouseEvent(x: Int(mx), y: Int(my), button: .left))
                    case 4: return .mouse(MouseEvent(x: Int(mx), y: Int(my), button: .wheelUp))
                    case 5: return .mouse(MouseEvent(x: Int(mx), y: Int(my), button: .wheelDown))
                    default: continue
                    }
                }
                if let k = Terminal.functionKey(code) { return .key(k) }
                continue
            }
            switch ch {
            case 0x0c:
                invalidate()
                let s = size
                return .resize(cols: s.cols, rows: s.rows)
            case 0x0d, 0x0a: return .key(.enter)
            case 0x1b: return .key(.escape)
            case 0x09: return .key(.tab)
            case 0x7f, 0x08: return .key(.backspace)
            default:
                guard let s = Unicode.Scalar(ch) else { continue }
                return .key(.character(Character(s)))
            }
        }
    }

    private static func functionKey(_ code: Int32) -> Key? {
        switch code {
        case ipsectop_key_up(): return .up
        case ipsectop_key_down(): return .down
        case ipsectop_key_left(): return .left
        case ipsectop_key_right(): return .right
        case ipsectop_key_ppage(): return .pageUp
        case ipsectop_key_npage(): return .pageDown
        case ipsectop_key_home(): return .home
        case ipsectop_key_end(): return .end
        case ipsectop_key_enter(): return .enter
        case ipsectop_key_backspace(): return .backspace
        case ipsectop_key_btab(): return .backTab
        default:
            for n in 1...12 where code == ipsectop_key_f(Int32(n)) { return .function(n) }
            return nil
        }
    }
}
