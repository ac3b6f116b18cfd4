import XFRMWire
@testable import IPsecViews

/// Deterministic dashboard data (documentation addresses only) at a fixed time.
enum Fixtures {
    static let now: Double = 1_796_000_000 // 2026-11-29 ~ 08:53 UTC, fixed
    static let local = IPAddress("192.0.2.10")!
    static let peerA = IPAddress("198.51.100.7")!
    static let peerB = IPAddress("203.0.113.45")!
    static let local6 = IPAddress("2001:db8::10")!
    static let peer6 = IPAddress("2001:db8:ffff::7")!

    static func state(src: IPAddress, dst: IPAddress, spi: UInt32, reqid: UInt32, bytes: UInt64, packets: UInt64,
                      age: Double, encap: (UInt16, UInt16)? = nil, mark: XFRMMark? = nil, larval: Bool = false,
                      hardSeconds: UInt64 = 3600, softSeconds: UInt64 = 3000, context: String? = nil) -> XFRMState {
        var a = XFRMAttributes()
        if !larval {
            a.aead = XFRMAlgorithm(name: "rfc4106(gcm(aes))", keyBits: 288, icvBits: 128)
        }
        if let e = encap {
            a.encapsulation = XFRMEncapsulation(type: .espInUDP, sourcePort: e.0, destinationPort: e.1,
                                                originalAddress: .zero(src.family))
        }
        a.mark = mark
        if let c = context { a.securityContext = XFRMSecurityContext(doi: 1, algorithm: 1, context: c) }
        a.replayESN = XFRMReplayStateESN(bitmapLength: 4, outboundSequence: UInt32(packets & 0xffff_ffff),
                                         inboundSequence: 0, outboundSequenceHigh: 0, inboundSequenceHigh: 0,
                                         replayWindow: 128)
        let fam = src.family
        let sel = XFRMSelector(destination: .zero(fam), source: .zero(fam), family: fam,
                               destinationPrefixLength: 0, sourcePrefixLength: 0)
        let cfg = XFRMLifetimeConfig(softByteLimit: .max, hardByteLimit: .max, softPacketLimit: .max,
                                     hardPacketLimit: .max, softAddExpiresSeconds: softSeconds,
                                     hardAddExpiresSeconds: hardSeconds, softUseExpiresSeconds: 0,
                                     hardUseExpiresSeconds: 0)
        return XFRMState(selector: sel, destination: dst, spi: spi, proto: .esp, source: src, lifetimeConfig: cfg,
                         lifetimeCurrent: XFRMLifetimeCurrent(bytes: bytes, packets: packets,
                                                              addTime: UInt64(now - age), useTime: UInt64(now - age + 1)),
                         stats: XFRMStats(replayWindow: 0, replay: 0, integrityFailed: 0), seq: 0, reqid: reqid,
                         family: fam, mode: .tunnel, replayWindow: 0, flags: 128, attributes: a)
    }

    static let keepaliveOK = KeepaliveInfo(label: "OK", level: .ok, reason: "keepalive received 4s ago (interval 20s)",
                                           interval: 20, lastSent: now - 6, lastReceived: now - 4)
    static let keepaliveLate = KeepaliveInfo(label: "LATE", level: .warn,
                                             reason: "no keepalive or traffic from peer for 47s (> 1.5 x 20s)",
                                             interval: 20, lastSent: now - 7, lastReceived: now - 47)

    static func data(extraSAs: Int = 0) -> DashboardData {
        let idA = "192.0.2.10<>198.51.100.7", idB = "192.0.2.10<>203.0.113.45", id6 = "2001:db8::10<>2001:db8:ffff::7"
        var sas: [SARow] = [
            SARow(state: state(src: local, dst: peerA, spi: 0xc1a0_0001, reqid: 1, bytes: 48_213_337, packets: 41_230,
                               age: 1_234, encap: (4500, 31245)),
                  direction: .outbound, byteRate: 1_250_000, packetRate: 1_000, keepalive: keepaliveOK, peerID: idA),
            SARow(state: state(src: peerA, dst: local, spi: 0xc1a0_0002, reqid: 1, bytes: 912_004_100, packets: 650_002,
                               age: 1_234, encap: (31245, 4500)),
                  direction: .inbound, byteRate: 8_400_000, packetRate: 6_000, keepalive: keepaliveOK, peerID: idA,
                  rekeyedFrom: 0xc1a0_0000),
            SARow(state: state(src: local, dst: peerB, spi: 0x0000_b001, reqid: 7, bytes: 1_024, packets: 8, age: 3_300,
                               encap: (4500, 4500), mark: XFRMMark(value: 0x2a, mask: 0xff)),
                  direction: .outbound, byteRate: 0, keepalive: keepaliveLate,
                  health: [HealthFlag(code: "EXP", text: "hard lifetime in 5m00s", level: .warn)], peerID: idB),
            SARow(state: state(src: peerB, dst: local, spi: 0x0000_b002, reqid: 7, bytes: 0, packets: 0, age: 3_300,
                               encap: (4500, 4500), mark: XFRMMark(value: 0x2a, mask: 0xff),
                               context: "system_u:object_r:ipsec_spd_t:s0\u{1b}[31m"),
                  direction: .inbound, byteRate: 0, keepalive: keepaliveLate,
                  health: [HealthFlag(code: "1WAY", text: "outbound traffic but nothing inbound", level: .warn),
                           HealthFlag(code: "EXP", text: "hard lifetime in 5m00s", level: .warn)], peerID: idB),
            SARow(state: state(src: local6, dst: peer6, spi: 0x0bad_cafe, reqid: 9, bytes: 77_000, packets: 700, age: 59),
                  direction: .outbound, byteRate: 512, packetRate: 4, peerID: id6),
            SARow(state: state(src: peer6, dst: local6, spi: 0x0000_0d0e, reqid: 9, bytes: 0, packets: 0, age: 2,
                               larval: true, hardSeconds: 30, softSeconds: 0),
                  direction: .inbound, health: [HealthFlag(code: "LARV", text: "larval SA from ALLOCSPI", level: .warn)],
                  peerID: id6),
        ]
        for i in 0..<extraSAs {
            let a = IPAddress(family: .inet, high: 0, low: 0xc633_6400 | UInt64(i % 200 + 20)) // 198.51.100.x
            sas.append(SARow(state: state(src: local, dst: a, spi: 0x1000_0000 + UInt32(i), reqid: UInt32(100 + i),
                                          bytes: UInt64(i * 1000), packets: UInt64(i), age: Double(i % 3000)),
                             direction: i % 2 == 0 ? .outbound : .inbound, byteRate: Double((i * 7919) % 100_000),
                             peerID: "bulk\(i % 200)"))
        }
        let peers: [PeerRow] = [
            PeerRow(id: idA, local: local, remote: peerA,
                    encapsulation: XFRMEncapsulation(type: .espInUDP, sourcePort: 4500, destinationPort: 31245,
                                                     originalAddress: .zero(.inet)),
                    natDetected: true, inboundSAs: 1, outboundSAs: 1, rateIn: 8_400_000, rateOut: 1_250_000,
                    historyIn: (0..<60).map { Double(($0 * 37) % 50) * 200_000 },
                    historyOut: (0..<60).map { Double(($0 * 13) % 20) * 60_000 }, keepalive: keepaliveOK,
                    mappings: [PeerMappingChange(time: now - 600, oldAddress: peerA, oldPort: 4500, newAddress: peerA, newPort: 28001),
                               PeerMappingChange(time: now - 120, oldAddress: peerA, oldPort: 28001, newAddress: peerA, newPort: 31245)],
                    totalBytesIn: 3_000_000_000, totalBytesOut: 200_000_000, rekeys: 3),
            PeerRow(id: idB, local: local, remote: peerB,
                    encapsulation: XFRMEncapsulation(type: .espInUDP, sourcePort: 4500, destinationPort: 4500,
                                                     originalAddress: .zero(.inet)),
                    natDetected: false, inboundSAs: 1, outboundSAs: 1, historyIn: [], historyOut: [0, 0, 100, 0],
                    keepalive: keepaliveLate,
                    health: [HealthFlag(code: "1WAY", text: "outbound traffic but nothing inbound", level: .warn)],
                    totalBytesOut: 1024),
            PeerRow(id: id6, local: local6, remote: peer6, inboundSAs: 1, outboundSAs: 1, rateOut: 512,
                    historyOut: [512, 512, 600, 400], keepalive: .notApplicable,
                    health: [HealthFlag(code: "LARV", text: "larval SA from ALLOCSPI", level: .warn)]),
        ]
        func policy(_ dir: PolicyDirection, _ src: String, _ dst: String, _ plen: UInt8, index: UInt32, tmplSrc: IPAddress,
                    tmplDst: IPAddress, reqid: UInt32, action: UInt8 = 0) -> XFRMPolicy {
            let s = IPAddress(src)!, d = IPAddress(dst)!
            var a = XFRMAttributes()
            a.templates = [XFRMTemplate(destination: tmplDst, spi: 0, proto: .esp, family: s.family, source: tmplSrc,
                                        reqid: reqid, mode: .tunnel, share: 0, optional: false, authAlgorithms: ~0,
                                        encryptionAlgorithms: ~0, compressionAlgorithms: ~0)]
            let sel = XFRMSelector(destination: d, source: s, family: s.family, destinationPrefixLength: plen,
                                   sourcePrefixLength: plen)
            return XFRMPolicy(selector: sel, lifetimeConfig: .infinite,
                              lifetimeCurrent: XFRMLifetimeCurrent(bytes: 0, packets: 0, addTime: UInt64(now - 4000), useTime: 0),
                              priority: 375_423, index: index, direction: dir, action: action, flags: 0, share: 0, attributes: a)
        }
        let policies = [
            PolicyRow(policy: policy(.outbound, "192.0.2.0", "198.51.100.0", 24, index: 1, tmplSrc: local, tmplDst: peerA, reqid: 1), peerID: idA),
            PolicyRow(policy: policy(.inbound, "198.51.100.0", "192.0.2.0", 24, index: 8, tmplSrc: peerA, tmplDst: local, reqid: 1), peerID: idA),
            PolicyRow(policy: policy(.forward, "198.51.100.0", "192.0.2.0", 24, index: 18, tmplSrc: peerA, tmplDst: local, reqid: 1), peerID: idA),
            PolicyRow(policy: policy(.outbound, "2001:db8:1::", "2001:db8:2::", 64, index: 33, tmplSrc: local6, tmplDst: peer6, reqid: 9), peerID: id6),
            PolicyRow(policy: policy(.outbound, "192.0.2.128", "203.0.113.0", 25, index: 41, tmplSrc: local, tmplDst: peerB, reqid: 7, action: 1), peerID: idB),
        ]
        let timeline = [
            TimelineEntry(time: now - 1234, kind: "NEWSA", text: "esp spi 0xc1a00002 dst 192.0.2.10 reqid 1", peerID: idA),
            TimelineEntry(time: now - 1234, kind: "REKEY", level: .ok, text: "0xc1a00000 -> 0xc1a00002", peerID: idA),
            TimelineEntry(time: now - 600, kind: "MAPPING", level: .warn, text: "198.51.100.7:4500 -> 198.51.100.7:28001", peerID: idA),
            TimelineEntry(time: now - 120, kind: "MAPPING", level: .warn, text: "198.51.100.7:28001 -> 198.51.100.7:31245", peerID: idA),
            TimelineEntry(time: now - 47, kind: "KA-LATE", level: .warn, text: "no keepalive from 203.0.113.45 for 47s", peerID: idB),
            TimelineEntry(time: now - 2, kind: "ALLOCSPI", text: "larval esp spi 0x00000d0e dst 2001:db8::10\u{7}", peerID: id6),
            TimelineEntry(time: now - 1, kind: "DELETE", level: .error, text: "EPERM: Operation not permitted (kernel: no such SA)"),
        ]
        let stat = [
            StatCounter(name: "XfrmInError", value: 0, delta: 0),
            StatCounter(name: "XfrmInNoStates", value: 17, delta: 3),
            StatCounter(name: "XfrmInStateProtoError", value: 2, delta: 1),
            StatCounter(name: "XfrmInStateSeqError", value: 0, delta: 0),
            StatCounter(name: "XfrmOutNoStates", value: 4, delta: 0),
            StatCounter(name: "XfrmAcquireError", value: 1, delta: 0),
        ]
        let header = HeaderInfo(host: "gw1.example", netns: "default", kernel: "6.18.0", saCount: sas.count,
                                policyCount: policies.count, rateIn: 8_400_000, rateOut: 1_250_512, resync: nil,
                                refreshInterval: 1, paused: false, captureNote: "keepalive capture on 4500")
        return DashboardData(header: header, sas: sas, peers: peers, policies: policies, timeline: timeline, xfrmStat: stat)
    }

    static func dashboard(cols: Int = 120, rows: Int = 40, options: DashboardOptions = DashboardOptions(),
                          data: DashboardData = Fixtures.data()) -> Dashboard {
        var d = Dashboard(options: options, cols: cols, rows: rows)
        d.update(data, now: now)
        return d
    }
}
