import Collections
import XFRMWire

/// The live model of the kernel's XFRM state: a pure reducer.
///
/// Feed it with `apply(_:at:)` (or the functional `reduce`), passing the receive time of each input.
/// It never reads a clock and performs no I/O; what it needs done comes back as `ModelEffect`s.
///
/// Feeding order:
/// 1. Open and bind the event socket first. Then `.dumpBegan(.sa)`, run the GETSA dump, and feed the
///    complete dump as `.saDump(states)`; the same for policies (`.dumpBegan(.policy)`,
///    `.policyDump`). The first SA dump initialises the table (no timeline entries, counters as
///    the rate baseline). Feed events received during a dump as they come: they are applied at
///    once, and when the dump completes their verdict wins over the dump's records (a dump is a
///    cursor walk): SAs they removed are not resurrected, SAs they added or changed are not called
///    stale. This gives the result of "queue events, re-apply them idempotently after the dump"
///    without applying anything twice.
///    A dump may also be fed as it is received: `.saDumpPart` per datagram, then `.saDumpEnd`
///    (`.policyDumpPart`, `.policyDumpEnd` for policies; the live and replay sources do, and
///    nothing else is fed in between). `.dumpSizeHint` just before, with the kernel's count
///    (GETSADINFO / GETSPDINFO), lets such a dump size its tables once.
/// 2. Every refresh interval: `.dumpBegan(.sa)` + `.saDump` again. That refreshes counters and
///    rates and reconciles (SAs missing from the dump are removed, unknown ones added; a
///    difference is a "RECONCILED" timeline entry since events were lost).
/// 3. Every kernel event: `.kernel(message)`. On ENOBUFS: `.resyncNeeded(reason:)`, perform the
///    returned `.dumpSAs` / `.dumpPolicies` as in 1; when both re-dumps (begun after the request)
///    complete, the model records "RESYNCED" with what changed. `.dumpFailed` during a resync
///    asks for that dump again.
/// 4. `.tick` between refreshes (about once a second): the peer grouping, tunnel totals and health
///    are recomputed on `.saDump`, `.policyDump`, `.localAddresses` and on a `.tick` that follows
///    table changes; a `.tick` with no change since only re-evaluates what depends on time
///    (keepalive LATE, lifetimes, rekey age, acquire timeouts). Events update the SA table itself at
///    once, O(1) per event, so an event storm does not regroup per event. An SA dump does what a
///    `.tick` does (acquire timeouts, time-dependent status): a `.tick` right after a dump with no
///    event in between is unnecessary (the live source sends none).
/// 5. Optionally `.xfrmStat(text)`, `.keepalive(observation)`, `.capture(...)`, `.action(result)`,
///    `.localAddresses(...)`, `.setRefreshInterval`, `.setPaused`.
///
/// Memory (malloc in-use bytes at 100,000 larval SAs, 50,000 peers and 100,000 policies, release
/// build; `ipsectop-bench memory`): about 330 bytes per SA (a 232-byte entry with shared attribute
/// boxes and no box for a host selector nor for the fields few SAs set, `SAExtras`; hash indexes
/// of about 11 bytes per key; peer records by entry slot, with rates and totals only for peers that
/// have some) and about 170 per policy (a 128-byte entry, its shared part kept once). An SA that
/// carries traffic adds a 40 s rate ring of 16-bit samples with its last rates and deltas (about
/// 200 B); one with NAT-T, a mark, rekey links or inherited totals, its `SAExtrasBox`. A peer with
/// traffic gets a 10-minute history ring (8 B per point, 4.8 KB), for at most `historyPeerLimit`
/// peers (about 20 MB at most). No per-SA history is kept. A 100,000-SA refresh takes about 30 ms
/// of user time when nothing but counters changed, and a little more when a few SAs came or went
/// (only the peers of their addresses are regrouped: `deriveIncrementally`); a policy or
/// local-address change regroups every SA (about 100 ms; BENCHMARKS.md); a kernel event is O(1).
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
    /// Selector boxes by `XFRMSelector.mix64` (a one-word key: the selector itself is a large key to
    /// hash and move); a box is returned only when its selector is equal.
    var selectors: [UInt64: SelectorBox] = [:]
    /// Table sizes right after the last `pruneBoxes` that rebuilt them.
    var boxesAfterPrune = 0
    var selectorsAfterPrune = 0
    /// Traffic of retired predecessors since their last sample, added to the heir's next sample (by entry slot).
    var carries: [Int32: TrafficTotals] = [:]
    var liveCount = 0
    /// The last `SAEntry.serial` given.
    var entrySerial: UInt32 = 0
    /// The policies, with their indexes by identity and by the kernel's (index, direction).
    var policyTable = PolicyTable()
    /// The shared part of the last policy stored (`policyCommon(for:)`).
    var lastPolicyCommon: PolicyCommon?
    /// Bumped whenever a policy is added, removed or replaced (not for counters, peers, soft expiry):
    /// what `derive` computes from policies alone is cached against it.
    var policyVersion: UInt64 = 1
    /// Local addresses inferred from policies (`inferLocalAddresses`), valid for `policyLocalVersion`.
    var policyLocal: Set<IPAddress> = []
    var policyLocalVersion: UInt64 = 0
    var peerStates: [PeerKey: PeerState] = [:]
    var keepaliveByPeer: [PeerKey: KeepaliveTrack] = [:]
    var keepaliveByAddresses: [AddressPair: KeepaliveTrack] = [:]
    var peerCache = PeerCache()
    /// Something changed the tables since the last `derive` (a `.tick` then regroups fully).
    var derivedDirty = true
    /// Something that `derive` groups by may have changed since the last `derive`, beyond SAs added,
    /// removed or given a new configuration (those are `saStructureDirty`): a policy, a local
    /// address or a NAT mapping changed, a kernel event other than an SA event, an SA with
    /// XFRMA_SA_DIR changed, or too many SAs did. While it is false, `derive` regroups only the peers
    /// of touched SAs, or only re-aggregates counters, rates and status per cached peer.
    var structureDirty = true
    /// SAs were added, removed or reconfigured since the last derive, and nothing else `derive`
    /// groups by changed (`structureDirty` false): the next derive regroups only the peers of the
    /// address pairs in `touchedPairs` (`deriveIncrementally`).
    var saStructureDirty = false
    /// The address pairs (in `AddressPair.unordered` order) and entry slots of those SAs, as they
    /// were before and after each change; emptied by every derive.
    var touchedPairs: [AddressPair] = []
    var touchedSlots: [Int32] = []
    /// Whether a derive may regroup only the peers that SA changes touched (tests turn it off to
    /// compare with full derives).
    var allowsIncrementalDerive = true
    /// `derive` calls that regrouped only touched peers: statistics for tests and benchmarks.
    var incrementalDerives = 0
    /// Peer records replaced in place by incremental derives since the cache's slots were last
    /// gathered in one array (each holds its slots in a small array of its own).
    var detachedPeerRecords = 0
    /// Dumped SAs applied as counters only (configuration hash unchanged), and `derive` calls that
    /// only re-aggregated: statistics for tests and benchmarks.
    var counterOnlyRefreshes = 0
    var counterOnlyDerives = 0
    /// `derive` calls that regrouped every SA.
    var fullDerives = 0
    /// How the derives so far went (full regroup, touched peers only, counters only): for benchmarks.
    public var deriveCounts: (full: Int, incremental: Int, countersOnly: Int) {
        (fullDerives, incrementalDerives, counterOnlyDerives)
    }
    /// Entries whose counters moved in the last SA dump (read by `recordHistory`).
    var movedInDump: [Int32] = []
    /// Entry slot of each record of the last raw SA dump, in dump order (-1: not found).
    var dumpOrder: [Int32] = []
    var timelineRing: Deque<TimelineEvent> = []
    var timelineSequence: UInt64 = 0
    var rateStore: RateStore
    var inferredLocal: Set<IPAddress> = []
    var interfaceLocal: Set<IPAddress> = []
    var pending: [PendingAcquire] = []
    var stat: XFRMStatSnapshot?
    var captureState: CaptureAvailability = .unknown
    var captureSince: ModelTime?
    var syncState: SyncState = .initialising
    var saDumpQueue: DumpQueue?
    /// A GETSA dump being fed in parts (`saDumpPart`), until `saDumpEnd`.
    var saDumpCursor: SADumpCursor?
    /// The kernel's SA and policy counts fed by `dumpSizeHint`, for the next streamed dump's reservation.
    var saCountHint = 0
    var policyCountHint = 0
    var policyDumpQueue: DumpQueue?
    /// A GETPOLICY dump being fed in parts (`policyDumpPart`), until `policyDumpEnd`.
    var policyDumpCursor: PolicyDumpCursor?
    /// Numbers the policy dumps: an entry listed by the current one carries its number.
    var policyGeneration: UInt32 = 0
    /// Table position of each record of the last complete policy dump (the kernel lists them
    /// in the same order every time: the next dump checks that position first).
    var policyDumpOrder: [Int32] = []
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

    /// Drops the cursor of a streamed dump that will not end. What its parts applied stays (it is
    /// the kernel's word) and nothing is removed; as no derive followed those changes, the next
    /// `.tick` derives (a dump's end would have).
    mutating func abandonStreamedDump(_ kind: DumpKind) {
        switch kind {
        case .sa where saDumpCursor != nil: saDumpCursor = nil
        case .policy where policyDumpCursor != nil: policyDumpCursor = nil
        default: return
        }
        derivedDirty = true
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
            applyKernel(message, at: now)
            derivedDirty = true
            // SA events note the SAs they add, remove or reconfigure themselves (`touchSA`), for an
            // incremental derive; any other event regroups everything.
            if !isSAEvent(message) { structureDirty = true }
        case .dumpBegan(let kind):
            // A dump begun while another is unfinished keeps the older window (more conservative).
            switch kind {
            case .sa: saDumpQueue = saDumpQueue ?? DumpQueue(began: now)
            case .policy: policyDumpQueue = policyDumpQueue ?? DumpQueue(began: now)
            }
            abandonStreamedDump(kind) // a streamed dump that never ended
        case .saDump(let states):
            expireAcquires(at: now)
            applySADump(count: states.count, at: now) { each in
                for st in states { each(.state(st)) }
            }
            derive(at: now, effects: &effects)
            recordHistory(at: now)
        case .saDumpRaw(let dump):
            expireAcquires(at: now)
            applySADump(count: dump.count, at: now) { each in
                dump.forEachPayload { each(.raw($0)) }
            }
            derive(at: now, effects: &effects)
            recordHistory(at: now)
        case .saDumpPart(let part):
            var cursor: SADumpCursor
            if let c = saDumpCursor {
                cursor = c
                saDumpCursor = nil // (the cursor's arrays are then this copy's alone)
            } else {
                expireAcquires(at: now)
                cursor = startSADump(count: max(liveCount, part.count, saCountHint), at: now)
                saCountHint = 0
            }
            part.forEachPayload { feedSADump(&cursor, .raw($0)) }
            saDumpCursor = cursor
        case .saDumpEnd:
            let cursor: SADumpCursor
            if let c = saDumpCursor {
                cursor = c
            } else {
                expireAcquires(at: now)
                cursor = startSADump(count: 0, at: now)
            }
            saDumpCursor = nil
            finishSADump(cursor, at: now)
            derive(at: now, effects: &effects)
            recordHistory(at: now)
        case .dumpSizeHint(let kind, let count):
            // Bounded: a hint is only a reservation, and a wrong one must not cost unbounded memory.
            let n = min(max(count, 0), 1 << 22)
            switch kind {
            case .sa: saCountHint = n
            case .policy: policyCountHint = n
            }
        case .policyDump(let policies):
            applyPolicyDump(policies, at: now)
            derive(at: now, effects: &effects)
        case .policyDumpPart(let policies):
            var cursor: PolicyDumpCursor
            if let c = policyDumpCursor {
                cursor = c
                policyDumpCursor = nil // (the cursor's arrays are then this copy's alone)
            } else {
                cursor = startPolicyDump(count: max(policyTable.count, policies.count, policyCountHint), at: now)
                policyCountHint = 0
            }
            feedPolicyDump(&cursor, policies, at: now)
            policyDumpCursor = cursor
        case .policyDumpEnd:
            let cursor = policyDumpCursor ?? startPolicyDump(count: 0, at: now)
            policyDumpCursor = nil
            finishPolicyDump(cursor, at: now)
            derive(at: now, effects: &effects)
        case .dumpFailed(let kind, let errno):
            switch kind {
            case .sa: saDumpQueue = nil
            case .policy: policyDumpQueue = nil
            }
            abandonStreamedDump(kind)
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
                derivedDirty = true
                structureDirty = true
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
            structureDirty = true
        case .localAddresses(let addresses):
            interfaceLocal = configuration.localAddresses.union(addresses)
            structureDirty = true
            derive(at: now, effects: &effects)
        case .setRefreshInterval(let interval):
            configuration.refreshInterval = max(0.05, interval)
        case .setPaused(let paused):
            isPaused = paused
        case .tick:
            if expireAcquires(at: now) || derivedDirty {
                derive(at: now, effects: &effects)
            } else {
                reevaluate(at: now)
            }
        }
        return effects
    }

    // MARK: - Timeline

    mutating func record(_ event: TimelineEvent) {
        let capacity = max(1, configuration.timelineCapacity)
        while timelineRing.count >= capacity { timelineRing.removeFirst() }
        var e = event
        timelineSequence += 1
        e.sequence = timelineSequence
        timelineRing.append(e)
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

    func hash(into hasher: inout Hasher) { hasher.combine(Mix64.step(local.mix64, remote.mix64)) }
}

struct PolicyIndexKey: Hashable, Sendable {
    var index: UInt32
    var direction: UInt8
}
