import IPsecModel
import XFRMWire

/// Host facts the model does not know, for the header.
public struct HostInfo: Hashable, Sendable {
    public var host: String
    public var netns: String
    public var kernel: String
    public init(host: String, netns: String, kernel: String) { self.host = host; self.netns = netns; self.kernel = kernel }
}

extension StatusLevel {
    init(_ k: KeepaliveState) {
        switch k {
        case .ok: self = .ok
        case .late: self = .warn
        case .none: self = .error
        case .unknown: self = .none
        }
    }
}

extension KeepaliveInfo {
    /// The model's keepalive verdict for display; `encapsulated: false` shows `n/a`.
    public init(_ s: KeepaliveStatus, encapsulated: Bool) {
        if !encapsulated {
            self = KeepaliveInfo(label: "n/a", level: .none, reason: s.reason.isEmpty ? "no UDP encapsulation" : s.reason)
            return
        }
        self.init(label: s.state.rawValue, level: StatusLevel(s.state), reason: s.reason,
                  interval: s.kernelInterval ?? s.interval.map { UInt32(clamping: Format.clampedInt($0.rounded())) },
                  lastSent: s.lastSent, lastReceived: s.lastReceived)
    }
}

extension HealthFlag {
    /// Severity of each model health flag.
    static func level(_ f: HealthFlags) -> StatusLevel {
        if f == .replayFailuresRising || f == .integrityFailuresRising { return .error }
        if f == .rekeyRequested { return .ok }
        return .warn
    }

    /// Flags with their reasons (reasons only fetched for flagged SAs).
    static func from(_ flags: HealthFlags, issues: () -> [HealthIssue]) -> [HealthFlag] {
        guard !flags.isEmpty else { return [] }
        let reasons = issues()
        return HealthFlags.all.filter { flags.contains($0.flag) }.map { f in
            HealthFlag(code: f.code, text: reasons.first { $0.flag == f.flag }?.reason ?? f.name, level: level(f.flag))
        }
    }
}

extension DashboardData {
    /// Builds the view data from the live model at `now`.
    ///
    /// Cheap: the model is shared (copy on write), rows are built when read.
    public init(model: LiveModel, now: Double, host: HostInfo) {
        // Rows are built from the model on demand (see `SARows`, `ModelSnapshot`): here only the
        // header and the xfrm_stat counters.
        let stat = (model.xfrmStat?.counters ?? []).map { StatCounter(name: $0.name, value: $0.value, delta: $0.delta) }
        // The header's figures without `model.header` (which walks every SA for its larval count).
        let rates = model.headerByteRates2s
        var resync: String?
        switch model.sync {
        case .synchronised: resync = nil
        case .initialising: resync = "initialising"
        case .resyncing(_, let reason): resync = "resyncing (\(reason))"
        }
        var capture: String?
        if case .unavailable(let reason) = model.capture { capture = "keepalive capture off: \(reason)" }
        let header = HeaderInfo(host: host.host, netns: host.netns, kernel: host.kernel, saCount: model.saCount,
                                policyCount: model.policyCount, rateIn: rates.inbound, rateOut: rates.outbound,
                                resync: resync, refreshInterval: model.configuration.refreshInterval,
                                paused: model.pausedInput, captureNote: capture)
        self.init(header: header, snapshot: ModelSnapshot(model: model, now: now), xfrmStat: stat)
    }
}

extension DashboardData {
    static func words(_ s: DirectionSource) -> String {
        switch s {
        case .attribute: return "XFRMA_SA_DIR"
        case .localDestination: return "inferred: destination is local"
        case .localSource: return "inferred: source is local"
        case .pairing: return "inferred: opposite of the paired SA"
        case .unknown: return "unknown"
        }
    }
}

extension SARow {
    func with(directionSource: String) -> SARow {
        var r = self
        r.directionSource = directionSource
        return r
    }
}

extension ActionLogEntry {
    /// A log line from the executor's result (the same value fed to the model as `.action`).
    public init(_ result: ActionResult, time: Double) {
        switch result.outcome {
        case .succeeded:
            self.init(time: time, operation: result.kind, target: result.target, result: "ok", level: .ok)
        case .failed(let errno, let message):
            var text = "\(ActionLogEntry.errnoName(errno)) (\(errno))"
            if let m = message, !m.isEmpty { text += ": " + m }
            self.init(time: time, operation: result.kind, target: result.target, result: text, level: .error)
        }
    }

    /// Symbolic name of the errnos netlink XFRM requests commonly return.
    public static func errnoName(_ e: Int32) -> String {
        let names: [Int32: String] = [1: "EPERM", 2: "ENOENT", 3: "ESRCH", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES",
                                      16: "EBUSY", 17: "EEXIST", 19: "ENODEV", 22: "EINVAL", 95: "EOPNOTSUPP",
                                      105: "ENOBUFS", 110: "ETIMEDOUT", 111: "ECONNREFUSED"]
        return names[e] ?? "errno \(e)"
    }
}

extension Dashboard {
    /// Records an executor result (delete, rekey) in the actions log and footer.
    public mutating func record(_ result: ActionResult, at time: Double) {
        record(ActionLogEntry(result, time: time))
    }
}
