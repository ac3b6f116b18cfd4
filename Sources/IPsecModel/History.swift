import Collections
import XFRMWire

extension LiveModel {
    /// Points kept per history ring: `historyDuration` at the refresh interval, at least 600.
    var historyCapacity: Int {
        max(600, Int((max(600, configuration.historyDuration) / max(0.05, configuration.refreshInterval)).rounded(.up)))
    }

    /// After each SA dump: one global history point, and one per peer with a history ring.
    /// A peer gets a ring when it first carries traffic (at most `historyPeerLimit` rings) and loses
    /// it after a whole ring of silence, so idle SAs and peers cost nothing.
    mutating func recordHistory(at now: ModelTime) {
        let d = rateStore.dumpIndex
        guard d >= 1 else { return }
        let interval = now - rateStore.times[(d - 1) % rateStore.columns]
        // Each moved SA's traffic, summed by its peer's position in the peer cache. `recordHistory`
        // runs right after `derive`, which gives every live SA the position of its peer
        // (`peerIndex`; that record's key is the SA's `peer`). A dictionary by peer key, grown and
        // hashed per moved SA, was a fifth of a refresh where every SA moves.
        let peers = peerCache.count
        var perPeer: [(TrafficTotals, TrafficTotals)] = []
        var movedPeers: [Int32] = [] // in the order their first SA comes in the dump
        var totalIn = TrafficTotals.zero, totalOut = TrafficTotals.zero
        for s in movedInDump {
            let i = Int(s)
            guard entries[i].alive && entries[i].seenGeneration == generation
                    && rateStore.moved(entries[i].slot) else { continue }
            let d = rateStore.delta(entries[i].slot)
            let t = TrafficTotals(bytes: UInt64(d.bytes), packets: UInt64(d.packets))
            let inbound = entries[i].direction == .inbound
            if inbound { totalIn = totalIn + t } else { totalOut = totalOut + t }
            let p = Int(entries[i].peerIndex)
            guard p >= 0 && p < peers else {
                assertionFailure("slot \(i) has no peer position after a derive")
                continue
            }
            assert(peerCache.values[p].key == entries[i].peer, "peerIndex out of date for slot \(i)")
            if perPeer.isEmpty { perPeer = Array(repeating: (.zero, .zero), count: peers) }
            if perPeer[p].0.isZero && perPeer[p].1.isZero { movedPeers.append(Int32(p)) }
            if inbound { perPeer[p].0 = perPeer[p].0 + t } else { perPeer[p].1 = perPeer[p].1 + t }
        }
        let cap = historyCapacity
        historyIndex += 1
        // Rings for peers that carry traffic and have none yet, while rings are left.
        if historyRings < configuration.historyPeerLimit {
            for p in movedPeers {
                let key = peerCache.values[Int(p)].key
                guard historyRings < configuration.historyPeerLimit else { break }
                if peerStates[key]?.history == nil {
                    peerStates[key, default: PeerState(lastSeen: now)].history = HistoryRing(capacity: cap)
                    historyRings += 1
                }
            }
        }
        // Every ring gets this dump's point (zero for a silent peer), in place.
        if historyRings > 0 {
            var idx = peerStates.startIndex
            while idx != peerStates.endIndex {
                if peerStates.values[idx].history != nil {
                    let key = peerStates.keys[idx]
                    var v = (TrafficTotals.zero, TrafficTotals.zero)
                    if let p = peerCache.position(of: key), p < perPeer.count { v = perPeer[p] }
                    peerStates.values[idx].history!.append(v.0, v.1, index: historyIndex)
                    if historyIndex - peerStates.values[idx].history!.lastTraffic >= peerStates.values[idx].history!.capacity {
                        peerStates.values[idx].history = nil
                        historyRings -= 1
                    }
                }
                peerStates.formIndex(after: &idx)
            }
        }
        globalHistory.append(HistoryPoint(time: now, interval: interval, inbound: totalIn, outbound: totalOut))
        while globalHistory.count > cap { globalHistory.removeFirst() }
    }

    /// A peer's ring decoded, aligned with the global history times (oldest first).
    func decodedHistory(_ ring: HistoryRing) -> [HistoryPoint] {
        let values = ring.values()
        let times = globalHistory.suffix(values.count)
        return zip(times, values).map { g, v in
            HistoryPoint(time: g.time, interval: g.interval, inbound: v.0, outbound: v.1)
        }
    }

    /// Parses `/proc/net/xfrm_stat` ("XfrmInError   0" lines) and computes deltas.
    mutating func applyXFRMStat(_ text: String, at now: ModelTime) {
        var counters: [XFRMStatCounter] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count == 2, let value = UInt64(parts[1]) else { continue }
            let name = String(parts[0])
            var delta: UInt64 = 0
            if let prev = stat?.counter(named: name) {
                delta = value >= prev.value ? value - prev.value : value
            }
            counters.append(XFRMStatCounter(name: name, value: value, delta: delta))
        }
        let previous = stat
        stat = XFRMStatSnapshot(time: now, previousTime: previous?.time, counters: counters)
        let rising = counters.filter { $0.delta > 0 }
        if !rising.isEmpty {
            record(TimelineEvent(time: now, kind: .note, name: "XFRM_STAT",
                                 summary: rising.map { "\($0.name) +\($0.delta)" }.joined(separator: ", ")))
        }
    }
}

/// Compact traffic history of one peer: per point, inbound and outbound bytes and packets as
/// 16-bit mini-floats (8 bytes; about 0.1% precision up to 2^42), in a ring of `capacity` points.
/// Points are aligned with the model's global history: the last point is the latest dump.
struct HistoryRing: Sendable {
    private var cells: [UInt16]
    let capacity: Int
    private var head = 0
    private(set) var count = 0
    /// Global history index of the last point with traffic.
    private(set) var lastTraffic = 0

    init(capacity: Int) {
        self.capacity = capacity
        cells = Array(repeating: 0, count: capacity * 4)
    }

    mutating func append(_ inbound: TrafficTotals, _ outbound: TrafficTotals, index: Int) {
        let base = head * 4
        cells[base] = HistoryRing.encode(inbound.bytes)
        cells[base + 1] = HistoryRing.encode(outbound.bytes)
        cells[base + 2] = HistoryRing.encode(inbound.packets)
        cells[base + 3] = HistoryRing.encode(outbound.packets)
        head = (head + 1) % capacity
        count = min(capacity, count + 1)
        if !inbound.isZero || !outbound.isZero || lastTraffic == 0 { lastTraffic = index }
    }

    /// (inbound, outbound) oldest first.
    func values() -> [(TrafficTotals, TrafficTotals)] {
        var out: [(TrafficTotals, TrafficTotals)] = []
        out.reserveCapacity(count)
        var p = (head - count + capacity) % capacity
        for _ in 0..<count {
            let b = p * 4
            out.append((TrafficTotals(bytes: HistoryRing.decode(cells[b]), packets: HistoryRing.decode(cells[b + 2])),
                        TrafficTotals(bytes: HistoryRing.decode(cells[b + 1]), packets: HistoryRing.decode(cells[b + 3]))))
            p = (p + 1) % capacity
        }
        return out
    }

    static func encode(_ v: UInt64) -> UInt16 { MiniFloat.encode(v) }
    static func decode(_ c: UInt16) -> UInt64 { MiniFloat.decode(c) }

    var residentBytes: Int { cells.capacity * 2 }
}

/// A 16-bit unsigned "mini-float": 5-bit shift, 11-bit mantissa. Exact below 2048, within 0.1%
/// above, up to about 2^42. Used for rate samples and history points.
enum MiniFloat {
    static func encode(_ v: UInt64) -> UInt16 {
        if v < 2048 { return UInt16(v) }
        let shift = min(31, 53 - v.leadingZeroBitCount)  // bits beyond the 11 kept
        var m = v >> UInt64(shift)
        var s = UInt64(shift)
        // Round to nearest.
        if (v >> (s - 1)) & 1 == 1 { m += 1 }
        if m >= 2048 { m >>= 1; s += 1 }
        if s > 31 { return UInt16.max }
        return UInt16(s << 11 | m)
    }

    static func decode(_ c: UInt16) -> UInt64 {
        let shift = UInt64(c >> 11), m = UInt64(c & 2047)
        return m << shift
    }
}
