import IPsecModel
import XFRMWire

/// The top-level views, switched with Tab or 1-6.
public enum DashboardView: Int, CaseIterable, Hashable, Sendable {
    case sas = 0, peers, policies, timeline, xfrmStat, actions
    public var title: String {
        ["SAs", "Peers", "Policies", "Timeline", "xfrm_stat", "Actions"][rawValue]
    }
    var shortTitle: String { ["SA", "Peer", "Pol", "Time", "Stat", "Act"][rawValue] }
}

/// A place in the navigation stack (breadcrumbs).
public enum DashboardScreen: Hashable, Sendable {
    case list(DashboardView)
    /// Peer drill-down (`PeerRow.id`).
    case peer(String)
    /// SA detail.
    case sa(SAIdentity)
}

/// A kernel action the user can ask for.
public enum ActionKind: String, Hashable, Sendable {
    /// `XFRM_MSG_DELSA`; equivalent to `ip xfrm state delete src S dst D proto P spi X [mark M mask N]`.
    case delete
    /// Soft expire (`XFRM_MSG_EXPIRE`, hard = 0), or VICI `rekey` when charon is reachable.
    case rekey
}

/// One SA an action is aimed at, with everything the confirmation names.
public struct ActionTarget: Hashable, Sendable {
    /// Family, destination, SPI, protocol and mark: what DELSA/EXPIRE carry.
    public var identity: SAIdentity
    public var source: IPAddress
    public var direction: SADirection?
    public var reqid: UInt32
    public var peerID: String?

    public init(identity: SAIdentity, source: IPAddress, direction: SADirection?, reqid: UInt32, peerID: String?) {
        self.identity = identity; self.source = source; self.direction = direction; self.reqid = reqid
        self.peerID = peerID
    }

    init(_ r: SARow) {
        self.init(identity: r.id, source: r.state.source, direction: r.direction, reqid: r.state.reqid, peerID: r.peerID)
    }

    /// `out esp spi 0x0000c001 192.0.2.1 -> 198.51.100.7 mark none`.
    public func summary(glyphs: Glyphs = .ascii) -> String {
        let d = identity
        return "\(direction?.name ?? "?") \(d.proto) spi \(SAIdentity.hex(d.spi)) \(source) \(glyphs.arrow) "
            + "\(d.destination) mark \(d.mark?.description ?? "none")"
    }

    /// The iproute2 command doing the same delete.
    public var ipDeleteCommand: String {
        var s = "ip xfrm state delete src \(source) dst \(identity.destination) proto \(identity.proto) spi \(SAIdentity.hex(identity.spi))"
        if let m = identity.mark { s += " mark 0x\(String(m.value, radix: 16)) mask 0x\(String(m.mask, radix: 16))" }
        return s
    }
}

/// A confirmed action for the main loop to execute.
public struct ActionRequest: Hashable, Sendable {
    public var kind: ActionKind
    public var targets: [ActionTarget]
    public init(kind: ActionKind, targets: [ActionTarget]) { self.kind = kind; self.targets = targets }
}

/// The confirmation dialog's content: exactly what will be done to what.
public struct Confirmation: Hashable, Sendable {
    public var request: ActionRequest
    /// Targets left out, with the reason (e.g. larval SAs for rekey).
    public var skipped: [SkippedTarget]
    /// Tagged SAs included in the request that the current filter hides.
    public var hiddenTagged: Int
    /// What was selected: `selected SA`, `3 tagged SAs`, `both directions of peer ...`.
    public var scope: String

    /// A target left out of the request, with the reason shown in the dialog.
    public struct SkippedTarget: Hashable, Sendable {
        public var target: ActionTarget
        public var reason: String
    }
}

/// What the dashboard asks the main loop to do.
public enum DashboardCommand: Hashable, Sendable {
    case quit
    case setPaused(Bool)
    /// New refresh interval in seconds.
    case setRefreshInterval(Double)
    /// A confirmed action; report its outcome with `Dashboard.record(_:)`.
    case perform(ActionRequest)
    /// Switch to the next theme (`ThemeLocator.availableThemes()`), then `Terminal.apply(theme:)`.
    case nextTheme
}

/// Fixed choices for a dashboard session.
public struct DashboardOptions: Hashable, Sendable {
    /// `--read-only`: dangerous key bindings removed, no action can be requested.
    public var readOnly: Bool
    /// ASCII line drawing and symbols (no UTF-8 locale).
    public var ascii: Bool
    /// Seconds east of UTC for clock times (local time zone; 0 in tests).
    public var utcOffset: Int
    /// How long a changed value stays highlighted.
    public var highlightSeconds: Double
    /// Refresh intervals `+`/`-` step through.
    public var refreshSteps: [Double]
    /// How long a status message replaces the footer hints.
    public var statusSeconds: Double

    public init(readOnly: Bool = false, ascii: Bool = false, utcOffset: Int = 0, highlightSeconds: Double = 2,
                refreshSteps: [Double] = [0.5, 1, 2, 3, 5, 10, 30], statusSeconds: Double = 8) {
        self.readOnly = readOnly; self.ascii = ascii; self.utcOffset = utcOffset
        self.highlightSeconds = highlightSeconds; self.refreshSteps = refreshSteps; self.statusSeconds = statusSeconds
    }
}

/// Identity of the selected row, so selection survives refreshes and re-sorting.
enum RowID: Hashable, Sendable {
    case sa(SAIdentity)
    case peer(String)
    case index(Int)
    case name(String)
}

/// Per-list view state.
struct ListState: Sendable {
    var sortColumn: String
    var ascending: Bool
    var filter = ""
    var cursor = 0
    var top = 0
    var selected: RowID?
    /// Visible rows (indices into the data array) in display order.
    var visible: [Int] = []
    /// All rows sorted (cache, nil when stale).
    var sortedAll: [Int]?
    /// The filter `visible` was computed with (for incremental narrowing).
    var appliedFilter = ""
}

/// State of a drill-down page (peer or SA detail).
struct PageState: Sendable {
    var cursor = 0
    var scroll = 0
}

/// Overlays drawn above the current screen.
public enum DashboardOverlay: Hashable, Sendable {
    case help
    case confirm(Confirmation)
}

/// The dashboard controller: view state plus pure input handling and rendering.
///
/// The main loop owns one `Dashboard`. It calls `update(_:now:)` with fresh data after each
/// refresh, `handle(_:now:)` for every input event (executing the returned commands),
/// `record(_:)` when an action finishes, and `render(now:)` to get the frame to draw.
public struct Dashboard: Sendable {
    public let options: DashboardOptions
    public let bindings: KeyBindings
    public private(set) var data = DashboardData()
    public private(set) var cols: Int
    public private(set) var rows: Int
    public private(set) var stack: [DashboardScreen] = [.list(.sas)]
    public private(set) var paused = false
    public private(set) var refreshInterval: Double
    public private(set) var tags: Set<SAIdentity> = []
    public private(set) var overlay: DashboardOverlay?
    public private(set) var actionLog: [ActionLogEntry] = []
    public private(set) var isEditingFilter = false
    var status: (text: String, level: StatusLevel, time: Double)?
    var lists: [ListState]
    var page = PageState()
    var helpScroll = 0
    var confirmScroll = 0
    var searchKeys: [[[UInt8]]?] = Array(repeating: nil, count: DashboardView.allCases.count)
    var saTracking = SATracking.none
    var changedSA: [SAIdentity: Double] = [:]
    var lastPeerMapping: [String: UInt32] = [:]
    /// `lastPeerMapping` for view data built from the model (keyed without building peer ids).
    var lastPeerMappingByKey = PeerPortsMemory()
    var changedPeer: [String: Double] = [:]
    var clock: Double = 0

    struct SAValues: Hashable, Sendable { var bytes: UInt64, packets: UInt64, ports: UInt32 }

    /// What is kept of the last refresh's SAs to tell which changed (`SARows.resolveOrderAndTrack`).
    enum SATracking: Sendable {
        case none
        /// Plain rows: identity and values of each row, in data order.
        case rows(ids: [SAIdentity], values: [SAValues])
        /// From the model: the base order (entry slots, the array the rows hold), and by entry slot
        /// the entry's `SAEntry.serial`, `mix` of its values and when they last changed (seconds
        /// after `epoch`; -infinity: not since the SA was first seen): 16 bytes an entry slot,
        /// 1.6 MB at 100,000 SAs (their identities and values would take 72 bytes an SA, and a
        /// dictionary of the changed ones about 150 more for each SA that carries traffic).
        case model(order: [Int32], serials: [UInt32], mixes: [UInt64], changed: [Float], epoch: Double)

        /// When the SA of `id` last changed, for data built from `model` (the model this tracking
        /// was last updated from).
        func changeTime(of id: SAIdentity, in model: LiveModel) -> Double? {
            guard case .model(_, _, _, let changed, let epoch) = self, let slot = model.saSlot(of: id),
                  slot < changed.count, changed[slot] > -.infinity else { return nil }
            return epoch + Double(changed[slot])
        }

        /// A 64-bit mix of an SA's tracked values. A change of one of the three alone always changes
        /// it (each `Mixer.add` is a bijection of its input); a change of several leaves it equal
        /// with a chance of about 2^-64, and then that change is not highlighted.
        static func mix(bytes: UInt64, packets: UInt64, ports: UInt32) -> UInt64 {
            var m = Mixer()
            m.add(bytes)
            m.add(packets)
            m.add(UInt64(ports))
            return UInt64(bitPattern: Int64(m.value))
        }
    }

    /// Filter keys of the last refresh, with signatures of the row fields that can change.
    struct KeyCache: Sendable {
        var ids: [SAIdentity] = []
        var signatures: [Int] = []
        var keys: [[UInt8]] = []
    }

    enum CachedKey {
        static func signature(_ r: SARow) -> Int {
            signature(direction: r.direction, keepalive: r.keepalive.label, healthCodes: r.health.map(\.code),
                      sourcePort: r.state.attributes.encapsulation?.sourcePort,
                      destinationPort: r.state.attributes.encapsulation?.destinationPort,
                      reqid: r.state.reqid, source: r.state.source, isLarval: r.state.isLarval)
        }

        static func signature(direction: SADirection?, keepalive: String, healthCodes: [String], sourcePort: UInt16?,
                              destinationPort: UInt16?, reqid: UInt32, source: IPAddress, isLarval: Bool) -> Int {
            var h = Hasher()
            h.combine(direction)
            h.combine(keepalive)
            for c in healthCodes { h.combine(c) }
            h.combine(sourcePort)
            h.combine(destinationPort)
            h.combine(reqid)
            h.combine(source)
            h.combine(isLarval)
            return h.finalize()
        }
    }
    var saKeyCache = KeyCache()
    var saSortCache = SARows.SortCache()

    public init(options: DashboardOptions = DashboardOptions(), bindings: KeyBindings = .standard,
                cols: Int = 80, rows: Int = 24, refreshInterval: Double = 1) {
        self.options = options
        self.bindings = options.readOnly ? bindings.readOnly : bindings
        self.cols = cols; self.rows = rows
        self.refreshInterval = refreshInterval
        lists = [
            ListState(sortColumn: "peer", ascending: true),
            ListState(sortColumn: "peer", ascending: true),
            ListState(sortColumn: "dir", ascending: true),
            ListState(sortColumn: "time", ascending: false),
            ListState(sortColumn: "name", ascending: true),
            ListState(sortColumn: "time", ascending: false),
        ]
    }

    var glyphs: Glyphs { options.ascii ? .ascii : .unicode }
    public var screen: DashboardScreen { stack.last ?? .list(.sas) }
    /// The top-level view the current screen belongs to.
    public var currentView: DashboardView {
        for s in stack.reversed() { if case .list(let v) = s { return v } }
        return .sas
    }

    // MARK: data

    /// Takes a new data snapshot (ignored while paused, except the header's pause flag).
    ///
    /// SAs of data built from the model are told apart from the last data's by entry slot and
    /// `SAEntry.serial` (highlights, order): successive data must come from successive states of
    /// one model, as the main loop's refreshes do. Another `LiveModel` numbers its entries afresh.
    public mutating func update(_ newData: DashboardData, now: Double) {
        clock = now
        if paused { return }
        // Changed counters and ports: compared with the previous refresh's. A model-backed SA list
        // keeps the previous refresh's base order when the same SAs are present.
        var newData = newData
        // (From the model, the change times are kept by entry slot in `saTracking`.)
        for id in newData.sas.resolveOrderAndTrack(&saTracking, now: now) { changedSA[id] = now }
        if !changedSA.isEmpty {
            let present = newData.sas.presence(queries: changedSA.count)
            changedSA = changedSA.filter { now - $0.value < options.highlightSeconds && present($0.key) }
        }
        if let s = newData.peersFromModel {
            // From the model: no peer row is built (ids only for peers whose mapping changed).
            lastPeerMappingByKey.update(s.model) { changedPeer[$0.description] = now }
        } else {
            for p in newData.peers {
                let ports = UInt32(p.encapsulation?.sourcePort ?? 0) << 16 | UInt32(p.encapsulation?.destinationPort ?? 0)
                if let old = lastPeerMapping[p.id], old != ports { changedPeer[p.id] = now }
                lastPeerMapping[p.id] = ports
            }
        }
        changedPeer = changedPeer.filter { now - $0.value < options.highlightSeconds }
        data = newData
        data.header.paused = paused
        data.header.refreshInterval = refreshInterval
        if !tags.isEmpty {
            let present = data.sas.presence(queries: tags.count)
            tags = tags.filter { present($0) }
        }
        searchKeys = Array(repeating: nil, count: DashboardView.allCases.count)
        // Only the current list is re-sorted now; the others when they are shown
        // (their row indices are dropped so nothing can point into the old arrays).
        for v in DashboardView.allCases where v != .actions {
            lists[v.rawValue].sortedAll = nil
            if v != currentView { lists[v.rawValue].visible = [] }
        }
        refreshList(currentView)
        clampPage()
    }

    /// The SAs whose change is still highlighted as of the last update, with the time of the change
    /// (through `changeTime(of:)`, as the rows are drawn).
    var highlightedSAs: [SAIdentity: Double] {
        guard let s = data.sas.snapshot else { return changedSA }
        var out: [SAIdentity: Double] = [:]
        s.model.withSAEntries { buf in
            for i in buf.indices where buf[i].isLive {
                let id = buf[i].identity
                if let t = changeTime(of: id), clock - t < options.highlightSeconds { out[id] = t }
            }
        }
        return out
    }

    /// When the counters or NAT ports of the SA of `id` last changed (from the model: kept by entry
    /// slot; plain rows: `changedSA`).
    func changeTime(of id: SAIdentity) -> Double? {
        if let m = data.sas.snapshot?.model, let t = saTracking.changeTime(of: id, in: m) { return t }
        return changedSA[id]
    }

    /// Lets go of the model before the caller changes it and calls `update` (nothing may be drawn
    /// or handled in between). The view data shares the model's tables (copy on write): while it
    /// holds them, the first change to the model copies its whole SA table (about 23 MB at 100,000
    /// SAs). Ignored while paused (the frozen view keeps its data). Returns whether it let go.
    @discardableResult
    public mutating func releaseModel() -> Bool {
        if paused { return false }
        data = data.releasingModel()
        return true
    }

    /// Records the outcome of an action (also shown in the footer for a while).
    public mutating func record(_ entry: ActionLogEntry) {
        actionLog.append(entry)
        if actionLog.count > 1000 { actionLog.removeFirst(actionLog.count - 1000) }
        status = ("\(entry.operation) \(entry.target): \(entry.result)", entry.level, entry.time)
        lists[DashboardView.actions.rawValue].sortedAll = nil
        searchKeys[DashboardView.actions.rawValue] = nil
        refreshList(.actions)
    }

    /// Sets the refresh interval shown in the header (e.g. from `--interval`).
    public mutating func setRefreshInterval(_ seconds: Double) {
        refreshInterval = seconds
        data.header.refreshInterval = seconds
    }

    // MARK: list caches

    func rowCount(_ v: DashboardView) -> Int {
        switch v {
        case .sas: return data.sas.count
        case .peers: return data.peers.count
        case .policies: return data.policies.count
        case .timeline: return data.timeline.count
        case .xfrmStat: return data.xfrmStat.count
        case .actions: return actionLog.count
        }
    }

    mutating func sortKeyFor(_ v: DashboardView, column: String, ascending: Bool) -> [Int] {
        func run<R>(_ rows: [R], _ cols: [Column<R>]) -> [Int] {
            TableLayout.sorted(rows, by: cols.first { $0.id == column }?.sort, ascending: ascending)
        }
        switch v {
        case .sas:
            // Lifetime use depends on the time: sorted with the current clock.
            return data.sas.sortedIndices(column: column, ascending: ascending, now: clock, cache: &saSortCache)
        case .peers: return run(data.peers, Columns.peer)
        case .policies: return run(data.policies, Columns.policy)
        case .timeline: return run(data.timeline, Columns.timeline)
        case .xfrmStat: return run(data.xfrmStat, Columns.stat)
        case .actions: return run(actionLog, Columns.action)
        }
    }

    mutating func keys(_ v: DashboardView) -> [[UInt8]] {
        if let k = searchKeys[v.rawValue] { return k }
        let k: [[UInt8]]
        switch v {
        case .sas:
            // Most of an SA's key never changes: reuse last refresh's keys when the mutable parts
            // match (`SARows.filterKeys`).
            saKeyCache = data.sas.filterKeys(reusing: saKeyCache)
            k = saKeyCache.keys
        case .peers: k = data.peers.map(Columns.peerKey)
        case .policies: k = data.policies.map(Columns.policyKey)
        case .timeline: k = data.timeline.map(Columns.timelineKey)
        case .xfrmStat: k = data.xfrmStat.map(Columns.statKey)
        case .actions: k = actionLog.map(Columns.actionKey)
        }
        searchKeys[v.rawValue] = k
        return k
    }

    func rowID(_ v: DashboardView, _ i: Int) -> RowID {
        switch v {
        case .sas: return .sa(data.sas.id(at: i))
        case .peers: return .peer(data.peers[i].id)
        case .xfrmStat: return .name(data.xfrmStat[i].name)
        default: return .index(i)
        }
    }

    /// Re-sorts (when stale) and re-filters a list, keeping the selected row selected.
    mutating func refreshList(_ v: DashboardView) {
        var st = lists[v.rawValue]
        let sortedWasStale = st.sortedAll == nil
        if st.sortedAll == nil { st.sortedAll = sortKeyFor(v, column: st.sortColumn, ascending: st.ascending) }
        let m = SearchMatcher(st.filter)
        if m.isEmpty {
            st.visible = st.sortedAll!
        } else {
            let k = keys(v)
            let prev = SearchMatcher(st.appliedFilter)
            // Typing more of a plain filter only narrows: search the previous result.
            let narrowing = !sortedWasStale && !m.inverted && !prev.inverted && !prev.isEmpty
                && SearchMatcher.contains(m.needle, prev.needle)
            let base = narrowing ? st.visible : st.sortedAll!
            st.visible = base.filter { m.matches(k[$0]) }
        }
        st.appliedFilter = st.filter
        if let sel = st.selected, let pos = position(of: sel, in: v, visible: st.visible) {
            st.cursor = pos
        }
        st.cursor = max(0, min(st.cursor, st.visible.count - 1))
        st.selected = st.visible.isEmpty ? nil : rowID(v, st.visible[st.cursor])
        lists[v.rawValue] = st
        clampScroll(v)
    }

    func position(of id: RowID, in v: DashboardView, visible: [Int]) -> Int? {
        // The common case first: the row did not move.
        let cur = lists[v.rawValue].cursor
        if cur < visible.count, rowID(v, visible[cur]) == id { return cur }
        switch (v, id) {
        case (.sas, .sa(let s)):
            if data.sas.snapshot != nil {
                guard let i = data.sas.index(of: s) else { return nil }
                return visible.firstIndex(of: i)
            }
            return data.sas.rows.withUnsafeBufferPointer { buf in visible.firstIndex { buf[$0].id == s } }
        case (.peers, .peer(let p)): return visible.firstIndex { data.peers[$0].id == p }
        case (.xfrmStat, .name(let n)): return visible.firstIndex { data.xfrmStat[$0].name == n }
        case (_, .index(let i)): return visible.firstIndex(of: i)
        default: return nil
        }
    }

    var bodyHeight: Int { max(1, rows - 6) }
    var pageHeight: Int { max(1, rows - 5) }

    mutating func clampScroll(_ v: DashboardView) {
        var st = lists[v.rawValue]
        let h = bodyHeight
        if st.cursor < st.top { st.top = st.cursor }
        if st.cursor >= st.top + h { st.top = st.cursor - h + 1 }
        st.top = max(0, min(st.top, max(0, st.visible.count - h)))
        lists[v.rawValue] = st
    }

    mutating func moveCursor(_ v: DashboardView, to c: Int) {
        var st = lists[v.rawValue]
        guard !st.visible.isEmpty else { return }
        st.cursor = max(0, min(c, st.visible.count - 1))
        st.selected = rowID(v, st.visible[st.cursor])
        lists[v.rawValue] = st
        clampScroll(v)
    }

    var selectedSA: SARow? {
        let st = lists[DashboardView.sas.rawValue]
        guard st.cursor < st.visible.count else { return nil }
        return data.sas[st.visible[st.cursor]]
    }

    var selectedPeer: PeerRow? {
        let st = lists[DashboardView.peers.rawValue]
        guard st.cursor < st.visible.count else { return nil }
        return data.peers[st.visible[st.cursor]]
    }

    // MARK: sorting

    func visibleColumnIDs(_ v: DashboardView) -> [String] {
        func ids<R>(_ c: [Column<R>]) -> [String] {
            TableLayout.place(c, width: cols).map { c[$0.index] }.filter { $0.sort != nil }.map(\.id)
        }
        switch v {
        case .sas: return ids(Columns.sa)
        case .peers: return ids(Columns.peer)
        case .policies: return ids(Columns.policy)
        case .timeline: return ids(Columns.timeline)
        case .xfrmStat: return ids(Columns.stat)
        case .actions: return ids(Columns.action)
        }
    }

    /// The sortable column under screen column `x` at the current width.
    func columnID(_ v: DashboardView, atX x: Int) -> String? {
        func find<R>(_ c: [Column<R>]) -> String? {
            TableLayout.place(c, width: cols).first { x >= $0.x && x < $0.x + $0.width && c[$0.index].sort != nil }
                .map { c[$0.index].id }
        }
        switch v {
        case .sas: return find(Columns.sa)
        case .peers: return find(Columns.peer)
        case .policies: return find(Columns.policy)
        case .timeline: return find(Columns.timeline)
        case .xfrmStat: return find(Columns.stat)
        case .actions: return find(Columns.action)
        }
    }

    mutating func cycleSort(_ v: DashboardView, by step: Int) {
        let ids = visibleColumnIDs(v)
        guard !ids.isEmpty else { return }
        var st = lists[v.rawValue]
        let i = ids.firstIndex(of: st.sortColumn) ?? -1
        let n = ((i + step) % ids.count + ids.count) % ids.count
        st.sortColumn = ids[n]
        st.sortedAll = nil
        lists[v.rawValue] = st
        refreshList(v)
    }

    // MARK: input

    /// Handles one input event; returns what the main loop must do.
    public mutating func handle(_ event: InputEvent, now: Double) -> [DashboardCommand] {
        clock = max(clock, now)
        switch event {
        case .resize(let c, let r):
            cols = max(1, c); rows = max(1, r)
            for v in DashboardView.allCases { clampScroll(v) }
            clampPage()
            return []
        case .mouse(let m):
            return handleMouse(m)
        case .key(let k):
            return handleKey(k, now: now)
        }
    }

    public var isTooSmall: Bool { cols < Dashboard.minimumCols || rows < Dashboard.minimumRows }
    public static let minimumCols = 60
    public static let minimumRows = 15

    mutating func handleKey(_ key: Key, now: Double) -> [DashboardCommand] {
        if case .confirm(let c) = overlay {
            switch key {
            case .character("y"), .character("Y"):
                overlay = nil
                status = ("\(c.request.kind.rawValue) requested for \(c.request.targets.count) SA(s)", .warn, now)
                for t in c.request.targets { tags.remove(t.identity) }
                return [.perform(c.request)]
            case .character("n"), .character("N"), .escape, .character("q"):
                overlay = nil
                status = ("\(c.request.kind.rawValue) cancelled", .none, now)
                return []
            case .down, .character("j"):
                confirmScroll = min(confirmScroll + 1, max(0, confirmLayout(c).lines.count - max(1, rows - 6)))
                return []
            case .up, .character("k"): confirmScroll = max(0, confirmScroll - 1); return []
            case .pageDown:
                confirmScroll = min(confirmScroll + max(1, rows - 8), max(0, confirmLayout(c).lines.count - max(1, rows - 6)))
                return []
            case .pageUp: confirmScroll = max(0, confirmScroll - max(1, rows - 8)); return []
            default:
                return []
            }
        }
        if overlay == .help {
            switch key {
            case .down, .character("j"): helpScroll += 1
            case .up, .character("k"): helpScroll = max(0, helpScroll - 1)
            case .pageDown: helpScroll += max(1, rows - 6)
            case .pageUp: helpScroll = max(0, helpScroll - max(1, rows - 6))
            case .character("q"): return [.quit]
            default: overlay = nil
            }
            return []
        }
        if isEditingFilter {
            let v = currentView
            switch key {
            case .enter:
                isEditingFilter = false
                return []
            case .escape:
                isEditingFilter = false
                setFilter(v, "")
                return []
            case .backspace, .delete:
                var f = lists[v.rawValue].filter
                if !f.isEmpty { f.removeLast() }
                setFilter(v, f)
                return []
            case .character(let ch):
                setFilter(v, lists[v.rawValue].filter + String(ch))
                return []
            default:
                break // navigation keys still work while typing
            }
        }
        if isTooSmall {
            if key == .character("q") || key == .function(10) { return [.quit] }
        }
        guard let action = bindings.action(for: key) else { return [] }
        return perform(action, now: now)
    }

    mutating func setFilter(_ v: DashboardView, _ f: String) {
        lists[v.rawValue].filter = f
        refreshList(v)
    }

    mutating func perform(_ action: DashboardAction, now: Double) -> [DashboardCommand] {
        let v = currentView
        let onList: Bool = { if case .list = screen { return true } else { return false } }()
        switch action {
        case .quit: return [.quit]
        case .nextTheme: return [.nextTheme]
        case .help: overlay = .help; helpScroll = 0
        case .pause:
            paused.toggle()
            data.header.paused = paused
            return [.setPaused(paused)]
        case .refreshSlower, .refreshFaster:
            let steps = options.refreshSteps
            let i = steps.firstIndex { $0 >= refreshInterval - 1e-9 } ?? steps.count - 1
            let n = action == .refreshSlower ? min(steps.count - 1, (steps[i] > refreshInterval + 1e-9 ? i : i + 1))
                                             : max(0, i - 1)
            setRefreshInterval(steps[n])
            return [.setRefreshInterval(steps[n])]
        case .view1, .view2, .view3, .view4, .view5, .view6:
            let n = [DashboardAction.view1, .view2, .view3, .view4, .view5, .view6].firstIndex(of: action)!
            switchTo(DashboardView(rawValue: n)!)
        case .nextView: switchTo(DashboardView(rawValue: (v.rawValue + 1) % 6)!)
        case .previousView: switchTo(DashboardView(rawValue: (v.rawValue + 5) % 6)!)
        case .filter:
            if onList { isEditingFilter = true }
        case .sortNextColumn: if onList { cycleSort(v, by: 1) }
        case .sortPreviousColumn: if onList { cycleSort(v, by: -1) }
        case .sortInvert:
            if onList {
                lists[v.rawValue].ascending.toggle()
                lists[v.rawValue].sortedAll = nil
                refreshList(v)
            }
        case .moveUp, .moveDown, .pageUp, .pageDown, .moveHome, .moveEnd:
            navigate(action)
        case .drillIn: drillIn()
        case .back:
            if stack.count > 1 { stack.removeLast(); page = PageState() }
            else if !lists[v.rawValue].filter.isEmpty { setFilter(v, "") }
        case .tag: toggleTag()
        case .clearTags: tags = []
        case .delete, .rekey:
            guard !options.readOnly else { return [] }
            openConfirmation(action == .delete ? .delete : .rekey, now: now)
        }
        return []
    }

    /// Re-sorts and re-filters a list whose data changed while it was not shown.
    mutating func ensureFresh(_ v: DashboardView) {
        if lists[v.rawValue].sortedAll == nil { refreshList(v) }
    }

    mutating func switchTo(_ v: DashboardView) {
        ensureFresh(v)
        stack = [.list(v)]
        page = PageState()
        isEditingFilter = false
    }

    mutating func navigate(_ a: DashboardAction) {
        switch screen {
        case .list(let v):
            let c = lists[v.rawValue].cursor, h = bodyHeight
            switch a {
            case .moveUp: moveCursor(v, to: c - 1)
            case .moveDown: moveCursor(v, to: c + 1)
            case .pageUp: moveCursor(v, to: c - h)
            case .pageDown: moveCursor(v, to: c + h)
            case .moveHome: moveCursor(v, to: 0)
            case .moveEnd: moveCursor(v, to: Int.max / 2)
            default: break
            }
        case .peer, .sa:
            let lines = pageLines()
            let selectable = lines.indices.filter { lines[$0].sa != nil }
            let h = pageHeight
            switch a {
            case .moveUp:
                if !selectable.isEmpty, page.cursor > 0 { page.cursor -= 1 } else { page.scroll -= 1 }
            case .moveDown:
                if page.cursor < selectable.count - 1 { page.cursor += 1 } else { page.scroll += 1 }
            case .pageUp: page.scroll -= h
            case .pageDown: page.scroll += h
            case .moveHome: page.scroll = 0; page.cursor = 0
            case .moveEnd: page.scroll = lines.count; page.cursor = max(0, selectable.count - 1)
            default: break
            }
            if (a == .moveUp || a == .moveDown || a == .moveHome || a == .moveEnd), page.cursor < selectable.count {
                let line = selectable[page.cursor]
                if line < page.scroll { page.scroll = line }
                if line >= page.scroll + h { page.scroll = line - h + 1 }
                if a == .moveHome { page.scroll = 0 }
            }
            page.scroll = max(0, min(page.scroll, max(0, lines.count - h)))
        }
    }

    mutating func clampPage() {
        switch screen {
        case .list: return
        case .peer, .sa:
            let lines = pageLines()
            let n = lines.filter { $0.sa != nil }.count
            page.cursor = max(0, min(page.cursor, n - 1))
            page.scroll = max(0, min(page.scroll, max(0, lines.count - pageHeight)))
        }
    }

    mutating func drillIn() {
        switch screen {
        case .list(.sas):
            if let r = selectedSA { stack.append(.sa(r.id)); page = PageState() }
        case .list(.peers):
            if let p = selectedPeer { stack.append(.peer(p.id)); page = PageState() }
        case .list(.policies):
            let st = lists[DashboardView.policies.rawValue]
            if st.cursor < st.visible.count, let pid = data.policies[st.visible[st.cursor]].peerID {
                stack.append(.peer(pid)); page = PageState()
            }
        case .list(.timeline):
            let st = lists[DashboardView.timeline.rawValue]
            if st.cursor < st.visible.count {
                let e = data.timeline[st.visible[st.cursor]]
                if let pid = e.peerID, data.peer(id: pid) != nil {
                    stack.append(.peer(pid)); page = PageState()
                } else if let s = e.sa, data.sas.contains(id: s) {
                    stack.append(.sa(s)); page = PageState()
                }
            }
        case .peer:
            if let s = pageSelectedSA { stack.append(.sa(s.id)); page = PageState() }
        default: break
        }
    }

    var pageSelectedSA: SARow? {
        let sel = pageLines().compactMap(\.sa)
        guard page.cursor < sel.count else { return nil }
        return data.sas.row(for: sel[page.cursor])
    }

    mutating func toggleTag() {
        func flip(_ ids: [SAIdentity]) {
            if ids.allSatisfy({ tags.contains($0) }) { ids.forEach { tags.remove($0) } }
            else { ids.forEach { tags.insert($0) } }
        }
        switch screen {
        case .list(.sas):
            if let r = selectedSA { flip([r.id]); navigate(.moveDown) }
        case .list(.peers):
            if let p = selectedPeer { flip(data.sas.ids(ofPeer: p.id)); navigate(.moveDown) }
        case .peer:
            if let r = pageSelectedSA { flip([r.id]); navigate(.moveDown) }
        default: break
        }
    }

    // MARK: actions

    /// The SAs an action would hit from the current screen, and how they were chosen.
    func actionTargets() -> (rows: [SARow], scope: String) {
        let tagged = tags.isEmpty ? [] : data.sas.selectRows { tags.contains($0) }
        switch screen {
        case .sa(let id):
            return (data.sas.selectRows { $0 == id }, "this SA")
        case .peer(let pid):
            let mine = data.sas.indices(ofPeer: pid).map { data.sas[$0] }
            let t = mine.filter { tags.contains($0.id) }
            if !t.isEmpty { return (t, "\(t.count) tagged SA(s) of this peer") }
            if let s = pageSelectedSA { return ([s], "selected SA") }
            return (mine, "both directions of peer \(pid)")
        case .list(.peers):
            if !tagged.isEmpty { return (tagged, "\(tagged.count) tagged SA(s)") }
            guard let p = selectedPeer else { return ([], "") }
            return (data.sas.indices(ofPeer: p.id).map { data.sas[$0] }, "both directions of peer \(p.local) \(glyphs.bidirectional) \(p.remote)")
        case .list(.sas):
            if !tagged.isEmpty { return (tagged, "\(tagged.count) tagged SA(s)") }
            return (selectedSA.map { [$0] } ?? [], "selected SA")
        default:
            if !tagged.isEmpty { return (tagged, "\(tagged.count) tagged SA(s)") }
            return ([], "")
        }
    }

    /// Tagged SAs that the SA view's current filter hides.
    func hiddenTaggedCount(among targets: [SARow]) -> Int {
        let st = lists[DashboardView.sas.rawValue]
        let visible = Set(data.sas.ids(at: st.visible))
        return targets.filter { tags.contains($0.id) && !visible.contains($0.id) }.count
    }

    mutating func openConfirmation(_ kind: ActionKind, now: Double) {
        ensureFresh(.sas)
        let (rows, scope) = actionTargets()
        guard !rows.isEmpty else {
            status = ("nothing selected to \(kind.rawValue)", .warn, now)
            return
        }
        var targets: [ActionTarget] = []
        var skipped: [Confirmation.SkippedTarget] = []
        for r in rows {
            if kind == .rekey && r.state.isLarval {
                skipped.append(.init(target: ActionTarget(r), reason: "larval SA (no keys negotiated yet): nothing to rekey"))
            } else {
                targets.append(ActionTarget(r))
            }
        }
        let c = Confirmation(request: ActionRequest(kind: kind, targets: targets), skipped: skipped,
                             hiddenTagged: hiddenTaggedCount(among: rows), scope: scope)
        if targets.isEmpty {
            status = ("\(kind.rawValue): nothing sent — \(skipped.first?.reason ?? "no valid target")", .warn, now)
            return
        }
        overlay = .confirm(c)
        confirmScroll = 0
    }

    // MARK: mouse

    mutating func handleMouse(_ m: MouseEvent) -> [DashboardCommand] {
        if overlay != nil || isTooSmall { return [] }
        switch m.button {
        case .wheelUp: navigate(.moveUp); navigate(.moveUp); navigate(.moveUp)
        case .wheelDown: navigate(.moveDown); navigate(.moveDown); navigate(.moveDown)
        case .left:
            if m.y == 2 {
                for t in tabLayout() where m.x >= t.x && m.x < t.x + t.width { switchTo(t.view) }
                return []
            }
            switch screen {
            case .list(let v):
                let y0 = 5
                if m.y == 4, let id = columnID(v, atX: m.x) {
                    // Click a heading: sort by it; again: invert.
                    if lists[v.rawValue].sortColumn == id { lists[v.rawValue].ascending.toggle() }
                    else { lists[v.rawValue].sortColumn = id }
                    lists[v.rawValue].sortedAll = nil
                    refreshList(v)
                } else if m.y >= y0 && m.y < y0 + bodyHeight {
                    let target = lists[v.rawValue].top + (m.y - y0)
                    if target < lists[v.rawValue].visible.count {
                        // Clicking the selected row opens it.
                        if target == lists[v.rawValue].cursor { drillIn() } else { moveCursor(v, to: target) }
                    }
                }
            case .peer, .sa:
                let line = page.scroll + (m.y - 4)
                let lines = pageLines()
                if m.y >= 4, line < lines.count, lines[line].sa != nil {
                    page.cursor = lines[..<line].filter { $0.sa != nil }.count
                }
            }
        }
        return []
    }

    /// Tab positions on row 2 (full titles when they fit, short ones otherwise).
    func tabLayout() -> [(view: DashboardView, x: Int, width: Int, label: String)] {
        let full = DashboardView.allCases.map { " \($0.rawValue + 1) \($0.title) " }
        let total = full.reduce(0) { $0 + TextWidth.of($1) }
        let labels = total <= cols ? full : DashboardView.allCases.map { "\($0.rawValue + 1)\($0.shortTitle) " }
        var x = 0
        var out: [(DashboardView, Int, Int, String)] = []
        for (i, l) in labels.enumerated() {
            let w = TextWidth.of(l)
            out.append((DashboardView(rawValue: i)!, x, w, l))
            x += w
        }
        return out
    }
}

/// The NAT-T ports of every peer seen so far (`Dashboard.lastPeerMapping` for data built from the
/// model): a list sorted by peer key, merged with the model's peers (also sorted by key) on each
/// refresh, so that a refresh costs a walk instead of a hash per peer. Peers are never forgotten.
///
/// Only peers with NAT-T are remembered (a key with a remote port, or ports): a peer without one
/// has remote port 0 in its key, and gaining NAT-T gives it a key with the port, so its ports
/// cannot change under the same key. (Remembering every peer took 50 bytes a peer.)
struct PeerPortsMemory: Sendable {
    var keys: [PeerKey] = []
    var ports: [UInt32] = []
    /// Fallback when the model's peers are not in strictly increasing key order.
    var table: [PeerKey: UInt32]?

    /// Whether a peer is kept: it has NAT-T (a remote port in its key, or ports).
    static func remembers(_ key: PeerKey, ports: UInt32) -> Bool { key.remotePort != 0 || ports != 0 }

    /// Records the model's peers; calls `changed` for each peer whose ports differ from the last ones seen.
    mutating func update(_ model: LiveModel, changed: (PeerKey) -> Void) {
        if table == nil {
            var newKeys: [PeerKey] = [], newPorts: [UInt32] = []
            newKeys.reserveCapacity(keys.count + 16)
            newPorts.reserveCapacity(keys.count + 16)
            var i = 0
            var sorted = true
            var changes: [PeerKey] = []
            var lastKey: PeerKey?
            model.forEachPeerNATPorts { key, nat in
                guard sorted else { return }
                if let last = lastKey, !(last < key) { sorted = false; return }
                lastKey = key
                let p = UInt32(nat?.local ?? 0) << 16 | UInt32(nat?.remote ?? 0)
                if !PeerPortsMemory.remembers(key, ports: p) { return }
                while i < keys.count && keys[i] < key { newKeys.append(keys[i]); newPorts.append(ports[i]); i += 1 }
                if i < keys.count && keys[i] == key {
                    if ports[i] != p { changes.append(key) }
                    i += 1
                }
                newKeys.append(key); newPorts.append(p)
            }
            if sorted {
                while i < keys.count { newKeys.append(keys[i]); newPorts.append(ports[i]); i += 1 }
                keys = newKeys; ports = newPorts
                changes.forEach(changed)
                return
            }
            table = Dictionary(zip(keys, ports), uniquingKeysWith: { a, _ in a })
            keys = []; ports = []
        }
        model.forEachPeerNATPorts { key, nat in
            let p = UInt32(nat?.local ?? 0) << 16 | UInt32(nat?.remote ?? 0)
            if !PeerPortsMemory.remembers(key, ports: p) { return }
            if let old = table?.updateValue(p, forKey: key), old != p { changed(key) }
        }
    }
}
