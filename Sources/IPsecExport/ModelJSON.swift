import IPsecModel
import XFRMWire

/// The snapshot document built from the live model: every kernel field of
/// `KernelJSON` plus what the model derives (peer, direction, rates, totals
/// across rekeys, NAT-T, keepalive status with reason, health flags).
public enum ModelJSON {
    public struct Context {
        public var host: String
        public var netns: String?
        public var kernel: String
        public var now: Double
        public var sad: XFRMSADInfo?
        public var spd: XFRMSPDInfo?
        public init(host: String, netns: String?, kernel: String, now: Double, sad: XFRMSADInfo? = nil, spd: XFRMSPDInfo? = nil) {
            self.host = host; self.netns = netns; self.kernel = kernel; self.now = now; self.sad = sad; self.spd = spd
        }
    }

    static func rate(_ w: inout JSONWriter, _ k: StaticString, _ r: TrafficRate) {
        w.key(k)
        w.beginObject()
        w.member("bytes_per_s", double: r.bytesPerSecond, decimals: 1)
        w.member("packets_per_s", double: r.packetsPerSecond, decimals: 2)
        w.endObject()
    }

    static func rates(_ w: inout JSONWriter, _ k: StaticString, _ r: WindowedRates) {
        w.key(k)
        w.beginObject()
        rate(&w, "2s", r.last2s)
        rate(&w, "10s", r.last10s)
        rate(&w, "40s", r.last40s)
        w.endObject()
    }

    static func totals(_ w: inout JSONWriter, _ k: StaticString, _ t: TrafficTotals) {
        w.key(k)
        w.beginObject(); w.member("bytes", t.bytes); w.member("packets", t.packets); w.endObject()
    }

    static func epoch(_ w: inout JSONWriter, _ k: StaticString, _ kEpoch: StaticString, _ t: Double?) {
        w.member(k, t.map { iso8601Milliseconds($0) })
        w.member(kEpoch, double: t, decimals: 3)
    }

    static func keepalive(_ w: inout JSONWriter, _ k: KeepaliveStatus, now: Double) {
        w.key("keepalive")
        w.beginObject()
        w.member("status", k.state.rawValue)
        w.member("reason", k.reason)
        w.member("interval", double: k.interval, decimals: 1)
        w.member("interval_source", k.intervalSource?.rawValue)
        w.member("kernel_interval", k.kernelInterval)
        epoch(&w, "last_sent", "last_sent_epoch", k.lastSent)
        epoch(&w, "last_received", "last_received_epoch", k.lastReceived)
        w.member("inbound_idle", double: k.inboundIdle, decimals: 1)
        w.member("capture_active", k.captureActive)
        w.endObject()
    }

    static func health(_ w: inout JSONWriter, _ flags: HealthFlags, reasons: [HealthIssue]) {
        w.key("health")
        w.beginArray()
        for f in HealthFlags.all where flags.contains(f.flag) {
            w.beginObject()
            w.member("code", f.code)
            w.member("name", f.name)
            w.member("reason", reasons.first { $0.flag == f.flag }?.reason)
            w.endObject()
        }
        w.endArray()
    }

    /// Model-derived members of one SA.
    static func saDerived(_ w: inout JSONWriter, _ e: SAEntry, model: LiveModel, now: Double) {
        w.key("derived")
        w.beginObject()
        w.key("peer"); w.peer(e.peer)
        w.member("direction", e.direction?.name)
        w.member("direction_source", e.directionSource.rawValue)
        rates(&w, "rates", model.rates(of: e))
        totals(&w, "tunnel_totals", e.tunnelTotals)
        w.member("rekeyed_from", e.predecessor.map { SAIdentity.hex($0.spi) })
        w.member("rekeyed_to", e.successor.map { SAIdentity.hex($0.spi) })
        w.member("counter_resets", e.counterResets)
        w.member("age", double: e.age(at: now), decimals: 1)
        w.member("idle", double: e.idle(at: now), decimals: 1)
        epoch(&w, "rekey_requested", "rekey_requested_epoch", e.rekeyRequestedAt)
        health(&w, e.health, reasons: e.health.isEmpty ? [] : model.healthIssues(of: e, at: now))
        w.endObject()
    }

    public static func render(_ model: LiveModel, context c: Context, xfrmStatText: String? = nil) -> [UInt8] {
        var w = JSONWriter(reserve: 4096 + model.saCount * 1600)
        write(&w, model, context: c)
        return w.bytes
    }

    /// The same document, handed to `sink` in chunks of about `chunk` bytes (bounded memory).
    public static func write(_ model: LiveModel, context c: Context, chunk: Int = 1 << 20,
                             to sink: @escaping (UnsafeRawBufferPointer) -> Void) {
        var w = JSONWriter(chunk: chunk, sink: sink)
        write(&w, model, context: c)
        w.flush()
    }

    static func write(_ w: inout JSONWriter, _ model: LiveModel, context c: Context) {
        w.beginObject()
        w.member("schema", SnapshotJSON.schemaVersion)
        w.member("taken_at", iso8601(c.now))
        w.member("taken_at_epoch", double: c.now, decimals: 3)
        w.member("host", c.host)
        w.member("netns", c.netns)
        w.member("kernel", c.kernel)
        let h = model.header
        w.key("sync")
        w.beginObject()
        w.member("state", h.sync.word)
        w.member("resyncs", h.resyncCount)
        if case .resyncing(_, let reason) = h.sync { w.member("reason", reason) }
        w.endObject()
        let now = c.now
        w.key("sas")
        w.beginArray()
        // By entry slot (as `forEachSA`), in blocks written on every core (`ParallelJSON`).
        ParallelJSON.elements(into: &w, count: model.withSAEntries { $0.count }) { w, slots in
            model.withSAEntries { buf in
                for i in slots where buf[i].isLive {
                    w.beginObject()
                    KernelJSON.saMembers(&w, buf[i].state)
                    saDerived(&w, buf[i], model: model, now: now)
                    w.endObject()
                }
            }
        }
        w.endArray()
        w.key("policies")
        w.beginArray()
        let policies = model.policies
        ParallelJSON.elements(into: &w, count: policies.count) { w, range in
            for p in policies[range] {
                w.beginObject()
                KernelJSON.policyMembers(&w, p.policy)
                w.key("peers"); w.beginArray(); for k in p.peers { w.peer(k) }; w.endArray()
                w.endObject()
            }
        }
        w.endArray()
        w.key("peers")
        w.beginArray()
        let peers = model.peers
        ParallelJSON.elements(into: &w, count: peers.count) { w, range in
            for p in peers[range] { peer(&w, p, model: model, now: now) }
        }
        w.endArray()
        KernelJSON.counts(&w, sad: c.sad, spd: c.spd)
        w.key("xfrm_stat")
        w.beginObject()
        for counter in model.xfrmStat?.counters ?? [] { w.key(dynamic: counter.name); w.int(counter.value) }
        w.endObject()
        w.key("xfrm_stat_delta")
        w.beginObject()
        for counter in model.xfrmStat?.counters ?? [] where counter.delta != 0 { w.key(dynamic: counter.name); w.int(counter.delta) }
        w.endObject()
        w.endObject()
        w.newline()
    }

    /// One peer of the `peers` array.
    static func peer(_ w: inout JSONWriter, _ p: PeerSummary, model: LiveModel, now: Double) {
        w.beginObject()
        w.key("id"); w.peer(p.key)
        w.member("local", address: p.key.local)
        w.member("remote", address: p.key.remote)
        w.member("remote_port", p.key.remotePort == 0 ? nil : p.key.remotePort)
        w.key("inbound"); w.beginArray(); for s in p.inbound { w.string(SAIdentity.hex(s.spi)) }; w.endArray()
        w.key("outbound"); w.beginArray(); for s in p.outbound { w.string(SAIdentity.hex(s.spi)) }; w.endArray()
        w.key("undetermined"); w.beginArray(); for s in p.undetermined { w.string(SAIdentity.hex(s.spi)) }; w.endArray()
        rates(&w, "inbound_rates", p.inboundRates)
        rates(&w, "outbound_rates", p.outboundRates)
        totals(&w, "inbound_totals", p.inboundTotals)
        totals(&w, "outbound_totals", p.outboundTotals)
        w.key("nat")
        if let n = p.nat {
            w.beginObject()
            w.member("type", n.encapsulation.type.description)
            w.member("local_port", n.localPort)
            w.member("remote_port", n.remotePort)
            w.member("original_address", n.originalAddress?.description)
            w.member("behind_nat", n.behindNAT)
            w.member("reason", n.behindNATReason)
            w.key("mapping_changes")
            w.beginArray()
            for m in n.mappingHistory {
                w.beginObject()
                epoch(&w, "time", "time_epoch", m.time)
                w.member("spi", SAIdentity.hex(m.sa.spi))
                w.member("old", "\(m.oldAddress):\(m.oldPort)")
                w.member("new", "\(m.newAddress):\(m.newPort)")
                w.endObject()
            }
            w.endArray()
            w.endObject()
        } else { w.null() }
        keepalive(&w, model.keepaliveStatus(for: p.key, at: now) ?? p.keepalive, now: now)
        health(&w, p.health, reasons: [])
        w.endObject()
    }
}

extension JSONWriter {
    /// A peer's text as `PeerKey.description` gives it ("192.0.2.1 <-> 198.51.100.2:4500"),
    /// written in place.
    public mutating func peer(_ k: PeerKey) { addressPair(k.local, " <-> ", k.remote, port: k.remotePort) }
}
