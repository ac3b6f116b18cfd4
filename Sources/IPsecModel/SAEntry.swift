import XFRMWire

/// One SA as the model knows it: the kernel's last word on it plus derived figures.
///
/// Memory: the `XFRMState` as decoded plus about 150 bytes of bookkeeping. Rate samples live in
/// a shared flat ring (`RateStore`), allocated only once the SA has carried traffic.
public struct SAEntry: Sendable {
    /// The latest state (from the last dump; events update everything but counters).
    public internal(set) var state: XFRMState
    /// When the model first saw the SA.
    public internal(set) var firstSeen: ModelTime
    /// Last time a dump or event changed or confirmed it.
    public internal(set) var lastUpdated: ModelTime
    /// Resolved direction (nil when undetermined; see `directionSource`).
    public internal(set) var direction: SADirection?
    public internal(set) var directionSource: DirectionSource
    /// The peer the SA is grouped under.
    public internal(set) var peer: PeerKey
    /// Set by a soft EXPIRE: the IKE daemon was asked to rekey.
    public internal(set) var rekeyRequestedAt: ModelTime?
    /// The SA this one replaced in its tunnel (rekey stitching), possibly gone already.
    public internal(set) var predecessor: SAIdentity?
    /// The SA that replaced this one, while both exist.
    public internal(set) var successor: SAIdentity?
    /// For per-CPU SAs (XFRMA_SA_PCPU): the parent SA of the same tunnel without a CPU.
    public internal(set) var parent: SAIdentity?
    /// Health flags as of the last evaluation (dump or tick).
    public internal(set) var health: HealthFlags
    /// Number of counter resets seen (counters going backwards between dumps).
    public internal(set) var counterResets: UInt32
    /// Cumulative totals of the SA's tunnel (all SAs linked by rekeys, including gone ones).
    public internal(set) var tunnelTotals: TrafficTotals

    // Internal bookkeeping.
    var offsetBytes: UInt64 = 0
    var offsetPackets: UInt64 = 0
    var sampleBytes: UInt64
    var samplePackets: UInt64
    var hasBaseline: Bool
    var carryBytes: UInt64 = 0
    var carryPackets: UInt64 = 0
    var lastDeltaBytes: UInt32 = 0
    var lastDeltaPackets: UInt32 = 0
    var slot: Int32 = -1
    var seenGeneration: UInt32 = 0
    var lastEventAt: ModelTime = -.infinity
    var prevReplay: UInt32
    var prevIntegrity: UInt32
    var replayRising = false
    var integrityRising = false
    var r2b: Float = 0, r2p: Float = 0, r10b: Float = 0, r10p: Float = 0, r40b: Float = 0, r40p: Float = 0

    init(state: XFRMState, now: ModelTime, baseline: Bool) {
        self.state = state
        firstSeen = now
        lastUpdated = now
        direction = state.attributes.direction
        directionSource = state.attributes.direction == nil ? .unknown : .attribute
        peer = PeerKey(local: state.source, remote: state.destination)
        health = []
        counterResets = 0
        tunnelTotals = .zero
        sampleBytes = state.lifetimeCurrent.bytes
        samplePackets = state.lifetimeCurrent.packets
        hasBaseline = baseline
        prevReplay = state.stats.replay
        prevIntegrity = state.stats.integrityFailed
    }

    public var identity: SAIdentity { state.identity }

    /// The SA's own totals, corrected for counter resets.
    public var totals: TrafficTotals {
        TrafficTotals(bytes: offsetBytes &+ state.lifetimeCurrent.bytes,
                      packets: offsetPackets &+ state.lifetimeCurrent.packets)
    }

    /// Rates over 2 s, 10 s and 40 s. After a rekey, the successor's rates include its
    /// predecessors' traffic in the window, so a tunnel's rate does not drop at a rekey.
    public var rates: WindowedRates {
        WindowedRates(last2s: TrafficRate(bytesPerSecond: Double(r2b), packetsPerSecond: Double(r2p)),
                      last10s: TrafficRate(bytesPerSecond: Double(r10b), packetsPerSecond: Double(r10p)),
                      last40s: TrafficRate(bytesPerSecond: Double(r40b), packetsPerSecond: Double(r40p)))
    }

    public var isLarval: Bool { state.isLarval }

    /// Seconds since the kernel added the SA (falls back to first sighting).
    public func age(at now: ModelTime) -> Double {
        let add = state.lifetimeCurrent.addTime
        return max(0, now - (add > 0 ? Double(add) : firstSeen))
    }

    /// Seconds since XFRMA_LASTUSED, when the kernel reported one.
    public func idle(at now: ModelTime) -> Double? {
        guard let last = state.attributes.lastUsed, last > 0 else { return nil }
        return max(0, now - Double(last))
    }

    /// The outbound sequence number (legacy or ESN replay state), when known.
    public var outboundSequence: UInt64? {
        if let esn = state.attributes.replayESN { return esn.outbound64 }
        if let r = state.attributes.replay { return UInt64(r.outboundSequence) }
        return nil
    }

    /// Text the incremental filter matches against.
    public var searchText: String {
        var s = "\(state.proto) \(SAIdentity.hex(state.spi)) \(state.source) \(state.destination) reqid \(state.reqid)"
        s += " " + (direction?.name ?? "?") + " " + state.mode.description
        if let e = state.attributes.encapsulation { s += " udp \(e.sourcePort) \(e.destinationPort)" }
        if !health.isEmpty { s += " " + health.codes.joined(separator: " ") }
        return s
    }
}
