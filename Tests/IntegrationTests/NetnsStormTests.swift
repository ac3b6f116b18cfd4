import Foundation
import XCTest

/// An event storm against a tiny receive buffer: ENOBUFS must happen, a resync must follow,
/// and the model must end equal to a fresh `ip` dump, object by object.
final class NetnsStormTests: XCTestCase {
    func testEventStormOverrunsSmallBufferAndResyncConverges() throws {
        try Harness.requireRoot("event storm")
        let ns = try Netns()
        // 12,000 policy adds, 4,000 updates, 4,000 deletes; 2,000 larval SAs of which 1,000 are deleted.
        var batch = ""
        var live: [(Int, Int)] = []
        for i in 0..<12_000 {
            let a = i / 250 + 1, b = i % 250 + 1
            batch += "xfrm policy add src 192.0.2.\(a)/32 dst 198.51.100.\(b)/32 dir out priority \(i % 100)\n"
            live.append((a, b))
        }
        for i in 0..<4_000 {
            let (a, b) = live[i]
            batch += "xfrm policy update src 192.0.2.\(a)/32 dst 198.51.100.\(b)/32 dir out priority 777\n"
        }
        for i in 4_000..<8_000 {
            let (a, b) = live[i]
            batch += "xfrm policy delete src 192.0.2.\(a)/32 dst 198.51.100.\(b)/32 dir out\n"
        }
        for i in 0..<2_000 {
            let spi = String(0x10000 + i, radix: 16)
            batch += "xfrm state allocspi src 203.0.113.1 dst 203.0.113.2 proto esp min 0x\(spi) max 0x\(spi)\n"
        }
        for i in stride(from: 0, to: 2_000, by: 2) {
            let spi = String(0x10000 + i, radix: 16)
            batch += "xfrm state delete src 203.0.113.1 dst 203.0.113.2 proto esp spi 0x\(spi)\n"
        }
        let file = NSTemporaryDirectory() + "ipsectop-storm-\(getpid()).batch"
        try batch.write(toFile: file, atomically: true, encoding: .utf8)
        defer { unlink(file) }

        let follower = try Background([Harness.binary, "snapshot", "--json", "--netns", ns.name, "--follow", "0",
                                       "--refresh", "3600", "--rcvbuf", "65536"])
        XCTAssertTrue(follower.waitFor { $0.stderr.contains("following XFRM events") }, follower.stderr)
        try ns.ip("-batch \(file)")
        follower.process.interrupt()
        XCTAssertEqual(follower.finish(timeout: 60), 0, follower.stderr)
        guard let snap = try JSONSerialization.jsonObject(with: Data(follower.stdout.utf8)) as? [String: Any] else {
            return XCTFail("no JSON: \(follower.stderr)")
        }
        let sync = snap["sync"] as? [String: Any]
        XCTAssertGreaterThanOrEqual(sync?["resyncs"] as? Int ?? 0, 1, "no ENOBUFS resync happened: \(sync ?? [:])")
        XCTAssertEqual(sync?["state"] as? String, "resynced")

        // Policies: index -> (selector, priority) must equal ip's, object by object.
        let ipPolicies = IPXfrmText.policies(try ns.ip("-s xfrm policy").stdout)
        var expected: [String: String] = [:]
        for p in ipPolicies { expected[p["index"]!] = "\(p["src"]!) \(p["dst"]!) \(p["dir"]!) \(p["priority"]!)" }
        var got: [String: String] = [:]
        for p in snap["policies"] as? [[String: Any]] ?? [] {
            let sel = p["selector"] as? [String: Any] ?? [:]
            got[String(p["index"] as? Int ?? -1)] = "\(sel["src"] as? String ?? "") \(sel["dst"] as? String ?? "") \(p["dir"] as? String ?? "") \(p["priority"] as? Int ?? -1)"
        }
        XCTAssertEqual(expected.count, 8_000)
        XCTAssertEqual(got.count, expected.count)
        let missing = expected.filter { got[$0.key] != $0.value }
        XCTAssertTrue(missing.isEmpty, "\(missing.count) policies differ, e.g. \(missing.first.map { "\($0) vs \(got[$0.key] ?? "absent")" } ?? "")")

        // SAs: the 1,000 larval SAs left.
        let ipSPIs = Set(IPXfrmText.states(try ns.ip("xfrm state").stdout).compactMap { $0["spi"] })
        let gotSPIs = Set((snap["sas"] as? [[String: Any]] ?? []).compactMap { $0["spi"] as? String })
        XCTAssertEqual(ipSPIs.count, 1_000)
        XCTAssertEqual(gotSPIs, ipSPIs)
    }
}
