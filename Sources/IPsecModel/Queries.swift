import XFRMWire

/// The read API used by the views and the exports. Nothing here mutates the model.
extension LiveModel {
    // MARK: SAs

    /// Number of SAs (larval included).
    public var saCount: Int { liveCount }

    /// One SA by identity.
    public func sa(_ id: SAIdentity) -> SAEntry? { entry(id) }

    /// Every SA, unordered.
    public var allSAs: [SAEntry] {
        var out: [SAEntry] = []
        out.reserveCapacity(liveCount)
        for i in entries.indices where entries[i].alive { out.append(entries[i]) }
        return out
    }

    /// Calls `body` for every SA without copying the table.
    public func forEachSA(_ body: (SAEntry) throws -> Void) rethrows {
        for i in entries.indices where entries[i].alive { try body(entries[i]) }
    }

    /// SA rows, filtered then sorted; `window` picks a range of the sorted result (the visible rows)
    /// so that only those entries are copied out.
    /// - Parameters:
    ///   - filter: case-insensitive substring of `SAEntry.searchText`; a leading `!` inverts it; empty keeps all.
    ///   - sortedBy: column; `rate` sorts by the 2 s byte rate; ties broken by identity.
    ///   - descending: reverse order.
    public func saRows(filter: String = "", sortedBy key: SASortKey = .identity, descending: Bool = false,
                       at now: ModelTime? = nil, window: Range<Int>? = nil) -> [SAEntry] {
        let order = sortedSlots(filter: filter, sortedBy: key, descending: descending, at: now)
        let range = window.map { $0.clamped(to: 0..<order.count) } ?? 0..<order.count
        return order[range].map { entries[Int($0)] }
    }

    /// Number of SAs the filter keeps.
    public func saRowCount(filter: String = "") -> Int {
        filter.isEmpty ? liveCount : sortedSlots(filter: filter, sortedBy: .identity, descending: false, at: nil).count
    }

    func sortedSlots(filter: String, sortedBy key: SASortKey, descending: Bool, at now: ModelTime?) -> [Int32] {
        var slots: [Int32] = []
        slots.reserveCapacity(liveCount)
        let f = String(filter.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
        if f.isEmpty || f == "!" {
            for i in entries.indices where entries[i].alive { slots.append(Int32(i)) }
        } else {
            let invert = f.hasPrefix("!")
            let needle = (invert ? String(f.dropFirst()) : f).lowercased()
            for i in entries.indices where entries[i].alive
                && entries[i].searchText.lowercased().contains(needle) != invert {
                slots.append(Int32(i))
            }
        }
        let t = now ?? lastInputTime
        // Sort keys computed once (entries are large: never copy them in the comparator).
        func tie(_ a: Int32, _ b: Int32) -> Bool { entries[Int(a)].identity < entries[Int(b)].identity }
        var numeric: [Double] = []
        switch key {
        case .rate, .bytes, .packets, .age, .health, .spi, .reqid, .proto, .direction:
            numeric = Array(repeating: 0, count: entries.count)
            for s in slots {
                let i = Int(s)
                switch key {
                case .rate: numeric[i] = Double(rateStore.byteRate2s(entries[i].slot))
                case .bytes: numeric[i] = Double(entries[i].offsetBytes &+ entries[i].lifetimeCurrent.bytes)
                case .packets: numeric[i] = Double(entries[i].offsetPackets &+ entries[i].lifetimeCurrent.packets)
                case .age: numeric[i] = entries[i].age(at: t)
                case .health: numeric[i] = Double(entries[i].health.rawValue.nonzeroBitCount)
                case .spi: numeric[i] = Double(entries[i].spi)
                case .reqid: numeric[i] = Double(entries[i].reqid)
                case .proto: numeric[i] = Double(entries[i].proto.rawValue)
                default: numeric[i] = Double(entries[i].direction?.rawValue ?? 0)
                }
            }
        default:
            break
        }
        func less(_ x: Int32, _ y: Int32) -> Bool {
            let i = Int(x), j = Int(y)
            switch key {
            case .identity: return tie(x, y)
            case .source:
                return entries[i].source != entries[j].source ? entries[i].source < entries[j].source : tie(x, y)
            case .destination:
                return entries[i].destination != entries[j].destination
                    ? entries[i].destination < entries[j].destination : tie(x, y)
            case .peer:
                let p = entries[i].peer, q = entries[j].peer
                return p != q ? p < q : tie(x, y)
            default:
                return numeric[i] != numeric[j] ? numeric[i] < numeric[j] : tie(x, y)
            }
        }
        slots.sort { descending ? less($1, $0) : less($0, $1) }
        return slots
    }

    /// Per-CPU children of an SA (XFRMA_SA_PCPU), sorted by CPU.
    public func perCPUChildren(of id: SAIdentity) -> [SAEntry] {
        var out: [SAEntry] = []
        for i in entries.indices where entries[i].alive && entries[i].parent == id { out.append(entries[i]) }
        return out.sorted { ($0.cpu ?? 0) < ($1.cpu ?? 0) }
    }

    // MARK: Peers

    /// Every peer, sorted by key.
    public var peers: [PeerSummary] { peerCache.values.map(summary) }

    /// One peer.
    public func peer(_ key: PeerKey) -> PeerSummary? { peerCache[key].map(summary) }

    /// Slots of a cached peer still holding one of its SAs (events may have removed some since).
    func liveSlots<S: Sequence<Int32>>(_ slots: S, of key: PeerKey) -> [Int32] {
        slots.filter { entries[Int($0)].alive && entries[Int($0)].peer == key }
    }

    func summary(_ r: PeerRecord) -> PeerSummary {
        func ids(_ slots: ArraySlice<Int32>) -> [SAIdentity] { liveSlots(slots, of: r.key).map { entries[Int($0)].identity }.sorted() }
        func id(_ slot: Int32) -> SAIdentity? {
            slot >= 0 && entries[Int(slot)].alive && entries[Int(slot)].peer == r.key ? entries[Int(slot)].identity : nil
        }
        let t = peerCache.traffic(of: r)
        return PeerSummary(key: r.key, inbound: ids(r.inbound), outbound: ids(r.outbound),
                           undetermined: ids(r.undetermined),
                           pairs: r.pairs.map { SAPair(reqid: $0.0, inbound: id($0.1), outbound: id($0.2)) },
                           policies: r.policies, inboundRates: t.inboundRates.windowed, outboundRates: t.outboundRates.windowed,
                           inboundTotals: t.inboundTotals, outboundTotals: t.outboundTotals, nat: r.nat,
                           keepalive: keepaliveStatus(of: r, at: lastInputTime), health: r.health)
    }

    /// The SAs of a peer (inbound first, then outbound, then undetermined).
    public func sas(of key: PeerKey) -> [SAEntry] {
        guard let p = peerCache[key] else { return [] }
        return liveSlots(p.allSlots, of: key).map { entries[Int($0)] }
    }

    /// Traffic history of a peer (oldest first, at the refresh interval), empty when it has not carried
    /// traffic in the last ring's worth of time (or when `historyPeerLimit` peers already have one).
    public func history(of key: PeerKey) -> [HistoryPoint] {
        guard let ring = peerStates[key]?.history else { return [] }
        return decodedHistory(ring)
    }

    /// Traffic history of all SAs together (oldest first).
    public var totalHistory: [HistoryPoint] { Array(globalHistory) }

    /// Keepalive status of a peer evaluated at `now` (a summary's is evaluated at the latest input).
    public func keepaliveStatus(for key: PeerKey, at now: ModelTime) -> KeepaliveStatus? {
        peerCache[key].map { keepaliveStatus(of: $0, at: now) }
    }

    /// The keepalive verdict of a cached peer at `now`, from its live SAs (the SAs of `sas(of:)`,
    /// read in place: last use by direction, the outbound kernel interval) and the keepalives seen
    /// on the wire. Undetermined SAs count as outbound, as they are grouped.
    func keepaliveStatus(of p: PeerRecord, at now: ModelTime) -> KeepaliveStatus {
        var kernel: UInt32?, inUsed: ModelTime?, outUsed: ModelTime?
        for s in p.allSlots where entries[Int(s)].alive && entries[Int(s)].peer == p.key {
            let i = Int(s)
            let used = entries[i].lastUsedTime
            if entries[i].direction == .inbound {
                if let u = used { inUsed = max(inUsed ?? u, u) }
            } else {
                if let k = entries[i].keepaliveInterval, k > 0 { kernel = k }
                if let u = used { outUsed = max(outUsed ?? u, u) }
            }
        }
        return keepaliveVerdict(peer: p.key, encapsulation: p.encapsulationType, kernelInterval: kernel,
                                inboundLastUsed: inUsed, outboundLastUsed: outUsed, at: now)
    }

    /// Rekey links (old -> new SPI), oldest first.
    public var rekeyLinks: [RekeyLink] { Array(links) }

    /// Rekey links of one peer's SAs.
    public func rekeyLinks(of key: PeerKey) -> [RekeyLink] {
        if links.isEmpty { return [] }
        let mine = Set(sas(of: key).map(\.identity))
        return links.filter { mine.contains($0.new) || mine.contains($0.old) }
    }

    /// Cumulative totals of the tunnel an SA belongs to (across rekeys).
    public func tunnelTotals(of id: SAIdentity) -> TrafficTotals? { entry(id)?.tunnelTotals }

    // MARK: Policies

    /// Number of policies.
    public var policyCount: Int { policyTable.count }

    /// Policies sorted by direction, priority, index.
    public var policies: [PolicyEntry] { mapPoliciesSorted { $0 } }

    /// `policies.map(transform)` without copying the entries into an intermediate array.
    public func mapPoliciesSorted<T>(_ transform: (PolicyEntry) throws -> T) rethrows -> [T] {
        try mapPoliciesSorted(where: { _ in true }, transform)
    }

    public func policy(_ id: PolicyIdentity) -> PolicyEntry? { policyTable[id] }

    /// The policies of a peer.
    public func policies(of key: PeerKey) -> [PolicyEntry] {
        (peerCache[key]?.policies ?? []).compactMap { policyTable[$0] }
    }

    // MARK: Timeline, status

    /// The timeline, oldest first.
    public var timeline: [TimelineEvent] { Array(timelineRing) }

    /// Timeline entries recorded after `sequence` (oldest first): feed the last seen `sequence` back
    /// to stream new entries (`events --json`). Entries already pushed out of the ring are gone.
    public func timeline(after sequence: UInt64) -> [TimelineEvent] {
        guard let first = timelineRing.first?.sequence, sequence >= first else { return Array(timelineRing) }
        let skip = Int(sequence - first) + 1
        return skip >= timelineRing.count ? [] : Array(timelineRing.dropFirst(skip))
    }

    /// Timeline entries about one peer (its SAs, mappings, actions), oldest first.
    /// Entries recorded under the peer's earlier NAT mappings (older address:port) are included.
    public func timeline(for key: PeerKey) -> [TimelineEvent] {
        let ids = Set(sas(of: key).map(\.identity))
        var keys: Set<PeerKey> = [key]
        for m in peerStates[key]?.mappings ?? [] {
            keys.insert(PeerKey(local: key.local, remote: m.oldAddress, remotePort: m.oldPort))
        }
        return timelineRing.filter { ($0.peer.map { keys.contains($0) } ?? false) || ($0.sa.map { ids.contains($0) } ?? false) }
    }

    /// Pending ACQUIREs.
    public var pendingAcquires: [PendingAcquire] { pending }

    /// The last `/proc/net/xfrm_stat` reading.
    public var xfrmStat: XFRMStatSnapshot? { stat }

    public var sync: SyncState { syncState }

    /// What the last completed resync found.
    public var lastResync: ReconcileDiff? { lastResyncDiff }

    public var capture: CaptureAvailability { captureState }

    /// Addresses the model treats as local (interfaces + inferred), sorted.
    public var localAddresses: [IPAddress] { interfaceLocal.union(inferredLocal).sorted() }

    /// Header figures.
    public var header: HeaderSummary {
        var inRates = WindowedRates.zero, outRates = WindowedRates.zero
        for p in peerCache.values where p.trafficIndex >= 0 {
            let t = peerCache.traffic[Int(p.trafficIndex)]
            inRates = inRates + t.inboundRates.windowed
            outRates = outRates + t.outboundRates.windowed
        }
        var larval = 0
        for i in entries.indices where entries[i].alive && entries[i].isLarval { larval += 1 }
        return HeaderSummary(saCount: liveCount, larvalCount: larval, policyCount: policyTable.count,
                             peerCount: peerCache.count, pendingAcquires: pending.count, inboundRates: inRates,
                             outboundRates: outRates, sync: syncState, lastRefresh: lastRefreshTime,
                             refreshInterval: configuration.refreshInterval, paused: isPaused,
                             xfrmStatErrors: stat?.totalDelta ?? 0, capture: captureState, resyncCount: resyncs)
    }

    /// Rough resident size of the SA tables, in bytes (entries, indexes, rate rings; not peers).
    public var approximateResidentBytes: Int {
        entries.capacity * MemoryLayout<SAEntry>.stride + saIndex.residentBytes + tunnelIndex.residentBytes
            + rateStore.residentBytes + freeEntries.capacity * 4
    }
}
