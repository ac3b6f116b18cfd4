import XFRMWire

/// Read accessors for views that keep a copy of the model and read SA entries in place, by slot,
/// instead of copying every entry out on every refresh. Nothing here mutates the model.
extension LiveModel {
    /// Calls `body` with the entry table (index = slot; dead slots have `isLive == false`).
    public func withSAEntries<R>(_ body: (UnsafeBufferPointer<SAEntry>) throws -> R) rethrows -> R {
        try entries.withUnsafeBufferPointer(body)
    }

    /// The entry in `slot` (a copy of one entry).
    public func saEntry(slot: Int) -> SAEntry { entries[slot] }

    /// The slot of a live SA.
    public func saSlot(of id: SAIdentity) -> Int? { lookup(id).map { Int($0) } }

    /// `header.inboundRates.last2s.bytesPerSecond` and the outbound one, without the header's walk
    /// over every SA (its larval count) nor copies of the peer records.
    public var headerByteRates2s: (inbound: Double, outbound: Double) {
        // In peer order, as `header` adds them.
        peerCache.values.withUnsafeBufferPointer { buf in
            var i = 0.0, o = 0.0
            for k in buf.indices where buf[k].trafficIndex >= 0 {
                let t = Int(buf[k].trafficIndex)
                i = i + Double(peerCache.traffic[t].inboundRates.b2)
                o = o + Double(peerCache.traffic[t].outboundRates.b2)
            }
            return (i, o)
        }
    }

    /// `header.paused`.
    public var pausedInput: Bool { isPaused }

    /// `isLarval` of the SA in each slot, read in place. (Callers in other modules that read a
    /// computed property of an entry through `withSAEntries` may get a copy of the whole entry per
    /// call; these loops run here, where the properties are inlined.)
    public func saLarval(_ slots: [Int32]) -> [Bool] {
        entries.withUnsafeBufferPointer { buf in slots.map { buf[Int($0)].box.isLarval } }
    }

    /// The peer the SA in `slot` is grouped under (`peer`), read in place.
    public func saPeer(slot: Int) -> PeerKey {
        entries.withUnsafeBufferPointer { $0[slot].peer }
    }

    /// Positions in `slots` of the SAs whose peer satisfies `include`, in order.
    public func saPositions(_ slots: [Int32], wherePeer include: (PeerKey) throws -> Bool) rethrows -> [Int] {
        try entries.withUnsafeBufferPointer { buf in
            try slots.indices.filter { try include(buf[Int(slots[$0])].peer) }
        }
    }

    /// Number of peers as of the last derive (`peers.count`, without building summaries).
    public var peerCount: Int { peerCache.count }

    /// Calls `body` for every peer, in `peers` order, with its NAT-T ports (`nat.localPort`,
    /// `nat.remotePort`; nil without NAT-T). No summary is built, no record copied.
    public func forEachPeerNATPorts(_ body: (PeerKey, (local: UInt16, remote: UInt16)?) throws -> Void) rethrows {
        try peerCache.values.withUnsafeBufferPointer { buf in
            for i in buf.indices {
                if let l = buf[i].nat?.localPort, let r = buf[i].nat?.remotePort {
                    try body(buf[i].key, (l, r))
                } else {
                    try body(buf[i].key, nil)
                }
            }
        }
    }

    /// A peer's keepalive verdict evaluated at `now` (`keepaliveStatus(for:at:)`) and its NAT-T
    /// state, nil for an unknown peer (no summary is built).
    public func peerKeepaliveAndNAT(_ key: PeerKey, at now: ModelTime) -> (keepalive: KeepaliveStatus, nat: NATTraversal?)? {
        guard let p = peerCache.position(of: key) else { return nil }
        return peerCache.values.withUnsafeBufferPointer { r in (keepaliveStatus(of: r[p], at: now), r[p].nat) }
    }

    /// `mapPoliciesSorted(_:)` restricted to the policies `include` accepts (filtered before sorting:
    /// same relative order as in `mapPoliciesSorted`).
    ///
    /// Sorts small keys by position, then visits the entries in that order: moving large entries
    /// during the sort costs far more. Ties keep the table's order.
    public func mapPoliciesSorted<T>(where include: (PolicyEntry) throws -> Bool,
                                     _ transform: (PolicyEntry) throws -> T) rethrows -> [T] {
        typealias Key = (direction: UInt8, priority: UInt32, index: UInt32, at: PolicyTable.Index)
        var keys: [Key] = []
        var i = policyTable.startIndex
        while i != policyTable.endIndex {
            if try include(policyTable.values[i]) {
                let p = policyTable.values[i]
                keys.append((p.direction.rawValue, p.priority, p.index, i))
            }
            policyTable.formIndex(after: &i)
        }
        let order = keys.indices.sorted {
            let a = keys[$0], b = keys[$1]
            if a.direction != b.direction { return a.direction < b.direction }
            if a.priority != b.priority { return a.priority < b.priority }
            return a.index < b.index
        }
        return try order.map { try transform(policyTable.values[keys[$0].at]) }
    }
}

extension SAEntry {
    /// False for a free slot (the SA is gone).
    @inlinable public var isLive: Bool { alive }
    /// Tunnel or transport mode.
    @inlinable public var xfrmMode: XFRMMode { mode }
    /// The SA's mark (nil when none or zero).
    @inlinable public var xfrmMark: XFRMMark? { mark }
    /// Configured lifetime limits.
    public var lifetimeLimits: XFRMLifetimeConfig { lifetimeConfig }
}

extension LiveModel {
    /// An SA's rates over 2 s, 10 s and 40 s as of the last dump (zero for an SA that never
    /// carried traffic). After a rekey, the successor's rates include its predecessors' traffic in
    /// the window, so a tunnel's rate does not drop at a rekey.
    public func rates(of e: SAEntry) -> WindowedRates { rateStore.computedRates(e.slot).windowed }

    /// `rates(of:).last2s.bytesPerSecond` of the entry in `slot` without building the other
    /// windows (nor copying the entry).
    public func byteRate2s(slot: Int) -> Double { Double(rateStore.byteRate2s(entries[slot].slot)) }
}
