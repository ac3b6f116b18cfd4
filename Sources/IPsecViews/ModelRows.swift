import IPsecModel
import Synchronization
import XFRMWire

/// The live model as of one refresh, shared by the view data built from it.
///
/// Holding a copy of the model costs no copy by itself; the model's next change copies what it
/// changes (its SA table once per refresh, 232 bytes per SA, released at the next update).
/// Rows are built from it on demand: SA rows only for what is drawn or asked for, the other lists
/// (peers, policies, timeline) when first read.
final class ModelSnapshot: Sendable {
    let model: LiveModel
    let now: Double

    private struct Cache: Sendable {
        var order: [Int32]?
        var peers: [PeerRow]?
        var policies: [PolicyRow]?
        var timeline: [TimelineEntry]?
        var keepalive: [PeerKey: KeepaliveInfo?] = [:]
        var peerKeys: [String: PeerKey]?
        var peerRows: [String: PeerRow?] = [:]
        var peerPolicies: [String: [PolicyRow]] = [:]
        var peerSAPositions: [String: [Int]] = [:]
    }
    private let cache = Mutex(Cache())

    init(model: LiveModel, now: Double) {
        self.model = model; self.now = now
    }

    // MARK: SA order

    /// Slots of the live SAs in identity order (the SA list's base order).
    var order: [Int32] {
        if let o = cache.withLock({ $0.order }) { return o }
        var slots: [Int32] = []
        var ids: [SAIdentity] = []
        slots.reserveCapacity(model.saCount); ids.reserveCapacity(model.saCount)
        model.withSAEntries { buf in
            for i in buf.indices where buf[i].isLive {
                slots.append(Int32(i)); ids.append(buf[i].identity)
            }
        }
        let o = ids.indices.sorted { ids[$0] < ids[$1] }.map { slots[$0] }
        cache.withLock { $0.order = o }
        return o
    }

    /// Sets the SA order (known to be `order`'s result: see `SARows.resolveOrderAndTrack`).
    func adopt(order o: [Int32]) {
        cache.withLock { if $0.order == nil { $0.order = o } }
    }

    // MARK: rows on demand

    /// Keepalive shown for the encapsulated SAs of a peer (nil: the peer is unknown).
    func keepalive(of key: PeerKey) -> KeepaliveInfo? {
        if let k = cache.withLock({ $0.keepalive[key] }) { return k }
        let k = model.peerKeepaliveAndNAT(key, at: now).map { KeepaliveInfo($0.keepalive, encapsulated: $0.nat != nil) }
        cache.withLock { $0.keepalive[key] = .some(k) }
        return k
    }

    /// Keepalive of an encapsulated SA (by slot: see `LiveModel.saPeer(slot:)`).
    func encapsulatedSAKeepalive(slot: Int) -> KeepaliveInfo {
        keepalive(of: model.saPeer(slot: slot)) ?? .notApplicable
    }

    /// The SA row of the entry in `slot`.
    func saRow(slot: Int) -> SARow {
        let e = model.saEntry(slot: slot)
        let state = e.state
        let encapsulated = state.attributes.encapsulation != nil
        let ka: KeepaliveInfo = encapsulated ? (keepalive(of: e.peer) ?? .notApplicable) : .notApplicable
        let r = model.rates(of: e).last2s
        let id = e.identity
        var row = SARow(state: state, direction: e.direction, byteRate: r.bytesPerSecond,
                        packetRate: r.packetsPerSecond, keepalive: ka,
                        health: HealthFlag.from(e.health) { model.healthIssues(for: id, at: now) },
                        peerID: e.peer.description, rekeyedFrom: e.predecessor?.spi)
        row.directionSource = DashboardData.words(e.directionSource)
        return row
    }

    /// The peer whose row id is `id`.
    func peerKey(forID id: String) -> PeerKey? {
        if let t = cache.withLock({ $0.peerKeys }) { return t[id] }
        var t: [String: PeerKey] = [:]
        t.reserveCapacity(model.peerCount)
        model.forEachPeerNATPorts { k, _ in t[k.description] = k }
        cache.withLock { $0.peerKeys = t }
        return t[id]
    }

    var peers: [PeerRow] {
        if let p = cache.withLock({ $0.peers }) { return p }
        let p = buildPeers()
        cache.withLock { $0.peers = p }
        return p
    }

    var policies: [PolicyRow] {
        if let p = cache.withLock({ $0.policies }) { return p }
        let p = model.mapPoliciesSorted { PolicyRow(policy: $0.policy, peerID: $0.peers.first?.description) }
        cache.withLock { $0.policies = p }
        return p
    }

    /// `policies.filter { $0.peerID == id }` without building every row (kept for the next frames
    /// of a peer page).
    func policies(ofPeer id: String) -> [PolicyRow] {
        if let p = cache.withLock({ $0.peerPolicies[id] }) { return p }
        let p: [PolicyRow]
        if let all = cache.withLock({ $0.policies }) {
            p = all.filter { $0.peerID == id }
        } else if let key = peerKey(forID: id) {
            p = model.mapPoliciesSorted(where: { $0.peers.first == key }) {
                PolicyRow(policy: $0.policy, peerID: $0.peers.first?.description)
            }
        } else {
            p = model.mapPoliciesSorted(where: { $0.peers.first?.description == id }) {
                PolicyRow(policy: $0.policy, peerID: $0.peers.first?.description)
            }
        }
        cache.withLock { $0.peerPolicies[id] = p }
        return p
    }

    /// Positions in the SA order of the SAs whose peer id is `id` (kept for the next frames).
    func saPositions(ofPeer id: String) -> [Int] {
        if let p = cache.withLock({ $0.peerSAPositions[id] }) { return p }
        let o = order
        let p: [Int]
        if let key = peerKey(forID: id) { p = model.saPositions(o) { $0 == key } }
        else { p = model.saPositions(o) { $0.description == id } }
        cache.withLock { $0.peerSAPositions[id] = p }
        return p
    }

    var timeline: [TimelineEntry] {
        if let t = cache.withLock({ $0.timeline }) { return t }
        let t = buildTimeline()
        cache.withLock { $0.timeline = t }
        return t
    }

    /// The row of the peer with id `id`, built alone unless the whole list is built.
    func peerRow(id: String) -> PeerRow? {
        if let p = cache.withLock({ $0.peers }) { return p.first { $0.id == id } }
        if let r = cache.withLock({ $0.peerRows[id] }) { return r }
        let r = peerKey(forID: id).flatMap { model.peer($0) }.map(peerRow)
        cache.withLock { $0.peerRows[id] = .some(r) }
        return r
    }

    private func buildPeers() -> [PeerRow] { model.peers.map(peerRow) }

    private func peerRow(_ p: PeerSummary) -> PeerRow {
        let id = p.key.description
        let encapsulated = p.nat != nil
        let ka = KeepaliveInfo(model.keepaliveStatus(for: p.key, at: now) ?? p.keepalive, encapsulated: encapsulated)
        let hist = model.history(of: p.key)
        let encap = p.nat.map {
            XFRMEncapsulation(type: $0.encapsulation.type, sourcePort: $0.localPort, destinationPort: $0.remotePort,
                              originalAddress: $0.originalAddress ?? .zero(p.key.remote.family))
        }
        let mappings = (p.nat?.mappingHistory ?? []).map {
            PeerMappingChange(time: $0.time, oldAddress: $0.oldAddress, oldPort: $0.oldPort,
                              newAddress: $0.newAddress, newPort: $0.newPort)
        }
        let health = HealthFlags.all.filter { p.health.contains($0.flag) }.map {
            HealthFlag(code: $0.code, text: $0.name, level: HealthFlag.level($0.flag))
        }
        return PeerRow(
            id: id, local: p.key.local, remote: p.key.remote, encapsulation: encap,
            natDetected: p.nat?.behindNAT ?? false, inboundSAs: p.inbound.count, outboundSAs: p.outbound.count,
            rateIn: p.inboundRates.last2s.bytesPerSecond, rateOut: p.outboundRates.last2s.bytesPerSecond,
            historyIn: hist.map(\.inboundBytesPerSecond), historyOut: hist.map(\.outboundBytesPerSecond),
            keepalive: ka, health: health, mappings: mappings,
            totalBytesIn: p.inboundTotals.bytes, totalBytesOut: p.outboundTotals.bytes,
            rekeys: model.rekeyLinks(of: p.key).count)
    }

    private func buildTimeline() -> [TimelineEntry] {
        var peerOfSA: [SAIdentity: String] = [:]
        return model.timeline.map { ev -> TimelineEntry in
            var level: StatusLevel = .none
            switch ev.kind {
            case .action: level = ev.succeeded == false ? .error : .ok
            case .resync, .reconcile: level = .warn
            case .rekey: level = .ok
            case .kernel: level = ev.name == "MAPPING" || ev.name == "EXPIRE" ? .warn : .none
            case .note: level = .none
            }
            var pid = ev.peer?.description
            if pid == nil, let s = ev.sa {
                if let cached = peerOfSA[s] { pid = cached } else if let e = model.sa(s) {
                    pid = e.peer.description
                    peerOfSA[s] = pid
                }
            }
            return TimelineEntry(time: ev.time, kind: ev.name, level: level, text: ev.summary, peerID: pid, sa: ev.sa)
        }
    }
}

/// The SA rows of the view data: either plain rows (tests, fixtures) or the SAs of a model
/// snapshot, in identity order, built one at a time when read.
///
/// Reading an element of a model-backed collection builds that row (a full `XFRMState` and its
/// derived fields); the dashboard's per-refresh work (sorting, filtering, change tracking) reads
/// the model's entries in place through the internal accessors instead. Any mutation turns a
/// model-backed collection into plain rows first.
public struct SARows: RandomAccessCollection, MutableCollection, RangeReplaceableCollection, Sendable,
    ExpressibleByArrayLiteral {
    var rows: [SARow]
    var snapshot: ModelSnapshot?
    /// Entry slots in display-base order (model-backed; nil until resolved: `snapshot.order`).
    var slots: [Int32]?

    public init() { rows = [] }
    public init(_ rows: [SARow]) { self.rows = rows }
    public init<S: Sequence>(_ s: S) where S.Element == SARow { rows = Array(s) }
    public init(arrayLiteral elements: SARow...) { rows = elements }

    init(snapshot: ModelSnapshot) {
        rows = []
        self.snapshot = snapshot
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { snapshot.map { $0.model.saCount } ?? rows.count }
    public func index(after i: Int) -> Int { i + 1 }
    public func index(before i: Int) -> Int { i - 1 }

    public subscript(i: Int) -> SARow {
        get {
            if let s = snapshot { return s.saRow(slot: Int(slotOrder[i])) }
            return rows[i]
        }
        set {
            materialize()
            rows[i] = newValue
        }
    }

    public mutating func replaceSubrange<C: Collection>(_ r: Range<Int>, with c: C) where C.Element == SARow {
        materialize()
        rows.replaceSubrange(r, with: c)
    }

    /// Plain rows (every row built).
    public var array: [SARow] { snapshot == nil ? rows : Array(self) }

    mutating func materialize() {
        guard snapshot != nil else { return }
        let all = Array(self)
        snapshot = nil; slots = nil
        rows = all
    }

    /// The slot order, resolved.
    var slotOrder: [Int32] { slots ?? snapshot?.order ?? [] }

    /// Resolves the slot order now.
    mutating func resolveOrder() {
        guard let s = snapshot, slots == nil else { return }
        slots = s.order
    }

    /// Resolves the slot order and compares the SAs with the last refresh's (`tracking`, replaced
    /// by this refresh's): returns the identities of the SAs present in both whose counters (bytes,
    /// packets) or NAT-T ports changed. An SA that came since is not reported, nor any SA when
    /// the last refresh's rows were of the other kind (plain rows, or from the model).
    ///
    /// From the model, an SA is the last refresh's one exactly when its entry slot holds the same
    /// `SAEntry.serial` (a slot given to another SA gets another serial): what is kept is that
    /// serial and a mix of the values per entry slot (`Dashboard.SATracking`), and identities are
    /// built only for the SAs that changed. When every SA is the last refresh's (the usual refresh:
    /// counters changed, no SA came or went), the last order is taken without sorting.
    mutating func resolveOrderAndTrack(_ tracking: inout Dashboard.SATracking, now: Double) -> [SAIdentity] {
        guard let s = snapshot else {
            let (ids, values) = trackedValues()
            var changed: [SAIdentity] = []
            if case .rows(let oldIDs, let oldValues) = tracking {
                // Rows usually keep their positions; a dictionary of the old ones is built only when they moved.
                var oldIndex: [SAIdentity: Int]? = nil
                for i in ids.indices {
                    let id = ids[i]
                    var j: Int? = i < oldIDs.count && oldIDs[i] == id ? i : nil
                    if j == nil {
                        if oldIndex == nil {
                            oldIndex = Dictionary(oldIDs.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
                        }
                        j = oldIndex?[id]
                    }
                    if let j, oldValues[j] != values[i] { changed.append(id) }
                }
            }
            tracking = .rows(ids: ids, values: values)
            return changed
        }
        var old = (order: [Int32](), serials: [UInt32](), mixes: [UInt64](), changed: [Float]())
        var epoch = now
        if case .model(let o, let se, let mx, let ch, let ep) = tracking { old = (o, se, mx, ch); epoch = ep }
        tracking = .none
        var serials: [UInt32] = [], mixes: [UInt64] = [], changed: [Float] = []
        let stamp = Float(now - epoch)
        // Live entries that are the last refresh's SAs (same slot, same serial).
        var same = 0
        let os = old.serials, om = old.mixes, oc = old.changed
        s.model.withSAEntries { buf in
            serials.reserveCapacity(buf.count); mixes.reserveCapacity(buf.count); changed.reserveCapacity(buf.count)
            for i in buf.indices {
                // A free slot keeps the serial of the SA it held: an SA stored there later has another.
                let serial = buf[i].serial
                serials.append(serial)
                guard buf[i].isLive else { mixes.append(0); changed.append(-.infinity); continue }
                let c = buf[i].lifetimeCurrent, e = buf[i].encapsulation
                let x = Dashboard.SATracking.mix(bytes: c.bytes, packets: c.packets,
                                                 ports: UInt32(e?.sourcePort ?? 0) << 16 | UInt32(e?.destinationPort ?? 0))
                mixes.append(x)
                guard i < os.count, os[i] == serial else { changed.append(-.infinity); continue }
                same += 1
                changed.append(om[i] != x ? stamp : (i < oc.count ? oc[i] : -.infinity))
            }
        }
        if slots == nil, same == s.model.saCount, same == old.order.count {
            // Every live SA is one of the last refresh's, and there were as many: the same SAs, the same order.
            s.adopt(order: old.order)
            slots = old.order
        } else {
            resolveOrder()
        }
        tracking = .model(order: slotOrder, serials: serials, mixes: mixes, changed: changed, epoch: epoch)
        return []
    }

    /// A test of presence among the rows, for `queries` identities: the model's index, or for plain
    /// rows a scan (a few queries) or a set of their identities.
    func presence(queries: Int) -> (SAIdentity) -> Bool {
        if let s = snapshot {
            let m = s.model
            return { m.saSlot(of: $0) != nil }
        }
        let r = rows
        if queries < 64 { return { id in r.contains { $0.id == id } } }
        let present = Set(r.lazy.map(\.id))
        return { present.contains($0) }
    }
}

// MARK: - what the dashboard reads per refresh, without building rows

extension SARows {
    /// Identity of row `i`.
    func id(at i: Int) -> SAIdentity {
        if let s = snapshot {
            let slot = Int(slotOrder[i])
            return s.model.withSAEntries { $0[slot].identity }
        }
        return rows[i].id
    }

    /// Identities of the rows at `indices` (one pass over the entries).
    func ids(at indices: [Int]) -> [SAIdentity] {
        guard let s = snapshot else { return indices.map { rows[$0].id } }
        let order = slotOrder
        return s.model.withSAEntries { buf in indices.map { buf[Int(order[$0])].identity } }
    }

    /// The row of an SA, if present.
    func row(for id: SAIdentity) -> SARow? {
        if let s = snapshot { return s.model.saSlot(of: id).map { s.saRow(slot: $0) } }
        return rows.first { $0.id == id }
    }

    /// Index of the row of an SA.
    func index(of id: SAIdentity) -> Int? {
        if let s = snapshot {
            guard let slot = s.model.saSlot(of: id) else { return nil }
            return slotOrder.firstIndex(of: Int32(slot))
        }
        return rows.firstIndex { $0.id == id }
    }

    func contains(id: SAIdentity) -> Bool {
        if let s = snapshot { return s.model.saSlot(of: id) != nil }
        return rows.contains { $0.id == id }
    }

    /// Indices of the rows whose `peerID` is `id`, in data order.
    func indices(ofPeer id: String) -> [Int] {
        guard let s = snapshot else { return rows.indices.filter { rows[$0].peerID == id } }
        // `slotOrder` and the snapshot's order are the same (the identity order of the same SAs).
        return s.saPositions(ofPeer: id)
    }

    /// Identities of the rows whose `peerID` is `id`, in data order.
    func ids(ofPeer id: String) -> [SAIdentity] { ids(at: indices(ofPeer: id)) }

    /// The rows whose identity `include` accepts, in data order (only those rows are built).
    func selectRows(where include: (SAIdentity) -> Bool) -> [SARow] {
        guard snapshot != nil else { return rows.filter { include($0.id) } }
        let all = ids(at: Array(indices))
        return all.indices.filter { include(all[$0]) }.map { self[$0] }
    }

    /// Identities and change-tracked values (counters, encapsulation ports) of every row, in order
    /// (plain rows: model-backed ones are tracked by entry slot, see `resolveOrderAndTrack`).
    func trackedValues() -> (ids: [SAIdentity], values: [Dashboard.SAValues]) {
        var ids: [SAIdentity] = [], values: [Dashboard.SAValues] = []
        ids.reserveCapacity(count); values.reserveCapacity(count)
        rows.withUnsafeBufferPointer { buf in
            for r in buf {
                let e = r.state.attributes.encapsulation
                ids.append(r.id)
                values.append(Dashboard.SAValues(bytes: r.state.lifetimeCurrent.bytes, packets: r.state.lifetimeCurrent.packets,
                                                 ports: UInt32(e?.sourcePort ?? 0) << 16 | UInt32(e?.destinationPort ?? 0)))
            }
        }
        return (ids, values)
    }

    /// The last model-backed sort: its column, direction and result. The sort is stable (ties keep
    /// index order), so its result is the one order of the indices by (key, index): when the new
    /// keys are still in that order, the previous result is the sort of the new keys, found in one
    /// pass without sorting again or keeping the old keys (32 bytes an SA for the peer column).
    struct SortCache: Sendable {
        var column = ""
        var ascending = true
        var result: [Int] = []
    }

    /// Whether `order` (a permutation of the indices of `keys`) lists them by key, ascending or
    /// descending, ties by index: then it is exactly what `TableLayout.sorted` returns for them.
    /// Keys not equal to themselves (NaN: not ordered) answer false.
    static func stillSorted<Key: Comparable>(_ order: [Int], _ keys: [Key], ascending: Bool) -> Bool {
        guard order.count == keys.count else { return false }
        if let first = order.first, keys[first] != keys[first] { return false }
        for k in order.indices.dropFirst() {
            let a = order[k - 1], b = order[k]
            let ka = keys[a], kb = keys[b]
            if kb != kb { return false }
            if ascending ? ka < kb : kb < ka { continue }
            if ka == kb && a < b { continue }
            return false
        }
        return true
    }

    /// Row indices sorted by an SA column (as `TableLayout.sorted` over `Columns.sa`; the lifetime
    /// column with the clock `now`).
    func sortedIndices(column: String, ascending: Bool, now: Double) -> [Int] {
        var cache = SortCache()
        return sortedIndices(column: column, ascending: ascending, now: now, cache: &cache)
    }

    func sortedIndices(column: String, ascending: Bool, now: Double, cache: inout SortCache) -> [Int] {
        guard let s = snapshot else {
            if column == "life" {
                return TableLayout.sorted(rows, by: .number { LifetimeUse(state: $0.state, now: now).fraction ?? -1 },
                                          ascending: ascending)
            }
            return TableLayout.sorted(rows, by: Columns.sa.first { $0.id == column }?.sort, ascending: ascending)
        }
        let order = slotOrder
        let known = ["dir", "peer", "proto", "spi", "reqid", "encap", "rate", "bytes", "packets", "age", "life", "ka", "health"]
        guard known.contains(column), Columns.sa.first(where: { $0.id == column })?.sort != nil else {
            return ascending ? Array(order.indices) : order.indices.reversed()
        }
        let sameSort = cache.column == column && cache.ascending == ascending
        if column == "peer" {
            let words = s.model.withSAEntries { buf in order.map { SortWords(buf[Int($0)].source, buf[Int($0)].destination) } }
            if sameSort, SARows.stillSorted(cache.result, words, ascending: ascending) { return cache.result }
            let r = TableLayout.sorted(words: words, ascending: ascending)
            cache = SortCache(column: column, ascending: ascending, result: r)
            return r
        }
        let numbers: [Double] = s.model.withSAEntries { buf in
            // Fields read in place: one column per pass.
            func each(_ f: (Int) -> Double) -> [Double] { order.map { f(Int($0)) } }
            switch column {
            case "dir": return each { Double(buf[$0].direction?.rawValue ?? 0) }
            case "proto": return each { Double(r: buf[$0].proto.rawValue, buf[$0].xfrmMode.rawValue) }
            case "spi": return each { Double(buf[$0].spi) }
            case "reqid": return each { Double(buf[$0].reqid) }
            case "encap": return each { Double(buf[$0].encapsulation?.destinationPort ?? 0) }
            case "rate": return each { s.model.byteRate2s(slot: $0) }
            case "bytes": return each { Double(buf[$0].lifetimeCurrent.bytes) }
            case "packets": return each { Double(buf[$0].lifetimeCurrent.packets) }
            case "age": return each { -Double(buf[$0].lifetimeCurrent.addTime) }
            case "life":
                return each { LifetimeUse(config: buf[$0].lifetimeLimits, current: buf[$0].lifetimeCurrent, now: now).fraction ?? -1 }
            case "ka":
                return each { buf[$0].encapsulation == nil ? Double(KeepaliveInfo.notApplicable.level.rawValue)
                                                          : Double(s.encapsulatedSAKeepalive(slot: $0).level.rawValue) }
            default: return each { Double(HealthFlag.maxLevel(buf[$0].health).rawValue) }
            }
        }
        if sameSort, SARows.stillSorted(cache.result, numbers, ascending: ascending) { return cache.result }
        let r = TableLayout.sorted(numbers: numbers, ascending: ascending)
        cache = SortCache(column: column, ascending: ascending, result: r)
        return r
    }

    /// Filter keys of every row, reusing `old`'s keys of rows whose identity and mutable parts
    /// (signature) are unchanged.
    func filterKeys(reusing old: Dashboard.KeyCache) -> Dashboard.KeyCache {
        var ids: [SAIdentity] = [], sigs: [Int] = [], keys: [[UInt8]] = []
        ids.reserveCapacity(count); sigs.reserveCapacity(count); keys.reserveCapacity(count)
        var byID: [SAIdentity: Int]? = nil
        func previous(_ i: Int, _ id: SAIdentity, _ sig: Int) -> [UInt8]? {
            var j: Int? = i < old.ids.count && old.ids[i] == id ? i : nil
            if j == nil {
                if byID == nil {
                    byID = Dictionary(old.ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
                }
                j = byID?[id]
            }
            if let j, old.signatures[j] == sig { return old.keys[j] }
            return nil
        }
        if let s = snapshot {
            let order = slotOrder
            let larval = s.model.saLarval(order)
            s.model.withSAEntries { buf in
                for (i, slot) in order.enumerated() {
                    let j = Int(slot)
                    let id = buf[j].identity
                    let c = buf[j].encapsulation
                    let ka = c == nil ? KeepaliveInfo.notApplicable.label : s.encapsulatedSAKeepalive(slot: j).label
                    // The same parts as `CachedKey.signature(_:)` (health as its flags: codes are fixed per
                    // flag), mixed without a per-SA Hasher.
                    var h = Mixer()
                    h.add(UInt64(buf[j].direction?.rawValue ?? 0xff))
                    h.add(UInt64(truncatingIfNeeded: c == nil ? 0 : ka.hashValue))
                    h.add(UInt64(buf[j].health.rawValue))
                    h.add(c.map { UInt64($0.sourcePort) << 16 | UInt64($0.destinationPort) | 1 << 32 } ?? 0)
                    h.add(UInt64(buf[j].reqid) | (larval[i] ? 1 << 32 : 0))
                    h.add(UInt64(buf[j].source.family.rawValue))
                    h.add(buf[j].source.high)
                    h.add(buf[j].source.low)
                    let sig = h.value
                    ids.append(id); sigs.append(sig)
                    keys.append(previous(i, id, sig) ?? Columns.saKey(
                        direction: buf[j].direction, source: buf[j].source, destination: buf[j].destination,
                        proto: buf[j].proto, mode: buf[j].xfrmMode, spi: buf[j].spi, reqid: buf[j].reqid, keepalive: ka,
                        encapsulation: c, mark: buf[j].xfrmMark, healthCodes: HealthFlag.codes(buf[j].health),
                        isLarval: larval[i]))
                }
            }
        } else {
            for (i, r) in rows.enumerated() {
                let id = r.id
                let sig = Dashboard.CachedKey.signature(r)
                ids.append(id); sigs.append(sig)
                keys.append(previous(i, id, sig) ?? Columns.saKey(r))
            }
        }
        return Dashboard.KeyCache(ids: ids, signatures: sigs, keys: keys)
    }
}

extension HealthFlag {
    /// `from(flags).map(\.level).max() ?? .ok`, without building the flags.
    static func maxLevel(_ flags: HealthFlags) -> StatusLevel {
        guard !flags.isEmpty else { return .ok }
        var m = StatusLevel.none
        var any = false
        for f in HealthFlags.all where flags.contains(f.flag) {
            let l = level(f.flag)
            if !any || l > m { m = l; any = true }
        }
        return any ? m : .ok
    }

    /// `from(flags).map(\.code)`.
    static func codes(_ flags: HealthFlags) -> [String] {
        guard !flags.isEmpty else { return [] }
        return HealthFlags.all.filter { flags.contains($0.flag) }.map(\.code)
    }
}

/// A cheap 64-bit mix of a few words (change detection, not a hash table's hash).
struct Mixer {
    private(set) var value = 0x243f_6a88_85a3_08d3
    @inline(__always) mutating func add(_ v: UInt64) {
        var h = UInt64(bitPattern: Int64(value)) ^ v
        h = (h ^ (h >> 32)) &* 0xd6e8_feb8_6659_fd93
        h = (h ^ (h >> 32)) &* 0xd6e8_feb8_6659_fd93
        value = Int(bitPattern: UInt(h ^ (h >> 32)))
    }
}
