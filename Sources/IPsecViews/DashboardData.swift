import IPsecModel
import XFRMWire

/// A status level shared by keepalive, health and timeline entries; picks the theme role.
public enum StatusLevel: Int, Hashable, Sendable, Comparable {
    case none = 0, ok, warn, error
    public var role: ThemeRole {
        switch self {
        case .none: return .dim
        case .ok: return .ok
        case .warn: return .warn
        case .error: return .error
        }
    }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// Keepalive status of an SA or peer as the views show it.
public struct KeepaliveInfo: Hashable, Sendable {
    /// Short label: `OK`, `LATE`, `NONE`, `n/a`, ...
    public var label: String
    public var level: StatusLevel
    /// Why the status is what it is (one line).
    public var reason: String
    /// Kernel keepalive interval (XFRMA_NAT_KEEPALIVE_INTERVAL) in seconds.
    public var interval: UInt32?
    public var lastSent: Double?
    public var lastReceived: Double?
    public init(label: String, level: StatusLevel, reason: String, interval: UInt32? = nil,
                lastSent: Double? = nil, lastReceived: Double? = nil) {
        self.label = label; self.level = level; self.reason = reason; self.interval = interval
        self.lastSent = lastSent; self.lastReceived = lastReceived
    }
    public static let notApplicable = KeepaliveInfo(label: "n/a", level: .none, reason: "no UDP encapsulation")
}

/// One health flag (e.g. replay errors, integrity failures, near hard expiry).
public struct HealthFlag: Hashable, Sendable {
    /// Short code for table cells (`RPL`, `ICV`, `EXP`).
    public var code: String
    /// One-line explanation for detail panels.
    public var text: String
    public var level: StatusLevel
    public init(code: String, text: String, level: StatusLevel) { self.code = code; self.text = text; self.level = level }
}

/// A NAT mapping change seen for a peer (XFRM_MSG_MAPPING or a port change in a dump).
public struct PeerMappingChange: Hashable, Sendable {
    public var time: Double
    public var oldAddress: IPAddress, oldPort: UInt16
    public var newAddress: IPAddress, newPort: UInt16
    public init(time: Double, oldAddress: IPAddress, oldPort: UInt16, newAddress: IPAddress, newPort: UInt16) {
        self.time = time; self.oldAddress = oldAddress; self.oldPort = oldPort
        self.newAddress = newAddress; self.newPort = newPort
    }
}

/// One row of the SA table (one kernel SA with what the model derived from it).
public struct SARow: Hashable, Sendable {
    public var state: XFRMState
    /// The model's direction (XFRMA_SA_DIR, or inferred from local addresses).
    public var direction: SADirection?
    /// Bytes per second over the last refresh interval.
    public var byteRate: Double
    public var packetRate: Double
    public var keepalive: KeepaliveInfo
    public var health: [HealthFlag]
    /// The peer this SA belongs to (`PeerRow.id`).
    public var peerID: String?
    /// SPI this SA replaced at its last rekey.
    public var rekeyedFrom: UInt32?
    /// How the direction was decided (`XFRMA_SA_DIR`, `destination is local`, ...).
    public var directionSource: String?

    public init(state: XFRMState, direction: SADirection?, byteRate: Double = 0, packetRate: Double = 0,
                keepalive: KeepaliveInfo = .notApplicable, health: [HealthFlag] = [], peerID: String? = nil,
                rekeyedFrom: UInt32? = nil) {
        self.state = state; self.direction = direction; self.byteRate = byteRate; self.packetRate = packetRate
        self.keepalive = keepalive; self.health = health; self.peerID = peerID; self.rekeyedFrom = rekeyedFrom
    }
    public var id: SAIdentity { state.identity }
    public var healthLevel: StatusLevel { health.map(\.level).max() ?? .ok }
}

/// One peer (local <-> remote endpoint pair) with its SAs' aggregate.
public struct PeerRow: Hashable, Sendable {
    public var id: String
    public var local: IPAddress
    public var remote: IPAddress
    /// UDP encapsulation (local port, remote port as seen on the outbound SA), if any.
    public var encapsulation: XFRMEncapsulation?
    /// NAT detected (encapsulation present or the peer's port is not 4500).
    public var natDetected: Bool
    public var inboundSAs: Int
    public var outboundSAs: Int
    public var rateIn: Double
    public var rateOut: Double
    /// Bytes per second samples, oldest first, one per refresh.
    public var historyIn: [Double]
    public var historyOut: [Double]
    public var keepalive: KeepaliveInfo
    public var health: [HealthFlag]
    public var mappings: [PeerMappingChange]
    /// Total bytes over the tunnel's life, across rekeys.
    public var totalBytesIn: UInt64
    public var totalBytesOut: UInt64
    public var rekeys: Int

    public init(id: String, local: IPAddress, remote: IPAddress, encapsulation: XFRMEncapsulation? = nil,
                natDetected: Bool = false, inboundSAs: Int = 0, outboundSAs: Int = 0, rateIn: Double = 0,
                rateOut: Double = 0, historyIn: [Double] = [], historyOut: [Double] = [],
                keepalive: KeepaliveInfo = .notApplicable, health: [HealthFlag] = [], mappings: [PeerMappingChange] = [],
                totalBytesIn: UInt64 = 0, totalBytesOut: UInt64 = 0, rekeys: Int = 0) {
        self.id = id; self.local = local; self.remote = remote; self.encapsulation = encapsulation
        self.natDetected = natDetected; self.inboundSAs = inboundSAs; self.outboundSAs = outboundSAs
        self.rateIn = rateIn; self.rateOut = rateOut; self.historyIn = historyIn; self.historyOut = historyOut
        self.keepalive = keepalive; self.health = health; self.mappings = mappings
        self.totalBytesIn = totalBytesIn; self.totalBytesOut = totalBytesOut; self.rekeys = rekeys
    }
    public var healthLevel: StatusLevel { health.map(\.level).max() ?? .ok }
}

/// One policy row.
public struct PolicyRow: Hashable, Sendable {
    public var policy: XFRMPolicy
    /// Peer this policy's templates point at, if any.
    public var peerID: String?
    public init(policy: XFRMPolicy, peerID: String? = nil) { self.policy = policy; self.peerID = peerID }
}

/// One timeline entry (kernel event, model conclusion or action result).
public struct TimelineEntry: Hashable, Sendable {
    public var time: Double
    /// Short kind (`NEWSA`, `REKEY`, `MAPPING`, `DELETE`...).
    public var kind: String
    public var level: StatusLevel
    /// Free text; may contain kernel strings (sanitised when drawn).
    public var text: String
    public var peerID: String?
    public var sa: SAIdentity?
    public init(time: Double, kind: String, level: StatusLevel = .none, text: String, peerID: String? = nil,
                sa: SAIdentity? = nil) {
        self.time = time; self.kind = kind; self.level = level; self.text = text; self.peerID = peerID; self.sa = sa
    }
}

/// One `/proc/net/xfrm_stat` counter with its change since the previous read.
public struct StatCounter: Hashable, Sendable {
    public var name: String
    public var value: UInt64
    public var delta: UInt64
    public init(name: String, value: UInt64, delta: UInt64) { self.name = name; self.value = value; self.delta = delta }
}

/// The header line's facts.
public struct HeaderInfo: Hashable, Sendable {
    public var host: String
    public var netns: String
    public var kernel: String
    public var saCount: Int
    public var policyCount: Int
    public var rateIn: Double
    public var rateOut: Double
    /// `nil` when in sync; otherwise a short state (`resyncing: ENOBUFS`).
    public var resync: String?
    public var refreshInterval: Double
    public var paused: Bool
    /// Keepalive capture note (`capture off: no CAP_NET_RAW`), nil when active.
    public var captureNote: String?
    public init(host: String = "", netns: String = "", kernel: String = "", saCount: Int = 0, policyCount: Int = 0,
                rateIn: Double = 0, rateOut: Double = 0, resync: String? = nil, refreshInterval: Double = 1,
                paused: Bool = false, captureNote: String? = nil) {
        self.host = host; self.netns = netns; self.kernel = kernel; self.saCount = saCount
        self.policyCount = policyCount; self.rateIn = rateIn; self.rateOut = rateOut; self.resync = resync
        self.refreshInterval = refreshInterval; self.paused = paused; self.captureNote = captureNote
    }
}

/// Everything the dashboard draws, as plain values (built from the live model by
/// `DashboardData(model:...)` or directly in tests).
///
/// Built from the model, it holds a copy of the model (shared until the model changes) and builds
/// rows on demand: an SA row when it is read (the dashboard reads only the rows it draws), the
/// peer, policy and timeline lists when first read. Assigning a list replaces it with plain rows.
public struct DashboardData: Sendable {
    public var header: HeaderInfo
    public var sas: SARows
    public var xfrmStat: [StatCounter]
    var snapshot: ModelSnapshot?
    private var peerRows: [PeerRow]?
    private var policyRows: [PolicyRow]?
    private var timelineRows: [TimelineEntry]?

    public init(header: HeaderInfo = HeaderInfo(), sas: [SARow] = [], peers: [PeerRow] = [],
                policies: [PolicyRow] = [], timeline: [TimelineEntry] = [], xfrmStat: [StatCounter] = []) {
        self.init(header: header, sas: SARows(sas), peers: peers, policies: policies, timeline: timeline, xfrmStat: xfrmStat)
    }

    public init(header: HeaderInfo, sas: SARows, peers: [PeerRow] = [],
                policies: [PolicyRow] = [], timeline: [TimelineEntry] = [], xfrmStat: [StatCounter] = []) {
        self.header = header; self.sas = sas; self.peerRows = peers; self.policyRows = policies
        self.timelineRows = timeline; self.xfrmStat = xfrmStat
    }

    init(header: HeaderInfo, snapshot: ModelSnapshot, xfrmStat: [StatCounter]) {
        self.header = header; self.sas = SARows(snapshot: snapshot); self.snapshot = snapshot; self.xfrmStat = xfrmStat
    }

    public var peers: [PeerRow] {
        get { peerRows ?? snapshot?.peers ?? [] }
        set { peerRows = newValue }
    }

    public var policies: [PolicyRow] {
        get { policyRows ?? snapshot?.policies ?? [] }
        set { policyRows = newValue }
    }

    /// Oldest first.
    public var timeline: [TimelineEntry] {
        get { timelineRows ?? snapshot?.timeline ?? [] }
        set { timelineRows = newValue }
    }

    /// Non-zero xfrm_stat deltas (for the header).
    public var statErrors: [StatCounter] { xfrmStat.filter { $0.delta > 0 } }

    /// The same data without its reference to the model: the model's tables are not kept (what
    /// `Dashboard.update` compares with is in `Dashboard.saTracking`, not here). See
    /// `Dashboard.releaseModel()`.
    func releasingModel() -> DashboardData {
        guard let old = snapshot else { return self }
        var d = self
        let empty = ModelSnapshot(model: LiveModel(), now: old.now)
        d.snapshot = empty
        d.sas.snapshot = d.sas.snapshot.map { _ in empty }
        return d
    }

    /// The model the peer list is built from, while it is not plain rows.
    var peersFromModel: ModelSnapshot? { peerRows == nil ? snapshot : nil }

    /// The peer row with id `id` (from the model: only that row is built).
    func peer(id: String) -> PeerRow? {
        if peerRows == nil, let s = snapshot { return s.peerRow(id: id) }
        return peers.first { $0.id == id }
    }

    /// `policies.filter { $0.peerID == id }`.
    func policies(ofPeer id: String) -> [PolicyRow] {
        if policyRows == nil, let s = snapshot { return s.policies(ofPeer: id) }
        return policies.filter { $0.peerID == id }
    }
}
