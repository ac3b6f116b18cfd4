import XFRMWire

/// Attributes that rarely differ between SAs (algorithm names and lengths, security context, rare
/// attributes), kept once and shared by every SA that has the same set.
final class AttributeBox: Sendable {
    let attributes: XFRMAttributes
    /// No algorithm at all: a larval SA.
    let isLarval: Bool
    init(_ attributes: XFRMAttributes) {
        self.attributes = attributes
        isLarval = attributes.auth == nil && attributes.crypt == nil && attributes.aead == nil
            && attributes.authTrunc == nil && attributes.comp == nil
    }

    /// The shared part of a state's attributes: everything but the per-SA fields kept inline.
    static func sharedPart(of a: XFRMAttributes) -> XFRMAttributes {
        var c = a
        c.encapsulation = nil; c.mark = nil; c.replay = nil; c.replayESN = nil; c.lastUsed = nil
        c.natKeepaliveInterval = nil; c.perCPU = nil; c.direction = nil
        return c
    }
}

/// A traffic selector shared by the SAs that have it (most tunnel-mode SAs have the same one).
final class SelectorBox: Sendable {
    let selector: XFRMSelector
    init(_ selector: XFRMSelector) { self.selector = selector }

    /// The selector that covers exactly the SA's own addresses (full prefixes, any protocol and
    /// port): what the kernel gives a larval SA from ALLOCSPI or ACQUIRE, and what transport-mode
    /// SAs usually carry. Such a selector is different for every SA, so it is not boxed (a box and
    /// its intern-table entry took about 105 bytes per SA); an entry without a box has this one.
    static func host(source: IPAddress, destination: IPAddress, family: AddressFamily) -> XFRMSelector {
        let bits: UInt8 = family == .inet6 ? 128 : 32
        return XFRMSelector(destination: destination, source: source, family: family,
                            destinationPrefixLength: bits, sourcePrefixLength: bits)
    }
}

/// An SA's byte and packet limits and use-expiry times, when they are not the unlimited default:
/// IKE daemons usually set add-expiry times only, so nearly every SA keeps no box (inline, the
/// whole lifetime configuration took 64 bytes an SA; the add-expiry times stay inline).
final class LifetimeLimitsBox: Sendable {
    /// The configuration with add-expiry times 0.
    let limits: XFRMLifetimeConfig
    init(_ limits: XFRMLifetimeConfig) { self.limits = limits }
}

/// One SA as the model knows it: the kernel's last word on it plus derived figures.
///
/// Memory: the kernel state is kept compactly (per-SA fields inline, the rest in a shared
/// `AttributeBox`); `state` rebuilds the full `XFRMState` on demand. Rate samples live in a shared
/// flat ring (`RateStore`) and exist only for SAs that carried traffic; history is per peer.
public struct SAEntry: Sendable {
    // Stored properties are declared so that small fields fill the tail of larger ones: Swift lays
    // fields out in declaration order, each right after the previous one's last byte when its
    // alignment allows. An address takes 17 bytes and an optional Double 9: each is followed by
    // one-byte fields, or by a 4-byte one that starts 3 bytes later. (In the order they were first
    // written the entry took 512 bytes.)

    // 8-byte aligned.
    /// nil: the host selector of the SA's addresses (`SelectorBox.host`).
    var selectorBox: SelectorBox?
    /// The SA's traffic selector.
    public var selector: XFRMSelector {
        selectorBox?.selector ?? SelectorBox.host(source: source, destination: destination, family: family)
    }
    var box: AttributeBox
    /// nil: unlimited (see `LifetimeLimitsBox`).
    var limitsBox: LifetimeLimitsBox?
    /// Outer destination address.
    public internal(set) var destination: IPAddress
    public internal(set) var proto: IPsecProtocol
    var family: AddressFamily
    var mode: XFRMMode
    var replayWindow: UInt8
    var flags: UInt8
    var directionAttribute: SADirection?
    /// Resolved direction (nil when undetermined; see `directionSource`).
    public internal(set) var direction: SADirection?
    /// Outer source address.
    public internal(set) var source: IPAddress
    public internal(set) var directionSource: DirectionSource
    var hasPredecessor = false
    var hasSuccessor = false
    var hasParent = false
    var alive = true
    var replayRising = false
    var integrityRising = false
    var softAddExpires: UInt64
    var hardAddExpires: UInt64
    /// The kernel's lifetime configuration (`xfrm_lifetime_cfg`).
    var lifetimeConfig: XFRMLifetimeConfig {
        var c = limitsBox?.limits ?? .infinite
        c.softAddExpiresSeconds = softAddExpires
        c.hardAddExpiresSeconds = hardAddExpires
        return c
    }

    /// Stores a lifetime configuration, keeping the current limits box when the limits are the same.
    mutating func setLifetimeConfig(_ c: XFRMLifetimeConfig) {
        softAddExpires = c.softAddExpiresSeconds
        hardAddExpires = c.hardAddExpiresSeconds
        var l = c
        l.softAddExpiresSeconds = 0
        l.hardAddExpiresSeconds = 0
        if l == .infinite {
            limitsBox = nil
        } else if limitsBox?.limits != l {
            limitsBox = LifetimeLimitsBox(l)
        }
    }
    /// Current lifetime (bytes, packets, add and first-use time) from the last dump.
    public internal(set) var lifetimeCurrent: XFRMLifetimeCurrent
    /// When the model first saw the SA.
    public internal(set) var firstSeen: ModelTime
    /// Cumulative totals of the SA's tunnel: all SAs linked by rekeys, including gone ones.
    public internal(set) var tunnelTotals: TrafficTotals = .zero
    /// Totals of the retired SAs of the tunnel before this one.
    var inherited: TrafficTotals = .zero
    var offsetBytes: UInt64 = 0
    var offsetPackets: UInt64 = 0
    var lastEventAt: ModelTime = -.infinity
    /// `SAScan.configurationHash` of the dump record the configuration was last taken from;
    /// 0 when it came from an event or a decoded state (the next dump then decodes it fully).
    var configHash: UInt64 = 0
    var lastUsed: UInt64?
    /// Health flags as of the last evaluation (dump or tick).
    public internal(set) var health: HealthFlags = []
    /// SPI in host order.
    public internal(set) var spi: UInt32
    /// When a dump last showed the counters rising (kernels that send no XFRMA_LASTUSED, e.g. 6.1).
    var trafficSeen: ModelTime?
    public internal(set) var reqid: UInt32
    /// Set by a soft EXPIRE: the IKE daemon was asked to rekey.
    public internal(set) var rekeyRequestedAt: ModelTime?
    var seq: UInt32
    /// NAT-T encapsulation, when the SA is ESP-in-UDP/TCP.
    public internal(set) var encapsulation: XFRMEncapsulation?

    // 4-byte aligned.
    var mark: XFRMMark?
    /// Replay and integrity failure counters from the last dump.
    public internal(set) var stats: XFRMStats
    var replay: XFRMReplayState?
    var replayESN: XFRMReplayStateESN?
    var keepaliveInterval: UInt32?
    var perCPU: UInt32?
    /// Number of counter resets seen (counters going backwards between dumps).
    public internal(set) var counterResets: UInt32 = 0
    // Links inside the tunnel (same destination, protocol and mark: the SPI identifies the SA).
    var predecessorSPI: UInt32 = 0
    var successorSPI: UInt32 = 0
    var parentSPI: UInt32 = 0
    var lastDeltaBytes: UInt32 = 0
    var lastDeltaPackets: UInt32 = 0
    var slot: Int32 = -1
    var seenGeneration: UInt32 = 0
    /// Position of the SA's peer in `peerCache` as of the last full `derive`.
    var peerIndex: Int32 = -1
    /// Numbers the entries the model has stored (`LiveModel.store`): a slot that holds another SA
    /// has another serial, so a view can tell "the same SA in the same slot" from 8 bytes.
    public internal(set) var serial: UInt32 = 0
    var r2b: Float = 0, r2p: Float = 0, r10b: Float = 0, r10p: Float = 0, r40b: Float = 0, r40p: Float = 0

    init(state st: XFRMState, box: AttributeBox, selector: SelectorBox?, now: ModelTime) {
        selectorBox = selector; destination = st.destination; source = st.source; spi = st.spi; reqid = st.reqid
        proto = st.proto; family = st.family; mode = st.mode; replayWindow = st.replayWindow; flags = st.flags
        seq = st.seq; lifetimeCurrent = st.lifetimeCurrent; stats = st.stats
        softAddExpires = 0; hardAddExpires = 0
        let a = st.attributes
        encapsulation = a.encapsulation; mark = a.mark.flatMap { $0.isZero ? nil : $0 }; replay = a.replay
        replayESN = a.replayESN; lastUsed = a.lastUsed; keepaliveInterval = a.natKeepaliveInterval
        perCPU = a.perCPU; directionAttribute = a.direction
        self.box = box
        firstSeen = now
        direction = a.direction
        directionSource = a.direction == nil ? .unknown : .attribute
        setLifetimeConfig(st.lifetimeConfig)
    }

    /// Replaces the kernel state (same identity), keeping the bookkeeping.
    mutating func assign(_ st: XFRMState, box newBox: AttributeBox, selector: SelectorBox?) {
        selectorBox = selector; source = st.source; reqid = st.reqid; family = st.family; mode = st.mode
        replayWindow = st.replayWindow; flags = st.flags; seq = st.seq; setLifetimeConfig(st.lifetimeConfig)
        lifetimeCurrent = st.lifetimeCurrent; stats = st.stats
        let a = st.attributes
        encapsulation = a.encapsulation; replay = a.replay; replayESN = a.replayESN; lastUsed = a.lastUsed
        keepaliveInterval = a.natKeepaliveInterval; perCPU = a.perCPU; directionAttribute = a.direction
        box = newBox
        configHash = 0
    }

    /// The full kernel state, rebuilt.
    public var state: XFRMState {
        var a = box.attributes
        a.encapsulation = encapsulation; a.mark = mark; a.replay = replay; a.replayESN = replayESN
        a.lastUsed = lastUsed; a.natKeepaliveInterval = keepaliveInterval; a.perCPU = perCPU
        a.direction = directionAttribute
        return XFRMState(selector: selector, destination: destination, spi: spi, proto: proto, source: source,
                         lifetimeConfig: lifetimeConfig, lifetimeCurrent: lifetimeCurrent, stats: stats, seq: seq,
                         reqid: reqid, family: family, mode: mode, replayWindow: replayWindow, flags: flags,
                         attributes: a)
    }

    public var identity: SAIdentity {
        SAIdentity(family: family, destination: destination, spi: spi, proto: proto, mark: mark)
    }

    /// The identity of another SA of the same tunnel (same destination, protocol and mark).
    func sibling(_ otherSPI: UInt32) -> SAIdentity {
        SAIdentity(family: family, destination: destination, spi: otherSPI, proto: proto, mark: mark)
    }

    /// The tunnel key (rekey stitching).
    var tunnelKey: TunnelKey {
        TunnelKey(source: source, destination: destination, reqid: reqid, proto: proto, selector: selector,
                  mark: mark, cpu: perCPU)
    }

    /// The peer the SA is grouped under (see `LiveModel.classify` for the direction rule).
    public var peer: PeerKey {
        if direction == .inbound {
            return PeerKey(local: destination, remote: source, remotePort: encapsulation?.sourcePort ?? 0)
        }
        return PeerKey(local: source, remote: destination, remotePort: encapsulation?.destinationPort ?? 0)
    }

    /// The SA this one replaced in its tunnel (rekey stitching), possibly gone already.
    public var predecessor: SAIdentity? { hasPredecessor ? sibling(predecessorSPI) : nil }
    /// The SA that replaced this one, while both exist.
    public var successor: SAIdentity? { hasSuccessor ? sibling(successorSPI) : nil }
    /// For per-CPU SAs (XFRMA_SA_PCPU): the parent SA of the same tunnel without a CPU.
    public var parent: SAIdentity? { hasParent ? sibling(parentSPI) : nil }
    /// XFRMA_SA_PCPU.
    public var cpu: UInt32? { perCPU }

    /// The SA's own totals, corrected for counter resets.
    public var totals: TrafficTotals {
        TrafficTotals(bytes: offsetBytes &+ lifetimeCurrent.bytes, packets: offsetPackets &+ lifetimeCurrent.packets)
    }

    /// Rates over 2 s, 10 s and 40 s. After a rekey, the successor's rates include its
    /// predecessors' traffic in the window, so a tunnel's rate does not drop at a rekey.
    public var rates: WindowedRates {
        WindowedRates(last2s: TrafficRate(bytesPerSecond: Double(r2b), packetsPerSecond: Double(r2p)),
                      last10s: TrafficRate(bytesPerSecond: Double(r10b), packetsPerSecond: Double(r10p)),
                      last40s: TrafficRate(bytesPerSecond: Double(r40b), packetsPerSecond: Double(r40p)))
    }

    /// Larval SAs (from ALLOCSPI or ACQUIRE) carry no algorithm.
    public var isLarval: Bool { box.isLarval }

    var usesESN: Bool { flags & 128 != 0 }
    var effectiveReplayWindow: UInt32 { replayESN?.replayWindow ?? UInt32(replayWindow) }

    /// Seconds since the kernel added the SA (falls back to first sighting).
    public func age(at now: ModelTime) -> Double {
        let add = lifetimeCurrent.addTime
        return max(0, now - (add > 0 ? Double(add) : firstSeen))
    }

    /// Seconds since XFRMA_LASTUSED, when the kernel reported one.
    public func idle(at now: ModelTime) -> Double? {
        guard let last = lastUsed, last > 0 else { return nil }
        return max(0, now - Double(last))
    }

    /// Last sign of traffic: XFRMA_LASTUSED, or the dump that saw the counters rise, whichever is later.
    var lastUsedTime: ModelTime? {
        let kernel = lastUsed.flatMap { $0 > 0 ? Double($0) : nil }
        guard let seen = trafficSeen else { return kernel }
        return max(kernel ?? seen, seen)
    }

    /// The outbound sequence number (legacy or ESN replay state), when known.
    public var outboundSequence: UInt64? {
        if let esn = replayESN { return esn.outbound64 }
        if let r = replay { return UInt64(r.outboundSequence) }
        return nil
    }

    /// Text the incremental filter matches against.
    public var searchText: String {
        var s = "\(proto) \(SAIdentity.hex(spi)) \(source) \(destination) reqid \(reqid)"
        s += " " + (direction?.name ?? "?") + " " + mode.description
        if let e = encapsulation { s += " udp \(e.sourcePort) \(e.destinationPort)" }
        if !health.isEmpty { s += " " + health.codes.joined(separator: " ") }
        return s
    }
}
