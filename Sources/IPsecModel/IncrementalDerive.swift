import XFRMWire

extension AddressPair {
    /// The two addresses in a fixed order, whichever way round they come (an SA and its reverse
    /// give the same pair).
    static func unordered(_ a: IPAddress, _ b: IPAddress) -> AddressPair {
        b < a ? AddressPair(local: b, remote: a) : AddressPair(local: a, remote: b)
    }
}

extension LiveModel {
    /// SA changes noted for an incremental derive before a full one is taken instead.
    var incrementalTouchLimit: Int { max(256, liveCount / 16) }

    /// Notes that the SA in `slot`, as it is now, is being added, removed or reconfigured.
    mutating func touchSA(_ slot: Int32) {
        let i = Int(slot)
        touchSA(slot, source: entries[i].source, destination: entries[i].destination,
                attribute: entries[i].directionAttribute)
    }

    /// Notes an SA change for the next derive: the peers of its address pair are regrouped
    /// (`deriveIncrementally`). An SA that carries XFRMA_SA_DIR feeds the inferred local addresses,
    /// which every SA's direction reads: its change regroups everything, as do too many changes.
    mutating func touchSA(_ slot: Int32, source: IPAddress, destination: IPAddress, attribute: SADirection?) {
        if structureDirty { return }
        if attribute != nil || !allowsIncrementalDerive || touchedSlots.count >= incrementalTouchLimit {
            structureDirty = true
            saStructureDirty = false
            touchedPairs = []
            touchedSlots = []
            return
        }
        saStructureDirty = true
        touchedSlots.append(slot)
        let pair = AddressPair.unordered(source, destination)
        if touchedPairs.last != pair { touchedPairs.append(pair) }
    }

    /// `derive` when the only structural changes since the last one are SAs added, removed or
    /// reconfigured (`touchSA`), none of them with XFRMA_SA_DIR, and no policy, local address or
    /// NAT mapping changed. Everything `derive` computes for an SA depends only on SAs of the same
    /// address pair (either way round: direction pairing with the reverse SA, rekey chains and
    /// per-CPU parents share addresses, and a peer's SAs all have its addresses), on the local
    /// addresses and on the policies. So only the peers of the touched address pairs are regrouped:
    /// their SAs get directions, per-CPU parents, peers, pairs, NAT detail and policies as `derive`
    /// gives them; policies attached to those peers before or now are re-attached; every other
    /// peer keeps its record. Counters, tunnel totals, health and rates then go through
    /// `deriveCounters`, as after any refresh. Returns false, having changed nothing, when the
    /// changes touch too many SAs (a full derive is then cheaper).
    mutating func deriveIncrementally(at now: ModelTime, effects: inout [ModelEffect]) -> Bool {
        let pairSet = Set(touchedPairs)
        var old = peerCache // (emptied before the cache is written: no copy of its records)

        // The old peers of the touched pairs (keys are sorted: a range per pair and way round).
        var oldAffected: [Int] = []
        for pair in pairSet {
            for (l, r) in [(pair.local, pair.remote), (pair.remote, pair.local)] {
                var p = old.firstPosition(local: l, remote: r)
                while p < old.values.count && old.values[p].key.local == l && old.values[p].key.remote == r {
                    oldAffected.append(p)
                    p += 1
                }
            }
        }
        oldAffected.sort()
        oldAffected = oldAffected.enumerated().filter { $0.offset == 0 || oldAffected[$0.offset - 1] != $0.element }
            .map(\.element) // (a pair of one address twice is found both ways round)

        // The SAs to regroup: those of the old peers, and the touched ones that are alive.
        var slots = touchedSlots
        for p in oldAffected { slots.append(contentsOf: old.values[p].allSlots) }
        slots.sort()
        var regroup: [Int32] = []
        regroup.reserveCapacity(slots.count)
        var last: Int32 = -1
        for s in slots where s != last {
            last = s
            guard entries[Int(s)].alive else { continue }
            // An SA of another pair would be grouped twice: not expected (a reused slot's new SA is
            // touched), but a full derive is the safe answer.
            guard pairSet.contains(.unordered(entries[Int(s)].source, entries[Int(s)].destination)) else { return false }
            regroup.append(s)
        }
        if regroup.count > incrementalTouchLimit * 4 { return false }

        structureDirty = false
        saStructureDirty = false
        touchedPairs = []
        touchedSlots = []

        // Directions (the reverse SA has the same address pair: it is among the regrouped).
        assignDirections(regroup.map(Int.init))

        // Per-CPU SAs: the parent is of the same tunnel, so of the same addresses.
        for s in regroup where entries[Int(s)].perCPU != nil { linkParent(Int(s)) }

        // Peers of the regrouped SAs, grouped as `derive` groups them (slot order).
        var builders: [PeerBuilder] = []
        var builderKeys: [PeerKey] = []
        var builderIndex: [PeerKey: Int] = [:]
        var builderOf: [Int32] = []
        builderOf.reserveCapacity(regroup.count)
        for s in regroup {
            let i = Int(s)
            let peer = entries[i].peer
            let b: Int
            if let known = builderIndex[peer] {
                b = known
            } else {
                b = builders.count
                builderIndex[peer] = b
                builders.append(PeerBuilder())
                builderKeys.append(peer)
            }
            builderOf.append(Int32(b))
            // Totals and rates are added up by `deriveCounters` afterwards.
            builders[b].add(i, entries, totals: .zero)
        }

        // Policies: a policy attaches to a peer through a template's reqid (and addresses, when
        // the template has both) or through a template's addresses alone; that test reads the
        // peer alone, so a policy keeps its untouched peers and gains the new peers it matches.
        if !policyTable.isEmpty {
            var attachedBuilders: [Int] = []
            func matches(_ t: XFRMTemplate, _ b: Int) -> Bool {
                let key = builderKeys[b]
                let hasAddresses = !t.source.isZero && !t.destination.isZero
                if t.reqid == 0 && !hasAddresses { return false }
                if t.reqid != 0 && !builders[b].hasReqid(t.reqid) { return false }
                return !hasAddresses || (key.local == t.source && key.remote == t.destination)
                    || (key.local == t.destination && key.remote == t.source)
            }
            var reqids = Set<UInt32>()
            for b in builders.indices { builders[b].forEachReqid { reqids.insert($0) } }
            let reqidList = Array(reqids)
            let pairList = Array(pairSet)
            var idx = policyTable.startIndex
            while idx != policyTable.endIndex {
                defer { policyTable.formIndex(after: &idx) }
                // The usual policy: one template, with a reqid, and untouched peers if any; it is
                // concerned only when a regrouped peer has that reqid.
                let firstReqid = policyTable.values[idx].reqid
                if firstReqid != 0, let peers = policyTable.values[idx].peersWithOneTemplateAtMost,
                   reqidList.count <= 16 ? !reqidList.contains(firstReqid) : !reqids.contains(firstReqid) {
                    var touched = false
                    for k in peers where pairList.count <= 16 ? pairList.contains(.unordered(k.local, k.remote))
                        : pairSet.contains(.unordered(k.local, k.remote)) {
                        touched = true
                        break
                    }
                    if !touched { continue }
                }
                var concerned = false
                for k in policyTable.values[idx].peers where pairSet.contains(.unordered(k.local, k.remote)) {
                    concerned = true
                    break
                }
                if !concerned {
                    for t in policyTable.values[idx].templates {
                        if t.reqid != 0 ? reqids.contains(t.reqid)
                            : (!t.source.isZero && !t.destination.isZero
                               && pairSet.contains(.unordered(t.source, t.destination))) {
                            concerned = true
                            break
                        }
                    }
                }
                guard concerned else { continue }
                attachedBuilders.removeAll(keepingCapacity: true)
                for t in policyTable.values[idx].templates {
                    for b in builders.indices where !attachedBuilders.contains(b) && matches(t, b) {
                        attachedBuilders.append(b)
                    }
                }
                var attached = policyTable.values[idx].peers.filter { !pairSet.contains(.unordered($0.local, $0.remote)) }
                for b in attachedBuilders { attached.append(builderKeys[b]) }
                attached.sort()
                if policyTable.values[idx].peers != attached { policyTable.values[idx].peers = attached }
                if !attachedBuilders.isEmpty {
                    let id = policyTable.values[idx].identity
                    for b in attachedBuilders { builders[b].policies.append(id) }
                }
            }
        }

        // The regrouped peers' slots: inbound, outbound, undetermined, each in slot order.
        let order = builderKeys.indices.sorted { builderKeys[$0] < builderKeys[$1] }
        var builderSlots = [[Int32]](repeating: [], count: builders.count * 3)
        for (k, s) in regroup.enumerated() {
            let b = Int(builderOf[k])
            let d = entries[Int(s)].direction
            builderSlots[3 * b + (d == .inbound ? 0 : d == .outbound ? 1 : 2)].append(s)
        }
        func record(_ b: Int, slots store: PeerSlots, start: Int32) -> PeerRecord {
            peerRecord(builders[b], key: builderKeys[b], slots: store, start: start, trafficIndex: -1, health: [])
        }

        let sameKeys = order.count == oldAffected.count
            && order.indices.allSatisfy { builderKeys[order[$0]] == old.values[oldAffected[$0]].key }
        let detached = detachedPeerRecords + order.count
        if sameKeys && (detached <= 64 || detached * 8 <= old.count) {
            // The same peers as before (a rekey, an SA gone from a peer that keeps others): their
            // records are replaced in place, their slots in a small array of their own. Records
            // whose slots are not in the last full array are counted: past an eighth of the peers
            // (or 64) the next regrouping merges them back into one array.
            detachedPeerRecords = detached
            var flat: [Int32] = []
            flat.reserveCapacity(regroup.count)
            var starts: [Int32] = []
            for b in order {
                starts.append(Int32(flat.count))
                for d in 0..<3 { flat.append(contentsOf: builderSlots[3 * b + d]) }
            }
            let store = PeerSlots(flat)
            var position = [Int32](repeating: -1, count: builders.count)
            for (n, b) in order.enumerated() { position[b] = Int32(oldAffected[n]) }
            for (k, s) in regroup.enumerated() { entries[Int(s)].peerIndex = position[Int(builderOf[k])] }
            old = PeerCache()
            var cache = peerCache
            peerCache = PeerCache()
            for (n, b) in order.enumerated() { cache.values[oldAffected[n]] = record(b, slots: store, start: starts[n]) }
            peerCache = cache
            deriveCounters(at: now)
        } else {
            // Peers came or went: untouched records and the regrouped peers are merged in key
            // order, their slots in one new array. `remap` takes each SA's `peerIndex` to its
            // peer's new position: untouched SAs keep their old position (< old count), regrouped
            // ones are given old count + builder.
            detachedPeerRecords = 0
            var remap = [Int32](repeating: -1, count: old.count + builders.count)
            // The merged order: old position, or -1 - builder.
            var merged: [Int] = []
            merged.reserveCapacity(old.count - oldAffected.count + builders.count)
            var flat: [Int32] = []
            flat.reserveCapacity(max(0, old.values.last.map { Int($0.allSlots.endIndex) } ?? 0) + regroup.count)
            var oi = 0, ni = 0, ai = 0
            while oi < old.count || ni < order.count {
                if ai < oldAffected.count && oldAffected[ai] == oi {
                    oi += 1
                    ai += 1
                    continue
                }
                if oi < old.count && (ni == order.count || old.values[oi].key < builderKeys[order[ni]]) {
                    remap[oi] = Int32(merged.count)
                    merged.append(oi)
                    flat.append(contentsOf: old.values[oi].allSlots)
                    oi += 1
                } else {
                    let b = order[ni]
                    remap[old.count + b] = Int32(merged.count)
                    merged.append(-1 - b)
                    for d in 0..<3 { flat.append(contentsOf: builderSlots[3 * b + d]) }
                    ni += 1
                }
            }
            for (k, s) in regroup.enumerated() { entries[Int(s)].peerIndex = Int32(old.count) + builderOf[k] }

            let store = PeerSlots(flat)
            var records: [PeerRecord] = []
            records.reserveCapacity(merged.count)
            var start: Int32 = 0
            for m in merged {
                let r = m >= 0 ? old.values[m].moved(to: store, start: start) : record(-1 - m, slots: store, start: start)
                start += Int32(r.allSlots.count)
                records.append(r)
            }
            old = PeerCache()
            peerCache = PeerCache(sorted: records, traffic: [])
            // Tunnel totals, health, rates, totals and per-peer state, as after a refresh.
            deriveCounters(at: now, remap: remap)
        }
        updateCapturePorts(peerCache.values, effects: &effects)
        derivedDirty = false
        return true
    }
}
