import IPsecViews

/// The dashboard on a real terminal: a `Terminal` and a `Dashboard` wired together, with
/// theme switching handled here. The executable's poll loop owns one and calls it; it never
/// blocks (all waiting happens in the loop's `poll`).
///
/// ```swift
/// let session = try DashboardSession(themeName: args.theme, readOnly: args.readOnly,
///                                    refreshInterval: interval, environment: env,
///                                    executablePath: CommandLine.arguments[0])
/// try session.start()                     // after the not-a-TTY check it performs itself
/// defer { session.stop() }                // handlers also restore on signals and crashes
/// session.update(DashboardData(model: model, now: now, host: host), now: now)
/// session.draw(now: now)
/// while running {
///     poll([stdin (Terminal.inputFileDescriptor), netlink, packet, timer, ...])
///     if stdin readable || poll returned EINTR (SIGWINCH) {
///         for cmd in session.readInput(now: now) { ... quit / setPaused / setRefreshInterval / perform }
///     }
///     after a refresh: session.update(DashboardData(model: ...), now: now)
///     after an action: session.dashboard.record(result, at: now); model.apply(.action(result), at: now)
///     session.draw(now: now)             // cheap: only the visible rows are formatted
/// }
/// ```
public final class DashboardSession {
    public private(set) var dashboard: Dashboard
    public let terminal: Terminal
    public let locator: ThemeLocator
    private var themeNames: [String]
    private var themeIndex: Int
    private let readOnly: Bool
    private let refreshInterval: Double
    private let utcOffset: Int

    /// Loads the theme (`--theme NAME|PATH`, default `default-dark`); a bad theme file throws
    /// `Theme.LoadError` naming file, line and key.
    public init(themeName: String?, readOnly: Bool, refreshInterval: Double, environment: [String: String],
                executablePath: String?, utcOffset: Int = 0) throws(Theme.LoadError) {
        locator = ThemeLocator(environment: environment, executablePath: executablePath)
        let theme = try locator.load(themeName)
        themeNames = locator.availableThemes()
        themeIndex = themeNames.firstIndex(of: themeName ?? ThemeLocator.defaultName) ?? 0
        terminal = Terminal(theme: theme, environment: environment)
        self.readOnly = readOnly
        self.refreshInterval = refreshInterval
        self.utcOffset = utcOffset
        dashboard = Dashboard(options: DashboardOptions(readOnly: readOnly, utcOffset: utcOffset),
                              refreshInterval: refreshInterval)
    }

    /// Enters curses mode (throws `Terminal.StartError` with `Terminal.notATTYMessage` when
    /// stdin/stdout is not a terminal). The dashboard is sized to the terminal and uses ASCII
    /// line drawing when the locale is not UTF-8.
    public func start() throws(Terminal.StartError) {
        try terminal.start()
        let s = terminal.size
        dashboard = Dashboard(options: DashboardOptions(readOnly: readOnly, ascii: !terminal.isUTF8, utcOffset: utcOffset),
                              cols: s.cols, rows: s.rows, refreshInterval: refreshInterval)
    }

    /// Restores the terminal.
    public func stop() { terminal.stop() }

    /// The SIGINT, SIGTERM or SIGHUP that ended the session, if one did (exit with 128 + it).
    public private(set) var stopSignal: Int32?

    /// Reads every pending input event (never blocks) and returns the commands for the loop.
    /// Theme switching (`t`) is done here and not returned. A SIGINT, SIGTERM or SIGHUP
    /// (which interrupts the loop's poll with EINTR) comes back as `.quit`.
    public func readInput(now: Double) -> [DashboardCommand] {
        if let s = terminal.takeStopSignal() {
            stopSignal = s
            return [.quit]
        }
        var out: [DashboardCommand] = []
        var events: [InputEvent] = []
        if let r = terminal.checkResize() { events.append(r) }
        while let e = terminal.nextInput(timeoutMs: 0) { events.append(e) }
        for e in events {
            for c in dashboard.handle(e, now: now) {
                if c == .nextTheme { nextTheme() } else { out.append(c) }
            }
        }
        return out
    }

    /// Feeds one event directly (tests, or loops that read input themselves).
    public func handle(_ event: InputEvent, now: Double) -> [DashboardCommand] {
        dashboard.handle(event, now: now).filter { c in
            if c == .nextTheme { nextTheme(); return false }
            return true
        }
    }

    /// New data after a refresh.
    public func update(_ data: DashboardData, now: Double) {
        dashboard.update(data, now: now)
        lastUpdate = now
    }

    /// Whether `updateIfDue` would update now.
    public func isUpdateDue(now: Double, minimumInterval: Double = 0.25) -> Bool {
        guard let last = lastUpdate else { return true }
        return !(now - last < minimumInterval && now >= last)
    }

    /// Makes the view data let go of the model before the model changes; `update` must follow before
    /// anything is drawn (see `Dashboard.releaseModel`). Returns false while paused.
    public func releaseModel() -> Bool { dashboard.releaseModel() }

    /// Rebuilds the data only when `minimumInterval` seconds have passed since the last update
    /// (for event-driven refreshes: with 100,000 SAs an update walks every SA, and an event lets the
    /// model copy its SA table once more while the view data still shares it, so a burst of kernel
    /// events should not update per event). Returns
    /// whether it updated; call `update` directly after a periodic dump.
    @discardableResult
    public func updateIfDue(now: Double, minimumInterval: Double = 0.25, _ build: () -> DashboardData) -> Bool {
        if !isUpdateDue(now: now, minimumInterval: minimumInterval) { return false }
        update(build(), now: now)
        return true
    }
    private var lastUpdate: Double?

    /// Shows an action's outcome (footer and actions view).
    public func record(_ entry: ActionLogEntry) { dashboard.record(entry) }

    /// Draws the current frame.
    public func draw(now: Double) { terminal.draw(dashboard.render(now: now)) }

    private func nextTheme() {
        guard !themeNames.isEmpty else { return }
        for _ in 0..<themeNames.count {
            themeIndex = (themeIndex + 1) % themeNames.count
            if let t = try? locator.load(themeNames[themeIndex]) {
                terminal.apply(theme: t)
                return
            }
        }
    }
}
