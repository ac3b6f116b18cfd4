import XFRMWire

/// A traffic rate: bytes and packets per second.
public struct TrafficRate: Sendable, Hashable {
    public var bytesPerSecond: Double
    public var packetsPerSecond: Double
    public init(bytesPerSecond: Double, packetsPerSecond: Double) {
        self.bytesPerSecond = bytesPerSecond; self.packetsPerSecond = packetsPerSecond
    }
    public static let zero = TrafficRate(bytesPerSecond: 0, packetsPerSecond: 0)
    public static func + (a: TrafficRate, b: TrafficRate) -> TrafficRate {
        TrafficRate(bytesPerSecond: a.bytesPerSecond + b.bytesPerSecond,
                    packetsPerSecond: a.packetsPerSecond + b.packetsPerSecond)
    }
}

/// Rates over the 2 s, 10 s and 40 s windows (each measured between two refresh dumps, so the
/// effective span is the closest whole number of refresh intervals).
public struct WindowedRates: Sendable, Hashable {
    public var last2s: TrafficRate
    public var last10s: TrafficRate
    public var last40s: TrafficRate
    public init(last2s: TrafficRate, last10s: TrafficRate, last40s: TrafficRate) {
        self.last2s = last2s; self.last10s = last10s; self.last40s = last40s
    }
    public static let zero = WindowedRates(last2s: .zero, last10s: .zero, last40s: .zero)
    /// The window lengths, in seconds, in the order of `last2s`, `last10s`, `last40s`.
    public static let windows: [Double] = [2, 10, 40]
    public static func + (a: WindowedRates, b: WindowedRates) -> WindowedRates {
        WindowedRates(last2s: a.last2s + b.last2s, last10s: a.last10s + b.last10s, last40s: a.last40s + b.last40s)
    }
}

/// Byte and packet totals.
public struct TrafficTotals: Sendable, Hashable {
    public var bytes: UInt64
    public var packets: UInt64
    public init(bytes: UInt64, packets: UInt64) { self.bytes = bytes; self.packets = packets }
    public static let zero = TrafficTotals(bytes: 0, packets: 0)
    public static func + (a: TrafficTotals, b: TrafficTotals) -> TrafficTotals {
        TrafficTotals(bytes: a.bytes &+ b.bytes, packets: a.packets &+ b.packets)
    }
}

/// How an SA's direction was decided.
public enum DirectionSource: String, Sendable, Hashable, Codable {
    /// XFRMA_SA_DIR (kernel >= 6.10).
    case attribute
    /// The SA's destination is a local address: inbound.
    case localDestination
    /// The SA's source is a local address: outbound.
    case localSource
    /// The reverse SA (swapped addresses, same reqid) has a known direction: the opposite one.
    case pairing
    /// Nothing tells.
    case unknown
}

/// Per-SA health problems. `HealthIssue` carries the human reason.
public struct HealthFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Inbound SA with replay window 0.
    public static let antiReplayOff = HealthFlags(rawValue: 1 << 0)
    /// `stats.replay` grew since the previous refresh.
    public static let replayFailuresRising = HealthFlags(rawValue: 1 << 1)
    /// `stats.integrity_failed` grew since the previous refresh.
    public static let integrityFailuresRising = HealthFlags(rawValue: 1 << 2)
    /// Outbound sequence number past 2^31 without ESN.
    public static let sequenceNearWrap = HealthFlags(rawValue: 1 << 3)
    /// Traffic in one direction of the pair but none in the other (10 s window).
    public static let oneWayTraffic = HealthFlags(rawValue: 1 << 4)
    /// Within 10% of a hard lifetime (time, bytes or packets) with no successor.
    public static let nearHardLifetime = HealthFlags(rawValue: 1 << 5)
    /// Larval SA (no algorithms: from ALLOCSPI or ACQUIRE).
    public static let larval = HealthFlags(rawValue: 1 << 6)
    /// Larval SA whose addresses have a pending ACQUIRE (the IKE daemon has not installed the SA yet).
    public static let acquirePending = HealthFlags(rawValue: 1 << 7)
    /// A soft EXPIRE was seen: the IKE daemon was asked to rekey.
    public static let rekeyRequested = HealthFlags(rawValue: 1 << 8)

    /// Every flag with a short code for narrow columns, in display order.
    public static let all: [(flag: HealthFlags, code: String, name: String)] = [
        (.antiReplayOff, "R0", "anti-replay off"),
        (.replayFailuresRising, "RP", "replay failures rising"),
        (.integrityFailuresRising, "IF", "integrity failures rising"),
        (.sequenceNearWrap, "SQ", "sequence past 2^31 without ESN"),
        (.oneWayTraffic, "1W", "one-way traffic"),
        (.nearHardLifetime, "LT", "near hard lifetime"),
        (.larval, "LV", "larval"),
        (.acquirePending, "AQ", "acquire pending"),
        (.rekeyRequested, "RK", "rekey requested"),
    ]

    /// Short codes of the flags set, e.g. `["R0", "LT"]`.
    public var codes: [String] { HealthFlags.all.filter { contains($0.flag) }.map(\.code) }
    /// Names of the flags set.
    public var names: [String] { HealthFlags.all.filter { contains($0.flag) }.map(\.name) }
}

/// One health problem with the reason shown to the user.
public struct HealthIssue: Sendable, Hashable {
    public var flag: HealthFlags
    public var reason: String
    public init(flag: HealthFlags, reason: String) { self.flag = flag; self.reason = reason }
}

/// Keepalive verdict.
public enum KeepaliveState: String, Sendable, Hashable, Codable {
    case ok = "OK"
    case late = "LATE"
    case none = "NONE"
    case unknown = "UNKNOWN"
}

/// Where a keepalive interval comes from.
public enum KeepaliveIntervalSource: String, Sendable, Hashable, Codable {
    /// XFRMA_NAT_KEEPALIVE_INTERVAL on the outbound SA (kernel keepalives, >= 6.11).
    case kernel
    /// The spacing of keepalives seen on the wire (IKE daemon keepalives).
    case observed
}

/// Keepalive status of a NAT-T peer, always with a reason.
public struct KeepaliveStatus: Sendable, Hashable {
    public var state: KeepaliveState
    /// Why, in words: "no keepalive received from 198.51.100.7:4501 for 12 s (interval 5 s)".
    public var reason: String
    /// Expected interval in seconds, when known.
    public var interval: Double?
    public var intervalSource: KeepaliveIntervalSource?
    /// The kernel attribute value (seconds) when the outbound SA has one.
    public var kernelInterval: UInt32?
    /// Last keepalive this host sent / received (wire capture).
    public var lastSent: ModelTime?
    public var lastReceived: ModelTime?
    /// Seconds since the inbound SA was last used (XFRMA_LASTUSED), when known.
    public var inboundIdle: Double?
    /// Whether the wire capture is running.
    public var captureActive: Bool

    public init(state: KeepaliveState, reason: String, interval: Double? = nil,
                intervalSource: KeepaliveIntervalSource? = nil, kernelInterval: UInt32? = nil,
                lastSent: ModelTime? = nil, lastReceived: ModelTime? = nil, inboundIdle: Double? = nil,
                captureActive: Bool = false) {
        self.state = state; self.reason = reason; self.interval = interval; self.intervalSource = intervalSource
        self.kernelInterval = kernelInterval; self.lastSent = lastSent; self.lastReceived = lastReceived
        self.inboundIdle = inboundIdle; self.captureActive = captureActive
    }
}

/// A NAT rebinding reported by XFRM_MSG_MAPPING.
public struct MappingChange: Sendable, Hashable {
    public var time: ModelTime
    /// The inbound SA the kernel reported it on.
    public var sa: SAIdentity
    public var reqid: UInt32
    public var oldAddress: IPAddress
    public var oldPort: UInt16
    public var newAddress: IPAddress
    public var newPort: UInt16
    public init(time: ModelTime, sa: SAIdentity, reqid: UInt32, oldAddress: IPAddress, oldPort: UInt16,
                newAddress: IPAddress, newPort: UInt16) {
        self.time = time; self.sa = sa; self.reqid = reqid; self.oldAddress = oldAddress; self.oldPort = oldPort
        self.newAddress = newAddress; self.newPort = newPort
    }
    /// "198.51.100.7:4500 -> 198.51.100.7:1031".
    public var summary: String { "\(oldAddress):\(oldPort) -> \(newAddress):\(newPort)" }
}

/// NAT traversal facts of a peer.
public struct NATTraversal: Sendable, Hashable {
    /// Encapsulation of the peer's outbound SA (or inbound if no outbound), as configured.
    public var encapsulation: XFRMEncapsulation
    /// UDP port on this host and on the peer (after any NAT).
    public var localPort: UInt16
    public var remotePort: UInt16
    /// NAT original address (NAT-OA), when set.
    public var originalAddress: IPAddress?
    public var behindNAT: Bool
    /// Why `behindNAT` is what it is.
    public var behindNATReason: String
    /// Mapping changes, oldest first.
    public var mappingHistory: [MappingChange]
}

/// A peer: one local and one remote outer address (plus the remote UDP port when encapsulated).
public struct PeerKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var local: IPAddress
    public var remote: IPAddress
    /// The peer's UDP encapsulation port; 0 without encapsulation.
    public var remotePort: UInt16
    public init(local: IPAddress, remote: IPAddress, remotePort: UInt16 = 0) {
        self.local = local; self.remote = remote; self.remotePort = remotePort
    }

    /// One pre-mixed word (see `Mix64`).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(mix64)
    }

    var mix64: UInt64 { Mix64.step(Mix64.step(local.mix64, remote.mix64), UInt64(remotePort)) }

    /// The hash `PeerCache` files a peer under.
    var slotHash: Int { Int(bitPattern: UInt(Mix64.step(mix64, 0x5851_F42D_4C95_7F2D))) }

    /// "192.0.2.1 <-> 198.51.100.2:4500".
    public var description: String {
        "\(local) <-> \(remote)" + (remotePort != 0 ? ":\(remotePort)" : "")
    }
    public static func < (a: PeerKey, b: PeerKey) -> Bool {
        if a.local != b.local { return a.local < b.local }
        if a.remote != b.remote { return a.remote < b.remote }
        return a.remotePort < b.remotePort
    }
}

/// A tunnel in one direction: what stays the same across rekeys (same addresses, reqid,
/// protocol, selector, mark and per-CPU lane). Rekey stitching joins SAs with the same key.
/// Addresses in a fixed order make the direction part of the key, whatever the direction inference says.
public struct TunnelKey: Hashable, Sendable {
    public var source: IPAddress
    public var destination: IPAddress
    public var reqid: UInt32
    public var proto: IPsecProtocol
    public var selector: XFRMSelector
    public var mark: XFRMMark?
    /// XFRMA_SA_PCPU: per-CPU SAs are parallel lanes, not successors of each other.
    public var cpu: UInt32?
    public init(_ s: XFRMState) {
        source = s.source; destination = s.destination; reqid = s.reqid; proto = s.proto
        selector = s.selector; mark = s.identity.mark; cpu = s.attributes.perCPU
    }
    public init(source: IPAddress, destination: IPAddress, reqid: UInt32, proto: IPsecProtocol, selector: XFRMSelector,
                mark: XFRMMark?, cpu: UInt32?) {
        self.source = source; self.destination = destination; self.reqid = reqid; self.proto = proto
        self.selector = selector; self.mark = mark; self.cpu = cpu
    }

    /// One pre-mixed word (see `Mix64`).
    public func hash(into hasher: inout Hasher) {
        var h = Mix64.step(source.mix64, destination.mix64)
        h = Mix64.step(h, UInt64(reqid) | UInt64(proto.rawValue) << 32)
        h = Mix64.step(h, selector.mix64)
        if let m = mark { h = Mix64.step(h, UInt64(m.value) | UInt64(m.mask) << 32) }
        if let c = cpu { h = Mix64.step(h, UInt64(c) | 1 << 40) }
        hasher.combine(h)
    }
}

/// A rekey seen by stitching: the old SA was followed by the new one in the same tunnel.
public struct RekeyLink: Sendable, Hashable {
    public var time: ModelTime
    public var old: SAIdentity
    public var new: SAIdentity
    public var reqid: UInt32
    public init(time: ModelTime, old: SAIdentity, new: SAIdentity, reqid: UInt32) {
        self.time = time; self.old = old; self.new = new; self.reqid = reqid
    }
    /// "0x0000c001 -> 0x0000c002".
    public var summary: String { "\(SAIdentity.hex(old.spi)) -> \(SAIdentity.hex(new.spi))" }
}

/// What happened, for the timeline.
public enum TimelineKind: String, Sendable, Hashable, Codable {
    /// A kernel event (NEWSA, DELSA, EXPIRE, MAPPING, ...).
    case kernel
    /// An action performed by the user (delete, rekey).
    case action
    /// Re-dump requested after an overrun, and the reconciliation that followed.
    case resync
    /// A periodic dump found differences the events had not told (lost events).
    case reconcile
    /// Rekey stitching linked an old SA to its successor.
    case rekey
    /// Anything else worth telling (capture availability, keepalive state changes).
    case note
}

/// One timeline entry.
public struct TimelineEvent: Sendable, Hashable {
    public var time: ModelTime
    public var kind: TimelineKind
    /// Short name: the kernel message kind ("NEWSA"), the action kind, "RESYNC"...
    public var name: String
    /// One line of text (no key material: only identities, addresses and counts).
    /// Formatted when read: the model stores what it needs to format it (`TimelineText`).
    public var summary: String {
        get { text.string }
        set { text = .string(newValue) }
    }
    var text: TimelineText
    public var sa: SAIdentity?
    public var peer: PeerKey?
    /// For actions: whether they succeeded.
    public var succeeded: Bool?
    /// Position in the model's timeline (1, 2, ...), assigned when recorded; for streaming exports.
    public var sequence: UInt64 = 0
    public init(time: ModelTime, kind: TimelineKind, name: String, summary: String, sa: SAIdentity? = nil,
                peer: PeerKey? = nil, succeeded: Bool? = nil) {
        self.init(time: time, kind: kind, name: name, text: .string(summary), sa: sa, peer: peer, succeeded: succeeded)
    }

    init(time: ModelTime, kind: TimelineKind, name: String, text: TimelineText, sa: SAIdentity? = nil,
         peer: PeerKey? = nil, succeeded: Bool? = nil) {
        self.time = time; self.kind = kind; self.name = name; self.text = text; self.sa = sa
        self.peer = peer; self.succeeded = succeeded
    }

    /// Equal when every field reads the same (the summary compared as text, however it is stored).
    public static func == (a: TimelineEvent, b: TimelineEvent) -> Bool {
        a.time == b.time && a.kind == b.kind && a.name == b.name && a.sa == b.sa && a.peer == b.peer
            && a.succeeded == b.succeeded && a.sequence == b.sequence && a.summary == b.summary
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(time); hasher.combine(kind); hasher.combine(name); hasher.combine(summary)
        hasher.combine(sa); hasher.combine(peer); hasher.combine(succeeded); hasher.combine(sequence)
    }
}

/// Internal: a timeline summary as stored; the text of the frequent per-SA events is formatted on
/// read (an event storm records thousands per second, few of which are ever displayed).
enum TimelineText: Sendable {
    case string(String)
    /// NEWSA/UPDSA: "added|updated PROTO SPI SRC -> DST reqid R[ udp SPORT->DPORT]".
    case saChange(added: Bool, proto: IPsecProtocol, spi: UInt32, source: IPAddress, destination: IPAddress,
                  reqid: UInt32, udp: (UInt16, UInt16)?)
    /// DELSA / hard EXPIRE: "PREFIX ID".
    case saRemoved(SARemoval, SAIdentity)

    enum SARemoval: Sendable {
        case deleted, larvalTimedOut, hardLifetime
        var text: String {
            switch self {
            case .deleted: return "deleted"
            case .larvalTimedOut: return "larval SA timed out"
            case .hardLifetime: return "hard lifetime reached: deleted"
            }
        }
    }

    var string: String {
        switch self {
        case .string(let s):
            return s
        case let .saChange(added, proto, spi, source, destination, reqid, udp):
            var s = "\(added ? "added" : "updated") \(proto) \(SAIdentity.hex(spi)) \(source) -> \(destination) reqid \(reqid)"
            if let (sp, dp) = udp { s += " udp \(sp)->\(dp)" }
            return s
        case let .saRemoved(what, id):
            return "\(what.text) \(id)"
        }
    }
}

/// One `/proc/net/xfrm_stat` counter with its change since the previous reading.
public struct XFRMStatCounter: Sendable, Hashable {
    public var name: String
    public var value: UInt64
    /// Change since the previous reading (0 on the first; a decrease counts as a reset: the new value).
    public var delta: UInt64
    public init(name: String, value: UInt64, delta: UInt64) { self.name = name; self.value = value; self.delta = delta }
}

/// The last `/proc/net/xfrm_stat` reading.
public struct XFRMStatSnapshot: Sendable, Hashable {
    public var time: ModelTime
    /// Time of the previous reading the deltas are relative to.
    public var previousTime: ModelTime?
    /// In file order.
    public var counters: [XFRMStatCounter]
    public init(time: ModelTime, previousTime: ModelTime?, counters: [XFRMStatCounter]) {
        self.time = time; self.previousTime = previousTime; self.counters = counters
    }
    public func counter(named name: String) -> XFRMStatCounter? { counters.first { $0.name == name } }
    /// Sum of all deltas (every xfrm_stat counter is an error counter).
    public var totalDelta: UInt64 { counters.reduce(0) { $0 &+ $1.delta } }
}

/// Synchronisation state with the kernel, for the header.
public enum SyncState: Sendable, Hashable {
    /// No complete SA and policy dump yet.
    case initialising
    /// In sync; `lastResync` is the last resync completion, if any.
    case synchronised(lastResync: ModelTime?)
    /// A resync was requested and the re-dumps have not both completed.
    case resyncing(since: ModelTime, reason: String)

    /// "initialising", "in sync", "resynced 12:00:03"-style word for the header.
    public var word: String {
        switch self {
        case .initialising: return "initialising"
        case .synchronised(let r): return r == nil ? "in sync" : "resynced"
        case .resyncing: return "resyncing"
        }
    }
}

/// A pending ACQUIRE: the kernel asked the IKE daemon for an SA and none has appeared yet.
public struct PendingAcquire: Sendable, Hashable {
    public var time: ModelTime
    public var source: IPAddress
    public var destination: IPAddress
    public var proto: IPsecProtocol
    public var reqid: UInt32
    public var selector: XFRMSelector
    public var seq: UInt32
    public init(time: ModelTime, source: IPAddress, destination: IPAddress, proto: IPsecProtocol, reqid: UInt32,
                selector: XFRMSelector, seq: UInt32) {
        self.time = time; self.source = source; self.destination = destination; self.proto = proto
        self.reqid = reqid; self.selector = selector; self.seq = seq
    }
}

/// One point of a traffic history (for sparklines and graphs): traffic during `interval` seconds ending at `time`.
public struct HistoryPoint: Sendable, Hashable {
    public var time: ModelTime
    public var interval: Double
    public var inbound: TrafficTotals
    public var outbound: TrafficTotals
    public init(time: ModelTime, interval: Double, inbound: TrafficTotals, outbound: TrafficTotals) {
        self.time = time; self.interval = interval; self.inbound = inbound; self.outbound = outbound
    }
    public var inboundBytesPerSecond: Double { interval > 0 ? Double(inbound.bytes) / interval : 0 }
    public var outboundBytesPerSecond: Double { interval > 0 ? Double(outbound.bytes) / interval : 0 }
}

/// A peer with its SAs, policies and derived status.
public struct PeerSummary: Sendable, Hashable {
    public var key: PeerKey
    /// SAs by direction (per-CPU children included), sorted.
    public var inbound: [SAIdentity]
    public var outbound: [SAIdentity]
    /// SAs whose direction could not be determined.
    public var undetermined: [SAIdentity]
    /// Inbound/outbound pairs by reqid (newest SA of each direction).
    public var pairs: [SAPair]
    /// Policies attached through their templates (reqid or tunnel addresses).
    public var policies: [PolicyIdentity]
    public var inboundRates: WindowedRates
    public var outboundRates: WindowedRates
    /// Cumulative totals of every tunnel of the peer, across rekeys.
    public var inboundTotals: TrafficTotals
    public var outboundTotals: TrafficTotals
    public var nat: NATTraversal?
    public var keepalive: KeepaliveStatus
    /// Union of the SAs' flags.
    public var health: HealthFlags
}

/// An inbound/outbound SA pair of one peer and reqid.
public struct SAPair: Sendable, Hashable {
    public var reqid: UInt32
    public var inbound: SAIdentity?
    public var outbound: SAIdentity?
    public init(reqid: UInt32, inbound: SAIdentity?, outbound: SAIdentity?) {
        self.reqid = reqid; self.inbound = inbound; self.outbound = outbound
    }
}

/// What most policies have in common: the lifetime limits, every attribute but the templates
/// (mark, interface id, type, security context...), the families, interface and user of the
/// selector, the flags and the first template's shape (everything but its addresses and reqid).
/// Kept once and shared by consecutive policies that have the same (see
/// `LiveModel.policyCommon(for:)`): an in, an out and a forward policy of one tunnel share it.
final class PolicyCommon: Sendable {
    let lifetimeConfig: XFRMLifetimeConfig
    /// The policy's attributes without its templates.
    let attributes: XFRMAttributes
    /// The first template without its addresses and reqid; nil for a policy without templates.
    let head: TemplateShape?
    let selectorIfindex: Int32
    let selectorUser: UInt32
    let selectorFamily: AddressFamily
    let selectorDestinationFamily: AddressFamily
    let selectorSourceFamily: AddressFamily
    let flags: UInt8
    let share: UInt8
    /// The identity's parts taken from the attributes (`PolicyIdentity` drops a zero mark).
    let identityMark: XFRMMark?
    let identityIfID: UInt32
    let identityType: UInt8

    init(_ p: XFRMPolicy) {
        lifetimeConfig = p.lifetimeConfig
        var a = p.attributes
        a.templates = []
        attributes = a
        head = p.attributes.templates.first.map(TemplateShape.init)
        let s = p.selector
        selectorIfindex = s.ifindex
        selectorUser = s.user
        selectorFamily = s.family
        selectorDestinationFamily = s.destination.family
        selectorSourceFamily = s.source.family
        flags = p.flags
        share = p.share
        identityMark = (a.mark?.isZero ?? true) ? nil : a.mark
        identityIfID = a.ifID ?? 0
        identityType = a.policyType ?? 0
    }

    /// Whether `p` has these lifetime limits, attributes, selector families, interface and user,
    /// flags, share and first-template shape.
    func matches(_ p: XFRMPolicy) -> Bool {
        let s = p.selector
        guard flags == p.flags && share == p.share && selectorIfindex == s.ifindex && selectorUser == s.user
                && selectorFamily == s.family && selectorDestinationFamily == s.destination.family
                && selectorSourceFamily == s.source.family && lifetimeConfig == p.lifetimeConfig else { return false }
        let templates = p.attributes.templates
        if let h = templates.first {
            guard let mine = head, mine.matches(h) else { return false }
            var a = p.attributes
            a.templates = []
            return attributes == a
        }
        return head == nil && attributes == p.attributes
    }
}

/// A template without its addresses and reqid: what the templates of a run of policies share.
struct TemplateShape: Sendable, Hashable {
    var spi: UInt32
    var authAlgorithms: UInt32
    var encryptionAlgorithms: UInt32
    var compressionAlgorithms: UInt32
    var proto: IPsecProtocol
    var family: AddressFamily
    var destinationFamily: AddressFamily
    var sourceFamily: AddressFamily
    var mode: XFRMMode
    var share: UInt8
    var optional: Bool

    init(_ t: XFRMTemplate) {
        spi = t.spi; authAlgorithms = t.authAlgorithms; encryptionAlgorithms = t.encryptionAlgorithms
        compressionAlgorithms = t.compressionAlgorithms; proto = t.proto; family = t.family
        destinationFamily = t.destination.family; sourceFamily = t.source.family; mode = t.mode; share = t.share
        optional = t.optional
    }

    /// Whether `t` has this shape (its addresses' bytes and reqid aside).
    func matches(_ t: XFRMTemplate) -> Bool {
        spi == t.spi && authAlgorithms == t.authAlgorithms && encryptionAlgorithms == t.encryptionAlgorithms
            && compressionAlgorithms == t.compressionAlgorithms && proto == t.proto && family == t.family
            && destinationFamily == t.destination.family && sourceFamily == t.source.family && mode == t.mode
            && share == t.share && optional == t.optional
    }

    func template(destination: AddressWords, source: AddressWords, reqid: UInt32) -> XFRMTemplate {
        XFRMTemplate(destination: destination.address(destinationFamily), spi: spi, proto: proto, family: family,
                     source: source.address(sourceFamily), reqid: reqid, mode: mode, share: share, optional: optional,
                     authAlgorithms: authAlgorithms, encryptionAlgorithms: encryptionAlgorithms,
                     compressionAlgorithms: compressionAlgorithms)
    }
}

/// The 16 bytes of an address without its family (which a `PolicyCommon` keeps): 16 bytes inline
/// where an `IPAddress` takes 17, and 24 with the padding before the next 8-byte field.
struct AddressWords: Sendable, Hashable {
    var high: UInt64
    var low: UInt64

    init(_ a: IPAddress) { high = a.high; low = a.low }
    init() { high = 0; low = 0 }

    func address(_ family: AddressFamily) -> IPAddress { IPAddress(family: family, high: high, low: low) }
    /// Whether `a` has these bytes (whatever its family).
    func holds(_ a: IPAddress) -> Bool { a.high == high && a.low == low }
}

/// A policy's templates: the first one, then any others.
struct PolicyTemplates: RandomAccessCollection, Sendable {
    let head: XFRMTemplate?
    let rest: [XFRMTemplate]

    var startIndex: Int { 0 }
    var endIndex: Int { head == nil ? 0 : 1 + rest.count }
    subscript(i: Int) -> XFRMTemplate { i == 0 ? head! : rest[i - 1] }
}

/// What a policy holds beyond its inline fields in the rare cases the kernel does not produce:
/// a direction other than its index's low bits, an action other than allow or block, a port mask
/// other than none or all, non-zero byte or packet counts or a time beyond 32 bits, more than
/// one template. nil fields are the inline ones; `rest` is empty for one template or none.
struct PolicyOverrides: Sendable, Hashable {
    var direction: PolicyDirection?
    var action: UInt8?
    var destinationPortMask: UInt16?
    var sourcePortMask: UInt16?
    var counters: XFRMLifetimeCurrent?
    var rest: [XFRMTemplate] = []

    var isEmpty: Bool {
        direction == nil && action == nil && destinationPortMask == nil && sourcePortMask == nil && counters == nil
            && rest.isEmpty
    }
}

/// A policy's peers with its overrides, in one box of its own (immutable: a change builds a new one).
final class PolicyExtras: Sendable {
    let peers: [PeerKey]
    let overrides: PolicyOverrides
    init(peers: [PeerKey], overrides: PolicyOverrides) { self.peers = peers; self.overrides = overrides }
}

/// The one reference a policy has of its own: its peers, or its peers and overrides in a box.
/// Nearly every policy has no override: then it costs what the peer array costs (nothing while
/// the policy is attached to no peer).
enum PolicyTail: Sendable {
    case peers([PeerKey])
    case extras(PolicyExtras)
}

/// A policy with model bookkeeping.
///
/// Memory: 128 bytes inline. What differs from policy to policy is stored inline: the selector's
/// and the first template's address bytes, ports, prefix lengths and protocol, the reqid, priority,
/// index, add and use times (32 bits: the kernel's byte and packet counts of a policy are always
/// zero, only `xfrm_policy_insert` and lookups set its times). What consecutive policies have in
/// common lives in a shared `PolicyCommon`; what the kernel never produces (see `PolicyOverrides`)
/// in a box of the policy's own. The direction is the index's low three bits, as the kernel
/// numbers policies (`xfrm_gen_index`; a dump reports `index & 7` as the direction, and a new
/// policy whose index says another direction is refused); allow or block and the port masks
/// (none or all) are bits. `policy` rebuilds the full `XFRMPolicy`
/// exactly. Equality and hashing are by value. Fields are declared by alignment (Swift lays them
/// out in declaration order).
public struct PolicyEntry: Sendable, Hashable {
    var selectorDestination: AddressWords
    var selectorSource: AddressWords
    /// The first template's addresses (zero without templates).
    var templateDestination: AddressWords
    var templateSource: AddressWords
    var common: PolicyCommon
    var tail: PolicyTail
    public var firstSeen: ModelTime
    public var lastChanged: ModelTime
    /// `lifetimeCurrent`'s times when no override holds the counters.
    var addTime: UInt32
    var useTime: UInt32
    var priority: UInt32
    var index: UInt32
    /// The first template's reqid (0 without templates).
    var reqid: UInt32
    /// The policy dump (`LiveModel.policyGeneration`) that last listed this policy (bookkeeping:
    /// not part of equality or hashing).
    var seenInDump: UInt32 = 0
    var destinationPort: UInt16
    var sourcePort: UInt16
    var destinationPrefixLength: UInt8
    var sourcePrefixLength: UInt8
    var upperProtocol: UInt8
    /// `Bits`.
    var bits: UInt8

    /// The meaning of `bits`.
    enum Bits {
        static let softExpired: UInt8 = 1
        /// The direction is `index & 7`.
        static let directionFromIndex: UInt8 = 2
        /// Action 1 (block); without it, 0 (allow), unless an override says otherwise.
        static let block: UInt8 = 4
        /// Two bits each: 0 = mask 0, 1 = mask 0xFFFF, 2 = in the overrides.
        static let destinationMaskShift: UInt8 = 3
        static let sourceMaskShift: UInt8 = 5
    }

    public init(policy: XFRMPolicy, firstSeen: ModelTime, lastChanged: ModelTime, softExpired: Bool, peers: [PeerKey]) {
        self.init(policy: policy, common: PolicyCommon(policy), firstSeen: firstSeen, lastChanged: lastChanged,
                  softExpired: softExpired, peers: peers)
    }

    init(policy p: XFRMPolicy, common: PolicyCommon, firstSeen: ModelTime, lastChanged: ModelTime, softExpired: Bool,
         peers: [PeerKey]) {
        selectorDestination = AddressWords(); selectorSource = AddressWords()
        templateDestination = AddressWords(); templateSource = AddressWords()
        self.common = common
        tail = .peers(peers)
        self.firstSeen = firstSeen; self.lastChanged = lastChanged
        addTime = 0; useTime = 0; priority = 0; index = 0; reqid = 0
        destinationPort = 0; sourcePort = 0; destinationPrefixLength = 0; sourcePrefixLength = 0; upperProtocol = 0
        bits = softExpired ? Bits.softExpired : 0
        assign(p, common: common)
    }

    /// The kernel's policy, rebuilt. Setting it keeps the shared part when it still matches.
    public var policy: XFRMPolicy {
        get {
            var a = common.attributes
            a.templates = Array(templates)
            return XFRMPolicy(selector: selector, lifetimeConfig: common.lifetimeConfig, lifetimeCurrent: lifetimeCurrent,
                              priority: priority, index: index, direction: direction, action: action, flags: common.flags,
                              share: common.share, attributes: a)
        }
        set { assign(newValue, common: common.matches(newValue) ? common : PolicyCommon(newValue)) }
    }

    /// Replaces the kernel's policy; `common` must match it. The peers and the soft-expiry mark stay.
    mutating func assign(_ p: XFRMPolicy, common: PolicyCommon) {
        let s = p.selector
        selectorDestination = AddressWords(s.destination)
        selectorSource = AddressWords(s.source)
        destinationPort = s.destinationPort
        sourcePort = s.sourcePort
        destinationPrefixLength = s.destinationPrefixLength
        sourcePrefixLength = s.sourcePrefixLength
        upperProtocol = s.upperProtocol
        priority = p.priority
        index = p.index
        let templates = p.attributes.templates
        if let h = templates.first {
            templateDestination = AddressWords(h.destination)
            templateSource = AddressWords(h.source)
            reqid = h.reqid
        } else {
            templateDestination = AddressWords()
            templateSource = AddressWords()
            reqid = 0
        }
        self.common = common
        var o = PolicyOverrides()
        var b = bits & Bits.softExpired
        if p.direction.rawValue == UInt8(truncatingIfNeeded: p.index & 7) {
            b |= Bits.directionFromIndex
        } else {
            o.direction = p.direction
        }
        switch p.action {
        case 0: break
        case 1: b |= Bits.block
        default: o.action = p.action
        }
        switch s.destinationPortMask {
        case 0: break
        case 0xFFFF: b |= 1 << Bits.destinationMaskShift
        default: b |= 2 << Bits.destinationMaskShift; o.destinationPortMask = s.destinationPortMask
        }
        switch s.sourcePortMask {
        case 0: break
        case 0xFFFF: b |= 1 << Bits.sourceMaskShift
        default: b |= 2 << Bits.sourceMaskShift; o.sourcePortMask = s.sourcePortMask
        }
        bits = b
        o.counters = storeCounters(p.lifetimeCurrent)
        if templates.count > 1 { o.rest = Array(templates.dropFirst()) }
        setTail(peers: peers, overrides: o)
    }

    /// Stores counters inline when they fit (zero bytes and packets, 32-bit times); else returns
    /// them for the overrides.
    private mutating func storeCounters(_ c: XFRMLifetimeCurrent) -> XFRMLifetimeCurrent? {
        if c.bytes == 0 && c.packets == 0, let a = UInt32(exactly: c.addTime), let u = UInt32(exactly: c.useTime) {
            addTime = a
            useTime = u
            return nil
        }
        addTime = 0
        useTime = 0
        return c
    }

    private mutating func setTail(peers: [PeerKey], overrides: PolicyOverrides) {
        tail = overrides.isEmpty ? .peers(peers) : .extras(PolicyExtras(peers: peers, overrides: overrides))
    }

    private var extras: PolicyExtras? {
        if case .extras(let e) = tail { return e }
        return nil
    }

    /// The peers of a policy that has no template but its first (`reqid`, `templateSource`,
    /// `templateDestination`); nil for another policy. Read without building `templates`.
    var peersWithOneTemplateAtMost: [PeerKey]? {
        if case .peers(let p) = tail { return p }
        return nil
    }

    /// The peers this policy is attached to (through template reqid/addresses).
    public var peers: [PeerKey] {
        get {
            switch tail {
            case .peers(let p): return p
            case .extras(let e): return e.peers
            }
        }
        set {
            switch tail {
            case .peers: tail = .peers(newValue)
            case .extras(let e): tail = .extras(PolicyExtras(peers: newValue, overrides: e.overrides))
            }
        }
    }

    /// A soft POLEXPIRE was seen.
    public var softExpired: Bool {
        get { bits & Bits.softExpired != 0 }
        set { bits = newValue ? bits | Bits.softExpired : bits & ~Bits.softExpired }
    }

    var direction: PolicyDirection {
        if bits & Bits.directionFromIndex != 0 { return PolicyDirection(rawValue: UInt8(truncatingIfNeeded: index & 7)) }
        return extras?.overrides.direction ?? PolicyDirection(rawValue: 0)
    }

    var action: UInt8 {
        if bits & Bits.block != 0 { return 1 }
        return extras?.overrides.action ?? 0
    }

    var destinationPortMask: UInt16 { mask(bits >> Bits.destinationMaskShift & 3) { $0.destinationPortMask } }
    var sourcePortMask: UInt16 { mask(bits >> Bits.sourceMaskShift & 3) { $0.sourcePortMask } }

    private func mask(_ code: UInt8, _ override: (PolicyOverrides) -> UInt16?) -> UInt16 {
        switch code {
        case 0: return 0
        case 1: return 0xFFFF
        default: return extras.flatMap { override($0.overrides) } ?? 0
        }
    }

    var selector: XFRMSelector {
        let c = common
        return XFRMSelector(destination: selectorDestination.address(c.selectorDestinationFamily),
                            source: selectorSource.address(c.selectorSourceFamily), destinationPort: destinationPort,
                            destinationPortMask: destinationPortMask, sourcePort: sourcePort,
                            sourcePortMask: sourcePortMask, family: c.selectorFamily,
                            destinationPrefixLength: destinationPrefixLength, sourcePrefixLength: sourcePrefixLength,
                            upperProtocol: upperProtocol, ifindex: c.selectorIfindex, user: c.selectorUser)
    }

    /// Whether the selector is `s`, compared part by part (no selector is built).
    func hasSelector(_ s: XFRMSelector) -> Bool {
        let c = common
        return selectorDestination.holds(s.destination) && selectorSource.holds(s.source)
            && destinationPort == s.destinationPort && sourcePort == s.sourcePort
            && destinationPrefixLength == s.destinationPrefixLength && sourcePrefixLength == s.sourcePrefixLength
            && upperProtocol == s.upperProtocol && destinationPortMask == s.destinationPortMask
            && sourcePortMask == s.sourcePortMask && c.selectorFamily == s.family
            && c.selectorDestinationFamily == s.destination.family && c.selectorSourceFamily == s.source.family
            && c.selectorIfindex == s.ifindex && c.selectorUser == s.user
    }

    var templates: PolicyTemplates {
        PolicyTemplates(head: common.head?.template(destination: templateDestination, source: templateSource, reqid: reqid),
                        rest: extras?.overrides.rest ?? [])
    }

    /// The kernel's counters. Setting them keeps everything else.
    var lifetimeCurrent: XFRMLifetimeCurrent {
        get {
            if case .extras(let e) = tail, let c = e.overrides.counters { return c }
            return XFRMLifetimeCurrent(bytes: 0, packets: 0, addTime: UInt64(addTime), useTime: UInt64(useTime))
        }
        set {
            switch tail {
            case .peers:
                if let c = storeCounters(newValue) {
                    var o = PolicyOverrides()
                    o.counters = c
                    setTail(peers: peers, overrides: o)
                }
            case .extras(let e):
                var o = e.overrides
                o.counters = storeCounters(newValue)
                if o != e.overrides { setTail(peers: e.peers, overrides: o) }
            }
        }
    }

    /// Whether `p` differs from this policy in its counters (`lifetimeCurrent`) at most.
    func sameConfiguration(as p: XFRMPolicy) -> Bool {
        guard index == p.index && priority == p.priority && direction == p.direction && action == p.action
                && hasSelector(p.selector) else { return false }
        let templates = p.attributes.templates
        if let h = templates.first {
            guard templateDestination.holds(h.destination) && templateSource.holds(h.source) && reqid == h.reqid
            else { return false }
        }
        let rest = extras?.overrides.rest ?? []
        guard rest.count == max(templates.count - 1, 0) && templates.dropFirst().elementsEqual(rest) else { return false }
        return common.matches(p)
    }

    public var identity: PolicyIdentity {
        let c = common
        return PolicyIdentity(index: index, direction: direction, selector: selector, mark: c.identityMark,
                              ifID: c.identityIfID, type: c.identityType)
    }

    /// Whether `identity == id`, compared part by part (no identity is built).
    func hasIdentity(_ id: PolicyIdentity) -> Bool {
        let c = common
        return index == id.index && direction == id.direction && c.identityIfID == id.ifID
            && c.identityType == id.type && c.identityMark == id.mark && hasSelector(id.selector)
    }

    public static func == (l: PolicyEntry, r: PolicyEntry) -> Bool {
        l.firstSeen == r.firstSeen && l.lastChanged == r.lastChanged && l.softExpired == r.softExpired
            && l.peers == r.peers && l.lifetimeCurrent == r.lifetimeCurrent && l.policy == r.policy
    }

    public func hash(into h: inout Hasher) {
        h.combine(policy); h.combine(firstSeen); h.combine(lastChanged); h.combine(softExpired); h.combine(peers)
    }
}

/// Header figures for the dashboard.
public struct HeaderSummary: Sendable, Hashable {
    public var saCount: Int
    public var larvalCount: Int
    public var policyCount: Int
    public var peerCount: Int
    public var pendingAcquires: Int
    public var inboundRates: WindowedRates
    public var outboundRates: WindowedRates
    public var sync: SyncState
    public var lastRefresh: ModelTime?
    public var refreshInterval: Double
    public var paused: Bool
    /// Sum of xfrm_stat deltas at the last reading (errors since the previous one).
    public var xfrmStatErrors: UInt64
    public var capture: CaptureAvailability
    /// Number of resyncs since start.
    public var resyncCount: Int
}

/// Columns the SA table can sort by.
public enum SASortKey: String, Sendable, Hashable, CaseIterable, Codable {
    case identity, direction, source, destination, spi, reqid, proto, rate, bytes, packets, age, health, peer
}
