import ArgumentParser
import Foundation
import Glibc
import IPsecActions
import IPsecModel
import IPsecViews
import TerminalBackend
import XFRMKernel
import XFRMWire

struct Dashboard: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "The live dashboard (default).",
        discussion: "Press ? in the dashboard for every key. Needs a terminal; for scripts use `snapshot` or `events`.")

    @OptionGroup var namespace: NamespaceOptions

    @Option(name: [.customShort("d"), .customLong("refresh")], help: "Refresh interval in seconds (like top -d).")
    var refresh: Double = 1

    @Option(help: "Theme name or path (see Themes/, $XDG_CONFIG_HOME/ipsectop/themes).")
    var theme: String?

    @Flag(name: .customLong("read-only"), help: "Remove every action (delete, rekey).")
    var readOnly = false

    @Option(help: "Show a recording instead of the kernel (no privilege needed; read-only).")
    var replay: String?

    @Option(help: "Replay speed factor (1 = real time, 0 = jump to the end).")
    var speed: Double = 1

    @Option(help: "Write what the dashboard receives to a recording (docs/recording.md).")
    var record: String?

    @Option(help: "strongSwan VICI socket used for rekeys.")
    var vici: String = VICIClient.defaultPath

    @Flag(name: .customLong("no-capture"), help: "Do not capture NAT keepalives on the wire.")
    var noCapture = false

    @Option(name: .customLong("rcvbuf"), help: "Event socket receive buffer in bytes (SO_RCVBUFFORCE).")
    var receiveBuffer: Int = 8 << 20

    @Option(name: .customLong("timeline"), help: "Events kept in the timeline.")
    var timelineCapacity: Int = 4096

    func validate() throws {
        if refresh < 0.1 || refresh > 3600 { throw ValidationError("--refresh must be between 0.1 and 3600 seconds") }
        if speed < 0 { throw ValidationError("--speed must not be negative") }
        if replay != nil && record != nil { throw ValidationError("--replay cannot be combined with --record") }
        if replay != nil && (namespace.netns != nil || namespace.netnsPath != nil) {
            throw ValidationError("--replay cannot be combined with --netns/--netns-path")
        }
        if timelineCapacity < 16 { throw ValidationError("--timeline must be at least 16") }
    }

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        let session: DashboardSession
        do {
            session = try DashboardSession(themeName: theme, readOnly: readOnly || replay != nil, refreshInterval: refresh,
                                           environment: env, executablePath: Bundle.main.executablePath,
                                           utcOffset: localUTCOffset())
        } catch {
            Output.error("ipsectop: \(error)")
            throw ExitCode(ExitCodes.badInput)
        }
        // Bad input (theme) is reported first; then the terminal check, before any privilege is used.
        if let problem = Terminal.ttyProblem() {
            Output.error(problem)
            throw ExitCode(ExitCodes.failure)
        }
        var config = ModelConfiguration()
        config.refreshInterval = refresh
        config.timelineCapacity = timelineCapacity

        let source: ModelSource
        var executor: ActionExecutor?
        do {
            if let path = replay {
                let rec = try Recording(path: path)
                source = ReplaySource(recording: rec, configuration: config, speed: speed,
                                      label: "replay \(path.split(separator: "/").last.map(String.init) ?? path)")
            } else {
                try namespace.enter()
                let live = try LiveSource(configuration: config, label: namespace.label ?? "(current)",
                                          receiveBuffer: receiveBuffer, recordTo: record, captureKeepalives: !noCapture,
                                          deferPolicies: true)
                source = live
                if !readOnly { executor = ActionExecutor(command: live.command, viciPath: vici, rekeyPath: .auto) }
            }
        } catch {
            throw fail(error)
        }
        let hostInfo = IPsecViews.HostInfo(host: replay == nil ? LocalHost.hostname : "(recorded)",
                                           netns: source.label, kernel: replay == nil ? LocalHost.kernel : "(recorded)")
        do { try session.start() } catch {
            Output.error(error.description)
            throw ExitCode(ExitCodes.failure)
        }
        defer { session.stop() }

        func refreshData() {
            let now = source.now()
            session.update(DashboardData(model: source.model, now: now, host: hostInfo), now: now)
        }
        refreshData()
        var dirty = false
        loop: while true {
            session.draw(now: source.now())
            // Wake for input (or SIGWINCH), kernel events, the next refresh, or a redraw of ages.
            var fds = [pollfd(fd: Terminal.inputFileDescriptor, events: Int16(POLLIN), revents: 0)]
            for fd in source.pollDescriptors { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            let timeout = Int32(max(0, min(source.secondsUntilNextDue(), dirty ? 0.25 : 1.0)) * 1000)
            let r = poll(&fds, nfds_t(fds.count), timeout)
            if r < 0 && errno != EINTR { break }
            // The terminal went away (hang-up, closed): quit instead of spinning on a dead descriptor.
            if fds[0].revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 { break }
            var readable = Set<Int32>()
            for f in fds where f.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { readable.insert(f.fd) }
            if readable.contains(Terminal.inputFileDescriptor) || r < 0 {
                for cmd in session.readInput(now: source.now()) {
                    switch cmd {
                    case .quit: break loop
                    case .setPaused(let p):
                        if !p { refreshData() }
                    case .setRefreshInterval(let s):
                        source.refreshInterval = s
                    case .perform(let request):
                        perform(request, executor: executor, source: source, session: session)
                        refreshData()
                    case .nextTheme:
                        break // handled by the session
                    }
                }
            }
            // Event bursts rebuild the view data at most every 0.25 s; a refresh always does.
            // When the source is about to change the model and the view will be rebuilt right
            // after, the view first lets go of the model, so that the change does not copy it.
            // A due kernel dump lets go even within 0.25 s of the last rebuild: it changes every
            // SA, and the first policy dump comes right after the first frame (the view held the
            // model then, and the dump copied its SA table: 46 MB more at 100,000 SAs).
            let sourceReadable = source.pollDescriptors.contains { readable.contains($0) }
            var released = false
            if source.dumpDue
                || (sourceReadable || source.secondsUntilNextDue() == 0) && session.isUpdateDue(now: source.now()) {
                released = session.releaseModel()
            }
            if source.service(readable: readable) { dirty = true }
            if released {
                refreshData()
                dirty = false
            } else if dirty {
                let now = source.now()
                if session.updateIfDue(now: now, { DashboardData(model: source.model, now: now, host: hostInfo) }) { dirty = false }
            }
        }
    }

    /// Executes a confirmed action and records its outcome in the dashboard and the model.
    func perform(_ request: ActionRequest, executor: ActionExecutor?, source: ModelSource, session: DashboardSession) {
        let kind: IPsecActions.ActionKind = request.kind == .delete ? .delete : .rekey
        for target in request.targets {
            let label = target.summary()
            guard let executor else {
                let r = ActionResult(kind: kind.verb, target: label, sa: target.identity,
                                     outcome: .failed(errno: EPERM, message: "read-only: actions are disabled"))
                source.record(r); session.record(ActionLogEntry(r, time: source.now()))
                continue
            }
            guard let state = source.model.sa(target.identity)?.state else {
                let r = ActionResult(kind: kind.verb, target: label, sa: target.identity,
                                     outcome: .failed(errno: ENOENT, message: "the SA is gone"))
                source.record(r); session.record(ActionLogEntry(r, time: source.now()))
                continue
            }
            let o = executor.perform(ActionPlanner.plan(kind, targets: [state])[0])
            let outcome: ActionOutcomeKind = o.ok ? .succeeded
                : .failed(errno: Errno.named(o.errnoName) ?? EINVAL, message: o.message)
            let r = ActionResult(kind: o.path.hasPrefix("vici") ? "vici-\(kind.verb)" : kind.verb,
                                 target: label + (o.message.map { " (\($0))" } ?? ""), sa: target.identity, outcome: outcome)
            source.record(r)
            session.record(ActionLogEntry(r, time: source.now()))
        }
    }
}

typealias ActionOutcomeKind = IPsecModel.ActionOutcome

extension Errno {
    /// The errno for a symbolic name (the few the executor reports).
    static func named(_ name: String?) -> Int32? {
        guard let name else { return nil }
        let table: [String: Int32] = ["EPERM": EPERM, "ENOENT": ENOENT, "ESRCH": ESRCH, "EINVAL": EINVAL, "EEXIST": EEXIST,
                                      "EBUSY": EBUSY, "ENOBUFS": ENOBUFS, "EACCES": EACCES, "EAGAIN": EAGAIN]
        return table[name]
    }
}

/// Seconds east of UTC of the local time zone.
func localUTCOffset() -> Int {
    var t = time(nil)
    var tmv = tm()
    localtime_r(&t, &tmv)
    return tmv.tm_gmtoff
}
