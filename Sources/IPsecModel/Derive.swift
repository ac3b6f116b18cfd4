import XFRMWire

/// Key of the reverse-SA index used for direction pairing.
struct PairKey: Hashable, Sendable {
    var source: IPAddress
    var destination: IPAddress
    var reqid: UInt32
}

/// Accumulates one peer during `derive`.
struct PeerBuilder {
    var inbound: [SAIdentity] = []
    var outbound: [SAIdentity] = []
    var undetermined: [SAIdentity] = []
    var inRates = WindowedRates.zero
    var outRates = WindowedRates.zero
    var inTotals = TrafficTotals.zero
    var outTotals = TrafficTotals.zero
    var health: HealthFlags = []
    var encapOut: XFRMEncapsulation?
    var encapIn: XFRMEncapsulation?
    var kernelInterval: UInt32?
    var inboundLastUsed: ModelTime?
    var outboundLastUsed: ModelTime?
    /// reqid -> newest (add time, identity) per direction.
    var pairIn: [UInt32: (UInt64, SAIdentity)] = [:]
    var pairOut: [UInt32: (UInt64, SAIdentity)] = [:]
    var policies: [PolicyIdentity] = []
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
        let st = e.state
        if let d = st.attributes.direction {
            e.direction = d
            e.directionSource = .attribute
        } else {
            let dl = isLocal(st.destination), sl = isLocal(st.source)
            if dl && !sl {
                e.direction = .inbound; e.directionSource = .localDestination
            } else if sl && !dl {
                e.direction = .outbound; e.directionSource = .localSource
            } else {
                e.direction = nil; e.directionSource = .unknown
            }
        }
        e.peer = peerKey(for: st, direction: e.direction)
    }

    func peerKey(for st: XFRMState, direction: SADirection?) -> PeerKey {
        let encap = st.attributes.encapsulation
        if direction == .inbound {
            return PeerKey(local: st.destination, remote: st.source, remotePort: encap?.sourcePort ?? 0)
        }
        return PeerKey(local: st.source, remote: st.destination, remotePort: encap?.destinationPort ?? 0)
    }

    mutating func inferLocalAddresses() {
        var local = Set<IPAddress>()
        for (_, p) in policyTable {
            let pol = p.policy
            for t in pol.attributes.templates {
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
        for idx in table.indices {
            let st = table.values[idx].state
            switch st.attributes.direction {
            case .outbound?: local.insert(st.source)
            case .inbound?: local.insert(st.destination)
            case nil: break
            }
        }
        inferredLocal = local
    }

    func isHostPrefix(_ len: UInt8, _ family: AddressFamily) -> Bool {
        family == .inet6 ? len == 128 : len == 32
    }

    /// Recomputes everything derived: directions, peers, tunnel totals, health, keepalive status,
    /// policy attachment. O(SAs + policies).
    mutating func derive(at now: ModelTime, effects: inout [ModelEffect]) {
        inferLocalAddresses()

        // Directions: rules 1-2, then pairing (rule 3).
        var pairs: [PairKey: SADirection] = [:]
        var unknown = 0
        for idx in table.indices {
            var e = table.values[idx]
            classify(&e)
            table.values[idx] = e
            if let d = e.direction {
                pairs[PairKey(source: e.state.source, destination: e.state.destination, reqid: e.state.reqid)] = d
            } else {
                unknown += 1
            }
        }
        if unknown > 0 {
            for idx in table.indices where table.values[idx].direction == nil {
                let st = table.values[idx].state
                if let d = pairs[PairKey(source: st.destination, destination: st.source, reqid: st.reqid)] {
                    let mine: SADirection = d == .inbound ? .outbound : .inbound
                    table.values[idx].direction = mine
                    table.values[idx].directionSource = .pairing
                    table.values[idx].peer = peerKey(for: st, direction: mine)
                }
            }
        }

        // Tunnel totals: retired + live.
        var live: [TunnelKey: TrafficTotals] = [:]
        for idx in table.indices {
            let e = table.values[idx]
            live[TunnelKey(e.state), default: .zero] = live[TunnelKey(e.state), default: .zero] + e.totals
        }
        for idx in table.indices {
            let key = TunnelKey(table.values[idx].state)
            table.values[idx].tunnelTotals = (tunnels[key]?.retired ?? .zero) + (live[key] ?? .zero)
        }

        // Per-CPU SAs: parent = the SA of the same tunnel without XFRMA_SA_PCPU.
        var parents: [TunnelKey: SAIdentity] = [:]
        var hasPCPU = false
        for idx in table.indices {
            let st = table.values[idx].state
            if st.attributes.perCPU == nil { parents[TunnelKey(st)] = st.identity } else { hasPCPU = true }
        }
        if hasPCPU {
            for idx in table.indices {
                let st = table.values[idx].state
                var k = TunnelKey(st)
                k.cpu = nil
                table.values[idx].parent = st.attributes.perCPU == nil ? nil : parents[k]
            }
        }

        // Health (all but one-way), then peers.
        var builders: [PeerKey: PeerBuilder] = [:]
        for idx in table.indices {
            table.values[idx].health = healthFlags(of: table.values[idx], at: now)
            let e = table.values[idx]
            let st = e.state
            var b = builders[e.peer] ?? PeerBuilder()
            let used = st.attributes.lastUsed.flatMap { $0 > 0 ? Double($0) : nil }
            switch e.direction {
            case .inbound?:
                b.inbound.append(e.identity)
                b.inRates = b.inRates + e.rates
                b.inTotals = b.inTotals + e.totals
                if st.attributes.encapsulation != nil { b.encapIn = st.attributes.encapsulation }
                if let u = used { b.inboundLastUsed = max(b.inboundLastUsed ?? u, u) }
                if e.parent == nil, !e.isLarval,
                   (b.pairIn[st.reqid]?.0 ?? 0) <= st.lifetimeCurrent.addTime || b.pairIn[st.reqid] == nil {
                    b.pairIn[st.reqid] = (st.lifetimeCurrent.addTime, e.identity)
                }
            case .outbound?:
                b.outbound.append(e.identity)
                b.outRates = b.outRates + e.rates
                b.outTotals = b.outTotals + e.totals
                if st.attributes.encapsulation != nil { b.encapOut = st.attributes.encapsulation }
                if let k = st.attributes.natKeepaliveInterval, k > 0 { b.kernelInterval = k }
                if let u = used { b.outboundLastUsed = max(b.outboundLastUsed ?? u, u) }
                if e.parent == nil, !e.isLarval,
                   (b.pairOut[st.reqid]?.0 ?? 0) <= st.lifetimeCurrent.addTime || b.pairOut[st.reqid] == nil {
                    b.pairOut[st.reqid] = (st.lifetimeCurrent.addTime, e.identity)
                }
            case nil:
                b.undetermined.append(e.identity)
                b.outRates = b.outRates + e.rates
                if st.attributes.encapsulation != nil { b.encapOut = st.attributes.encapsulation }
            }
            builders[e.peer] = b
        }

        // Retired totals of each tunnel go to the peer of its live SAs (or its last known peer).
        var tunnelPeer: [TunnelKey: (PeerKey, SADirection?)] = [:]
        for idx in table.indices {
            let e = table.values[idx]
            tunnelPeer[TunnelKey(e.state)] = (e.peer, e.direction)
        }
        var expired: [TunnelKey] = []
        for (key, t) in tunnels {
            if let (peer, dir) = tunnelPeer[key] {
                tunnels[key]?.lastLive = now
                tunnels[key]?.peer = peer
                tunnels[key]?.direction = dir
                add(t.retired, to: &builders[peer], direction: dir)
            } else if now - t.lastLive > configuration.tunnelRetention {
                expired.append(key)
            } else if let peer = t.peer, builders[peer] != nil {
                add(t.retired, to: &builders[peer], direction: t.direction)
            }
        }
        for k in expired { tunnels[k] = nil }

        // One-way traffic: inbound/outbound pair of a reqid where only one side moved in 10 s.
        for (_, b) in builders {
            for (reqid, (_, inID)) in b.pairIn {
                guard let (_, outID) = b.pairOut[reqid], let i = table[inID], let o = table[outID] else { continue }
                let inMoved = i.rates.last10s.packetsPerSecond > 0
                let outMoved = o.rates.last10s.packetsPerSecond > 0
                if inMoved != outMoved && i.hasSamplesFor10s(rateStore) {
                    table[inID]?.health.insert(.oneWayTraffic)
                    table[outID]?.health.insert(.oneWayTraffic)
                }
            }
        }

        // Policies attach to peers through template reqid (or template addresses).
        var byReqid: [UInt32: [PeerKey]] = [:]
        var byAddresses: [AddressPair: [PeerKey]] = [:]
        for (key, b) in builders {
            for r in Set(b.pairIn.keys).union(b.pairOut.keys) { byReqid[r, default: []].append(key) }
            byAddresses[AddressPair(local: key.local, remote: key.remote), default: []].append(key)
        }
        for idx in policyTable.indices {
            let pol = policyTable.values[idx].policy
            var attached: [PeerKey] = []
            for t in pol.attributes.templates {
                var candidates: [PeerKey] = []
                if t.reqid != 0 { candidates = byReqid[t.reqid] ?? [] }
                if !t.source.isZero && !t.destination.isZero {
                    let viaAddresses = (byAddresses[AddressPair(local: t.source, remote: t.destination)] ?? [])
                        + (byAddresses[AddressPair(local: t.destination, remote: t.source)] ?? [])
                    candidates = t.reqid != 0 ? candidates.filter { viaAddresses.contains($0) } : viaAddresses
                }
                for c in candidates where !attached.contains(c) { attached.append(c) }
            }
            attached.sort()
            policyTable.values[idx].peers = attached
            for peer in attached { builders[peer]?.policies.append(pol.identity) }
        }

        // Summaries.
        var cache: [PeerKey: PeerSummary] = [:]
        cache.reserveCapacity(builders.count)
        var ports = Set<UInt16>()
        for (key, b) in builders {
            var health: HealthFlags = []
            for id in b.inbound + b.outbound + b.undetermined { health.formUnion(table[id]?.health ?? []) }
            let nat = natTraversal(key: key, builder: b)
            if let n = nat {
                ports.insert(n.localPort)
                ports.insert(n.remotePort)
            }
            let track = keepaliveByPeer[key] ?? keepaliveByAddresses[AddressPair(local: key.local, remote: key.remote)]
            let ka = LiveModel.keepaliveVerdict(
                encapsulation: nat?.encapsulation.type, peer: key, kernelInterval: b.kernelInterval, track: track,
                inboundLastUsed: b.inboundLastUsed, outboundLastUsed: b.outboundLastUsed, capture: captureState,
                captureSince: captureSince, configuration: configuration, now: now)
            let reqids = Set(b.pairIn.keys).union(b.pairOut.keys).sorted()
            let pairList = reqids.map { SAPair(reqid: $0, inbound: b.pairIn[$0]?.1, outbound: b.pairOut[$0]?.1) }
            cache[key] = PeerSummary(key: key, inbound: b.inbound.sorted(), outbound: b.outbound.sorted(),
                                     undetermined: b.undetermined.sorted(), pairs: pairList,
                                     policies: b.policies, inboundRates: b.inRates, outboundRates: b.outRates,
                                     inboundTotals: b.inTotals, outboundTotals: b.outTotals, nat: nat,
                                     keepalive: ka, health: health)
            if peerStates[key] != nil { peerStates[key]?.lastSeen = now }
        }
        peerCache = cache
        // Forget per-peer state of peers gone for longer than the retention.
        if peerStates.count > cache.count {
            peerStates = peerStates.filter { cache[$0.key] != nil || now - $0.value.lastSeen <= configuration.tunnelRetention }
        }
        let sortedPorts = ports.filter { $0 != 0 }.sorted()
        if sortedPorts != capturePorts {
            capturePorts = sortedPorts
            effects.append(.setKeepaliveCapturePorts(sortedPorts))
        }
    }

    func add(_ t: TrafficTotals, to b: inout PeerBuilder?, direction: SADirection?) {
        guard b != nil else { return }
        if direction == .inbound { b!.inTotals = b!.inTotals + t } else { b!.outTotals = b!.outTotals + t }
    }

    func natTraversal(key: PeerKey, builder b: PeerBuilder) -> NATTraversal? {
        guard let enc = b.encapOut ?? b.encapIn else { return nil }
        let outbound = b.encapOut != nil
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

extension SAEntry {
    /// Whether the rate ring spans 10 s for this SA (avoids calling a brand-new SA one-way).
    func hasSamplesFor10s(_ store: RateStore) -> Bool {
        store.windowSpans[1] >= 5 && lastUpdated - firstSeen >= 5
    }
}
