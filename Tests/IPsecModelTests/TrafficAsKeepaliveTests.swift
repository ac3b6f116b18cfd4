import XCTest
@testable import IPsecModel
import XFRMWire

/// Kernel 6.1 sends no XFRMA_LASTUSED; traffic must still count as keepalive (seen in the lab
/// sample: keepalives stop while traffic flows, and the status read LATE).
final class TrafficAsKeepaliveTests: XCTestCase {
    func testRisingCountersKeepKeepaliveOKWithoutLastUsed() throws {
        var m = LiveModel()
        let t = Fx.t0
        _ = m.apply(.capture(.active), at: t)
        _ = m.apply(.dumpBegan(.policy), at: t)
        _ = m.apply(.policyDump([]), at: t)
        var bytes: UInt64 = 0
        func dump(at time: ModelTime) {
            _ = m.apply(.dumpBegan(.sa), at: time)
            _ = m.apply(.saDump([Fx.inb(0x100, bytes: bytes, packets: bytes / 84, encap: (40474, 4500)),
                                 Fx.out(0x200, bytes: bytes, packets: bytes / 84, encap: (4500, 40474))]), at: time)
        }
        dump(at: t)
        // Keepalives from the peer every 5 s establish the interval...
        for i in 0..<3 {
            _ = m.apply(.keepalive(KeepaliveObservation(direction: .inbound, source: Fx.remote, sourcePort: 40474,
                                                        destination: Fx.local, destinationPort: 4500,
                                                        time: t + Double(i) * 5)), at: t + Double(i) * 5)
        }
        // ...then traffic starts and the peer stops sending keepalives (it only sends them when idle).
        for s in 11...40 {
            bytes += 84
            dump(at: t + Double(s))
        }
        _ = m.apply(.tick, at: t + 40)
        let peer = try XCTUnwrap(m.peers.first)
        let status = try XCTUnwrap(m.keepaliveStatus(for: peer.key, at: t + 40))
        XCTAssertEqual(status.state, .ok, status.reason)
        XCTAssertTrue(status.reason.contains("traffic"), status.reason)
        // When the traffic stops too, it turns LATE.
        for s in 41...55 { dump(at: t + Double(s)) }
        _ = m.apply(.tick, at: t + 55)
        let late = try XCTUnwrap(m.keepaliveStatus(for: peer.key, at: t + 55))
        XCTAssertEqual(late.state, .late, late.reason)
    }
}
