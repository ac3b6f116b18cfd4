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
    /// Cost is linear in the number of SAs (one `SARow` each); call it once per refresh, not per frame.
    public init(model: LiveModel, now: Double, host: HostInfo) {
        let peers = model.peers
        var peerRows: [PeerRow] = []
        peerRows.reserveCapacity(peers.count)
        // Per peer: its row id and keepalive info (one table: one hash per lookup).
        var peerInfo: [PeerKey: (id: String, keepalive: KeepaliveInfo)] = [:]
        peerInfo.reserveCapacity(peers.count)
        for p in peers {
            let id = p.key.description
            let encapsulated = p.nat != nil
            let ka = KeepaliveInfo(model.keepaliveStatus(for: p.key, at: now) ?? p.keepalive, encapsulated: encapsulated)
            peerInfo[p.key] = (id, ka)
            let hist = model.history(of: p.key)
            let encap = p.nat.map {
                XFRMEncapsulation(type: $0.encapsulation.type, sourcePort: $0.localPort, destinationPort: $0.remotePort,
                                  originalAddress: $0.originalAddress ?? .zero(p.key.remote.family))
            }
            let mappings = (p.nat?.mappingHistory ?? []).map {
                PeerMappingChange(time: $0.time, oldAddress: $0.oldAddress, oldPort: $0.oldPort,
                                  newAddress: $0.newAddress, newPort: $0.newPort)
            }
            let health = HealthFlags.all.filter { p.health.contains($0.flag) }.map {
                HealthFlag(code: $0.code, text: $0.name, level: HealthFlag.level($0.flag))
            }
            peerRows.append(PeerRow(
                id: id, local: p.key.local, remote: p.key.remote, encapsulation: encap,
                natDetected: p.nat?.behindNAT ?? false, inboundSAs: p.inbound.count, outboundSAs: p.outbound.count,
                rateIn: p.inboundRates.last2s.bytesPerSecond, rateOut: p.outboundRates.last2s.bytesPerSecond,
                historyIn: hist.map(\.inboundBytesPerSecond), historyOut: hist.map(\.outboundBytesPerSecond),
                keepalive: ka, health: health, mappings: mappings,
                totalBytesIn: p.inboundTotals.bytes, totalBytesOut: p.outboundTotals.bytes,
                rekeys: model.rekeyLinks(of: p.key).count))
        }
        // A stable base order (the views sort anyway; ties keep this order). Sort indices, not
        // entries: moving large structs during a sort costs far more than comparing them.
        let entries = model.allSAs
        let ids = entries.map(\.identity)
        let order = ids.indices.sorted { ids[$0] < ids[$1] }
        var saRows: [SARow] = []
        saRows.reserveCapacity(entries.count)
        for i in order {
            let e = entries[i]
            let state = e.state // a computed property in the model: read it once
            let encapsulated = state.attributes.encapsulation != nil
            let peer = e.peer
            let info = peerInfo[peer]
            let ka: KeepaliveInfo = encapsulated ? (info?.keepalive ?? .notApplicable) : .notApplicable
            let r = e.rates.last2s
            var row = SARow(state: state, direction: e.direction, byteRate: r.bytesPerSecond,
                            packetRate: r.packetsPerSecond, keepalive: ka,
                            health: HealthFlag.from(e.health) { model.healthIssues(for: ids[i], at: now) },
                            peerID: info?.id ?? peer.description, rekeyedFrom: e.predecessor?.spi)
            row.directionSource = DashboardData.words(e.directionSource)
            saRows.append(row)
        }
        let policyRows = model.mapPoliciesSorted { PolicyRow(policy: $0.policy, peerID: $0.peers.first?.description) }
        var peerOfSA: [SAIdentity: String] = [:]
        let timeline = model.timeline.map { ev -> TimelineEntry in
            var level: StatusLevel = .none
            switch ev.kind {
            case .action: level = ev.succeeded == false ? .error : .ok
            case .resync, .reconcile: level = .warn
            case .rekey: level = .ok
            case .kernel: level = ev.name == "MAPPING" || ev.name == "EXPIRE" ? .warn : .none
            case .note: level = .none
            }
            var pid = ev.peer?.description
            if pid == nil, let s = ev.sa {
                if let cached = peerOfSA[s] { pid = cached } else if let e = model.sa(s) {
                    pid = e.peer.description
                    peerOfSA[s] = pid
                }
            }
            return TimelineEntry(time: ev.time, kind: ev.name, level: level, text: ev.summary, peerID: pid, sa: ev.sa)
        }
        let stat = (model.xfrmStat?.counters ?? []).map { StatCounter(name: $0.name, value: $0.value, delta: $0.delta) }
        let h = model.header
        var resync: String?
        switch h.sync {
        case .synchronised: resync = nil
        case .initialising: resync = "initialising"
        case .resyncing(_, let reason): resync = "resyncing (\(reason))"
        }
        var capture: String?
        if case .unavailable(let reason) = h.capture { capture = "keepalive capture off: \(reason)" }
        let header = HeaderInfo(host: host.host, netns: host.netns, kernel: host.kernel, saCount: h.saCount,
                                policyCount: h.policyCount, rateIn: h.inboundRates.last2s.bytesPerSecond,
                                rateOut: h.outboundRates.last2s.bytesPerSecond, resync: resync,
                                refreshInterval: h.refreshInterval, paused: h.paused, captureNote: capture)
        self.init(header: header, sas: saRows, peers: peerRows, policies: policyRows, timeline: timeline, xfrmStat: stat)
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
