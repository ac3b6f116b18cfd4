/// A key press as the dashboard sees it (the backend translates ncurses codes).
public enum Key: Hashable, Sendable {
    case character(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, escape, tab, backTab, backspace, delete
    case function(Int)

    /// How help and footers print the key.
    public var label: String {
        switch self {
        case .character(" "): return "Space"
        case .character(let c): return String(c)
        case .up: return "↑"
        case .down: return "↓"
        case .left: return "←"
        case .right: return "→"
        case .pageUp: return "PgUp"
        case .pageDown: return "PgDn"
        case .home: return "Home"
        case .end: return "End"
        case .enter: return "Enter"
        case .escape: return "Esc"
        case .tab: return "Tab"
        case .backTab: return "S-Tab"
        case .backspace: return "BkSp"
        case .delete: return "Del"
        case .function(let n): return "F\(n)"
        }
    }

    /// ASCII form for terminals without UTF-8.
    public var asciiLabel: String {
        switch self {
        case .up: return "Up"
        case .down: return "Down"
        case .left: return "Left"
        case .right: return "Right"
        default: return label
        }
    }
}

/// What a key does in the dashboard.
public enum DashboardAction: String, Hashable, Sendable, CaseIterable {
    case moveUp, moveDown, pageUp, pageDown, moveHome, moveEnd
    case drillIn, back, nextView, previousView
    case view1, view2, view3, view4, view5, view6
    case filter, sortNextColumn, sortPreviousColumn, sortInvert
    case tag, clearTags
    /// Equivalent to `ip xfrm state delete src S dst D proto P spi X [mark M]` per target.
    case delete
    /// Soft expire (`XFRM_MSG_EXPIRE` hard 0) or VICI `rekey` per target.
    case rekey
    case pause, refreshSlower, refreshFaster, nextTheme, help, quit
}

/// One row of the key binding table.
public struct KeyBinding: Hashable, Sendable {
    public var keys: [Key]
    public var action: DashboardAction
    /// One line for the help overlay.
    public var description: String
    /// Short label for the footer; nil keeps it out of the footer.
    public var hint: String?
    /// Changes kernel state; removed in read-only mode.
    public var dangerous: Bool

    public init(_ keys: [Key], _ action: DashboardAction, _ description: String, hint: String? = nil,
                dangerous: Bool = false) {
        self.keys = keys; self.action = action; self.description = description; self.hint = hint
        self.dangerous = dangerous
    }
}

/// The key binding table: the single source for dispatch, help and footer hints.
public struct KeyBindings: Hashable, Sendable {
    public private(set) var bindings: [KeyBinding]
    private var byKey: [Key: DashboardAction]

    public init(_ bindings: [KeyBinding]) {
        self.bindings = bindings
        var m: [Key: DashboardAction] = [:]
        for b in bindings { for k in b.keys where m[k] == nil { m[k] = b.action } }
        byKey = m
    }

    /// The shipped bindings.
    public static let standard = KeyBindings([
        KeyBinding([.up, .character("k")], .moveUp, "Move up"),
        KeyBinding([.down, .character("j")], .moveDown, "Move down"),
        KeyBinding([.pageUp], .pageUp, "Page up"),
        KeyBinding([.pageDown], .pageDown, "Page down"),
        KeyBinding([.home, .character("g")], .moveHome, "First row"),
        KeyBinding([.end, .character("G")], .moveEnd, "Last row"),
        KeyBinding([.enter, .right], .drillIn, "Open peer / SA detail", hint: "Open"),
        KeyBinding([.escape, .left, .backspace], .back, "Back (breadcrumbs)", hint: "Back"),
        KeyBinding([.tab], .nextView, "Next view", hint: "View"),
        KeyBinding([.backTab], .previousView, "Previous view"),
        KeyBinding([.character("1")], .view1, "SAs view"),
        KeyBinding([.character("2")], .view2, "Peers view"),
        KeyBinding([.character("3")], .view3, "Policies view"),
        KeyBinding([.character("4")], .view4, "Timeline view"),
        KeyBinding([.character("5")], .view5, "xfrm_stat view"),
        KeyBinding([.character("6")], .view6, "Actions log view"),
        KeyBinding([.character("/")], .filter, "Filter (substring; leading ! inverts)", hint: "Filter"),
        KeyBinding([.character(">"), .function(6)], .sortNextColumn, "Sort by next column", hint: "Sort"),
        KeyBinding([.character("<")], .sortPreviousColumn, "Sort by previous column"),
        KeyBinding([.character("I")], .sortInvert, "Invert sort order"),
        KeyBinding([.character(" ")], .tag, "Tag / untag row", hint: "Tag"),
        KeyBinding([.character("U")], .clearTags, "Clear all tags"),
        KeyBinding([.character("d"), .function(9)], .delete, "Delete SA(s) (asks first)", hint: "Delete", dangerous: true),
        KeyBinding([.character("r")], .rekey, "Rekey SA(s) (asks first)", hint: "Rekey", dangerous: true),
        KeyBinding([.character("p")], .pause, "Pause / resume refresh", hint: "Pause"),
        KeyBinding([.character("+"), .character("=")], .refreshSlower, "Refresh interval longer"),
        KeyBinding([.character("-")], .refreshFaster, "Refresh interval shorter"),
        KeyBinding([.character("t")], .nextTheme, "Next colour theme"),
        KeyBinding([.character("?"), .function(1)], .help, "Help", hint: "Help"),
        KeyBinding([.character("q"), .function(10)], .quit, "Quit", hint: "Quit"),
    ])

    /// The table without dangerous actions (`--read-only`).
    public var readOnly: KeyBindings { KeyBindings(bindings.filter { !$0.dangerous }) }

    public func action(for key: Key) -> DashboardAction? { byKey[key] }

    public func binding(for action: DashboardAction) -> KeyBinding? { bindings.first { $0.action == action } }

    /// Footer hints (`key label`) in table order.
    public func hints(ascii: Bool) -> [(key: String, label: String)] {
        bindings.compactMap { b in
            guard let h = b.hint, let k = b.keys.first else { return nil }
            return (ascii ? k.asciiLabel : k.label, h)
        }
    }

    /// Help overlay lines: keys, description, `!` marking dangerous ones.
    public func helpLines(ascii: Bool) -> [(keys: String, description: String, dangerous: Bool)] {
        bindings.map { b in
            (b.keys.map { ascii ? $0.asciiLabel : $0.label }.joined(separator: " "), b.description, b.dangerous)
        }
    }
}
