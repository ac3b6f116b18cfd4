import XCTest
@testable import IPsecModel
import XFRMWire

final class RatesAndStitchingTests: XCTestCase {
    let t0 = Fx.t0

    func testRatesOverTwoTenAndFortySecondWindows() throws {
        var m = Fx.model([Fx.out(0xA)])
        for i in 1...45 {
            m.refresh([Fx.out(0xA, bytes: UInt64(1000 * i), packets: UInt64(10 * i))], at: t0 + Double(i))
        }
        let id = Fx.out(0xA).identity
        var r = m.rates(of: try XCTUnwrap(m.sa(id)))
        XCTAssertEqual(r.last2s.bytesPerSecond, 1000, accuracy: 0.01)
        XCTAssertEqual(r.last10s.bytesPerSecond, 1000, accuracy: 0.01)
        XCTAssertEqual(r.last40s.bytesPerSecond, 1000, accuracy: 0.01)
        XCTAssertEqual(r.last40s.packetsPerSecond, 10, accuracy: 0.001)

        // Traffic stops: the windows drain at their own pace.
        for i in 46...48 {
            m.refresh([Fx.out(0xA, bytes: 45_000, packets: 450)], at: t0 + Double(i))
        }
        r = m.rates(of: try XCTUnwrap(m.sa(id)))
        XCTAssertEqual(r.last2s.bytesPerSecond, 0, accuracy: 0.01)
        XCTAssertEqual(r.last10s.bytesPerSecond, 700, accuracy: 0.01)   // 7 s of traffic in 10 s
        XCTAssertEqual(r.last40s.bytesPerSecond, 925, accuracy: 0.01)   // 37 s of traffic in 40 s
        // The peer sums its SAs.
        let peer = try XCTUnwrap(m.peers.first)
        XCTAssertEqual(peer.outboundRates.last10s.bytesPerSecond, 700, accuracy: 0.01)
        XCTAssertEqual(peer.inboundRates.last10s.bytesPerSecond, 0)
        // Within 10 s of silence every window reads zero.
        for i in 49...90 { m.refresh([Fx.out(0xA, bytes: 45_000, packets: 450)], at: t0 + Double(i)) }
        r = m.rates(of: try XCTUnwrap(m.sa(id)))
        XCTAssertEqual(r.last40s.bytesPerSecond, 0)
    }

    func testIrregularRefreshUsesActualSpan() throws {
        var m = Fx.model([Fx.out(0xA)])
        m.refresh([Fx.out(0xA, bytes: 3000)], at: t0 + 3)     // a late refresh: 3 s span
        let r = m.rates(of: try XCTUnwrap(m.sa(Fx.out(0xA).identity)))
        XCTAssertEqual(r.last2s.bytesPerSecond, 1000, accuracy: 0.01)
    }

    func testFirstSightingIsABaselineNotABurst() throws {
        var m = Fx.model([Fx.out(0xA, bytes: 9_000_000)])
        m.refresh([Fx.out(0xA, bytes: 9_001_000)], at: t0 + 1)
        XCTAssertEqual(m.rates(of: try XCTUnwrap(m.sa(Fx.out(0xA).identity))).last2s.bytesPerSecond, 1000, accuracy: 0.01)
    }

    func testCounterResetKeepsTotalsAndRatesSane() throws {
        var m = Fx.model([Fx.out(0xA)])
        m.refresh([Fx.out(0xA, bytes: 5000, packets: 50)], at: t0 + 1)
        m.refresh([Fx.out(0xA, bytes: 200, packets: 2)], at: t0 + 2)
        let e = try XCTUnwrap(m.sa(Fx.out(0xA).identity))
        XCTAssertEqual(e.counterResets, 1)
        XCTAssertEqual(e.totals, TrafficTotals(bytes: 5200, packets: 52))
        XCTAssertEqual(m.rates(of: e).last2s.bytesPerSecond, 2600, accuracy: 0.01)
        XCTAssertEqual(e.tunnelTotals.bytes, 5200)
    }

    func testRekeyStitchingTotalsNeverDropAndSPIsAreLinked() throws {
        let a = Fx.out(0xA, addTime: 1_794_999_000)
        var m = Fx.model([a])
        var lastTotal: UInt64 = 0
        func check(_ id: SAIdentity, _ expected: UInt64, line: UInt = #line) throws {
            let total = try XCTUnwrap(m.tunnelTotals(of: id), line: line).bytes
            XCTAssertEqual(total, expected, line: line)
            XCTAssertGreaterThanOrEqual(total, lastTotal, "tunnel total dropped", line: line)
            XCTAssertEqual(m.peers.first?.outboundTotals.bytes, expected, line: line)
            lastTotal = total
        }
        for i in 1...5 { m.refresh([Fx.out(0xA, bytes: UInt64(1000 * i))], at: t0 + Double(i)) }
        try check(a.identity, 5000)
        // The IKE daemon installs the new SA, then deletes the old one.
        let b = Fx.out(0xB, addTime: 1_795_000_005)
        m.apply(.kernel(.newSA(b)), at: t0 + 5.5)
        XCTAssertEqual(m.sa(b.identity)?.predecessor, a.identity)
        XCTAssertEqual(m.sa(a.identity)?.successor, b.identity)
        XCTAssertEqual(m.rekeyLinks.last?.old, a.identity)
        XCTAssertEqual(m.rekeyLinks.last?.new, b.identity)
        XCTAssertEqual(m.rekeyLinks.last?.summary, "0x0000000a -> 0x0000000b")
        XCTAssertTrue(m.timeline.contains { $0.kind == .rekey && $0.summary.contains("0x0000000a -> 0x0000000b") })

        m.refresh([Fx.out(0xA, bytes: 6000), Fx.out(0xB, bytes: 0, addTime: 1_795_000_005)], at: t0 + 6)
        try check(b.identity, 6000)
        m.refresh([Fx.out(0xA, bytes: 6500), Fx.out(0xB, bytes: 500, addTime: 1_795_000_005)], at: t0 + 7)
        try check(b.identity, 7000)
        // DELSA carries the old SA's final counters.
        m.apply(.kernel(.deleteSA(a.identity, source: a.source, state: Fx.out(0xA, bytes: 6800))), at: t0 + 7.5)
        XCTAssertNil(m.sa(a.identity))
        m.refresh([Fx.out(0xB, bytes: 1500, addTime: 1_795_000_005)], at: t0 + 8)
        try check(b.identity, 8300)
        // The 2 s window (t0+6 .. t0+8) keeps the old SA's traffic: 500 + 500 + 300 + 1000 bytes.
        XCTAssertEqual(m.rates(of: try XCTUnwrap(m.sa(b.identity))).last2s.bytesPerSecond, 1150, accuracy: 0.01)
        XCTAssertEqual(m.peers.first?.outboundRates.last2s.bytesPerSecond ?? 0, 1150, accuracy: 0.01)
        // Link survives the old SA's deletion.
        XCTAssertEqual(m.sa(b.identity)?.predecessor, a.identity)
        // What the rekey left (link, inherited totals) is in the small box; the chain's rarer parts
        // (its successor link, the other live SA's totals) went with the old SA.
        let extras = try XCTUnwrap(m.lookup(b.identity).flatMap { m.entries[Int($0)].extrasBox })
        XCTAssertTrue(extras.value.hasPredecessor)
        XCTAssertNil(extras.value.rare)
    }

    func testSecondRekeyAfterThePredecessorWentKeepsTheChainTotals() throws {
        let a = Fx.out(0xA, addTime: 1_794_999_000)
        var m = Fx.model([a])
        m.refresh([Fx.out(0xA, bytes: 5000)], at: t0 + 1)
        m.apply(.kernel(.newSA(Fx.out(0xB, addTime: 1_795_000_002))), at: t0 + 1.5)
        m.refresh([Fx.out(0xA, bytes: 6000), Fx.out(0xB, bytes: 100, addTime: 1_795_000_002)], at: t0 + 2)
        m.apply(.kernel(.deleteSA(a.identity, source: a.source, state: Fx.out(0xA, bytes: 6800))), at: t0 + 2.5)
        m.refresh([Fx.out(0xB, bytes: 1500, addTime: 1_795_000_002)], at: t0 + 3)
        let b = Fx.out(0xB).identity
        XCTAssertEqual(m.tunnelTotals(of: b)?.bytes, 8300)
        // The refresh found the predecessor gone and stopped looking for it; the link stays.
        var bi = try XCTUnwrap(m.lookup(b).map(Int.init))
        XCTAssertTrue(m.entries[bi].predecessorGone)
        XCTAssertEqual(m.sa(b)?.predecessor, a.identity)
        m.refresh([Fx.out(0xB, bytes: 1700, addTime: 1_795_000_002)], at: t0 + 4)
        XCTAssertEqual(m.tunnelTotals(of: b)?.bytes, 8500)

        // The next rekey links C to the live B: the chain walk takes B's counters again.
        let c = Fx.out(0xC, addTime: 1_795_000_005)
        m.apply(.kernel(.newSA(c)), at: t0 + 4.5)
        XCTAssertEqual(m.sa(c.identity)?.predecessor, b)
        m.refresh([Fx.out(0xB, bytes: 2000, addTime: 1_795_000_002), Fx.out(0xC, bytes: 100, addTime: 1_795_000_005)],
                  at: t0 + 5)
        let ci = try XCTUnwrap(m.lookup(c.identity).map(Int.init))
        XCTAssertFalse(m.entries[ci].predecessorGone)
        XCTAssertEqual(m.tunnelTotals(of: c.identity)?.bytes, 6800 + 2000 + 100)
        XCTAssertEqual(m.tunnelTotals(of: b)?.bytes, 6800 + 2000 + 100)
        XCTAssertEqual(m.peers.first?.outboundTotals.bytes, 6800 + 2000 + 100)
        m.apply(.kernel(.deleteSA(b, source: a.source, state: Fx.out(0xB, bytes: 2100, addTime: 1_795_000_002))),
                at: t0 + 5.5)
        m.refresh([Fx.out(0xC, bytes: 300, addTime: 1_795_000_005)], at: t0 + 6)
        XCTAssertEqual(m.tunnelTotals(of: c.identity)?.bytes, 6800 + 2100 + 300)
        XCTAssertEqual(m.peers.first?.outboundTotals.bytes, 6800 + 2100 + 300)
        bi = try XCTUnwrap(m.lookup(c.identity).map(Int.init))
        XCTAssertTrue(m.entries[bi].predecessorGone)
    }

    func testRekeyByHardExpireWithoutBodyCountersUsesLastKnown() throws {
        var m = Fx.model([Fx.out(0xA)])
        m.refresh([Fx.out(0xA, bytes: 4000)], at: t0 + 1)
        m.apply(.kernel(.newSA(Fx.out(0xB, addTime: 1_795_000_001))), at: t0 + 1.2)
        m.apply(.kernel(.expire(Fx.out(0xA), hard: true)), at: t0 + 1.5)  // body counters lower: ignored
        m.refresh([Fx.out(0xB, bytes: 10, addTime: 1_795_000_001)], at: t0 + 2)
        XCTAssertEqual(m.tunnelTotals(of: Fx.out(0xB).identity)?.bytes, 4010)
    }

    func testBreakBeforeMakeRekeyInheritsTotals() throws {
        // Some daemons delete the old SA before installing the new one: the tunnel waits as an orphan.
        var m = Fx.model([Fx.out(0xA)])
        m.refresh([Fx.out(0xA, bytes: 7000)], at: t0 + 1)
        m.apply(.kernel(.deleteSA(Fx.out(0xA).identity, source: nil, state: Fx.out(0xA, bytes: 7100))), at: t0 + 1.5)
        XCTAssertEqual(m.peers.count, 1, "peers are recomputed at the next dump or tick")
        m.apply(.kernel(.newSA(Fx.out(0xB, addTime: 1_795_000_002))), at: t0 + 1.6)
        m.refresh([Fx.out(0xB, bytes: 50, addTime: 1_795_000_002)], at: t0 + 2)
        let b = try XCTUnwrap(m.sa(Fx.out(0xB).identity))
        XCTAssertEqual(b.tunnelTotals.bytes, 7150)
        XCTAssertEqual(b.predecessor?.spi, 0xA)
        XCTAssertEqual(m.rekeyLinks.map(\.summary), ["0x0000000a -> 0x0000000b"])
        XCTAssertEqual(m.peers.first?.outboundTotals.bytes, 7150)
    }

    func testAllocSPIThenUpdateLinksWhenTheSABecomesUsable() throws {
        let old = Fx.inb(0xA1, addTime: 1_794_999_000)
        var m = Fx.model([old])
        // charon allocates the new inbound SPI (larval), then fills it with UPDSA.
        let larval = Fx.sa(src: Fx.remote, dst: Fx.local, spi: 0xA2, dir: .inbound, addTime: 1_795_000_001, larval: true)
        m.refresh([old, larval], at: t0 + 1)
        XCTAssertTrue(m.rekeyLinks.isEmpty, "a larval SA is not yet a successor")
        m.apply(.kernel(.updateSA(Fx.inb(0xA2, addTime: 1_795_000_001))), at: t0 + 1.5)
        XCTAssertEqual(m.rekeyLinks.map(\.summary), ["0x000000a1 -> 0x000000a2"])
        XCTAssertFalse(try XCTUnwrap(m.sa(Fx.inb(0xA2).identity)).isLarval)
    }

    func testDifferentReqidIsNotASuccessor() {
        var m = Fx.model([Fx.out(0xA, reqid: 1)])
        m.apply(.kernel(.newSA(Fx.out(0xB, reqid: 2))), at: t0 + 1)
        XCTAssertNil(m.sa(Fx.out(0xB, reqid: 2).identity)?.predecessor)
        XCTAssertTrue(m.rekeyLinks.isEmpty)
    }

    func testPeerHistoryRingRecordsTrafficOnlyForBusyPeers() {
        var m = Fx.model([Fx.out(0xA), Fx.sa(src: Fx.local, dst: Fx.remote2, spi: 0xC, dir: .outbound)])
        for i in 1...700 {
            m.refresh([Fx.out(0xA, bytes: UInt64(100 * i)),
                       Fx.sa(src: Fx.local, dst: Fx.remote2, spi: 0xC, dir: .outbound)], at: t0 + Double(i))
        }
        let busy = PeerKey(local: Fx.local, remote: Fx.remote)
        let idle = PeerKey(local: Fx.local, remote: Fx.remote2)
        let h = m.history(of: busy)
        XCTAssertEqual(h.count, 600)                     // bounded: 10 minutes at 1 s
        XCTAssertEqual(h.last?.outbound.bytes, 100)
        XCTAssertEqual(h.last?.outboundBytesPerSecond ?? 0, 100, accuracy: 0.001)
        XCTAssertEqual(h.last?.time, t0 + 700)
        XCTAssertTrue(m.history(of: idle).isEmpty)
        XCTAssertEqual(m.totalHistory.count, 600)
    }

    /// At the ring limit, the peers whose SAs come first in the dump get the rings; each ring holds
    /// its peer's traffic by direction, summed over the peer's SAs.
    func testHistoryRingsGoToTheFirstPeersWithTrafficUpToTheLimit() {
        let remote3 = IPAddress("198.51.100.77")!
        func dump(_ k: UInt64) -> [XFRMState] {
            [Fx.sa(src: Fx.local, dst: Fx.remote2, spi: 0xB, dir: .outbound, bytes: 300 * k),
             Fx.out(0xA, bytes: 100 * k), Fx.inb(0xD, bytes: 40 * k), Fx.out(0xE, bytes: 5 * k, reqid: 2),
             Fx.sa(src: Fx.local, dst: remote3, spi: 0xC, dir: .outbound, bytes: 1000 * k)]
        }
        var m = Fx.model(dump(0)) { $0.historyPeerLimit = 2 }
        for i in 1...3 { m.refresh(dump(UInt64(i)), at: t0 + Double(i)) }
        let first = PeerKey(local: Fx.local, remote: Fx.remote2)
        let second = PeerKey(local: Fx.local, remote: Fx.remote)
        let third = PeerKey(local: Fx.local, remote: remote3)
        XCTAssertEqual(m.history(of: first).map(\.outbound.bytes), [300, 300, 300])
        XCTAssertEqual(m.history(of: second).map(\.outbound.bytes), [105, 105, 105])
        XCTAssertEqual(m.history(of: second).map(\.inbound.bytes), [40, 40, 40])
        XCTAssertTrue(m.history(of: third).isEmpty, "a third ring past the limit of 2")
        XCTAssertEqual(m.totalHistory.last?.outbound.bytes, 1405)
        XCTAssertEqual(m.totalHistory.last?.inbound.bytes, 40)
    }

    func testHistoryEncodingAndEviction() {
        for v: UInt64 in [0, 1, 2047, 2048, 123_456, 1_000_000_007, 40_000_000_000] {
            let d = HistoryRing.decode(HistoryRing.encode(v))
            XCTAssertLessThanOrEqual(abs(Double(d) - Double(v)), Double(v) * 0.001 + 0.5, "\(v) -> \(d)")
        }
        var m = Fx.model([Fx.out(0xA)]) { $0.historyDuration = 600 }
        m.refresh([Fx.out(0xA, bytes: 3_000_000_000)], at: t0 + 1)
        let busy = PeerKey(local: Fx.local, remote: Fx.remote)
        XCTAssertEqual(Double(m.history(of: busy).last?.outbound.bytes ?? 0), 3e9, accuracy: 3e6)
        // A whole ring of silence drops the peer's history.
        for i in 2...602 { m.refresh([Fx.out(0xA, bytes: 3_000_000_000)], at: t0 + Double(i)) }
        XCTAssertTrue(m.history(of: busy).isEmpty)
        XCTAssertEqual(m.totalHistory.count, 600)
    }
}
