import XCTest
@testable import IPsecModel
import XFRMWire

/// Seen in the lab: after a NAT rebinding strongSwan deletes the inbound SA and adds it again with
/// the same SPI and the new port. The tunnel's totals must go on, and the SA must not become its
/// own predecessor (a self-link made the chain walk count the SA again and again).
final class MappingRecreateTests: XCTestCase {
    func testSameSPIReaddedKeepsTotalsWithoutSelfLink() throws {
        var m = LiveModel()
        let t = Fx.t0
        func dump(_ states: [XFRMState], at time: ModelTime) {
            _ = m.apply(.dumpBegan(.sa), at: time)
            _ = m.apply(.saDump(states), at: time)
        }
        _ = m.apply(.dumpBegan(.policy), at: t)
        _ = m.apply(.policyDump([]), at: t)
        dump([Fx.inb(0xc64adea7, bytes: 3360, packets: 40, encap: (51922, 4500))], at: t)
        dump([Fx.inb(0xc64adea7, bytes: 3612, packets: 43, encap: (51922, 4500))], at: t + 1)
        let old = Fx.inb(0xc64adea7, bytes: 3612, packets: 43, encap: (51922, 4500))
        _ = m.apply(.kernel(.deleteSA(old.identity, source: old.source, state: old)), at: t + 2)
        // Re-added with the new NAT port and counters from zero.
        _ = m.apply(.kernel(.newSA(Fx.inb(0xc64adea7, bytes: 0, packets: 0, encap: (40474, 4500)))), at: t + 2)
        dump([Fx.inb(0xc64adea7, bytes: 420, packets: 5, encap: (40474, 4500))], at: t + 3)
        _ = m.apply(.tick, at: t + 3)
        let e = try XCTUnwrap(m.allSAs.first)
        XCTAssertNil(e.predecessor, "the SA became its own predecessor")
        XCTAssertEqual(e.tunnelTotals, TrafficTotals(bytes: 3612 + 420, packets: 43 + 5))
        XCTAssertTrue(m.rekeyLinks.isEmpty, "a re-add with the same SPI is no rekey")
        // A later real rekey carries the whole tunnel.
        _ = m.apply(.kernel(.newSA(Fx.inb(0xc8d4e4a5, bytes: 0, packets: 0, encap: (40474, 4500), addTime: 1_795_000_010))),
                    at: t + 4)
        let gone = Fx.inb(0xc64adea7, bytes: 500, packets: 6, encap: (40474, 4500))
        _ = m.apply(.kernel(.deleteSA(gone.identity, source: gone.source, state: gone)), at: t + 5)
        dump([Fx.inb(0xc8d4e4a5, bytes: 84, packets: 1, encap: (40474, 4500), addTime: 1_795_000_010)], at: t + 6)
        _ = m.apply(.tick, at: t + 6)
        let n = try XCTUnwrap(m.allSAs.first)
        XCTAssertEqual(n.spi, 0xc8d4e4a5)
        XCTAssertEqual(n.tunnelTotals, TrafficTotals(bytes: 3612 + 500 + 84, packets: 43 + 6 + 1))
    }
}
