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
/// whole lifetime configuration took 64 bytes an SA; the add-expiry times stay inline, in 32 bits).
final class LifetimeLimitsBox: Sendable {
    /// The configuration with add-expiry times 0, or the whole configuration (`whole`).
    let limits: XFRMLifetimeConfig
    /// The add-expiry times are in `limits` too: one of them does not fit the entry's 32 bits.
    let whole: Bool
    init(_ limits: XFRMLifetimeConfig, whole: Bool) { self.limits = limits; self.whole = whole }
}

/// The parts of an SA that many SAs never set: NAT-T encapsulation, and what a rekey leaves (the
/// SA it replaced and the totals inherited from the tunnel's retired SAs), which every SA of a
/// long-running tunnel has once it has been rekeyed; with the rarer parts (`SARare`) in a box of
/// their own. Kept in an immutable box, nil when all are at their defaults, replaced whole when
/// one changes (64 bytes; inline they took 120 bytes of every entry, and with the rarer parts 168).
@usableFromInline
struct SAExtras: Hashable, Sendable {
    @usableFromInline var encapsulation: XFRMEncapsulation?
    /// Totals of the retired SAs of the tunnel before this one.
    var inherited: TrafficTotals = .zero
    @usableFromInline var rare: SARareBox?
    var predecessorSPI: UInt32 = 0
    var hasPredecessor = false
    /// The predecessor was looked up for the tunnel totals and is gone (see `SAEntry.predecessorGone`).
    var predecessorGone = false
    static let none = SAExtras()
}

/// The parts of an SA that few SAs ever set (mark, NAT keepalive interval, per-CPU id, wide
/// times), or set for a while (a successor or parent link, a rekey request, the rest of a live
/// rekey chain's totals), or after a counter reset.
@usableFromInline
struct SARare: Hashable, Sendable {
    /// Counted before counter resets.
    var offsetBytes: UInt64 = 0
    var offsetPackets: UInt64 = 0
    /// `SAEntry.tunnelTotals` beyond the SA's own and inherited totals: the other live SAs of its
    /// rekey chain (wrapping difference; zero for an SA alone in its tunnel).
    var chainBytes: UInt64 = 0
    var chainPackets: UInt64 = 0
    /// The add and first-use times when one of them does not fit the entry's 32 bits.
    @usableFromInline var wideTimes: WideTimes?
    var rekeyRequestedAt: ModelTime?
    @usableFromInline var mark: XFRMMark?
    var keepaliveInterval: UInt32?
    var perCPU: UInt32?
    var counterResets: UInt32 = 0
    var successorSPI: UInt32 = 0
    var parentSPI: UInt32 = 0
    var hasSuccessor = false
    var hasParent = false
    static let none = SARare()
}

@usableFromInline typealias SARareBox = ValueBox<SARare>

@usableFromInline
struct WideTimes: Hashable, Sendable {
    @usableFromInline var addTime: UInt64
    @usableFromInline var useTime: UInt64
}

@usableFromInline typealias SAExtrasBox = ValueBox<SAExtras>

/// An SA's replay state as the kernel reports it, either form (the kernel sends exactly one:
/// XFRMA_REPLAY_ESN_VAL for an ESN-style state, XFRMA_REPLAY_VAL otherwise) in one 25-byte field.
struct ReplayStorage: Sendable {
    /// Legacy: outbound, inbound sequence, bitmap; ESN: bitmap length, outbound, inbound,
    /// outbound high, inbound high, replay window.
    var w0: UInt32 = 0, w1: UInt32 = 0, w2: UInt32 = 0, w3: UInt32 = 0, w4: UInt32 = 0, w5: UInt32 = 0
    /// 0 none, 1 legacy, 2 ESN.
    var kind: UInt8 = 0

    init(legacy: XFRMReplayState?, esn: XFRMReplayStateESN?) {
        if let e = esn {
            (w0, w1, w2, w3, w4, w5) = (e.bitmapLength, e.outboundSequence, e.inboundSequence,
                                        e.outboundSequenceHigh, e.inboundSequenceHigh, e.replayWindow)
            kind = 2
        } else if let r = legacy {
            (w0, w1, w2) = (r.outboundSequence, r.inboundSequence, r.bitmap)
            kind = 1
        }
    }

    var legacy: XFRMReplayState? {
        kind == 1 ? XFRMReplayState(outboundSequence: w0, inboundSequence: w1, bitmap: w2) : nil
    }
    var esn: XFRMReplayStateESN? {
        kind == 2 ? XFRMReplayStateESN(bitmapLength: w0, outboundSequence: w1, inboundSequence: w2,
                                       outboundSequenceHigh: w3, inboundSequenceHigh: w4, replayWindow: w5) : nil
    }
}

/// One SA as the model knows it: the kernel's last word on it plus derived figures.
///
/// Memory: the kernel state is kept compactly (per-SA fields inline, what SAs share in an
/// `AttributeBox`, what few SAs set in an `SAExtrasBox`); `state` rebuilds the full `XFRMState` on
/// demand. Rate samples and the rates computed from them live in `RateStore` and exist only for
/// SAs that carried traffic; history is per peer.
public struct SAEntry: Sendable {
    // Stored properties are declared so that small fields fill the tail of larger ones: Swift lays
    // fields out in declaration order, each right after the previous one's last byte when its
    // alignment allows. An address takes 17 bytes and an optional Double 9: each is followed by
    // one-byte fields, or by a 4-byte one that starts 3 bytes later. (In the order they were first
    // written the entry took 512 bytes; with every field inline, 416; now 232.)

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
    /// nil: every field of `SAExtras` at its default.
    @usableFromInline var extrasBox: SAExtrasBox?
    /// Outer destination address.
    public internal(set) var destination: IPAddress
    public internal(set) var proto: IPsecProtocol
    @usableFromInline var family: AddressFamily
    @usableFromInline var mode: XFRMMode
    var replayWindow: UInt8
    var flags: UInt8
    var directionAttribute: SADirection?
    /// Resolved direction (nil when undetermined; see `directionSource`).
    public internal(set) var direction: SADirection?
    /// Outer source address.
    public internal(set) var source: IPAddress
    public internal(set) var directionSource: DirectionSource
    @usableFromInline var alive = true
    var replayRising = false
    var integrityRising = false
    /// Current lifetime: bytes and packets (`lifetimeCurrent`).
    @usableFromInline var currentBytes: UInt64
    @usableFromInline var currentPackets: UInt64
    /// When the model first saw the SA.
    public internal(set) var firstSeen: ModelTime
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
    /// Current lifetime: add and first-use time, in 32 bits (seconds since the epoch, good until
    /// 2106; wider ones are in `SAExtras.wideTimes`).
    @usableFromInline var addTime: UInt32
    @usableFromInline var useTime: UInt32
    /// Add-expiry times of the lifetime configuration, in 32 bits (wider ones: `LifetimeLimitsBox.whole`).
    var softAddExpires: UInt32
    var hardAddExpires: UInt32
    var seq: UInt32
    /// Replay and integrity failure counters from the last dump.
    public internal(set) var stats: XFRMStats
    /// The SA's `RateStore` slot (-1: it never carried traffic).
    var slot: Int32 = -1
    var replayState: ReplayStorage
    var seenGeneration: UInt32 = 0
    /// Position of the SA's peer in `peerCache` as of the last full `derive`.
    var peerIndex: Int32 = -1
    /// Numbers the entries the model has stored (`LiveModel.store`): a slot that holds another SA
    /// has another serial, so a view can tell "the same SA in the same slot" from 4 bytes.
    public internal(set) var serial: UInt32 = 0

    /// The kernel's lifetime configuration (`xfrm_lifetime_cfg`).
    var lifetimeConfig: XFRMLifetimeConfig {
        if let b = limitsBox, b.whole { return b.limits }
        var c = limitsBox?.limits ?? .infinite
        c.softAddExpiresSeconds = UInt64(softAddExpires)
        c.hardAddExpiresSeconds = UInt64(hardAddExpires)
        return c
    }

    /// Stores a lifetime configuration, keeping the current limits box when the limits are the same.
    mutating func setLifetimeConfig(_ c: XFRMLifetimeConfig) {
        guard let soft = UInt32(exactly: c.softAddExpiresSeconds), let hard = UInt32(exactly: c.hardAddExpiresSeconds) else {
            softAddExpires = 0
            hardAddExpires = 0
            if !(limitsBox?.whole == true && limitsBox?.limits == c) { limitsBox = LifetimeLimitsBox(c, whole: true) }
            return
        }
        softAddExpires = soft
        hardAddExpires = hard
        var l = c
        l.softAddExpiresSeconds = 0
        l.hardAddExpiresSeconds = 0
        if l == .infinite {
            limitsBox = nil
        } else if limitsBox?.whole != false || limitsBox?.limits != l {
            limitsBox = LifetimeLimitsBox(l, whole: false)
        }
    }

    /// Current lifetime (bytes, packets, add and first-use time) from the last dump.
    public internal(set) var lifetimeCurrent: XFRMLifetimeCurrent {
        // Inlinable, like `encapsulation` and `identity`: read through a buffer of entries in
        // another module, an opaque getter made the caller copy the whole entry first.
        @inlinable get {
            if let w = extrasBox?.value.rare?.value.wideTimes {
                return XFRMLifetimeCurrent(bytes: currentBytes, packets: currentPackets, addTime: w.addTime,
                                           useTime: w.useTime)
            }
            return XFRMLifetimeCurrent(bytes: currentBytes, packets: currentPackets, addTime: UInt64(addTime),
                                       useTime: UInt64(useTime))
        }
        set {
            currentBytes = newValue.bytes
            currentPackets = newValue.packets
            if let a = UInt32(exactly: newValue.addTime), let u = UInt32(exactly: newValue.useTime) {
                addTime = a
                useTime = u
                if extrasBox?.value.rare?.value.wideTimes != nil { setRare(\.wideTimes, nil) }
            } else {
                addTime = 0
                useTime = 0
                setRare(\.wideTimes, WideTimes(addTime: newValue.addTime, useTime: newValue.useTime))
            }
        }
    }

    // MARK: the rarely set fields (`SAExtras`)

    /// Sets one field of the extras: no allocation when it does not change, no box when every
    /// field is back at its default.
    @inline(__always)
    private mutating func setExtra<T: Equatable>(_ field: WritableKeyPath<SAExtras, T>, _ value: T) {
        if (extrasBox?.value ?? .none)[keyPath: field] == value { return }
        var x = extrasBox?.value ?? .none
        x[keyPath: field] = value
        extrasBox = x == .none ? nil : SAExtrasBox(x)
    }

    /// `setExtra` for a field of the rarer parts.
    @inline(__always)
    private mutating func setRare<T: Equatable>(_ field: WritableKeyPath<SARare, T>, _ value: T) {
        let current = extrasBox?.value.rare?.value ?? .none
        if current[keyPath: field] == value { return }
        var r = current
        r[keyPath: field] = value
        setExtra(\.rare, r == .none ? nil : SARareBox(r))
    }

    /// NAT-T encapsulation, when the SA is ESP-in-UDP/TCP.
    public internal(set) var encapsulation: XFRMEncapsulation? {
        @inlinable get { extrasBox?.value.encapsulation }
        set { setExtra(\.encapsulation, newValue) }
    }
    @usableFromInline var mark: XFRMMark? {
        @inlinable get { extrasBox?.value.rare?.value.mark }
        set { setRare(\.mark, newValue) }
    }
    /// Totals of the retired SAs of the tunnel before this one.
    var inherited: TrafficTotals {
        get { extrasBox?.value.inherited ?? .zero }
        set { setExtra(\.inherited, newValue) }
    }
    var offsetBytes: UInt64 {
        get { extrasBox?.value.rare?.value.offsetBytes ?? 0 }
        set { setRare(\.offsetBytes, newValue) }
    }
    var offsetPackets: UInt64 {
        get { extrasBox?.value.rare?.value.offsetPackets ?? 0 }
        set { setRare(\.offsetPackets, newValue) }
    }
    /// Set by a soft EXPIRE: the IKE daemon was asked to rekey.
    public internal(set) var rekeyRequestedAt: ModelTime? {
        get { extrasBox?.value.rare?.value.rekeyRequestedAt }
        set { setRare(\.rekeyRequestedAt, newValue) }
    }
    var keepaliveInterval: UInt32? {
        get { extrasBox?.value.rare?.value.keepaliveInterval }
        set { setRare(\.keepaliveInterval, newValue) }
    }
    var perCPU: UInt32? {
        get { extrasBox?.value.rare?.value.perCPU }
        set { setRare(\.perCPU, newValue) }
    }
    /// Number of counter resets seen (counters going backwards between dumps).
    public internal(set) var counterResets: UInt32 {
        get { extrasBox?.value.rare?.value.counterResets ?? 0 }
        set { setRare(\.counterResets, newValue) }
    }
    // Links inside the tunnel (same destination, protocol and mark: the SPI identifies the SA).
    var predecessorSPI: UInt32 {
        get { extrasBox?.value.predecessorSPI ?? 0 }
        set { setExtra(\.predecessorSPI, newValue); setExtra(\.predecessorGone, false) }
    }
    var successorSPI: UInt32 {
        get { extrasBox?.value.rare?.value.successorSPI ?? 0 }
        set { setRare(\.successorSPI, newValue) }
    }
    var parentSPI: UInt32 {
        get { extrasBox?.value.rare?.value.parentSPI ?? 0 }
        set { setRare(\.parentSPI, newValue) }
    }
    var hasPredecessor: Bool {
        get { extrasBox?.value.hasPredecessor ?? false }
        set { setExtra(\.hasPredecessor, newValue); setExtra(\.predecessorGone, false) }
    }
    /// The predecessor is no longer in the table: the tunnel totals stop looking for it on every
    /// refresh (its totals went to its heir's inherited ones when it went). Set by
    /// `updateTunnelTotals` after a lookup that failed; any new predecessor link clears it. The
    /// link itself stays, for `predecessor` (what the SA was rekeyed from).
    var predecessorGone: Bool {
        get { extrasBox?.value.predecessorGone ?? false }
        set { setExtra(\.predecessorGone, newValue) }
    }
    var hasSuccessor: Bool {
        get { extrasBox?.value.rare?.value.hasSuccessor ?? false }
        set { setRare(\.hasSuccessor, newValue) }
    }
    var hasParent: Bool {
        get { extrasBox?.value.rare?.value.hasParent ?? false }
        set { setRare(\.hasParent, newValue) }
    }
    /// Cumulative totals of the SA's tunnel: all SAs linked by rekeys, including gone ones. Set by
    /// `derive` for the SAs of a chain; otherwise the SA's inherited and own totals.
    public internal(set) var tunnelTotals: TrafficTotals {
        get {
            let base = inherited + totals
            guard let r = extrasBox?.value.rare?.value else { return base }
            return TrafficTotals(bytes: base.bytes &+ r.chainBytes, packets: base.packets &+ r.chainPackets)
        }
        set {
            // Set for every live SA on every refresh: unchanged (the usual case) costs two loads.
            let base = inherited + totals
            let bytes = newValue.bytes &- base.bytes, packets = newValue.packets &- base.packets
            let rare = extrasBox?.value.rare
            if (rare?.value.chainBytes ?? 0) == bytes && (rare?.value.chainPackets ?? 0) == packets { return }
            var r = rare?.value ?? .none
            r.chainBytes = bytes
            r.chainPackets = packets
            setExtra(\.rare, r == .none ? nil : SARareBox(r))
        }
    }

    var replay: XFRMReplayState? { replayState.legacy }
    var replayESN: XFRMReplayStateESN? { replayState.esn }

    init(state st: XFRMState, box: AttributeBox, selector: SelectorBox?, now: ModelTime) {
        selectorBox = selector; destination = st.destination; source = st.source; spi = st.spi; reqid = st.reqid
        proto = st.proto; family = st.family; mode = st.mode; replayWindow = st.replayWindow; flags = st.flags
        seq = st.seq; stats = st.stats
        softAddExpires = 0; hardAddExpires = 0
        currentBytes = 0; currentPackets = 0; addTime = 0; useTime = 0
        let a = st.attributes
        replayState = ReplayStorage(legacy: a.replay, esn: a.replayESN)
        lastUsed = a.lastUsed; directionAttribute = a.direction
        self.box = box
        var r = SARare.none
        r.mark = a.mark.flatMap { $0.isZero ? nil : $0 }
        r.keepaliveInterval = a.natKeepaliveInterval; r.perCPU = a.perCPU
        var x = SAExtras.none
        x.encapsulation = a.encapsulation
        x.rare = r == .none ? nil : SARareBox(r)
        extrasBox = x == .none ? nil : SAExtrasBox(x)
        firstSeen = now
        direction = a.direction
        directionSource = a.direction == nil ? .unknown : .attribute
        lifetimeCurrent = st.lifetimeCurrent
        setLifetimeConfig(st.lifetimeConfig)
    }

    /// Replaces the kernel state (same identity), keeping the bookkeeping.
    mutating func assign(_ st: XFRMState, box newBox: AttributeBox, selector: SelectorBox?) {
        selectorBox = selector; source = st.source; reqid = st.reqid; family = st.family; mode = st.mode
        replayWindow = st.replayWindow; flags = st.flags; seq = st.seq; setLifetimeConfig(st.lifetimeConfig)
        lifetimeCurrent = st.lifetimeCurrent; stats = st.stats
        let a = st.attributes
        replayState = ReplayStorage(legacy: a.replay, esn: a.replayESN); lastUsed = a.lastUsed
        directionAttribute = a.direction
        encapsulation = a.encapsulation
        keepaliveInterval = a.natKeepaliveInterval
        perCPU = a.perCPU
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

    @inlinable public var identity: SAIdentity {
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
