import XFRMWire

/// The read API used by the views and the exports. Nothing here mutates the model.
extension LiveModel {
    // MARK: SAs

    /// Number of SAs (larval included).
    public var saCount: Int { table.count }

    /// One SA by identity.
    public func sa(_ id: SAIdentity) -> SAEntry? { table[id] }

    /// Every SA, unordered.
    public var allSAs: [SAEntry] { Array(table.values) }

    /// SA rows, filtered then sorted.
    /// - Parameters:
    ///   - filter: case-insensitive substring of `SAEntry.searchText`; a leading `!` inverts it; empty keeps all.
    ///   - sortedBy: column; `rate` sorts by the 2 s byte rate; ties broken by identity.
    ///   - descending: reverse order.
    public func saRows(filter: String = "", sortedBy key: SASortKey = .identity, descending: Bool = false,
                       at now: ModelTime? = nil) -> [SAEntry] {
        var rows: [SAEntry]
        let f = String(filter.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
        if f.isEmpty || f == "!" {
            rows = Array(table.values)
        } else {
            let invert = f.hasPrefix("!")
            let needle = (invert ? String(f.dropFirst()) : f).lowercased()
            rows = table.values.filter { $0.searchText.lowercased().contains(needle) != invert }
        }
        let t = now ?? lastInputTime
        func less(_ a: SAEntry, _ b: SAEntry) -> Bool {
            switch key {
            case .identity: return a.identity < b.identity
            case .direction:
                let da = a.direction?.rawValue ?? 0, db = b.direction?.rawValue ?? 0
                return da != db ? da < db : a.identity < b.identity
            case .source: return a.state.source != b.state.source ? a.state.source < b.state.source : a.identity < b.identity
            case .destination:
                return a.state.destination != b.state.destination ? a.state.destination < b.state.destination
                    : a.identity < b.identity
            case .spi: return a.state.spi != b.state.spi ? a.state.spi < b.state.spi : a.identity < b.identity
            case .reqid: return a.state.reqid != b.state.reqid ? a.state.reqid < b.state.reqid : a.identity < b.identity
            case .proto: return a.state.proto != b.state.proto ? a.state.proto < b.state.proto : a.identity < b.identity
            case .rate: return a.r2b != b.r2b ? a.r2b < b.r2b : a.identity < b.identity
            case .bytes:
                return a.totals.bytes != b.totals.bytes ? a.totals.bytes < b.totals.bytes : a.identity < b.identity
            case .packets:
                return a.totals.packets != b.totals.packets ? a.totals.packets < b.totals.packets : a.identity < b.identity
            case .age:
                let x = a.age(at: t), y = b.age(at: t)
                return x != y ? x < y : a.identity < b.identity
            case .health:
                let x = a.health.rawValue.nonzeroBitCount, y = b.health.rawValue.nonzeroBitCount
                return x != y ? x < y : a.identity < b.identity
            case .peer: return a.peer != b.peer ? a.peer < b.peer : a.identity < b.identity
            }
        }
        rows.sort { descending ? less($1, $0) : less($0, $1) }
        return rows
    }

    /// Per-CPU children of an SA (XFRMA_SA_PCPU), sorted by CPU.
    public func perCPUChildren(of id: SAIdentity) -> [SAEntry] {
        table.values.filter { $0.parent == id }
            .sorted { ($0.state.attributes.perCPU ?? 0) < ($1.state.attributes.perCPU ?? 0) }
    }

    // MARK: Peers

    /// Every peer, sorted by key.
    public var peers: [PeerSummary] { peerCache.values.sorted { $0.key < $1.key } }

    /// One peer.
    public func peer(_ key: PeerKey) -> PeerSummary? { peerCache[key] }

    /// The SAs of a peer (inbound first, then outbound, then undetermined).
    public func sas(of key: PeerKey) -> [SAEntry] {
        guard let p = peerCache[key] else { return [] }
        return (p.inbound + p.outbound + p.undetermined).compactMap { table[$0] }
    }

    /// Traffic history of a peer (oldest first), empty when it never carried traffic.
    public func history(of key: PeerKey) -> [HistoryPoint] { Array(peerStates[key]?.history ?? []) }

    /// Traffic history of all SAs together (oldest first).
    public var totalHistory: [HistoryPoint] { Array(globalHistory) }

    /// Keepalive status of a peer evaluated at `now` (the cached one is as of the last dump or tick).
    public func keepaliveStatus(for key: PeerKey, at now: ModelTime) -> KeepaliveStatus? {
        guard let p = peerCache[key] else { return nil }
        var kernel: UInt32?, inUsed: ModelTime?, outUsed: ModelTime?
        for e in sas(of: key) {
            let used = e.state.attributes.lastUsed.flatMap { $0 > 0 ? Double($0) : nil }
            if e.direction == .inbound {
                if let u = used { inUsed = max(inUsed ?? u, u) }
            } else {
                if let k = e.state.attributes.natKeepaliveInterval, k > 0 { kernel = k }
                if let u = used { outUsed = max(outUsed ?? u, u) }
            }
        }
        let track = keepaliveByPeer[key] ?? keepaliveByAddresses[AddressPair(local: key.local, remote: key.remote)]
        return LiveModel.keepaliveVerdict(encapsulation: p.nat?.encapsulation.type, peer: key, kernelInterval: kernel,
                                          track: track, inboundLastUsed: inUsed, outboundLastUsed: outUsed,
                                          capture: captureState, captureSince: captureSince,
                                          configuration: configuration, now: now)
    }

    /// Rekey links (old -> new SPI), oldest first.
    public var rekeyLinks: [RekeyLink] { Array(links) }

    /// Rekey links of one peer's SAs.
    public func rekeyLinks(of key: PeerKey) -> [RekeyLink] {
        links.filter { l in table[l.new]?.peer == key || table[l.old]?.peer == key }
    }

    /// Cumulative totals of the tunnel an SA belongs to (across rekeys).
    public func tunnelTotals(of id: SAIdentity) -> TrafficTotals? { table[id]?.tunnelTotals }

    // MARK: Policies

    /// Number of policies.
    public var policyCount: Int { policyTable.count }

    /// Policies sorted by direction, priority, index.
    public var policies: [PolicyEntry] {
        policyTable.values.sorted {
            let a = $0.policy, b = $1.policy
            if a.direction.rawValue != b.direction.rawValue { return a.direction.rawValue < b.direction.rawValue }
            if a.priority != b.priority { return a.priority < b.priority }
            return a.index < b.index
        }
    }

    public func policy(_ id: PolicyIdentity) -> PolicyEntry? { policyTable[id] }

    /// The policies of a peer.
    public func policies(of key: PeerKey) -> [PolicyEntry] {
        (peerCache[key]?.policies ?? []).compactMap { policyTable[$0] }
    }

    // MARK: Timeline, status

    /// The timeline, oldest first.
    public var timeline: [TimelineEvent] { Array(timelineRing) }

    /// Timeline entries about one peer (its SAs, mappings, actions), oldest first.
    public func timeline(for key: PeerKey) -> [TimelineEvent] {
        let ids = Set(sas(of: key).map(\.identity))
        return timelineRing.filter { $0.peer == key || ($0.sa.map { ids.contains($0) } ?? false) }
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
        for p in peerCache.values {
            inRates = inRates + p.inboundRates
            outRates = outRates + p.outboundRates
        }
        var larval = 0
        for idx in table.indices where table.values[idx].state.isLarval { larval += 1 }
        return HeaderSummary(saCount: table.count, larvalCount: larval, policyCount: policyTable.count,
                             peerCount: peerCache.count, pendingAcquires: pending.count, inboundRates: inRates,
                             outboundRates: outRates, sync: syncState, lastRefresh: lastRefreshTime,
                             refreshInterval: configuration.refreshInterval, paused: isPaused,
                             xfrmStatErrors: stat?.totalDelta ?? 0, capture: captureState, resyncCount: resyncs)
    }

    /// Rough resident size of the model's tables, in bytes (for the memory budget).
    public var approximateResidentBytes: Int {
        let entry = MemoryLayout<SAEntry>.stride + MemoryLayout<SAIdentity>.stride
        let saTable = table.capacity * entry
        return saTable + rateStore.residentBytes + tunnels.capacity * (MemoryLayout<TunnelKey>.stride + MemoryLayout<TunnelState>.stride)
    }
}
