import XCTest
@testable import IPsecModel
import XFRMWire

/// The lab story from issue 3, scripted: a NATed peer with traffic, a rekey, a NAT rebinding,
/// keepalives, then silence.
final class ScenarioTests: XCTestCase {
    let t0 = Fx.t0

    func testNATedPeerThroughRekeyRebindingAndSilence() throws {
        let outPol = Fx.policy(dir: .outbound, index: 1, selector: Fx.subnetSelector(from: "192.0.2.0", to: "198.51.100.0"),
                               templates: [Fx.template(src: Fx.local, dst: Fx.remote, reqid: 1)])
        let inPol = Fx.policy(dir: .inbound, index: 2, selector: Fx.subnetSelector(from: "198.51.100.0", to: "192.0.2.0"),
                              templates: [Fx.template(src: Fx.remote, dst: Fx.local, reqid: 1)])
        // No XFRMA_SA_DIR (older kernel): direction comes from the policies.
        func sa(_ spi: UInt32, out: Bool, bytes: UInt64, port: UInt16, add: UInt64) -> XFRMState {
            var s = Fx.sa(src: out ? Fx.local : Fx.remote, dst: out ? Fx.remote : Fx.local, spi: spi,
                          bytes: bytes, packets: bytes / 100, addTime: add, encap: out ? (4500, port) : (port, 4500))
            s.attributes.lastUsed = bytes > 0 ? UInt64(Fx.t0) : nil
            return s
        }
        var m = LiveModel()
        var effects = m.apply(.capture(.active), at: t0)
        m.apply(.dumpBegan(.policy), at: t0)
        m.apply(.policyDump([outPol, inPol]), at: t0)
        m.apply(.dumpBegan(.sa), at: t0)
        effects += m.apply(.saDump([sa(0x11, out: true, bytes: 0, port: 4501, add: 1_794_999_990),
                                    sa(0x21, out: false, bytes: 0, port: 4501, add: 1_794_999_990)]), at: t0)
        XCTAssertEqual(effects, [.setKeepaliveCapturePorts([4500, 4501])])
        XCTAssertEqual(m.sync, .synchronised(lastResync: nil))

        var outSPI: UInt32 = 0x11, inSPI: UInt32 = 0x21, port: UInt16 = 4501, add: UInt64 = 1_794_999_990
        var outBase: UInt64 = 0, inBase: UInt64 = 0
        var lastTotal: UInt64 = 0
        func key() -> PeerKey { PeerKey(local: Fx.local, remote: Fx.remote, remotePort: port) }
        func second(_ i: Int, traffic: Bool) throws {
            let t = t0 + Double(i)
            let bytes: UInt64 = traffic ? 1000 * UInt64(i) : 40_000
            m.refresh([sa(outSPI, out: true, bytes: bytes - outBase, port: port, add: add),
                       sa(inSPI, out: false, bytes: bytes - inBase, port: port, add: add)], at: t)
            let p = try XCTUnwrap(m.peer(key()), "peer at \(i)")
            let total = p.outboundTotals.bytes
            XCTAssertGreaterThanOrEqual(total, lastTotal, "outbound total dropped at \(i)")
            lastTotal = total
            if traffic && i >= 2 {
                XCTAssertEqual(p.outboundRates.last2s.bytesPerSecond, 1000, accuracy: 1, "rate at \(i)")
                XCTAssertEqual(p.inboundRates.last2s.bytesPerSecond, 1000, accuracy: 1, "rate at \(i)")
            }
        }
        for i in 1...20 { try second(i, traffic: true) }

        // Rekey at t0+20.5: new SAs installed, old ones deleted with their final counters.
        let oldOut = sa(0x11, out: true, bytes: 20_300, port: port, add: add)
        let oldIn = sa(0x21, out: false, bytes: 20_300, port: port, add: add)
        m.apply(.kernel(.newSA(sa(0x22, out: false, bytes: 0, port: port, add: 1_795_000_020))), at: t0 + 20.4)
        m.apply(.kernel(.newSA(sa(0x12, out: true, bytes: 0, port: port, add: 1_795_000_020))), at: t0 + 20.4)
        m.apply(.kernel(.deleteSA(oldOut.identity, source: Fx.local, state: oldOut)), at: t0 + 20.5)
        m.apply(.kernel(.deleteSA(oldIn.identity, source: Fx.remote, state: oldIn)), at: t0 + 20.5)
        outSPI = 0x12; inSPI = 0x22; add = 1_795_000_020; outBase = 20_300; inBase = 20_300
        for i in 21...29 { try second(i, traffic: true) }
        XCTAssertEqual(m.rekeyLinks.map(\.summary).sorted(), ["0x00000011 -> 0x00000012", "0x00000021 -> 0x00000022"])
        XCTAssertEqual(m.peer(key())?.outboundTotals.bytes, 29_000)

        // NAT rebinding at t0+29.5.
        let mapping = try Fx.decodeOne(Fx.mappingDatagram(daddr: Fx.local, spi: 0x22, reqid: 1, oldSource: Fx.remote,
                                                          oldPort: 4501, newSource: Fx.remote, newPort: 1031))
        m.apply(.kernel(mapping), at: t0 + 29.5)
        port = 1031
        m.apply(.kernel(.updateSA(sa(0x22, out: false, bytes: 0, port: port, add: add))), at: t0 + 29.6)
        m.apply(.kernel(.updateSA(sa(0x12, out: true, bytes: 0, port: port, add: add))), at: t0 + 29.6)
        for i in 30...40 { try second(i, traffic: true) }
        let p = try XCTUnwrap(m.peer(key()))
        XCTAssertEqual(p.nat?.behindNAT, true)
        XCTAssertEqual(p.nat?.mappingHistory.map(\.summary), ["198.51.100.2:4501 -> 198.51.100.2:1031"])
        XCTAssertEqual(p.outboundTotals.bytes, 40_000, "totals survive the rekey and the rebinding")
        XCTAssertEqual(p.policies.count, 2)
        XCTAssertEqual(p.pairs, [SAPair(reqid: 1, inbound: sa(0x22, out: false, bytes: 0, port: port, add: add).identity,
                                        outbound: sa(0x12, out: true, bytes: 0, port: port, add: add).identity)])
        XCTAssertEqual(m.history(of: key()).suffix(10).map(\.outbound.bytes), Array(repeating: 1000, count: 10),
                       "history moved with the peer and continued")

        // Silence; the IKE daemon sends keepalives every 5 s, then an nftables rule drops them.
        for (n, i) in (41...60).enumerated() {
            if n % 5 == 0 {
                m.apply(.keepalive(KeepaliveObservation(direction: .outbound, source: Fx.local, sourcePort: 4500,
                                                        destination: Fx.remote, destinationPort: port,
                                                        time: t0 + Double(i))), at: t0 + Double(i))
            }
            try second(i, traffic: false)
        }
        XCTAssertEqual(m.peer(key())?.keepalive.state, .ok, m.peer(key())?.keepalive.reason ?? "")
        XCTAssertEqual(m.peer(key())?.outboundRates.last10s.bytesPerSecond, 0, "idle for 10 s: zero")
        for i in 61...65 { try second(i, traffic: false) }
        let ka = try XCTUnwrap(m.peer(key())?.keepalive)
        XCTAssertEqual(ka.state, .late)
        XCTAssertEqual(ka.reason, "nothing sent to 198.51.100.2:1031 for 9 s (> 1.5x interval 5 s, observed)")

        let names = Set(m.timeline(for: key()).map(\.name))
        XCTAssertTrue(names.isSuperset(of: ["REKEY", "MAPPING", "NEWSA", "DELSA", "UPDSA"]), "\(names)")
        XCTAssertEqual(m.header.peerCount, 1)
        XCTAssertEqual(m.header.saCount, 2)
    }
}
