import Collections
import XFRMWire

extension LiveModel {
    /// Points kept per history ring: `historyDuration` at the refresh interval, at least 600.
    var historyCapacity: Int {
        max(600, Int((max(600, configuration.historyDuration) / max(0.05, configuration.refreshInterval)).rounded(.up)))
    }

    /// After each SA dump: one history point per peer that has ever carried traffic, and one global point.
    /// Peers without traffic keep no history (memory stays small with many idle SAs).
    mutating func recordHistory(at now: ModelTime) {
        let d = rateStore.dumpIndex
        guard d >= 1 else { return }
        let interval = now - rateStore.times[(d - 1) % rateStore.columns]
        var perPeer: [PeerKey: (TrafficTotals, TrafficTotals)] = [:]
        var totalIn = TrafficTotals.zero, totalOut = TrafficTotals.zero
        for i in entries.indices where entries[i].alive && entries[i].seenGeneration == generation
            && (entries[i].lastDeltaBytes > 0 || entries[i].lastDeltaPackets > 0) {
            let t = TrafficTotals(bytes: UInt64(entries[i].lastDeltaBytes), packets: UInt64(entries[i].lastDeltaPackets))
            let peer = entries[i].peer
            if entries[i].direction == .inbound {
                perPeer[peer, default: (.zero, .zero)].0 = perPeer[peer, default: (.zero, .zero)].0 + t
                totalIn = totalIn + t
            } else {
                perPeer[peer, default: (.zero, .zero)].1 = perPeer[peer, default: (.zero, .zero)].1 + t
                totalOut = totalOut + t
            }
        }
        let cap = historyCapacity
        for key in perPeer.keys where peerStates[key]?.history == nil {
            var st = peerStates[key] ?? PeerState(lastSeen: now)
            st.history = Deque()
            peerStates[key] = st
        }
        for key in Array(peerStates.keys) where peerStates[key]?.history != nil {
            let v = perPeer[key] ?? (.zero, .zero)
            let point = HistoryPoint(time: now, interval: interval, inbound: v.0, outbound: v.1)
            peerStates[key]!.history!.append(point)
            while peerStates[key]!.history!.count > cap { peerStates[key]!.history!.removeFirst() }
        }
        globalHistory.append(HistoryPoint(time: now, interval: interval, inbound: totalIn, outbound: totalOut))
        while globalHistory.count > cap { globalHistory.removeFirst() }
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
