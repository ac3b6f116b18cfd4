import XFRMWire

extension LiveModel {
    func isSAEvent(_ m: XFRMMessage) -> Bool {
        switch m {
        case .newSA, .updateSA, .deleteSA, .expire, .flushSA: return true
        default: return false
        }
    }

    func isPolicyEvent(_ m: XFRMMessage) -> Bool {
        switch m {
        case .newPolicy, .updatePolicy, .deletePolicy, .policyExpire, .flushPolicy: return true
        default: return false
        }
    }

    /// Applies one kernel event at once (see `DumpQueue` for how a running dump is reconciled).
    mutating func applyKernel(_ message: XFRMMessage, at now: ModelTime) {
        switch message {
        case .newSA(let st), .updateSA(let st):
            let existed = lookup(st.identity) != nil
            upsertFromEvent(st, at: now)
            recordSA(message.kindName, st, added: !existed, at: now)
        case .deleteSA(let id, _, let st):
            let peer = entry(id)?.peer
            removeSA(id, final: st, at: now)
            do {
                record(TimelineEvent(time: now, kind: .kernel, name: "DELSA", text: .saRemoved(.deleted, id), sa: id,
                                     peer: peer))
            }
        case .expire(let st, let hard):
            let id = st.identity
            if hard {
                let peer = entry(id)?.peer
                removeSA(id, final: st, at: now)
                do {
                    let what: TimelineText.SARemoval = st.isLarval ? .larvalTimedOut : .hardLifetime
                    record(TimelineEvent(time: now, kind: .kernel, name: "EXPIRE", text: .saRemoved(what, id),
                                         sa: id, peer: peer))
                }
            } else {
                if let slot = lookup(id) {
                    let i = Int(slot)
                    entries[i].rekeyRequestedAt = entries[i].rekeyRequestedAt ?? now
                    entries[i].health.insert(.rekeyRequested)
                    entries[i].lastEventAt = now
                }
                do {
                    record(TimelineEvent(time: now, kind: .kernel, name: "EXPIRE",
                                         summary: "soft lifetime reached: rekey requested for \(id)", sa: id,
                                         peer: entry(id)?.peer))
                }
            }
        case .acquire(let a):
            applyAcquire(source: a.source, destination: a.destination, proto: a.proto,
                         reqid: a.attributes.templates.first?.reqid ?? 0, selector: a.selector, seq: a.seq, at: now)
        case .newPolicy(let p), .updatePolicy(let p):
            let existed = policyTable[p.identity] != nil
            upsertPolicy(p, at: now)
            do {
                record(TimelineEvent(time: now, kind: .kernel, name: message.kindName,
                                     summary: "\(existed ? "updated" : "added") policy \(p.direction) \(p.selector.summary)"))
            }
        case .deletePolicy(let pid, let body, let attrs):
            let n = removePolicies(pid, body: body, attributes: attrs)
            do {
                record(TimelineEvent(time: now, kind: .kernel, name: "DELPOLICY",
                                     summary: "deleted policy \(pid.direction) \(pid.selector.summary)"
                                        + (n == 0 ? " (unknown to the model)" : "")))
            }
        case .policyExpire(let p, let hard):
            if hard {
                dropPolicy(p.identity)
                policyDumpQueue?.removedPolicies.insert(p.identity)
            } else if let idx = policyTable.index(forKey: p.identity) {
                policyTable.values[idx].softExpired = true
            }
            do {
                record(TimelineEvent(time: now, kind: .kernel, name: "POLEXPIRE",
                                     summary: "\(hard ? "hard (deleted)" : "soft") expiry of policy \(p.direction) \(p.selector.summary)"))
            }
        case .flushSA(let proto):
            let n = flushSAs(proto, at: now)
            do {
                let which = proto.rawValue == 0 ? "all" : (proto == .anyIPsec ? "AH/ESP/IPcomp" : proto.description)
                record(TimelineEvent(time: now, kind: .kernel, name: "FLUSHSA", summary: "flushed \(which) SAs (\(n))"))
            }
        case .flushPolicy(let type):
            let t = type ?? 0
            let before = policyTable.count
            let victims = policyTable.keys.filter { $0.type == t }
            for k in victims {
                policyDumpQueue?.removedPolicies.insert(k)
                dropPolicy(k)
            }
            do {
                record(TimelineEvent(time: now, kind: .kernel, name: "FLUSHPOLICY",
                                     summary: "flushed \(before - policyTable.count) policies (type \(t))"))
            }
        case .mapping(let m):
            applyMapping(sa: m.identity, reqid: m.reqid, oldAddress: m.oldSource, oldPort: m.oldSourcePort,
                         newAddress: m.newSource, newPort: m.newSourcePort, at: now)
        case .migrate(let pid, let attrs):
            let moves = attrs.migrations.map { "\($0.oldSource)->\($0.oldDestination) => \($0.newSource)->\($0.newDestination)" }
            record(TimelineEvent(time: now, kind: .kernel, name: "MIGRATE",
                                 summary: "migrate \(pid.direction) \(pid.selector.summary): " + moves.joined(separator: ", ")))
        case .report(let proto, let sel, let coa):
            record(TimelineEvent(time: now, kind: .kernel, name: "REPORT",
                                 summary: "report \(proto) \(sel.summary)" + (coa.map { " coa \($0)" } ?? "")))
        case .asyncEvent(let ae):
            record(TimelineEvent(time: now, kind: .kernel, name: "NEWAE", summary: "async event \(ae.identity)",
                                 sa: ae.identity))
        case .sadInfo(let info):
            record(TimelineEvent(time: now, kind: .kernel, name: "NEWSADINFO",
                                 summary: "SAD count \(info.count.map(String.init) ?? "?")"))
        case .spdInfo:
            record(TimelineEvent(time: now, kind: .kernel, name: "NEWSPDINFO", summary: "SPD info"))
        case .defaultPolicy(let d):
            record(TimelineEvent(time: now, kind: .kernel, name: "GETDEFAULT",
                                 summary: "default policy in \(d.inbound) fwd \(d.forward) out \(d.outbound)"))
        case .error, .done, .unknown:
            break
        }
    }

    mutating func recordSA(_ name: String, _ st: XFRMState, added: Bool, at now: ModelTime) {
        let id = st.identity
        let udp = st.attributes.encapsulation.map { ($0.sourcePort, $0.destinationPort) }
        let text = TimelineText.saChange(added: added, proto: st.proto, spi: st.spi, source: st.source,
                                         destination: st.destination, reqid: st.reqid, udp: udp)
        record(TimelineEvent(time: now, kind: .kernel, name: name, text: text, sa: id, peer: entry(id)?.peer))
    }

    // MARK: - SA table

    /// NEWSA/UPDSA: counters in events are not authoritative (UPDSA echoes what userspace sent),
    /// so an existing entry keeps its counters and statistics; everything else is replaced.
    mutating func upsertFromEvent(_ st: XFRMState, at now: ModelTime) {
        let id = st.identity
        if let slot = lookup(id) {
            let i = Int(slot)
            var merged = st
            let old = entries[i]
            merged.lifetimeCurrent = old.lifetimeCurrent
            merged.stats = old.stats
            merged.attributes.replay = st.attributes.replay ?? old.replay
            merged.attributes.replayESN = st.attributes.replayESN ?? old.replayESN
            merged.attributes.lastUsed = st.attributes.lastUsed ?? old.lastUsed
            let wasLarval = old.isLarval
            let oldEndpoint = LiveModel.remoteEndpoint(source: old.source, destination: old.destination,
                                                       encapsulation: old.encapsulation, direction: old.direction)
            let box = LiveModel.intern(merged.attributes, current: old.box, boxes: &boxes)
            let sel = LiveModel.intern(merged, current: old.selectorBox, selectors: &selectors)
            touchSA(slot) // its peers before and after the change are regrouped
            entries[i].assign(merged, box: box, selector: sel)
            entries[i].lastEventAt = now
            var e = entries[i]
            classify(&e)
            entries[i] = e
            touchSA(slot)
            noteEndpointMove(e, from: oldEndpoint, at: now, how: "UPDSA")
            if wasLarval && !e.isLarval {
                resolveAcquires(for: st)
                // ALLOCSPI + UPDSA: the SA became usable now; that is when it succeeds its predecessor.
                if e.hasPredecessor {
                    addLink(RekeyLink(time: now, old: e.sibling(e.predecessorSPI), new: e.identity, reqid: e.reqid),
                            peer: e.peer)
                }
            }
        } else {
            var e = makeEntry(st, now: now)
            e.lastEventAt = now
            classify(&e)
            insertNew(e, at: now, recordLink: true)
        }
    }

    /// Inserts an SA not yet in the table and stitches it to its tunnel: a live SA of the same tunnel
    /// (same addresses, reqid, protocol, selector, mark, CPU) is its predecessor; or an orphaned
    /// tunnel's totals are inherited.
    mutating func insertNew(_ entry: SAEntry, at now: ModelTime, recordLink: Bool) {
        var e = entry
        let key = e.tunnelKey
        let kh = key.hashValue
        if let n = newestInTunnel(key, hash: kh) {
            let ni = Int(n)
            let prevAdd = entries[ni].lifetimeCurrent.addTime
            let add = e.lifetimeCurrent.addTime
            if add >= prevAdd || add == 0 {
                // The usual case: the newer SA succeeds the newest one.
                e.hasPredecessor = true
                e.predecessorSPI = entries[ni].spi
                e.inherited = entries[ni].inherited
                let slot = store(e)
                entries[Int(n)].hasSuccessor = true
                entries[Int(n)].successorSPI = e.spi
                tunnelIndex.replace(hash: kh, matches: { $0 == n }, with: slot)
                if recordLink && !e.isLarval {
                    addLink(RekeyLink(time: now, old: e.sibling(entries[Int(n)].spi), new: e.identity, reqid: e.reqid),
                            peer: e.peer)
                }
            } else {
                // An older SA listed after a newer one (dumps are unordered): it precedes it.
                if !entries[ni].hasPredecessor || lookupSibling(of: entries[ni], spi: entries[ni].predecessorSPI) == nil {
                    e.hasSuccessor = true
                    e.successorSPI = entries[ni].spi
                    e.inherited = entries[ni].inherited
                    entries[ni].hasPredecessor = true
                    entries[ni].predecessorSPI = e.spi
                }
                _ = store(e)
            }
        } else {
            if let o = orphans[key] {
                orphans[key] = nil
                if now - o.time <= configuration.tunnelRetention && o.lastSPI == e.spi {
                    // The same SA deleted and added again (an IKE daemon moving it to a new NAT
                    // mapping): the tunnel goes on, but it is no rekey and no SA precedes itself.
                    e.inherited = o.totals
                } else if now - o.time <= configuration.tunnelRetention {
                    e.inherited = o.totals
                    e.hasPredecessor = true
                    e.predecessorSPI = o.lastSPI
                    if recordLink && !e.isLarval {
                        addLink(RekeyLink(time: now, old: e.sibling(o.lastSPI), new: e.identity, reqid: e.reqid),
                                peer: e.peer)
                    }
                }
            }
            let slot = store(e)
            indexTunnel(slot)
        }
        if !e.isLarval { resolveAcquires(for: e) }
    }

    /// Orphaned tunnels remembered at most (a flush of many SAs must not keep them all).
    static let orphanLimit = 16384

    mutating func addLink(_ link: RekeyLink, peer: PeerKey) {
        while links.count >= max(1, configuration.rekeyLinkLimit) { links.removeFirst() }
        links.append(link)
        record(TimelineEvent(time: link.time, kind: .rekey, name: "REKEY",
                             summary: "reqid \(link.reqid) \(link.summary)", sa: link.new, peer: peer))
    }

    /// Removes an SA (DELSA, hard EXPIRE, flush, reconciliation). Its totals and rate window go to
    /// its heir in the tunnel (successor, else a live predecessor), so the tunnel neither loses
    /// bytes nor rate at a rekey; without an heir the tunnel's totals wait as an orphan.
    mutating func removeSA(_ id: SAIdentity, final: XFRMState?, at now: ModelTime) {
        guard let slot = lookup(id) else { return }
        saDumpQueue?.removedSAs.insert(id)
        let e = entries[Int(slot)]
        var finalBytes = e.lifetimeCurrent.bytes
        var finalPackets = e.lifetimeCurrent.packets
        if let f = final?.lifetimeCurrent, f.bytes >= finalBytes, f.packets >= finalPackets {
            finalBytes = f.bytes
            finalPackets = f.packets
        }
        let own = TrafficTotals(bytes: e.offsetBytes &+ finalBytes, packets: e.offsetPackets &+ finalPackets)
        let key = e.tunnelKey
        let kh = key.hashValue

        var heir: Int32?
        var heirIsSuccessor = false
        if e.hasSuccessor, let s = lookupSibling(of: e, spi: e.successorSPI) {
            heir = s
            heirIsSuccessor = true
        } else if e.hasPredecessor, let p = lookupSibling(of: e, spi: e.predecessorSPI) {
            heir = p
        }
        if tunnelIndex.find(hash: kh, matches: { $0 == slot }) != nil {
            if let h = heir {
                tunnelIndex.replace(hash: kh, matches: { $0 == slot }, with: h)
            } else {
                tunnelIndex.remove(hash: kh, matches: { $0 == slot })
            }
        }
        if let h = heir {
            let hi = Int(h)
            if heirIsSuccessor {
                // Keep the chain: a live predecessor now precedes the heir.
                if e.hasPredecessor, let p = lookupSibling(of: e, spi: e.predecessorSPI) {
                    entries[Int(p)].successorSPI = entries[hi].spi
                }
            } else {
                entries[hi].hasSuccessor = false
            }
            // Totals: the heir and any live successors after it inherit this SA's own totals.
            var cur: Int32? = h
            var steps = 0
            while let c = cur, steps < 8 {
                entries[Int(c)].inherited = entries[Int(c)].inherited + own
                steps += 1
                cur = entries[Int(c)].hasSuccessor
                    ? lookupSibling(of: entries[Int(c)], spi: entries[Int(c)].successorSPI) : nil
                if !heirIsSuccessor { break }
            }
            // Rates: the traffic since the last sample, then the window already recorded.
            let last = e.lifetimeCurrent
            var carry = carries.removeValue(forKey: slot) ?? .zero
            carry = carry + TrafficTotals(bytes: finalBytes >= last.bytes ? finalBytes - last.bytes : finalBytes,
                                          packets: finalPackets >= last.packets ? finalPackets - last.packets : finalPackets)
            if !carry.isZero { carries[h] = (carries[h] ?? .zero) + carry }
            if e.slot >= 0 {
                if entries[hi].slot < 0 { entries[hi].slot = rateStore.allocate() }
                rateStore.merge(e.slot, into: entries[hi].slot)
            }
        } else if !e.isLarval && orphans.count < LiveModel.orphanLimit {
            orphans[key] = OrphanTunnel(totals: e.inherited + own, lastSPI: e.spi, time: now)
        }
        rateStore.release(e.slot)
        entries[Int(slot)].slot = -1
        discard(slot)
    }

    mutating func flushSAs(_ proto: IPsecProtocol, at now: ModelTime) -> Int {
        let matches: (IPsecProtocol) -> Bool = { p in
            switch proto.rawValue {
            case 0: return true
            case 255: return p == .esp || p == .ah || p == .comp
            default: return p == proto
            }
        }
        var victims: [SAIdentity] = []
        for i in entries.indices where entries[i].alive && matches(entries[i].proto) {
            victims.append(entries[i].identity)
        }
        for id in victims { removeSA(id, final: nil, at: now) }
        return victims.count
    }

    // MARK: - Policies

    mutating func upsertPolicy(_ p: XFRMPolicy, at now: ModelTime) {
        let id = p.identity
        if let idx = policyTable.index(forKey: id) {
            policyTable.values[idx].assign(p, common: policyCommon(for: p, keeping: policyTable.values[idx].common))
            policyTable.values[idx].lastChanged = now
            policyVersion &+= 1
        } else {
            // The same index under another selector/mark means the policy was replaced in place.
            if p.index != 0, let old = policyTable.identity(kernelIndex: PolicyIndexKey(index: p.index, direction: p.direction.rawValue)) {
                dropPolicy(old)
            }
            putPolicy(PolicyEntry(policy: p, common: policyCommon(for: p), firstSeen: now, lastChanged: now,
                                  softExpired: false, peers: []))
        }
    }

    /// The shared part for `p`: `current` (the replaced policy's) or the last one handed out when
    /// it matches (policies come in runs that share lifetime limits and attributes: a dump lists them
    /// one after another), else a new one.
    mutating func policyCommon(for p: XFRMPolicy, keeping current: PolicyCommon? = nil) -> PolicyCommon {
        if let c = current, c.matches(p) { return c }
        if let c = lastPolicyCommon, c.matches(p) { return c }
        let c = PolicyCommon(p)
        lastPolicyCommon = c
        return c
    }

    /// Adds a policy to the table and its index.
    mutating func putPolicy(_ e: PolicyEntry) {
        policyTable.put(e)
        policyVersion &+= 1
    }

    /// Removes a policy from the table and its index.
    @discardableResult
    mutating func dropPolicy(_ id: PolicyIdentity) -> Bool {
        guard policyTable.removeValue(forKey: id) != nil else { return false }
        policyVersion &+= 1
        return true
    }

    /// DELPOLICY: by the full body when present, else by index, else by selector/direction/mark/if_id.
    mutating func removePolicies(_ pid: XFRMPolicyID, body: XFRMPolicy?, attributes: XFRMAttributes) -> Int {
        if let b = body, dropPolicy(b.identity) {
            policyDumpQueue?.removedPolicies.insert(b.identity)
            return 1
        }
        var victims: [PolicyIdentity] = []
        if pid.index != 0 {
            if let v = policyTable.identity(kernelIndex: PolicyIndexKey(index: pid.index, direction: pid.direction.rawValue)) {
                victims = [v]
            }
        } else {
            let mark = attributes.mark.flatMap { $0.isZero ? nil : $0 }
            victims = policyTable.keys.filter { k in
                k.direction == pid.direction && k.selector == pid.selector && k.mark == mark
                    && k.ifID == (attributes.ifID ?? 0) && k.type == (attributes.policyType ?? 0)
            }
        }
        for v in victims {
            dropPolicy(v)
            policyDumpQueue?.removedPolicies.insert(v)
        }
        return victims.count
    }

    // MARK: - ACQUIRE

    mutating func applyAcquire(source: IPAddress, destination: IPAddress, proto: IPsecProtocol, reqid: UInt32,
                               selector: XFRMSelector, seq: UInt32, at now: ModelTime) {
        let a = PendingAcquire(time: now, source: source, destination: destination, proto: proto, reqid: reqid,
                               selector: selector, seq: seq)
        pending.removeAll { $0.source == source && $0.destination == destination && $0.proto == proto && $0.reqid == reqid }
        pending.append(a)
        record(TimelineEvent(time: now, kind: .kernel, name: "ACQUIRE",
                             summary: "acquire \(proto) \(source) -> \(destination) reqid \(reqid) for \(selector.summary)",
                             peer: PeerKey(local: source, remote: destination)))
    }

    /// A usable (non-larval) SA for the acquire's addresses ends it.
    mutating func resolveAcquires(for st: XFRMState) {
        guard !pending.isEmpty, !st.isLarval else { return }
        resolveAcquires(source: st.source, destination: st.destination, proto: st.proto, reqid: st.reqid)
    }

    mutating func resolveAcquires(for e: SAEntry) {
        guard !pending.isEmpty, !e.isLarval else { return }
        resolveAcquires(source: e.source, destination: e.destination, proto: e.proto, reqid: e.reqid)
    }

    mutating func resolveAcquires(source: IPAddress, destination: IPAddress, proto: IPsecProtocol, reqid: UInt32) {
        pending.removeAll {
            $0.source == source && $0.destination == destination && $0.proto == proto
                && ($0.reqid == 0 || $0.reqid == reqid)
        }
    }

    /// Forgets ACQUIREs older than the timeout; returns whether any went (health and grouping then
    /// change: `structureDirty`).
    @discardableResult
    mutating func expireAcquires(at now: ModelTime) -> Bool {
        let before = pending.count
        pending.removeAll { now - $0.time > configuration.acquireTimeout }
        if pending.count == before { return false }
        structureDirty = true
        return true
    }

    func acquirePending(for e: SAEntry) -> Bool {
        pending.contains { $0.source == e.source && $0.destination == e.destination && $0.proto == e.proto }
    }

    // MARK: - MAPPING

    /// NAT rebinding on an inbound ESP-in-UDP SA: recorded in the peer's history; the peer's
    /// persistent state (history, keepalives) moves to the new address/port.
    mutating func applyMapping(sa: SAIdentity, reqid: UInt32, oldAddress: IPAddress, oldPort: UInt16,
                               newAddress: IPAddress, newPort: UInt16, at now: ModelTime) {
        let local = entry(sa)?.destination ?? sa.destination
        recordMappingChange(MappingChange(time: now, sa: sa, reqid: reqid, oldAddress: oldAddress, oldPort: oldPort,
                                          newAddress: newAddress, newPort: newPort),
                            local: local, how: "MAPPING")
    }

    /// Records a NAT mapping change once (a MAPPING event and the SA updates that follow report the
    /// same change) and moves the peer's persistent state (history, keepalives) to the new key.
    mutating func recordMappingChange(_ change: MappingChange, local: IPAddress, how: String) {
        let oldKey = PeerKey(local: local, remote: change.oldAddress, remotePort: change.oldPort)
        let newKey = PeerKey(local: local, remote: change.newAddress, remotePort: change.newPort)
        if let last = peerStates[newKey]?.mappings.last, last.oldAddress == change.oldAddress,
           last.oldPort == change.oldPort, last.newAddress == change.newAddress, last.newPort == change.newPort,
           change.time - last.time <= 120 {
            return
        }
        structureDirty = true // the peers' NAT detail reads the mappings: regroup everything
        var st = peerStates.removeValue(forKey: oldKey) ?? PeerState(lastSeen: change.time)
        if let existing = peerStates.removeValue(forKey: newKey) {
            st.mappings.append(contentsOf: existing.mappings)
            if st.history == nil { st.history = existing.history } else if existing.history != nil { historyRings -= 1 }
        }
        st.mappings.append(change)
        if st.mappings.count > configuration.mappingHistoryLimit {
            st.mappings.removeFirst(st.mappings.count - configuration.mappingHistoryLimit)
        }
        st.lastSeen = change.time
        peerStates[newKey] = st
        if let k = keepaliveByPeer.removeValue(forKey: oldKey), keepaliveByPeer[newKey] == nil {
            keepaliveByPeer[newKey] = k
        }
        let via = how == "MAPPING" ? "" : " (seen in \(how))"
        record(TimelineEvent(time: change.time, kind: .kernel, name: "MAPPING",
                             summary: "NAT mapping changed \(change.summary) (\(SAIdentity.hex(change.sa.spi)), reqid \(change.reqid))\(via)",
                             sa: change.sa, peer: newKey))
    }

    /// The remote UDP endpoint of an encapsulated SA, given its direction.
    static func remoteEndpoint(source: IPAddress, destination: IPAddress, encapsulation: XFRMEncapsulation?,
                               direction: SADirection?) -> (IPAddress, UInt16)? {
        guard let e = encapsulation, e.type != .espInTCP else { return nil }
        return direction == .inbound ? (source, e.sourcePort) : (destination, e.destinationPort)
    }

    /// An update moved an encapsulated SA's remote endpoint (NAT rebinding without, or after, MAPPING).
    mutating func noteEndpointMove(_ e: SAEntry, from old: (IPAddress, UInt16)?, at now: ModelTime, how: String) {
        guard let o = old, let n = LiveModel.remoteEndpoint(source: e.source, destination: e.destination,
                                                             encapsulation: e.encapsulation, direction: e.direction),
              o.0 != n.0 || o.1 != n.1 else { return }
        let local = e.direction == .inbound ? e.destination : e.source
        recordMappingChange(MappingChange(time: now, sa: e.identity, reqid: e.reqid, oldAddress: o.0, oldPort: o.1,
                                          newAddress: n.0, newPort: n.1), local: local, how: how)
    }

    // MARK: - Actions and keepalives

    mutating func applyAction(_ r: ActionResult, at now: ModelTime) {
        let ok: Bool
        var text = "\(r.kind) \(r.target): "
        switch r.outcome {
        case .succeeded:
            ok = true
            text += "ok"
        case .failed(let errno, let message):
            ok = false
            text += "failed, errno \(errno)" + (message.map { " (\($0))" } ?? "")
        }
        record(TimelineEvent(time: now, kind: .action, name: r.kind.uppercased(), summary: text, sa: r.sa,
                             peer: r.sa.flatMap { entry($0)?.peer }, succeeded: ok))
    }

    mutating func applyKeepalive(_ o: KeepaliveObservation) {
        let key: PeerKey
        switch o.direction {
        case .outbound: key = PeerKey(local: o.source, remote: o.destination, remotePort: o.destinationPort)
        case .inbound: key = PeerKey(local: o.destination, remote: o.source, remotePort: o.sourcePort)
        }
        func update(_ t: inout KeepaliveTrack) {
            switch o.direction {
            case .outbound:
                if let last = t.lastSent, o.time - last > 0.5 { t.sentGap = o.time - last }
                if o.time >= (t.lastSent ?? -.infinity) { t.lastSent = o.time }
            case .inbound:
                if let last = t.lastReceived, o.time - last > 0.5 { t.receivedGap = o.time - last }
                if o.time >= (t.lastReceived ?? -.infinity) { t.lastReceived = o.time }
            }
        }
        update(&keepaliveByPeer[key, default: KeepaliveTrack()])
        update(&keepaliveByAddresses[AddressPair(local: key.local, remote: key.remote), default: KeepaliveTrack()])
    }
}
