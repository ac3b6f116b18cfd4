import XFRMWire

extension LiveModel {
    /// Whether the SA has a live successor in its tunnel.
    func hasLiveSuccessor(_ e: SAEntry) -> Bool {
        e.hasSuccessor && lookupSibling(of: e, spi: e.successorSPI) != nil
    }

    /// Health flags of the SA at position `i` except `.oneWayTraffic` (a property of the pair, set
    /// by `derive`). Same conditions as `issuesExceptOneWay(of:at:)`, without building reason
    /// strings (runs for every SA on every refresh). The tables are passed in: a method call on the
    /// model in the loops of a mutating method copies the whole model per SA. The entry is read in
    /// place through the buffer (a copy of the entry, or a lookup closure holding the array,
    /// retained its boxes).
    static func healthFlags(at i: Int, now: ModelTime, pending: [PendingAcquire],
                            entries: ContiguousArray<SAEntry>, index: SlotIndex) -> HealthFlags {
        entries.withUnsafeBufferPointer { e in
            var f: HealthFlags = []
            let larval = e[i].isLarval
            if larval {
                f.insert(.larval)
                // acquirePending(for:)
                if !pending.isEmpty && pending.contains(where: {
                    $0.source == e[i].source && $0.destination == e[i].destination && $0.proto == e[i].proto
                }) {
                    f.insert(.acquirePending)
                }
            }
            let direction = e[i].direction
            if direction == .inbound && !larval && e[i].effectiveReplayWindow == 0 { f.insert(.antiReplayOff) }
            if e[i].replayRising { f.insert(.replayFailuresRising) }
            if e[i].integrityRising { f.insert(.integrityFailuresRising) }
            if direction != .inbound, !e[i].usesESN, let seq = e[i].outboundSequence, seq > 0x8000_0000 {
                f.insert(.sequenceNearWrap)
            }
            let cfg = e[i].lifetimeConfig
            let limited = cfg.hardAddExpiresSeconds > 0 || cfg.hardUseExpiresSeconds > 0
                || cfg.hardByteLimit != .max || cfg.hardPacketLimit != .max
            let rekeyRequested = e[i].rekeyRequestedAt != nil
            if (limited && !larval) || rekeyRequested {
                // hasLiveSuccessor(e)
                let succeeded = e[i].hasSuccessor && lookup(e[i].sibling(e[i].successorSPI), entries: entries, index: index) != nil
                if limited && !larval && !succeeded && nearHardLimit(cfg, e[i].lifetimeCurrent, at: now) != nil {
                    f.insert(.nearHardLifetime)
                }
                if rekeyRequested && !succeeded { f.insert(.rekeyRequested) }
            }
            return f
        }
    }

    /// Every health problem of an SA with its reason (one-way traffic included when flagged).
    public func healthIssues(for id: SAIdentity, at now: ModelTime? = nil) -> [HealthIssue] {
        guard let e = entry(id) else { return [] }
        return healthIssues(of: e, at: now)
    }

    /// `healthIssues(for:at:)` of an entry at hand (an SA of `forEachSA` or `withSAEntries`): no
    /// lookup and no copy of the entry.
    public func healthIssues(of e: borrowing SAEntry, at now: ModelTime? = nil) -> [HealthIssue] {
        var issues = issuesExceptOneWay(of: e, at: now ?? lastInputTime)
        if e.health.contains(.oneWayTraffic) {
            let mine = rates(of: e).last10s.packetsPerSecond > 0
            issues.append(HealthIssue(flag: .oneWayTraffic,
                                      reason: mine ? "traffic on this SA but none on its reverse SA in 10 s"
                                                   : "no traffic on this SA in 10 s while its reverse SA carries some"))
        }
        return issues
    }

    func issuesExceptOneWay(of e: borrowing SAEntry, at now: ModelTime) -> [HealthIssue] {
        var out: [HealthIssue] = []
        if e.isLarval {
            out.append(HealthIssue(flag: .larval, reason: "larval SA (no algorithms): SPI allocated or acquire in progress"))
        }
        if e.isLarval && acquirePending(for: e) {
            out.append(HealthIssue(flag: .acquirePending,
                                   reason: "kernel ACQUIRE for \(e.source) -> \(e.destination) has no SA yet"))
        }
        if e.direction == .inbound && !e.isLarval && e.effectiveReplayWindow == 0 {
            out.append(HealthIssue(flag: .antiReplayOff, reason: "inbound SA with replay window 0: anti-replay off"))
        }
        if e.replayRising {
            out.append(HealthIssue(flag: .replayFailuresRising,
                                   reason: "replay failures rising (\(e.stats.replay) now)"))
        }
        if e.integrityRising {
            out.append(HealthIssue(flag: .integrityFailuresRising,
                                   reason: "integrity failures rising (\(e.stats.integrityFailed) now)"))
        }
        if e.direction != .inbound, !e.usesESN, let seq = e.outboundSequence, seq > 0x8000_0000 {
            out.append(HealthIssue(flag: .sequenceNearWrap,
                                   reason: "outbound sequence \(seq) past 2^31 without ESN (wraps at 2^32)"))
        }
        if !e.isLarval, !hasLiveSuccessor(e), let why = LiveModel.hardLifetimeNote(e.lifetimeConfig, e.lifetimeCurrent, at: now) {
            out.append(HealthIssue(flag: .nearHardLifetime, reason: why + " and no successor"))
        }
        if let t = e.rekeyRequestedAt, !hasLiveSuccessor(e) {
            out.append(HealthIssue(flag: .rekeyRequested,
                                   reason: "soft expiry \(Int((now - t).rounded())) s ago: rekey requested, no successor yet"))
        }
        return out
    }

    /// "within 10% of the hard time limit (90 s of 100 s)" when a hard limit is 90% used.
    static func hardLifetimeNote(_ cfg: XFRMLifetimeConfig, _ cur: XFRMLifetimeCurrent, at now: ModelTime) -> String? {
        switch nearHardLimit(cfg, cur, at: now) {
        case .addTime(let used):
            return "within 10% of the hard time limit (\(Int(used)) s of \(cfg.hardAddExpiresSeconds) s)"
        case .useTime(let used):
            return "within 10% of the hard use-time limit (\(Int(used)) s of \(cfg.hardUseExpiresSeconds) s)"
        case .bytes: return "within 10% of the hard byte limit (\(cur.bytes) of \(cfg.hardByteLimit))"
        case .packets: return "within 10% of the hard packet limit (\(cur.packets) of \(cfg.hardPacketLimit))"
        case nil: return nil
        }
    }

    /// Which hard limit is 90% used, if any (the first of add time, use time, bytes, packets):
    /// the test behind `hardLifetimeNote`, without its text (the refresh asks it of every SA).
    enum HardLimitReached { case addTime(Double), useTime(Double), bytes, packets }

    @inline(__always)
    static func nearHardLimit(_ cfg: XFRMLifetimeConfig, _ cur: XFRMLifetimeCurrent, at now: ModelTime) -> HardLimitReached? {
        if cfg.hardAddExpiresSeconds > 0, cur.addTime > 0 {
            let used = now - Double(cur.addTime)
            if used >= 0.9 * Double(cfg.hardAddExpiresSeconds) { return .addTime(used) }
        }
        if cfg.hardUseExpiresSeconds > 0, cur.useTime > 0 {
            let used = now - Double(cur.useTime)
            if used >= 0.9 * Double(cfg.hardUseExpiresSeconds) { return .useTime(used) }
        }
        if cfg.hardByteLimit != .max, cfg.hardByteLimit > 0, Double(cur.bytes) >= 0.9 * Double(cfg.hardByteLimit) {
            return .bytes
        }
        if cfg.hardPacketLimit != .max, cfg.hardPacketLimit > 0, Double(cur.packets) >= 0.9 * Double(cfg.hardPacketLimit) {
            return .packets
        }
        return nil
    }
}
