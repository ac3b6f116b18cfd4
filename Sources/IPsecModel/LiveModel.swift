import Collections
import XFRMWire

/// The live model of the kernel's XFRM state: a pure reducer.
///
/// Feed it with `apply(_:at:)` (or the functional `reduce`), passing the receive time of each input.
/// It never reads a clock and performs no I/O; what it needs done comes back as `ModelEffect`s.
///
/// Feeding order (see the README section in `docs/` or the report):
/// 1. Subscribe to the event socket, then `.dumpBegan(.sa)`, run the GETSA dump, `.saDump(states)`;
///    the same for policies. Feed events received meanwhile as they come: they are applied at once,
///    and when the dump completes their verdict wins over the dump's (a dump is a cursor walk):
///    SAs they removed are not resurrected, SAs they added or changed are not called stale.
/// 2. Every refresh interval: `.dumpBegan(.sa)` + `.saDump` again (counters and reconciliation).
/// 3. Every kernel event: `.kernel(message)`. ENOBUFS: `.resyncNeeded(reason:)`, then perform the
///    `.dumpSAs` / `.dumpPolicies` effects as in 1.
/// 4. Optionally `.xfrmStat(text)`, `.keepalive(observation)`, `.capture(...)`, `.action(result)`,
///    `.localAddresses(...)`, and `.tick` between refreshes.
public struct LiveModel: Sendable {
    public private(set) var configuration: ModelConfiguration

    /// SA entries; dead ones (`alive == false`) are reused through `freeEntries`.
    var entries: ContiguousArray<SAEntry> = []
    var freeEntries: [Int32] = []
    /// SAIdentity -> entry.
    var saIndex = SlotIndex()
    /// TunnelKey -> the tunnel's newest live entry.
    var tunnelIndex = SlotIndex()
    /// Tunnels whose last SA went away without a successor: their totals wait for one.
    var orphans: [TunnelKey: OrphanTunnel] = [:]
    /// Shared attribute sets and selectors.
    var boxes: [XFRMAttributes: AttributeBox] = [:]
    var selectors: [XFRMSelector: SelectorBox] = [:]
    /// Traffic of retired predecessors since their last sample, added to the heir's next sample (by entry slot).
    var carries: [Int32: TrafficTotals] = [:]
    var liveCount = 0
    var policyTable: [PolicyIdentity: PolicyEntry] = [:]
    var peerStates: [PeerKey: PeerState] = [:]
    var keepaliveByPeer: [PeerKey: KeepaliveTrack] = [:]
    var keepaliveByAddresses: [AddressPair: KeepaliveTrack] = [:]
    var peerCache: [PeerKey: PeerRecord] = [:]
    var timelineRing: Deque<TimelineEvent> = []
    var rateStore: RateStore
    var inferredLocal: Set<IPAddress> = []
    var interfaceLocal: Set<IPAddress> = []
    var pending: [PendingAcquire] = []
    var stat: XFRMStatSnapshot?
    var captureState: CaptureAvailability = .unknown
    var captureSince: ModelTime?
    var syncState: SyncState = .initialising
    var saDumpQueue: DumpQueue?
    var policyDumpQueue: DumpQueue?
    var resync: ResyncProgress?
    var saDumpCount = 0
    var policyDumpCount = 0
    var generation: UInt32 = 0
    var lastRefreshTime: ModelTime?
    var isPaused = false
    var links: Deque<RekeyLink> = []
    var globalHistory: Deque<HistoryPoint> = []
    var historyIndex = 0
    var historyRings = 0
    var capturePorts: [UInt16] = []
    var resyncs = 0
    var lastInputTime: ModelTime = 0
    var lastResyncDiff: ReconcileDiff?

    public init(configuration: ModelConfiguration = ModelConfiguration()) {
        self.configuration = configuration
        rateStore = RateStore(refreshInterval: configuration.refreshInterval)
        interfaceLocal = configuration.localAddresses
    }

    /// Functional form of `apply`: `(state, input, now) -> (state', effects)`.
    public static func reduce(_ state: LiveModel, _ input: ModelInput, at now: ModelTime) -> (LiveModel, [ModelEffect]) {
        var s = state
        let effects = s.apply(input, at: now)
        return (s, effects)
    }

    /// Applies one input received at `now`; returns what the executor should do.
    @discardableResult
    public mutating func apply(_ input: ModelInput, at now: ModelTime) -> [ModelEffect] {
        lastInputTime = max(lastInputTime, now)
        var effects: [ModelEffect] = []
        switch input {
        case .kernel(let message):
            applyKernel(message, at: now, replaying: false)
        case .dumpBegan(let kind):
            // A dump begun while another is unfinished keeps the older window (more conservative).
            switch kind {
            case .sa: saDumpQueue = saDumpQueue ?? DumpQueue(began: now)
            case .policy: policyDumpQueue = policyDumpQueue ?? DumpQueue(began: now)
            }
        case .saDump(let states):
            applySADump(states, at: now)
            derive(at: now, effects: &effects)
            recordHistory(at: now)
        case .policyDump(let policies):
            applyPolicyDump(policies, at: now)
            derive(at: now, effects: &effects)
        case .dumpFailed(let kind, let errno):
            switch kind {
            case .sa: saDumpQueue = nil
            case .policy: policyDumpQueue = nil
            }
            record(TimelineEvent(time: now, kind: .note, name: "DUMP-FAILED",
                                 summary: "\(kind.rawValue) dump failed (errno \(errno))"))
            // A resync still needs that dump: ask again.
            if resync != nil { effects.append(kind == .sa ? .dumpSAs : .dumpPolicies) }
        case .resyncNeeded(let reason):
            resync = ResyncProgress(since: now, reason: reason, saDone: false, policyDone: false)
            syncState = .resyncing(since: now, reason: reason)
            record(TimelineEvent(time: now, kind: .resync, name: "RESYNC",
                                 summary: "\(reason): re-dumping SAs and policies"))
            effects.append(.dumpSAs)
            effects.append(.dumpPolicies)
        case .xfrmStat(let text):
            applyXFRMStat(text, at: now)
        case .keepalive(let observation):
            applyKeepalive(observation)
        case .capture(let availability):
            if availability != captureState {
                captureState = availability
                switch availability {
                case .active:
                    captureSince = now
                    record(TimelineEvent(time: now, kind: .note, name: "CAPTURE", summary: "keepalive capture running"))
                case .unavailable(let reason):
                    captureSince = nil
                    record(TimelineEvent(time: now, kind: .note, name: "CAPTURE",
                                         summary: "keepalive capture unavailable (\(reason)): using kernel interval and LASTUSED"))
                case .unknown:
                    captureSince = nil
                }
            }
        case .action(let result):
            applyAction(result, at: now)
        case .localAddresses(let addresses):
            interfaceLocal = configuration.localAddresses.union(addresses)
            derive(at: now, effects: &effects)
        case .setRefreshInterval(let interval):
            configuration.refreshInterval = max(0.05, interval)
        case .setPaused(let paused):
            isPaused = paused
        case .tick:
            expireAcquires(at: now)
            derive(at: now, effects: &effects)
        }
        return effects
    }

    // MARK: - Timeline

    mutating func record(_ event: TimelineEvent) {
        let capacity = max(1, configuration.timelineCapacity)
        while timelineRing.count >= capacity { timelineRing.removeFirst() }
        timelineRing.append(event)
    }
}

/// Internal: what events did while a dump ran. Events are applied at once; when the dump
/// completes, an entry touched or removed by an event during the dump keeps the event's verdict
/// (same result as queueing the events and re-applying them after the dump, without applying twice).
struct DumpQueue: Sendable {
    var began: ModelTime
    /// SAs / policies removed by events during the dump: a dump record of them is outdated.
    var removedSAs: Set<SAIdentity> = []
    var removedPolicies: Set<PolicyIdentity> = []
}

struct ResyncProgress: Sendable {
    var since: ModelTime
    var reason: String
    var saDone: Bool
    var policyDone: Bool
    var diff = ReconcileDiff()
}

/// What a reconciliation changed.
public struct ReconcileDiff: Sendable, Hashable {
    public var addedSAs = 0
    public var staleSAs = 0
    public var addedPolicies = 0
    public var stalePolicies = 0
    public init() {}
    public var isEmpty: Bool { addedSAs == 0 && staleSAs == 0 && addedPolicies == 0 && stalePolicies == 0 }
    public var summary: String {
        "SAs +\(addedSAs) new -\(staleSAs) stale, policies +\(addedPolicies) new -\(stalePolicies) stale"
    }
}

/// Internal: a tunnel whose last SA went away without a successor (break-before-make rekey,
/// or the tunnel closed). A new SA of the same tunnel within the retention inherits its totals.
struct OrphanTunnel: Sendable {
    var totals: TrafficTotals
    var lastSPI: UInt32
    var time: ModelTime
}

/// Internal: per-peer state that survives refreshes.
struct PeerState: Sendable {
    var mappings: [MappingChange] = []
    var history: HistoryRing?
    var lastSeen: ModelTime
}

/// Internal: keepalives seen on the wire for a peer.
struct KeepaliveTrack: Sendable, Hashable {
    var lastSent: ModelTime?
    var lastReceived: ModelTime?
    var sentGap: Double?
    var receivedGap: Double?
}

struct AddressPair: Hashable, Sendable {
    var local: IPAddress
    var remote: IPAddress
}
