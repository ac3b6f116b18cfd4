import XCTest
import IPsecModel
import XFRMWire
@testable import IPsecViews

/// The dashboard fed from the real reducer (two SA dumps one second apart, a policy dump, xfrm_stat).
final class ModelAdapterTests: XCTestCase {
    let now = Fixtures.now
    let host = HostInfo(host: "gw1.example", netns: "ipsec-test", kernel: "6.18.0")

    func model() -> LiveModel {
        var m = LiveModel()
        let d = Fixtures.data()
        func states(bump: UInt64) -> [XFRMState] {
            d.sas.map { r in
                var s = r.state
                if s.lifetimeCurrent.bytes > 0 { s.lifetimeCurrent.bytes += bump * 1000; s.lifetimeCurrent.packets += bump }
                return s
            }
        }
        m.apply(.localAddresses([Fixtures.local, Fixtures.local6]), at: now - 2)
        m.apply(.dumpBegan(.sa), at: now - 1)
        m.apply(.saDump(states(bump: 0)), at: now - 1)
        m.apply(.dumpBegan(.policy), at: now - 1)
        m.apply(.policyDump(d.policies.map(\.policy)), at: now - 1)
        m.apply(.xfrmStat("XfrmInError 0\nXfrmInNoStates 14\n"), at: now - 1)
        m.apply(.xfrmStat("XfrmInError 0\nXfrmInNoStates 17\n"), at: now)
        m.apply(.dumpBegan(.sa), at: now)
        m.apply(.saDump(states(bump: 100)), at: now)
        m.apply(.action(ActionResult(kind: "delete", target: "esp spi 0x0000b001 dst 203.0.113.45",
                                     outcome: .failed(errno: 2, message: "no such SA"))), at: now)
        return m
    }

    func testDataFromTheModel() {
        let data = DashboardData(model: model(), now: now, host: host)
        XCTAssertEqual(data.sas.count, 6)
        XCTAssertEqual(data.header.saCount, 6)
        XCTAssertEqual(data.header.policyCount, 5)
        XCTAssertEqual(data.header.host, "gw1.example")
        XCTAssertEqual(data.statErrors.map(\.name), ["XfrmInNoStates"])
        XCTAssertGreaterThan(data.peers.count, 0)
        XCTAssertTrue(data.sas.contains { $0.byteRate > 0 }, "two dumps give a rate")
        XCTAssertTrue(data.sas.allSatisfy { $0.peerID != nil })
        XCTAssertTrue(data.timeline.contains { $0.kind == "DELETE" && $0.level == .error })
        XCTAssertEqual(data.sas.first { $0.state.spi == 0xc1a0_0001 }?.direction, .outbound)
    }

    func testDashboardRendersModelData() {
        var d = Dashboard(cols: 120, rows: 40)
        d.update(DashboardData(model: model(), now: now, host: host), now: now)
        let text = d.render(now: now).text
        XCTAssertTrue(text.contains("0xc1a00001"))
        XCTAssertTrue(text.contains("netns ipsec-test"))
        XCTAssertTrue(text.contains("XfrmInNoStates +3"))
        _ = d.handle(.key(.character("2")), now: now)
        _ = d.handle(.key(.enter), now: now)
        guard case .peer = d.screen else { return XCTFail("no peer page") }
        // Facts, not a whole-screen snapshot: the model's wording may change independently.
        let page = d.render(now: now).text
        for part in ["Peer 192.0.2.10 ⇄ 198.51.100.7", "─ SAs (2)", "0xc1a00001", "0xc1a00002", "─ Policies (3)",
                     "─ NAT-T", "espinudp", "remote port 31245", "─ Keepalive", "reason ", "─ Traffic history",
                     "─ Timeline", "─ Actions"] {
            XCTAssertTrue(page.contains(part), part)
        }
        _ = d.handle(.key(.enter), now: now)
        guard case .sa = d.screen else { return XCTFail("no SA detail") }
        let detail = d.render(now: now).text
        XCTAssertTrue(detail.contains("(inferred: "), detail)
        XCTAssertTrue(detail.contains("rfc4106(gcm(aes)) (288 bits, icv 128)"))
    }

    func testActionResultLogLine() {
        let ok = ActionLogEntry(ActionResult(kind: "rekey", target: "t", outcome: .succeeded), time: now)
        XCTAssertEqual(ok.result, "ok")
        let bad = ActionLogEntry(ActionResult(kind: "rekey", target: "t", outcome: .failed(errno: 22, message: "SA is larval")), time: now)
        XCTAssertEqual(bad.result, "EINVAL (22): SA is larval")
        XCTAssertEqual(bad.level, .error)
    }
}
