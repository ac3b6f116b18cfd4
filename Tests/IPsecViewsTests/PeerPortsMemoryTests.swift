import XCTest
import IPsecModel
import XFRMWire
@testable import IPsecViews

/// The dashboard's memory of each NAT-T peer's ports (for highlighting a peer whose mapping changed).
final class PeerPortsMemoryTests: XCTestCase {
    let now = Fixtures.now

    func model(natLocalPort: UInt16) -> LiveModel {
        let l = Fixtures.local, a = Fixtures.peerA, b = Fixtures.peerB
        func sa(_ src: IPAddress, _ dst: IPAddress, _ spi: UInt32, _ encap: (UInt16, UInt16)?) -> XFRMState {
            Fixtures.state(src: src, dst: dst, spi: spi, reqid: 1, bytes: 0, packets: 0, age: 60, encap: encap)
        }
        var m = LiveModel()
        m.apply(.localAddresses([l]), at: now)
        m.apply(.dumpBegan(.sa), at: now)
        // Peer A behind a NAT (this host's port `natLocalPort`, the peer's 4500); peer B without NAT-T.
        m.apply(.saDump([sa(l, a, 0x10, (natLocalPort, 4500)), sa(a, l, 0x11, (4500, natLocalPort)),
                         sa(l, b, 0x20, nil), sa(b, l, 0x21, nil)]), at: now)
        return m
    }

    func testOnlyNATPeersAreRememberedAndAPortChangeIsReported() {
        var memory = PeerPortsMemory()
        var changed: [PeerKey] = []
        let first = model(natLocalPort: 4500)
        XCTAssertEqual(first.peers.count, 2)
        memory.update(first) { changed.append($0) }
        XCTAssertEqual(changed, [], "first sight is no change")
        XCTAssertEqual(memory.keys, [PeerKey(local: Fixtures.local, remote: Fixtures.peerA, remotePort: 4500)])
        memory.update(first) { changed.append($0) }
        XCTAssertEqual(changed, [])
        memory.update(model(natLocalPort: 4501)) { changed.append($0) }
        XCTAssertEqual(changed, [PeerKey(local: Fixtures.local, remote: Fixtures.peerA, remotePort: 4500)])
        XCTAssertEqual(memory.ports, [UInt32(4501) << 16 | 4500])
    }
}
