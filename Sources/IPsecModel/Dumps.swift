import XFRMWire

extension LiveModel {
    /// A complete GETSA dump: refreshes counters, samples rates, and reconciles the table. O(n).
    mutating func applySADump(_ states: [XFRMState], at now: ModelTime) {
        let window = saDumpQueue ?? DumpQueue(began: now)
        saDumpQueue = nil
        let initial = saDumpCount == 0
        saDumpCount += 1
        generation &+= 1
        let gen = generation
        rateStore.beginDump(at: now)
        lastRefreshTime = now
        var diff = ReconcileDiff()
        if entries.capacity < states.count { entries.reserveCapacity(states.count + states.count / 32) }
        saIndex.reserve(states.count)
        tunnelIndex.reserve(states.count)

        for st in states {
            let id = st.identity
            if !window.removedSAs.isEmpty && window.removedSAs.contains(id) { continue }
            if let slot = lookup(id) {
                let fromEvent = entries[Int(slot)].lastEventAt >= window.began
                let carry = carries.isEmpty ? nil : carries.removeValue(forKey: slot)
                let before = entries[Int(slot)].encapsulation
                let oldEndpoint = before == nil ? nil : LiveModel.remoteEndpoint(
                    source: entries[Int(slot)].source, destination: entries[Int(slot)].destination,
                    encapsulation: before, direction: entries[Int(slot)].direction)
                let resolve = LiveModel.refresh(&entries[Int(slot)], with: st, at: now, keepConfiguration: fromEvent,
                                                carry: carry, generation: gen, rates: &rateStore, boxes: &boxes,
                                                selectors: &selectors)
                if resolve { resolveAcquires(for: st) }
                if oldEndpoint != nil && entries[Int(slot)].encapsulation != before {
                    noteEndpointMove(entries[Int(slot)], from: oldEndpoint, at: now, how: "dump")
                }
            } else {
                // Missed NEWSA (or the first dump): counters so far are the baseline, no burst.
                var e = makeEntry(st, now: now)
                e.seenGeneration = gen
                classify(&e)
                insertNew(e, at: now, recordLink: !initial)
                if !initial { diff.addedSAs += 1 }
            }
        }

        // Stale: not in the dump and not touched by an event while the dump ran.
        var stale: [SAIdentity] = []
        for i in entries.indices where entries[i].alive && entries[i].seenGeneration != gen
            && entries[i].lastEventAt < window.began {
            stale.append(entries[i].identity)
        }
        for id in stale { removeSA(id, final: nil, at: now) }
        diff.staleSAs = stale.count

        // Rates: one pass, no allocation per SA.
        for i in entries.indices where entries[i].alive && entries[i].slot >= 0 {
            let slot = entries[i].slot
            if entries[i].seenGeneration != gen {
                rateStore.write(slot, bytes: 0, packets: 0)
                entries[i].lastDeltaBytes = 0
                entries[i].lastDeltaPackets = 0
            }
            let r = rateStore.rates(slot)
            entries[i].r2b = r.0; entries[i].r2p = r.1
            entries[i].r10b = r.2; entries[i].r10p = r.3
            entries[i].r40b = r.4; entries[i].r40p = r.5
        }
        pruneBoxes()
        finishDump(.sa, diff: diff, initial: initial, began: window.began, at: now)
    }

    /// Updates one known SA from its dump record; returns whether it stopped being larval.
    /// The previous sample is `e.lifetimeCurrent` (events never change counters).
    static func refresh(_ e: inout SAEntry, with st: XFRMState, at now: ModelTime, keepConfiguration: Bool,
                        carry: TrafficTotals?, generation gen: UInt32, rates: inout RateStore,
                        boxes: inout [XFRMAttributes: AttributeBox],
                        selectors: inout [XFRMSelector: SelectorBox]) -> Bool {
        let cur = st.lifetimeCurrent
        let prev = e.lifetimeCurrent
        var db: UInt64, dp: UInt64
        if cur.bytes >= prev.bytes && cur.packets >= prev.packets {
            db = cur.bytes - prev.bytes
            dp = cur.packets - prev.packets
        } else {
            // Counter reset: what was counted stays counted; the new counters are new traffic.
            e.counterResets += 1
            e.offsetBytes &+= prev.bytes
            e.offsetPackets &+= prev.packets
            db = cur.bytes
            dp = cur.packets
        }
        if let c = carry {
            db &+= c.bytes
            dp &+= c.packets
        }
        e.lastDeltaBytes = UInt32(truncatingIfNeeded: min(db, UInt64(UInt32.max)))
        e.lastDeltaPackets = UInt32(truncatingIfNeeded: min(dp, UInt64(UInt32.max)))
        if dp > 0 { e.trafficSeen = now }
        if (db > 0 || dp > 0) && e.slot < 0 { e.slot = rates.allocate() }
        if e.slot >= 0 { rates.write(e.slot, bytes: db, packets: dp) }

        // Failure counters: rising since the previous dump?
        e.replayRising = st.stats.replay > e.stats.replay
        e.integrityRising = st.stats.integrityFailed > e.stats.integrityFailed

        var becameUsable = false
        if keepConfiguration {
            // An event changed it during the dump: keep the event's configuration, take the counters.
            e.lifetimeCurrent = cur
            e.stats = st.stats
            e.replay = st.attributes.replay ?? e.replay
            e.replayESN = st.attributes.replayESN ?? e.replayESN
            e.lastUsed = st.attributes.lastUsed ?? e.lastUsed
        } else {
            let wasLarval = e.isLarval
            let box = intern(st.attributes, current: e.box, boxes: &boxes)
            let sel = intern(st.selector, current: e.selectorBox, selectors: &selectors)
            e.assign(st, box: box, selector: sel)
            becameUsable = wasLarval && !e.isLarval
        }
        e.lastUpdated = now
        e.seenGeneration = gen
        return becameUsable
    }

    /// A complete GETPOLICY dump: reconciles the policy table.
    mutating func applyPolicyDump(_ policies: [XFRMPolicy], at now: ModelTime) {
        let window = policyDumpQueue ?? DumpQueue(began: now)
        policyDumpQueue = nil
        let initial = policyDumpCount == 0
        policyDumpCount += 1
        var diff = ReconcileDiff()
        var seen = Set<PolicyIdentity>(minimumCapacity: policies.count)
        if policyTable.capacity < policies.count { policyTable.reserveCapacity(policies.count) }
        for p in policies {
            let id = p.identity
            if window.removedPolicies.contains(id) { continue }
            seen.insert(id)
            if let idx = policyTable.index(forKey: id) {
                if policyTable.values[idx].lastChanged < window.began {
                    if policyTable.values[idx].policy != p {
                        policyTable.values[idx].policy = p
                        policyTable.values[idx].lastChanged = now
                        policyVersion &+= 1
                    }
                } else {
                    policyTable.values[idx].policy.lifetimeCurrent = p.lifetimeCurrent
                }
            } else {
                putPolicy(PolicyEntry(policy: p, firstSeen: now, lastChanged: now, softExpired: false, peers: []))
                if !initial { diff.addedPolicies += 1 }
            }
        }
        let stale = policyTable.filter { !seen.contains($0.key) && $0.value.lastChanged < window.began }.map(\.key)
        for k in stale { dropPolicy(k) }
        diff.stalePolicies = stale.count
        finishDump(.policy, diff: diff, initial: initial, began: window.began, at: now)
    }

    /// Sync state, resync completion and reconciliation notes after either dump.
    /// A dump that began before the resync request may have walked past what the overrun lost:
    /// only a dump begun after it completes the resync.
    mutating func finishDump(_ kind: DumpKind, diff: ReconcileDiff, initial: Bool, began: ModelTime, at now: ModelTime) {
        if var r = resync, began >= r.since {
            switch kind {
            case .sa:
                r.saDone = true
                r.diff.addedSAs += diff.addedSAs; r.diff.staleSAs += diff.staleSAs
            case .policy:
                r.policyDone = true
                r.diff.addedPolicies += diff.addedPolicies; r.diff.stalePolicies += diff.stalePolicies
            }
            if r.saDone && r.policyDone {
                resync = nil
                resyncs += 1
                lastResyncDiff = r.diff
                syncState = .synchronised(lastResync: now)
                record(TimelineEvent(time: now, kind: .resync, name: "RESYNCED",
                                     summary: "resynced after \(r.reason): \(r.diff.summary)"))
            } else {
                resync = r
            }
            return
        }
        if saDumpCount > 0 && policyDumpCount > 0 && resync == nil, case .initialising = syncState {
            syncState = .synchronised(lastResync: nil)
        }
        if !initial && !diff.isEmpty {
            record(TimelineEvent(time: now, kind: .reconcile, name: "RECONCILED",
                                 summary: "\(kind.rawValue) dump differed from events: \(diff.summary)"))
        }
    }
}
