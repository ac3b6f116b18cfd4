import XFRMWire

/// Key of the reverse-SA index used for direction pairing.
struct PairKey: Hashable, Sendable {
    var source: IPAddress
    var destination: IPAddress
    var reqid: UInt32

    func hash(into hasher: inout Hasher) {
        hasher.combine(Mix64.step(Mix64.step(source.mix64, destination.mix64), UInt64(reqid)))
    }
}

/// The peers of the last derivation, sorted by key, in an array (a dictionary of large records
/// would be mostly empty buckets) with a key -> position index of 8-byte buckets (a
/// `[PeerKey: Int32]` dictionary held a copy of every 56-byte key: 79 bytes per SA at 100,000 SAs).
struct PeerCache: Sendable {
    /// Records in key order; `deriveCounters` updates them in place (keys unchanged).
    var values: [PeerRecord] = []
    /// Rates and totals of the peers that have any (`PeerRecord.trafficIndex`): an idle peer keeps
    /// none (inline they took 80 bytes of every record).
    var traffic: [PeerTraffic] = []
    private var positions = SlotIndex()

    init() {}

    /// Records already in key order (keys unique), with the traffic their `trafficIndex` points into.
    init(sorted records: [PeerRecord], traffic: [PeerTraffic]) {
        values = records
        self.traffic = traffic
        positions.reserve(values.count)
        for (i, r) in values.enumerated() { positions.insert(Int32(i), hash: r.key.slotHash) }
    }

    /// The position of `key`'s record.
    func position(of key: PeerKey) -> Int? {
        let values = self.values
        return positions.find(hash: key.slotHash) { values[Int($0)].key == key }.map(Int.init)
    }

    subscript(key: PeerKey) -> PeerRecord? { position(of: key).map { values[$0] } }
    var count: Int { values.count }

    /// A record's rates and totals (zero for an idle peer).
    func traffic(of r: PeerRecord) -> PeerTraffic { r.trafficIndex < 0 ? .zero : traffic[Int(r.trafficIndex)] }
}

/// A peer's rates and totals by direction (undetermined SAs count as outbound).
struct PeerTraffic: Sendable {
    var inboundRates = PeerRates.zero
    var outboundRates = PeerRates.zero
    var inboundTotals = TrafficTotals.zero
    var outboundTotals = TrafficTotals.zero
    static let zero = PeerTraffic()

    var isZero: Bool {
        inboundRates.isZero && outboundRates.isZero && inboundTotals.isZero && outboundTotals.isZero
    }
}

/// Rates over the three windows in 32-bit floats: an SA's as `RateStore` keeps them, and a peer's
/// (24 bytes a direction instead of `WindowedRates`' 48), added up in the same precision by
/// `derive` and `deriveCounters`.
struct PeerRates: Sendable {
    var b2: Float = 0, p2: Float = 0, b10: Float = 0, p10: Float = 0, b40: Float = 0, p40: Float = 0
    static let zero = PeerRates()

    var isZero: Bool { b2 == 0 && p2 == 0 && b10 == 0 && p10 == 0 && b40 == 0 && p40 == 0 }

    /// Adds the rates of the SA in `entries[i]` (kept in `rates` under its rate slot).
    @inline(__always)
    mutating func add(_ i: Int, _ entries: ContiguousArray<SAEntry>, _ rates: RateStore) {
        let slot = entries[i].slot
        guard slot >= 0 else { return }
        let r = rates.computedRates(slot)
        b2 += r.b2; p2 += r.p2
        b10 += r.b10; p10 += r.p10
        b40 += r.b40; p40 += r.p40
    }

    var windowed: WindowedRates {
        WindowedRates(last2s: TrafficRate(bytesPerSecond: Double(b2), packetsPerSecond: Double(p2)),
                      last10s: TrafficRate(bytesPerSecond: Double(b10), packetsPerSecond: Double(p10)),
                      last40s: TrafficRate(bytesPerSecond: Double(b40), packetsPerSecond: Double(p40)))
    }
}

/// The SA slots of every peer of one derivation in one array (each peer a range of it: one
/// allocation per derivation instead of one or more per peer).
final class PeerSlots: Sendable {
    let slots: [Int32]
    init(_ slots: [Int32]) { self.slots = slots }
}

extension PeerCache {
    /// The position of the first record whose key is not below (`local`, `remote`, port 0).
    func firstPosition(local: IPAddress, remote: IPAddress) -> Int {
        let probe = PeerKey(local: local, remote: remote, remotePort: 0)
        var lo = 0, hi = values.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if values[mid].key < probe { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

/// A peer as cached by `derive`: SAs by entry slot (4 bytes each); `PeerSummary` is built on read.
struct PeerRecord: Sendable {
    var key: PeerKey
    /// The peer's SA slots: a range of the derivation's shared array, inbound first, then
    /// outbound, then undetermined.
    private let store: PeerSlots
    private let start: Int32
    private let inboundCount: Int32
    private let outboundCount: Int32
    private let slotCount: Int32
    var inbound: ArraySlice<Int32> { store.slots[Int(start)..<Int(start + inboundCount)] }
    var outbound: ArraySlice<Int32> {
        store.slots[Int(start + inboundCount)..<Int(start + inboundCount + outboundCount)]
    }
    var undetermined: ArraySlice<Int32> {
        store.slots[Int(start + inboundCount + outboundCount)..<Int(start + slotCount)]
    }
    /// Every slot: `inbound`, then `outbound`, then `undetermined`.
    var allSlots: ArraySlice<Int32> { store.slots[Int(start)..<Int(start + slotCount)] }
    /// (reqid, inbound slot, outbound slot), -1 for none.
    var pairs: [(UInt32, Int32, Int32)]
    var policies: [PolicyIdentity]
    /// Position of the peer's rates and totals in `PeerCache.traffic`; -1 when all are zero.
    var trafficIndex: Int32
    /// NAT-T detail, boxed: most peers have none, and inline it took 96 bytes of every record.
    var natBox: NATBox?
    var nat: NATTraversal? { natBox?.value }
    /// `nat?.encapsulation.type`, kept apart: reading it through `nat` copied the whole record.
    var encapsulationType: EncapsulationType?
    var health: HealthFlags
    // No keepalive verdict (96 bytes, with text) nor its inputs: `LiveModel.keepaliveStatus(of:at:)`
    // evaluates it from the peer's live SAs when read.

    /// `slots`: the shared array, where this peer's inbound, outbound and undetermined SAs are
    /// `counts.0`, `.1` and `.2` slots from `start` on.
    init(key: PeerKey, slots: PeerSlots, start: Int32, counts: (Int32, Int32, Int32), pairs: [(UInt32, Int32, Int32)],
         policies: [PolicyIdentity], trafficIndex: Int32, natBox: NATBox?, encapsulationType: EncapsulationType?,
         health: HealthFlags) {
        self.key = key
        store = slots
        self.start = start
        (inboundCount, outboundCount) = (counts.0, counts.1)
        slotCount = counts.0 + counts.1 + counts.2
        self.pairs = pairs; self.policies = policies; self.trafficIndex = trafficIndex; self.natBox = natBox
        self.encapsulationType = encapsulationType; self.health = health
    }

    /// The same record with its slots found from `start` on in `slots` (in the same order).
    func moved(to slots: PeerSlots, start: Int32) -> PeerRecord {
        PeerRecord(key: key, slots: slots, start: start,
                   counts: (inboundCount, outboundCount, slotCount - inboundCount - outboundCount), pairs: pairs,
                   policies: policies, trafficIndex: trafficIndex, natBox: natBox,
                   encapsulationType: encapsulationType, health: health)
    }
}

final class NATBox: Sendable {
    let value: NATTraversal
    init(_ value: NATTraversal) { self.value = value }
}

struct PeerBuilder {
    /// Numbers of SAs by direction (their slots are gathered once all peers are known).
    var inboundCount: Int32 = 0
    var outboundCount: Int32 = 0
    var undeterminedCount: Int32 = 0
    var inRates = PeerRates.zero
    var outRates = PeerRates.zero
    var inTotals = TrafficTotals.zero
    var outTotals = TrafficTotals.zero
    var health: HealthFlags = []
    var encapOut: XFRMEncapsulation?
    var encapIn: XFRMEncapsulation?
    /// reqid -> newest (add time, slot) per direction.
    /// Small lists, not dictionaries: a peer has few reqids, and a dictionary per peer cost an
    /// allocation and hashing per SA.
    var pairIn = ReqidSlots()
    var pairOut = ReqidSlots()
    var policies: [PolicyIdentity] = []
    /// reqids of larval and per-CPU SAs (not paired, but policies still attach through them).
    var otherReqids = FewReqids()
}

/// A few reqids, the first inline (a peer's larval SAs have one: an array cost an allocation per peer).
struct FewReqids {
    private var first: UInt32?
    private var rest: [UInt32] = []

    func contains(_ r: UInt32) -> Bool { first == r || (!rest.isEmpty && rest.contains(r)) }

    mutating func insert(_ r: UInt32) {
        if contains(r) { return }
        if first == nil { first = r } else { rest.append(r) }
    }

    func forEach(_ body: (UInt32) -> Void) {
        guard let f = first else { return }
        body(f)
        for r in rest { body(r) }
    }
}

extension LiveModel {
    func isLocal(_ a: IPAddress) -> Bool { interfaceLocal.contains(a) || inferredLocal.contains(a) }

    /// Direction rule, in order:
    /// 1. XFRMA_SA_DIR when present;
    /// 2. destination local and source not: inbound; source local and destination not: outbound.
    ///    Local addresses are the interface addresses fed with `.localAddresses`, plus those inferred
    ///    from policies (outbound templates' source, inbound/forward templates' destination; for
    ///    transport-mode templates without addresses, the host selector's side) and from SAs carrying
    ///    XFRMA_SA_DIR (an outbound SA's source, an inbound SA's destination);
    /// 3. the reverse SA (addresses swapped, same reqid) has a direction: the opposite one;
    /// 4. otherwise undetermined (grouped as if outbound: local = source).
    func classify(_ e: inout SAEntry) {
        (e.direction, e.directionSource) = direction(attribute: e.directionAttribute, source: e.source,
                                                     destination: e.destination)
    }

    func direction(attribute: SADirection?, source: IPAddress, destination: IPAddress) -> (SADirection?, DirectionSource) {
        LiveModel.direction(attribute: attribute, source: source, destination: destination,
                            interfaceLocal: interfaceLocal, inferredLocal: inferredLocal)
    }

    /// `direction(attribute:source:destination:)` with the local address sets passed in: loops of a
    /// mutating method call this one (a method call on the model there copies the whole model).
    static func direction(attribute: SADirection?, source: IPAddress, destination: IPAddress,
                          interfaceLocal: Set<IPAddress>, inferredLocal: Set<IPAddress>) -> (SADirection?, DirectionSource) {
        if let d = attribute { return (d, .attribute) }
        func isLocal(_ a: IPAddress) -> Bool { interfaceLocal.contains(a) || inferredLocal.contains(a) }
        let dl = isLocal(destination), sl = isLocal(source)
        if dl && !sl { return (.inbound, .localDestination) }
        if sl && !dl { return (.outbound, .localSource) }
        return (nil, .unknown)
    }

    mutating func inferLocalAddresses() {
        if policyLocalVersion != policyVersion {
            policyLocal = localAddressesFromPolicies()
            policyLocalVersion = policyVersion
        }
        var local = policyLocal
        for i in entries.indices where entries[i].alive {
            switch entries[i].directionAttribute {
            case .outbound?: local.insert(entries[i].source)
            case .inbound?: local.insert(entries[i].destination)
            case nil: break
            }
        }
        if local != inferredLocal { inferredLocal = local }
    }

    /// The policy part of `inferLocalAddresses` (depends on the policy table only).
    func localAddressesFromPolicies() -> Set<IPAddress> {
        var local = Set<IPAddress>()
        for pol in policyTable.values {
            for t in pol.templates {
                switch pol.direction {
                case .outbound:
                    if !t.source.isZero { local.insert(t.source) }
                    else if t.mode == .transport && isHostPrefix(pol.selector.sourcePrefixLength, pol.selector.family) {
                        local.insert(pol.selector.source)
                    }
                case .inbound, .forward:
                    if !t.destination.isZero { local.insert(t.destination) }
                    else if t.mode == .transport && pol.direction == .inbound
                                && isHostPrefix(pol.selector.destinationPrefixLength, pol.selector.family) {
                        local.insert(pol.selector.destination)
                    }
                default:
                    break
                }
            }
        }
        return local
    }

    func isHostPrefix(_ len: UInt8, _ family: AddressFamily) -> Bool {
        family == .inet6 ? len == 128 : len == 32
    }

    /// Recomputes everything derived: directions, peers, tunnel totals, health, keepalive status,
    /// policy attachment. O(SAs + policies). When only SAs came, went or changed since the last
    /// derive, only their peers are regrouped (`deriveIncrementally`, same result); when nothing
    /// structural changed, only counters are re-aggregated (`deriveCounters`).
    mutating func derive(at now: ModelTime, effects: inout [ModelEffect]) {
        if !structureDirty {
            if !saStructureDirty {
                deriveCounters(at: now)
                counterOnlyDerives += 1
                derivedDirty = false
                return
            }
            if deriveIncrementally(at: now, effects: &effects) {
                incrementalDerives += 1
                return
            }
        }
        structureDirty = false
        fullDerives += 1
        saStructureDirty = false
        touchedPairs = []
        touchedSlots = []
        detachedPeerRecords = 0
        inferLocalAddresses()

        assignDirections(entries.indices.filter { entries[$0].alive })

        updateTunnelTotals()

        for i in entries.indices where entries[i].alive && entries[i].perCPU != nil { linkParent(i) }

        // Health (all but one-way), then peers. Builders live in an array found through a small
        // key -> position table (a dictionary of large builders moved them on every resize).
        var builders = ContiguousArray<PeerBuilder>()
        var builderKeys: [PeerKey] = []
        var builderIndex: [PeerKey: Int32] = [:]
        // At most one peer per SA; the previous derivation's count is the usual size.
        let expectedPeers = peerCache.count > 0 ? peerCache.count : liveCount / 2
        builders.reserveCapacity(expectedPeers)
        builderKeys.reserveCapacity(expectedPeers)
        builderIndex.reserveCapacity(expectedPeers)
        // Each live SA's builder (-1: dead slot); the peers' slot lists are gathered from it at the end.
        var builderOf = [Int32](repeating: -1, count: entries.count)
        for i in entries.indices where entries[i].alive {
            entries[i].health = LiveModel.healthFlags(at: i, now: now, pending: pending, entries: entries, index: saIndex)
            // Fields read in place (a copy of the whole entry per SA cost more than the grouping).
            let peer = entries[i].peer
            let b: Int
            if let known = builderIndex[peer] {
                b = Int(known)
            } else {
                b = builders.count
                builderIndex[peer] = Int32(b)
                builders.append(PeerBuilder())
                builderKeys.append(peer)
            }
            builderOf[i] = Int32(b)
            let direction = entries[i].direction
            builders[b].add(i, entries, totals: entries[i].totals)
            if direction == .inbound {
                builders[b].inRates.add(i, entries, rateStore)
            } else {
                builders[b].outRates.add(i, entries, rateStore)
            }
            // Retired SAs of the tunnel count for the peer (once: on the tunnel's newest SA).
            let inherited = LiveModel.inheritedShare(i, entries: entries, index: saIndex)
            if !inherited.isZero {
                if direction == .inbound {
                    builders[b].inTotals = builders[b].inTotals + inherited
                } else {
                    builders[b].outTotals = builders[b].outTotals + inherited
                }
            }
        }
        if !orphans.isEmpty {
            orphans = orphans.filter { now - $0.value.time <= configuration.tunnelRetention }
        }

        // One-way traffic: inbound/outbound pair of a reqid where only one side moved in 10 s.
        if rateStore.windowSpans[1] >= 5 {
            for b in builders.indices {
                for (reqid, _, si) in builders[b].pairIn.items {
                    guard let so = builders[b].pairOut[reqid] else { continue }
                    markOneWay(inbound: Int(si), outbound: Int(so), at: now)
                }
            }
        }

        // Policies attach to peers through template reqid (or template addresses). The peers of a
        // reqid and of an address pair are chains of builder indices (`next...`), not arrays: one
        // allocation per derivation instead of one per peer.
        var reqidHead: [UInt32: Int32] = [:]
        var reqidNodes: [(builder: Int32, next: Int32)] = []
        var addressHead: [AddressPair: Int32] = [:]
        var addressNext: [Int32] = []
        if !policyTable.isEmpty {
            reqidHead.reserveCapacity(builders.count)
            reqidNodes.reserveCapacity(builders.count)
            addressHead.reserveCapacity(builders.count)
            addressNext = [Int32](repeating: -1, count: builders.count)
            for b in builders.indices {
                builders[b].forEachReqid { r in
                    reqidNodes.append((Int32(b), reqidHead[r] ?? -1))
                    reqidHead[r] = Int32(reqidNodes.count - 1)
                }
                let pair = AddressPair(local: builderKeys[b].local, remote: builderKeys[b].remote)
                addressNext[b] = addressHead[pair] ?? -1
                addressHead[pair] = Int32(b)
            }
        }
        // Scratch lists of builder indices, reused from policy to policy.
        var candidates: [Int32] = [], viaAddresses: [Int32] = [], attachedBuilders: [Int32] = []
        func addressChain(_ pair: AddressPair, into list: inout [Int32]) {
            var b = addressHead[pair] ?? -1
            while b >= 0 { list.append(b); b = addressNext[Int(b)] }
        }
        // A manual index walk: `policyTable.indices` would hold a reference to the table, and the
        // first write below would then copy the whole dictionary.
        var idx = policyTable.startIndex
        while idx != policyTable.endIndex {
            defer { policyTable.formIndex(after: &idx) }
            attachedBuilders.removeAll(keepingCapacity: true)
            for t in policyTable.values[idx].templates {
                candidates.removeAll(keepingCapacity: true)
                if t.reqid != 0 {
                    var n = reqidHead[t.reqid] ?? -1
                    while n >= 0 { candidates.append(reqidNodes[Int(n)].builder); n = reqidNodes[Int(n)].next }
                }
                if !t.source.isZero && !t.destination.isZero {
                    viaAddresses.removeAll(keepingCapacity: true)
                    addressChain(AddressPair(local: t.source, remote: t.destination), into: &viaAddresses)
                    addressChain(AddressPair(local: t.destination, remote: t.source), into: &viaAddresses)
                    if t.reqid != 0 {
                        candidates.removeAll { !viaAddresses.contains($0) }
                    } else {
                        swap(&candidates, &viaAddresses)
                    }
                }
                for c in candidates where !attachedBuilders.contains(c) { attachedBuilders.append(c) }
            }
            let attached = attachedBuilders.isEmpty ? [] : attachedBuilders.map { builderKeys[Int($0)] }.sorted()
            if policyTable.values[idx].peers != attached { policyTable.values[idx].peers = attached }
            if !attachedBuilders.isEmpty {
                let id = policyTable.values[idx].identity
                for b in attachedBuilders { builders[Int(b)].policies.append(id) }
            }
        }

        // Summaries, built in key order (the cache's order): sorting keys, not records.
        let order = builderKeys.indices.sorted { builderKeys[$0] < builderKeys[$1] }
        // The peers' slot lists, in one array: each peer's range in key order, inbound, then
        // outbound, then undetermined, each in slot order (the order the SAs were grouped in).
        var cursor = [Int32](repeating: 0, count: builders.count * 3)
        var total: Int32 = 0
        for b in order {
            cursor[3 * b] = total
            cursor[3 * b + 1] = total + builders[b].inboundCount
            cursor[3 * b + 2] = total + builders[b].inboundCount + builders[b].outboundCount
            total += builders[b].inboundCount + builders[b].outboundCount + builders[b].undeterminedCount
        }
        var flat = [Int32](repeating: -1, count: Int(total))
        for i in entries.indices where builderOf[i] >= 0 {
            let c = 3 * Int(builderOf[i]) + (entries[i].direction == .inbound ? 0 : entries[i].direction == .outbound ? 1 : 2)
            flat[Int(cursor[c])] = Int32(i)
            cursor[c] += 1
        }
        let store = PeerSlots(flat)
        var records: [PeerRecord] = []
        records.reserveCapacity(builders.count)
        var traffic: [PeerTraffic] = []
        var start: Int32 = 0
        for b in order {
            let key = builderKeys[b]
            var health: HealthFlags = []
            let position = Int32(records.count)
            let end = start + builders[b].inboundCount + builders[b].outboundCount + builders[b].undeterminedCount
            for k in Int(start)..<Int(end) {
                let s = Int(flat[k])
                health.formUnion(entries[s].health)
                entries[s].peerIndex = position
            }
            let t = PeerTraffic(inboundRates: builders[b].inRates, outboundRates: builders[b].outRates,
                                inboundTotals: builders[b].inTotals, outboundTotals: builders[b].outTotals)
            var trafficIndex: Int32 = -1
            if !t.isZero {
                trafficIndex = Int32(traffic.count)
                traffic.append(t)
            }
            records.append(peerRecord(builders[b], key: key, slots: store, start: start, trafficIndex: trafficIndex,
                                      health: health))
            start = end
            touchPeerState(key, at: now)
        }
        peerCache = PeerCache(sorted: records, traffic: traffic)
        forgetStalePeerState(at: now)
        updateCapturePorts(peerCache.values, effects: &effects)
        derivedDirty = false
    }

    /// The direction of each SA in `slots` (live entries): rules 1-2 of `classify`, then pairing
    /// with the reverse SA among `slots` (rule 3) for those still unknown. The reverse SA has the
    /// same address pair, so any set of whole address pairs can be classified on its own.
    mutating func assignDirections(_ slots: [Int]) {
        var unknown = false
        let ifLocal = interfaceLocal, infLocal = inferredLocal
        for i in slots {
            let (d, source) = LiveModel.direction(attribute: entries[i].directionAttribute, source: entries[i].source,
                                                  destination: entries[i].destination,
                                                  interfaceLocal: ifLocal, inferredLocal: infLocal)
            entries[i].direction = d
            entries[i].directionSource = source
            if d == nil { unknown = true }
        }
        guard unknown else { return }
        var pairs: [PairKey: SADirection] = [:]
        for i in slots {
            if let d = entries[i].direction {
                pairs[PairKey(source: entries[i].source, destination: entries[i].destination, reqid: entries[i].reqid)] = d
            }
        }
        for i in slots where entries[i].direction == nil {
            if let d = pairs[PairKey(source: entries[i].destination, destination: entries[i].source, reqid: entries[i].reqid)] {
                entries[i].direction = d == .inbound ? .outbound : .inbound
                entries[i].directionSource = .pairing
            }
        }
    }

    /// A peer's record from its builder: NAT-T detail, paired reqids, counts and sorted policies.
    func peerRecord(_ b: PeerBuilder, key: PeerKey, slots: PeerSlots, start: Int32, trafficIndex: Int32,
                    health: HealthFlags) -> PeerRecord {
        let nat = natTraversal(key: key, encapOut: b.encapOut, encapIn: b.encapIn)
        let pairList = b.pairedReqids.map { ($0, b.pairIn[$0] ?? -1, b.pairOut[$0] ?? -1) }
        return PeerRecord(key: key, slots: slots, start: start,
                          counts: (b.inboundCount, b.outboundCount, b.undeterminedCount), pairs: pairList,
                          policies: sortedPolicies(b.policies), trafficIndex: trafficIndex,
                          natBox: nat.map(NATBox.init), encapsulationType: nat?.encapsulation.type, health: health)
    }

    /// Asks the keepalive capture for the NAT-T ports of `peers` (an effect only when they changed).
    mutating func updateCapturePorts<S: Sequence>(_ peers: S, effects: inout [ModelEffect]) where S.Element == PeerRecord {
        var ports = Set<UInt16>()
        for r in peers {
            if let n = r.nat {
                ports.insert(n.localPort)
                ports.insert(n.remotePort)
            }
        }
        let sorted = ports.filter { $0 != 0 }.sorted()
        if sorted != capturePorts {
            capturePorts = sorted
            effects.append(.setKeepaliveCapturePorts(sorted))
        }
    }

    /// Links a per-CPU SA (XFRMA_SA_PCPU) to its parent: the newest SA of the same tunnel without one.
    mutating func linkParent(_ i: Int) {
        var key = entries[i].tunnelKey
        key.cpu = nil
        if let p = newestInTunnel(key, hash: key.hashValue) {
            entries[i].hasParent = true
            entries[i].parentSPI = entries[Int(p)].spi
        } else {
            entries[i].hasParent = false
        }
    }

    /// Tunnel totals: the newest SA's inherited totals plus every live SA of the chain.
    mutating func updateTunnelTotals() {
        for i in entries.indices where entries[i].alive { updateTunnelTotals(i) }
    }

    /// `updateTunnelTotals()` for one live entry: the newest SA of a chain sets the chain's totals.
    mutating func updateTunnelTotals(_ i: Int) {
        if entries[i].hasSuccessor
            && LiveModel.lookup(entries[i].sibling(entries[i].successorSPI), entries: entries, index: saIndex) != nil {
            return
        }
        var total = entries[i].inherited + entries[i].totals
        var chain: [Int32] = []
        var cur = i // read in place: entries are large
        while entries[cur].hasPredecessor, !entries[cur].predecessorGone, chain.count < 8 {
            guard let p = LiveModel.lookup(entries[cur].sibling(entries[cur].predecessorSPI), entries: entries,
                                           index: saIndex) else {
                entries[cur].predecessorGone = true
                break
            }
            chain.append(p)
            cur = Int(p)
            total = total + entries[cur].totals
        }
        entries[i].tunnelTotals = total
        for p in chain { entries[Int(p)].tunnelTotals = total }
    }

    /// Notes that a peer's state (if it has one) is still current: one hash, in place (testing for
    /// the state first copied it, with its history ring and mappings, and hashed twice).
    @inline(__always)
    mutating func touchPeerState(_ key: PeerKey, at now: ModelTime) {
        if !peerStates.isEmpty, let i = peerStates.index(forKey: key) { peerStates.values[i].lastSeen = now }
    }

    /// Per-peer state of peers gone for longer than the retention, and keepalives seen for no
    /// current peer, are forgotten.
    mutating func forgetStalePeerState(at now: ModelTime) {
        let cache = peerCache
        if peerStates.count > cache.count {
            peerStates = peerStates.filter { cache[$0.key] != nil || now - $0.value.lastSeen <= configuration.tunnelRetention }
            historyRings = peerStates.values.reduce(0) { $0 + ($1.history == nil ? 0 : 1) }
        }
        if keepaliveByPeer.count > cache.count + 64 {
            keepaliveByPeer = keepaliveByPeer.filter { k, t in
                cache[k] != nil || now - max(t.lastSent ?? -.infinity, t.lastReceived ?? -.infinity) <= configuration.tunnelRetention
            }
            keepaliveByAddresses = keepaliveByAddresses.filter { _, t in
                now - max(t.lastSent ?? -.infinity, t.lastReceived ?? -.infinity) <= configuration.tunnelRetention
            }
        }
    }

    /// `derive` when nothing it groups by changed since the last one (`structureDirty` and
    /// `saStructureDirty` false:
    /// the same SAs with the same configuration, directions, links and policies): the cached peers
    /// keep their SAs, pairs, policies and NAT data; what counters and time change is recomputed
    /// the same way `derive` computes it (tunnel totals, health with one-way traffic, per-peer rates,
    /// totals, last use, keepalive verdict).
    ///
    /// `remap`: after `deriveIncrementally`, each SA's `peerIndex` is a position in it, holding the
    /// SA's peer's position in the new cache (written back to the entry).
    mutating func deriveCounters(at now: ModelTime, remap: [Int32]? = nil) {
        // One sequential pass over the SAs: tunnel totals, health, and the sums of each SA's peer
        // (in slot order, the order in which `derive` adds them), added up in the cached peer
        // records themselves. Walking each peer's SAs instead reads the entries in random order:
        // at 100,000 SAs that cost more than everything else.
        var cache = peerCache
        peerCache = PeerCache()
        for p in cache.values.indices {
            cache.values[p].trafficIndex = -1
            cache.values[p].health = []
        }
        // Sums only for peers with an SA that has a rate slot or totals (the others stay idle).
        var traffic = cache.traffic
        cache.traffic = []
        traffic.removeAll(keepingCapacity: true)
        let peers = cache.values.count
        // Tables the loop reads, taken out of `self` once: read inside the closure (which holds
        // `self` inout) each was copied, with a retain of every array it holds, once per SA.
        let rates = rateStore, pending = pending
        cache.values.withUnsafeMutableBufferPointer { sums in
            for i in entries.indices where entries[i].alive {
                updateTunnelTotals(i)
                let health = LiveModel.healthFlags(at: i, now: now, pending: pending, entries: entries, index: saIndex)
                entries[i].health = health
                var p = Int(entries[i].peerIndex)
                if let remap {
                    p = p >= 0 && p < remap.count ? Int(remap[p]) : -1
                    entries[i].peerIndex = Int32(p)
                }
                guard p >= 0 && p < peers else { continue }
                let share = entries[i].totals + LiveModel.inheritedShare(i, entries: entries, index: saIndex)
                sums[p].health.formUnion(health)
                guard entries[i].slot >= 0 || !share.isZero else { continue }
                var t = Int(sums[p].trafficIndex)
                if t < 0 {
                    t = traffic.count
                    sums[p].trafficIndex = Int32(t)
                    traffic.append(.zero)
                }
                if entries[i].direction == .inbound {
                    traffic[t].inboundRates.add(i, entries, rates)
                    traffic[t].inboundTotals = traffic[t].inboundTotals + share
                } else {
                    traffic[t].outboundRates.add(i, entries, rates)
                    traffic[t].outboundTotals = traffic[t].outboundTotals + share
                }
            }
        }
        cache.traffic = traffic
        if !orphans.isEmpty {
            orphans = orphans.filter { now - $0.value.time <= configuration.tunnelRetention }
        }
        let oneWayWindow = rateStore.windowSpans[1] >= 5
        for p in cache.values.indices {
            if oneWayWindow && !cache.values[p].pairs.isEmpty {
                for (_, si, so) in cache.values[p].pairs where si >= 0 && so >= 0 {
                    if markOneWay(inbound: Int(si), outbound: Int(so), at: now) { cache.values[p].health.insert(.oneWayTraffic) }
                }
            }
            let key = cache.values[p].key
            touchPeerState(key, at: now)
        }
        peerCache = cache
        forgetStalePeerState(at: now)
    }

    /// A peer's policies in the order of `policies` (direction, priority, index): the table's
    /// iteration order is not stable between runs.
    func sortedPolicies(_ ids: [PolicyIdentity]) -> [PolicyIdentity] {
        guard ids.count > 1 else { return ids }
        return ids.map { id -> (UInt8, UInt32, UInt32, PolicyIdentity) in
            (id.direction.rawValue, policyTable[id]?.priority ?? 0, id.index, id)
        }.sorted { a, b in
            if a.0 != b.0 { return a.0 < b.0 }
            if a.1 != b.1 { return a.1 < b.1 }
            return a.2 < b.2
        }.map(\.3)
    }

    /// One-way traffic on an inbound/outbound pair: only one side moved in 10 s, and both are at
    /// least 5 s old. Flags both SAs; returns whether it did.
    @discardableResult
    mutating func markOneWay(inbound si: Int, outbound so: Int, at now: ModelTime) -> Bool {
        let inMoved = rateStore.computedRates(entries[si].slot).p10 > 0
        let outMoved = rateStore.computedRates(entries[so].slot).p10 > 0
        let oldEnough = now - max(entries[si].firstSeen, entries[so].firstSeen) >= 5
        guard inMoved != outMoved && oldEnough else { return false }
        entries[si].health.insert(.oneWayTraffic)
        entries[so].health.insert(.oneWayTraffic)
        return true
    }

    /// The retired SAs' totals an entry brings to its peer: counted once, on the tunnel's newest SA.
    static func inheritedShare(_ i: Int, entries: ContiguousArray<SAEntry>, index: SlotIndex) -> TrafficTotals {
        let inherited = entries[i].inherited
        if inherited.isZero { return .zero }
        if entries[i].hasSuccessor
            && LiveModel.lookup(entries[i].sibling(entries[i].successorSPI), entries: entries, index: index) != nil {
            return .zero
        }
        return inherited
    }

    /// `.tick` when no table changed since the last `derive`: only what depends on time (health
    /// flags such as lifetimes and rekey age, keepalive verdicts) is re-evaluated; no regrouping.
    mutating func reevaluate(at now: ModelTime) {
        for i in entries.indices where entries[i].alive {
            let oneWay = entries[i].health.intersection(.oneWayTraffic)
            entries[i].health = LiveModel.healthFlags(at: i, now: now, pending: pending, entries: entries, index: saIndex).union(oneWay)
        }
        var cache = peerCache
        peerCache = PeerCache()
        for p in cache.values.indices {
            var health: HealthFlags = []
            for s in cache.values[p].inbound where entries[Int(s)].alive { health.formUnion(entries[Int(s)].health) }
            for s in cache.values[p].outbound where entries[Int(s)].alive { health.formUnion(entries[Int(s)].health) }
            for s in cache.values[p].undetermined where entries[Int(s)].alive { health.formUnion(entries[Int(s)].health) }
            cache.values[p].health = health
        }
        peerCache = cache
    }

    func natTraversal(key: PeerKey, encapOut: XFRMEncapsulation?, encapIn: XFRMEncapsulation?) -> NATTraversal? {
        guard let enc = encapOut ?? encapIn else { return nil }
        let outbound = encapOut != nil
        let localPort = outbound ? enc.sourcePort : enc.destinationPort
        let remotePort = outbound ? enc.destinationPort : enc.sourcePort
        let mappings = peerStates[key]?.mappings ?? []
        let oa = enc.originalAddress.isZero ? nil : enc.originalAddress
        var behind = false
        var reason: String
        if localPort != 4500 || remotePort != 4500 {
            behind = true
            reason = "UDP ports \(localPort)/\(remotePort) differ from 4500/4500"
        } else if let last = mappings.last {
            behind = true
            reason = "NAT mapping change seen (\(last.summary))"
        } else if let o = oa {
            behind = true
            reason = "NAT original address \(o) set"
        } else {
            reason = "ports 4500/4500 and no mapping change seen"
        }
        return NATTraversal(encapsulation: enc, localPort: localPort, remotePort: remotePort, originalAddress: oa,
                            behindNAT: behind, behindNATReason: reason, mappingHistory: mappings)
    }
}

/// reqid -> newest (add time, slot) of one direction of a peer, as a short list.
struct ReqidSlots {
    var items: [(reqid: UInt32, add: UInt64, slot: Int32)] = []

    subscript(reqid: UInt32) -> Int32? {
        for i in items where i.reqid == reqid { return i.slot }
        return nil
    }

    /// Keeps the SA added last for the reqid (the later one on a tie).
    mutating func keepNewest(reqid: UInt32, add: UInt64, slot: Int32) {
        for k in items.indices where items[k].reqid == reqid {
            if items[k].add <= add { items[k] = (reqid, add, slot) }
            return
        }
        items.append((reqid, add, slot))
    }
}

extension PeerBuilder {
    /// reqids with a pairable SA in either direction, sorted, each once.
    var pairedReqids: [UInt32] {
        var r = pairIn.items.map(\.reqid)
        for i in pairOut.items where !r.contains(i.reqid) { r.append(i.reqid) }
        return r.sorted()
    }

    /// Calls `body` with every reqid of the peer (paired, larval, per-CPU), each once, without
    /// building a list.
    func forEachReqid(_ body: (UInt32) -> Void) {
        for i in pairIn.items { body(i.reqid) }
        for i in pairOut.items where pairIn[i.reqid] == nil { body(i.reqid) }
        otherReqids.forEach { r in if pairIn[r] == nil && pairOut[r] == nil { body(r) } }
    }

    /// Whether one of the peer's SAs has reqid `r` (as `forEachReqid` lists them).
    func hasReqid(_ r: UInt32) -> Bool { pairIn[r] != nil || pairOut[r] != nil || otherReqids.contains(r) }

    /// Adds the SA in `entries[i]` (read in place) under its direction, with `totals`:
    /// undetermined SAs count as outbound for totals and NAT-T, and are not paired.
    mutating func add(_ i: Int, _ entries: ContiguousArray<SAEntry>, totals: TrafficTotals) {
        let encap = entries[i].encapsulation
        let direction = entries[i].direction
        guard direction != nil else {
            undeterminedCount += 1
            outTotals = outTotals + totals
            if encap != nil && encapOut == nil { encapOut = encap }
            return
        }
        let reqid = entries[i].reqid
        let pairable = !entries[i].hasParent && !entries[i].isLarval
        let add = entries[i].lifetimeCurrent.addTime
        if direction == .inbound {
            inboundCount += 1
            inTotals = inTotals + totals
            if encap != nil { encapIn = encap }
            if pairable { pairIn.keepNewest(reqid: reqid, add: add, slot: Int32(i)) } else { otherReqids.insert(reqid) }
        } else {
            outboundCount += 1
            outTotals = outTotals + totals
            if encap != nil { encapOut = encap }
            if pairable { pairOut.keepNewest(reqid: reqid, add: add, slot: Int32(i)) } else { otherReqids.insert(reqid) }
        }
    }
}

extension TrafficTotals {
    var isZero: Bool { bytes == 0 && packets == 0 }
}
