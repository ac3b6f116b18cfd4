import XFRMWire

extension LiveModel {
    /// One record of a GETSA dump: a decoded state, or the raw payload of a NEWSA message. The
    /// state is boxed: inline it made every raw record 392 bytes, copied about three times a record.
    enum SADumpRecord {
        indirect case state(XFRMState)
        case raw(UnsafeRawBufferPointer)
    }

    /// What a GETSA dump being applied carries from one record to the next (`startSADump`,
    /// `feedSADump`, `finishSADump`): the whole dump at once, or datagram by datagram as received.
    struct SADumpCursor: Sendable {
        /// When the dump's records are taken to be (counters, rate samples).
        var now: ModelTime
        /// When the dump began (events after it win over its records).
        var began: ModelTime
        var initial: Bool
        var generation: UInt32
        var diff = ReconcileDiff()
        /// Entry slot of each record of the previous dump, and of this one so far.
        var previousOrder: [Int32]
        var order: [Int32] = []
        var context = XFRMDecoder.Context()
    }

    /// A complete GETSA dump: refreshes counters, samples rates, and reconciles the table. O(n).
    /// `records` calls its argument once per record, in dump order. A raw record whose
    /// configuration hash matches the entry's is applied as counters only, without decoding it.
    mutating func applySADump(count: Int, at now: ModelTime, records: ((SADumpRecord) -> Void) -> Void) {
        var cursor = startSADump(count: count, at: now)
        records { feedSADump(&cursor, $0) }
        finishSADump(cursor, at: now)
    }

    /// Begins applying a GETSA dump of about `count` records, taken at `now`.
    mutating func startSADump(count: Int, at now: ModelTime) -> SADumpCursor {
        let initial = saDumpCount == 0
        saDumpCount += 1
        generation &+= 1
        rateStore.beginDump(at: now)
        lastRefreshTime = now
        if entries.capacity < count { entries.reserveCapacity(count + count / 32) }
        saIndex.reserve(count)
        tunnelIndex.reserve(count)
        var cursor = SADumpCursor(now: now, began: saDumpQueue?.began ?? now, initial: initial, generation: generation,
                                  previousOrder: dumpOrder)
        cursor.order.reserveCapacity(count)
        return cursor
    }

    /// Applies one record of the dump under way.
    mutating func feedSADump(_ c: inout SADumpCursor, _ record: SADumpRecord) {
        let now = c.now, gen = c.generation, initial = c.initial
        let window = saDumpQueue ?? DumpQueue(began: c.began)
        switch record {
        case .state(let st):
            applyDumpedState(st, hash: 0, window: window, initial: initial, generation: gen, diff: &c.diff, at: now)
        case .raw(let payload):
            guard let scan = SAScan(payload: payload) else {
                // Malformed for the scan: the decoder decides (nil: skipped, as a dump skips
                // records it cannot decode).
                if let st = try? XFRMDecoder.decodeState(payload: payload, context: &c.context) {
                    applyDumpedState(st, hash: 0, window: window, initial: initial, generation: gen, diff: &c.diff, at: now)
                }
                return
            }
            if !window.removedSAs.isEmpty && window.removedSAs.contains(scan.identity) { return }
            // The kernel lists SAs in the same order on every dump: the slot of this position in
            // the previous dump is checked first (a sequential walk instead of a hash probe).
            let position = c.order.count
            var found: Int32?
            if position < c.previousOrder.count {
                let guess = c.previousOrder[position]
                if guess >= 0 && Int(guess) < entries.count && entries[Int(guess)].alive
                    && LiveModel.isEntry(Int(guess), scan.identity, entries: entries) {
                    found = guess
                }
            }
            if found == nil { found = LiveModel.lookup(scan.identity, entries: entries, index: saIndex) }
            c.order.append(found ?? -1)
            if let slot = found, entries[Int(slot)].configHash == scan.configurationHash {
                let fromEvent = entries[Int(slot)].lastEventAt >= window.began
                let carry = carries.isEmpty ? nil : carries.removeValue(forKey: slot)
                LiveModel.refreshCounters(&entries[Int(slot)], with: scan.counters, at: now, fromEvent: fromEvent,
                                          carry: carry, generation: gen, rates: &rateStore)
                counterOnlyRefreshes += 1
            } else if let st = try? XFRMDecoder.decodeState(payload: payload, context: &c.context) {
                applyDumpedState(st, hash: scan.configurationHash, window: window, initial: initial, generation: gen,
                                 diff: &c.diff, at: now)
            }
        }
    }

    /// Completes the dump under way at `now`: SAs it did not show are stale (unless an event
    /// touched them since it began), rates are sampled, the reconciliation is recorded.
    mutating func finishSADump(_ c: SADumpCursor, at now: ModelTime) {
        let window = saDumpQueue ?? DumpQueue(began: c.began)
        saDumpQueue = nil
        let gen = c.generation, initial = c.initial
        var diff = c.diff
        let order = c.order
        dumpOrder = order
        // One pass: stale SAs (not in the dump and not touched by an event while the dump ran),
        // rates of the others, and the SAs that moved (for the history).
        var stale: [SAIdentity] = []
        movedInDump.removeAll(keepingCapacity: true)
        for i in entries.indices where entries[i].alive {
            if entries[i].seenGeneration != gen {
                if entries[i].lastEventAt < window.began {
                    stale.append(entries[i].identity)
                    continue
                }
            } else if rateStore.moved(entries[i].slot) {
                movedInDump.append(Int32(i))
            }
            LiveModel.sampleRates(&entries[i], generation: gen, rates: &rateStore)
        }
        diff.staleSAs = stale.count
        if !stale.isEmpty {
            for id in stale { removeSA(id, final: nil, at: now) } // (`discard` notes each for the next derive)
            // A removed SA's rate window moved to its heir: sample again.
            for i in entries.indices where entries[i].alive {
                LiveModel.sampleRates(&entries[i], generation: gen, rates: &rateStore)
            }
        }
        if initial {
            // The first dump interned exactly what its SAs use: nothing to forget, and the tables'
            // sizes are the baseline for the next pruning.
            boxesAfterPrune = boxes.count
            selectorsAfterPrune = selectors.count
        } else {
            pruneBoxes()
        }
        // Carries are taken by the next sample: after a mass rekey the emptied table would keep
        // its buckets (about 50 bytes an SA at 100,000).
        if carries.isEmpty && carries.capacity > 64 { carries = [:] }
        finishDump(.sa, diff: diff, initial: initial, began: window.began, at: now)
    }

    /// The SA's rates after a dump (no allocation): zero traffic for an SA the dump did not show.
    static func sampleRates(_ e: inout SAEntry, generation gen: UInt32, rates: inout RateStore) {
        let slot = e.slot
        guard slot >= 0 else { return }
        if e.seenGeneration != gen { rates.write(slot, bytes: 0, packets: 0) }
        rates.computeRates(slot)
    }

    /// One decoded dump record: refreshes a known SA (configuration and counters) or adds a missed
    /// one. `hash` is the record's configuration hash (0 when unknown); it is kept only when the
    /// entry's configuration is now the record's.
    mutating func applyDumpedState(_ st: XFRMState, hash: UInt64, window: DumpQueue, initial: Bool, generation gen: UInt32,
                                   diff: inout ReconcileDiff, at now: ModelTime) {
        let id = st.identity
        if !window.removedSAs.isEmpty && window.removedSAs.contains(id) { return }
        if let slot = lookup(id) {
            let fromEvent = entries[Int(slot)].lastEventAt >= window.began
            let carry = carries.isEmpty ? nil : carries.removeValue(forKey: slot)
            let before = entries[Int(slot)].encapsulation
            let oldEndpoint = before == nil ? nil : LiveModel.remoteEndpoint(
                source: entries[Int(slot)].source, destination: entries[Int(slot)].destination,
                encapsulation: before, direction: entries[Int(slot)].direction)
            let previousHash = entries[Int(slot)].configHash
            let (oldSource, oldDestination) = (entries[Int(slot)].source, entries[Int(slot)].destination)
            let oldAttribute = entries[Int(slot)].directionAttribute
            let resolve = LiveModel.refresh(&entries[Int(slot)], with: st, at: now, keepConfiguration: fromEvent,
                                            carry: carry, generation: gen, rates: &rateStore, boxes: &boxes,
                                            selectors: &selectors)
            if !fromEvent {
                // The configuration is now the record's (`assign` cleared the hash).
                entries[Int(slot)].configHash = hash
                if hash == 0 || hash != previousHash {
                    // A new configuration: the SA's peers before and after are regrouped.
                    touchSA(slot, source: oldSource, destination: oldDestination, attribute: oldAttribute)
                    touchSA(slot)
                }
            }
            if resolve { resolveAcquires(for: st) }
            if oldEndpoint != nil && entries[Int(slot)].encapsulation != before {
                noteEndpointMove(entries[Int(slot)], from: oldEndpoint, at: now, how: "dump")
            }
        } else {
            // Missed NEWSA (or the first dump): counters so far are the baseline, no burst.
            var e = makeEntry(st, now: now)
            e.seenGeneration = gen
            e.configHash = hash
            classify(&e)
            insertNew(e, at: now, recordLink: !initial) // (`store` notes the new SA for the next derive)
            if !initial { diff.addedSAs += 1 }
        }
    }

    /// Updates one known SA from its dump record; returns whether it stopped being larval.
    /// The previous sample is `e.lifetimeCurrent` (events never change counters).
    static func refresh(_ e: inout SAEntry, with st: XFRMState, at now: ModelTime, keepConfiguration: Bool,
                        carry: TrafficTotals?, generation gen: UInt32, rates: inout RateStore,
                        boxes: inout [XFRMAttributes: AttributeBox],
                        selectors: inout [UInt64: SelectorBox]) -> Bool {
        var becameUsable = false
        if keepConfiguration {
            // An event changed it during the dump: keep the event's configuration, take the counters.
            refreshCounters(&e, with: SACounters(st), at: now, fromEvent: true, carry: carry, generation: gen,
                            rates: &rates)
        } else {
            sampleCounters(&e, st.lifetimeCurrent, st.stats, at: now, carry: carry, rates: &rates)
            let wasLarval = e.isLarval
            let box = intern(st.attributes, current: e.box, boxes: &boxes)
            let sel = intern(st, current: e.selectorBox, selectors: &selectors)
            e.assign(st, box: box, selector: sel)
            becameUsable = wasLarval && !e.isLarval
            e.seenGeneration = gen
        }
        return becameUsable
    }

    /// Takes a dump record's counters for an SA whose configuration stays as it is: unchanged
    /// since the record it was taken from (`fromEvent` false: replay state and last use are the
    /// record's), or set by an event during the dump (`fromEvent`: absent values keep the old ones).
    static func refreshCounters(_ e: inout SAEntry, with c: SACounters, at now: ModelTime, fromEvent: Bool,
                                carry: TrafficTotals?, generation gen: UInt32, rates: inout RateStore) {
        sampleCounters(&e, c.lifetimeCurrent, c.stats, at: now, carry: carry, rates: &rates)
        e.lifetimeCurrent = c.lifetimeCurrent
        e.stats = c.stats
        if fromEvent {
            // The kernel reports one form of replay state: the record's, if it has one.
            if c.replay != nil || c.replayESN != nil { e.replayState = ReplayStorage(legacy: c.replay, esn: c.replayESN) }
            e.lastUsed = c.lastUsed ?? e.lastUsed
        } else {
            e.replayState = ReplayStorage(legacy: c.replay, esn: c.replayESN)
            e.lastUsed = c.lastUsed
        }
        e.seenGeneration = gen
    }

    /// Traffic since the previous sample (`e.lifetimeCurrent`), counter resets, rate sample and
    /// rising failure counters. Does not store the new counters.
    static func sampleCounters(_ e: inout SAEntry, _ cur: XFRMLifetimeCurrent, _ stats: XFRMStats, at now: ModelTime,
                               carry: TrafficTotals?, rates: inout RateStore) {
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
        if dp > 0 { e.trafficSeen = now }
        if (db > 0 || dp > 0) && e.slot < 0 { e.slot = rates.allocate() }
        if e.slot >= 0 { rates.write(e.slot, bytes: db, packets: dp) }

        // Failure counters: rising since the previous dump?
        e.replayRising = stats.replay > e.stats.replay
        e.integrityRising = stats.integrityFailed > e.stats.integrityFailed
    }

    /// What a GETPOLICY dump being applied carries from one part to the next (`startPolicyDump`,
    /// `feedPolicyDump`, `finishPolicyDump`): the whole dump at once, or datagram by datagram.
    struct PolicyDumpCursor: Sendable {
        /// Events during the dump (taken when it starts: nothing else is fed until it ends).
        var window: DumpQueue
        var initial: Bool
        var diff = ReconcileDiff()
        /// The dump's number: each entry it lists is marked with it (no set of identities seen).
        var generation: UInt32
        /// Entries marked so far.
        var seen = 0
        /// Table position of each record of the previous dump, and of this one so far.
        var previousOrder: [Int32]
        var order: [Int32] = []
        /// Whether a record was new to the table (then stale keys must be looked for).
        var inserted = false
    }

    /// A complete GETPOLICY dump: reconciles the policy table.
    mutating func applyPolicyDump(_ policies: [XFRMPolicy], at now: ModelTime) {
        var cursor = startPolicyDump(count: policies.count, at: now)
        feedPolicyDump(&cursor, policies, at: now)
        finishPolicyDump(cursor, at: now)
    }

    /// Begins applying a GETPOLICY dump of about `count` records, taken at `now`.
    mutating func startPolicyDump(count: Int, at now: ModelTime) -> PolicyDumpCursor {
        let window = policyDumpQueue ?? DumpQueue(began: now)
        policyDumpQueue = nil
        let initial = policyDumpCount == 0
        policyDumpCount += 1
        if policyTable.capacity < count { policyTable.reserveCapacity(count) }
        policyGeneration &+= 1
        if policyGeneration == 0 { policyGeneration = 1 } // 0 is "never listed"
        var cursor = PolicyDumpCursor(window: window, initial: initial, generation: policyGeneration,
                                      previousOrder: policyDumpOrder)
        cursor.order.reserveCapacity(count)
        return cursor
    }

    /// Applies records of the dump under way, in dump order.
    mutating func feedPolicyDump(_ c: inout PolicyDumpCursor, _ policies: [XFRMPolicy], at now: ModelTime) {
        for p in policies {
            let id = p.identity
            if !c.window.removedPolicies.isEmpty && c.window.removedPolicies.contains(id) { continue }
            // The previous dump's record at this position first (a comparison instead of a hash
            // probe), then the index.
            let position = c.order.count
            var found: Int?
            if position < c.previousOrder.count {
                let guess = Int(c.previousOrder[position])
                if guess >= 0 && guess < policyTable.count && policyTable.values[guess].hasIdentity(id) { found = guess }
            }
            if found == nil { found = policyTable.index(forKey: id) }
            if let idx = found {
                c.order.append(Int32(idx))
                if policyTable.values[idx].seenInDump != c.generation {
                    policyTable.values[idx].seenInDump = c.generation
                    c.seen += 1
                }
                if policyTable.values[idx].lastChanged < c.window.began {
                    // Counters alone (use time, bytes) are not a change of the policy.
                    if policyTable.values[idx].sameConfiguration(as: p) {
                        policyTable.values[idx].lifetimeCurrent = p.lifetimeCurrent
                    } else {
                        policyTable.values[idx].assign(p, common: policyCommon(for: p, keeping: policyTable.values[idx].common))
                        policyTable.values[idx].lastChanged = now
                        policyVersion &+= 1
                        structureDirty = true
                    }
                } else {
                    policyTable.values[idx].lifetimeCurrent = p.lifetimeCurrent
                }
            } else {
                var e = PolicyEntry(policy: p, common: policyCommon(for: p), firstSeen: now, lastChanged: now,
                                    softExpired: false, peers: [])
                e.seenInDump = c.generation
                c.order.append(Int32(policyTable.count)) // (appended at the end)
                putPolicy(e)
                structureDirty = true
                c.seen += 1
                c.inserted = true
                if !c.initial { c.diff.addedPolicies += 1 }
            }
        }
    }

    /// Completes the dump: policies it did not list (and no event touched since it began) are gone.
    mutating func finishPolicyDump(_ c: PolicyDumpCursor, at now: ModelTime) {
        var diff = c.diff
        // When every dumped policy was already in the table (nothing inserted, so nothing displaced),
        // the keys seen are table keys: equal counts mean nothing is stale, the usual case. Else the
        // stale keys are collected without copying the table (`filter` built a new dictionary).
        var stale: [PolicyIdentity] = []
        if c.inserted || c.seen != policyTable.count {
            var i = policyTable.startIndex
            while i != policyTable.endIndex {
                if policyTable.values[i].seenInDump != c.generation && policyTable.values[i].lastChanged < c.window.began {
                    stale.append(policyTable.values[i].identity)
                }
                policyTable.formIndex(after: &i)
            }
        }
        for k in stale { dropPolicy(k) }
        if !stale.isEmpty { structureDirty = true }
        // Removals move entries (the last into the freed position): those guesses then miss once.
        policyDumpOrder = c.order
        diff.stalePolicies = stale.count
        finishDump(.policy, diff: diff, initial: c.initial, began: c.window.began, at: now)
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
