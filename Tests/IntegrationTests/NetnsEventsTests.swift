import Foundation
import XCTest

/// `ipsectop events --json` against real kernel events in a fresh network namespace.
final class NetnsEventsTests: XCTestCase {
    func startEvents(_ ns: Netns, _ extra: [String] = []) throws -> Background {
        let bg = try Background([Harness.binary, "events", "--json", "--netns", ns.name] + extra)
        XCTAssertTrue(bg.waitFor { $0.stderr.contains("listening for XFRM events") }, "events never subscribed: \(bg.stderr)")
        return bg
    }

    func testPolicyLifecycleEventsInOrder() throws {
        try Harness.requireRoot("policy events")
        let ns = try Netns()
        let bg = try startEvents(ns, ["--count", "5"])
        try ns.ip("xfrm policy add src 192.0.2.0/24 dst 198.51.100.0/24 dir out priority 10 tmpl src 203.0.113.1 dst 203.0.113.2 proto esp reqid 4 mode tunnel")
        try ns.ip("xfrm policy update src 192.0.2.0/24 dst 198.51.100.0/24 dir out priority 20 tmpl src 203.0.113.1 dst 203.0.113.2 proto esp reqid 4 mode tunnel")
        try ns.ip("xfrm policy add src 198.51.100.0/24 dst 192.0.2.0/24 dir in")
        try ns.ip("xfrm policy delete src 192.0.2.0/24 dst 198.51.100.0/24 dir out")
        // The kernel announces a flush only when it removed something.
        try ns.ip("xfrm policy flush")
        XCTAssertEqual(bg.finish(), 0, bg.stderr)
        let ev = bg.jsonLines
        XCTAssertEqual(ev.map { $0["type"] as? String }, ["NEWPOLICY", "UPDPOLICY", "NEWPOLICY", "DELPOLICY", "FLUSHPOLICY"])
        let first = ev.first?["policy"] as? [String: Any]
        XCTAssertEqual(first?["priority"] as? Int, 10)
        XCTAssertEqual((first?["selector"] as? [String: Any])?["dst"] as? String, "198.51.100.0/24")
        XCTAssertEqual(((first?["templates"] as? [[String: Any]])?.first)?["reqid"] as? Int, 4)
        XCTAssertEqual((ev[1]["policy"] as? [String: Any])?["priority"] as? Int, 20)
        XCTAssertEqual(ev[3]["dir"] as? String, "out")
        XCTAssertNotNil(ev[0]["time"] as? String)
        XCTAssertEqual(ev[0]["group"] as? String, "policy")
    }

    func testAcquireFromTrafficThenLarvalHardExpire() throws {
        try Harness.requireRoot("acquire and expire")
        let ns = try Netns()
        try ns.exec("sysctl -qw net.core.xfrm_acq_expires=2")
        try ns.ip("link add v0 type veth peer name v1")
        try ns.ip("link set v0 up")
        try ns.ip("link set v1 up")
        try ns.ip("addr add 192.0.2.1/24 dev v0")
        try ns.ip("route add 198.51.100.0/24 dev v0")
        try ns.ip("xfrm policy add src 192.0.2.1/32 dst 198.51.100.7/32 dir out tmpl src 192.0.2.1 dst 198.51.100.7 proto esp reqid 11 mode transport")
        let bg = try startEvents(ns, ["--duration", "8"])
        // Traffic hitting a policy with no SA makes the kernel ask for one (ACQUIRE).
        try ns.exec("ping -c 1 -W 1 198.51.100.7", check: false)
        XCTAssertTrue(bg.waitFor(timeout: 8) { $0.stdout.contains("\"EXPIRE\"") }, "no EXPIRE: \(bg.stdout)")
        _ = bg.finish(timeout: 10)
        let ev = bg.jsonLines
        let types = ev.compactMap { $0["type"] as? String }
        guard let acq = ev.first(where: { $0["type"] as? String == "ACQUIRE" }) else {
            return XCTFail("no ACQUIRE in \(types)")
        }
        XCTAssertEqual(acq["dst"] as? String, "198.51.100.7")
        XCTAssertEqual(acq["proto"] as? String, "esp")
        XCTAssertEqual(((acq["templates"] as? [[String: Any]])?.first)?["reqid"] as? Int, 11)
        guard let exp = ev.first(where: { $0["type"] as? String == "EXPIRE" }) else { return XCTFail("no EXPIRE in \(types)") }
        XCTAssertEqual(exp["hard"] as? Bool, true)
        XCTAssertEqual((exp["sa"] as? [String: Any])?["dst"] as? String, "198.51.100.7")
        XCTAssertLessThan(types.firstIndex(of: "ACQUIRE")!, types.firstIndex(of: "EXPIRE")!)
    }

    func testAllocspiLarvalHardExpireAndDelete() throws {
        try Harness.requireRoot("larval expire/delete")
        let ns = try Netns()
        try ns.exec("sysctl -qw net.core.xfrm_acq_expires=1")
        let bg = try startEvents(ns, ["--count", "2"])
        try ns.ip("xfrm state allocspi src 203.0.113.1 dst 203.0.113.2 proto esp min 0x900 max 0x900")
        try ns.ip("xfrm state allocspi src 203.0.113.1 dst 203.0.113.3 proto esp min 0x901 max 0x901")
        try ns.ip("xfrm state delete src 203.0.113.1 dst 203.0.113.3 proto esp spi 0x901")
        XCTAssertEqual(bg.finish(timeout: 10), 0, bg.stderr)
        let ev = bg.jsonLines
        // Larval states never show up as NEWSA; the delete comes first, the expiry about a second later.
        XCTAssertEqual(ev.compactMap { $0["type"] as? String }, ["DELSA", "EXPIRE"])
        XCTAssertEqual(ev.first?["spi"] as? String, "0x00000901")
        XCTAssertEqual(((ev.last?["sa"] as? [String: Any])?["spi"]) as? String, "0x00000900")
        XCTAssertEqual(ev.last?["hard"] as? Bool, true)
    }

    func testRecordThenReplayGivesSameEvents() throws {
        try Harness.requireRoot("record/replay")
        let ns = try Netns()
        let rec = NSTemporaryDirectory() + "ipsectop-rec-\(getpid()).xfrmrec"
        defer { unlink(rec) }
        let bg = try startEvents(ns, ["--count", "3", "--record", rec])
        try ns.ip("xfrm policy add src 192.0.2.0/24 dst 198.51.100.0/24 dir in")
        try ns.ip("xfrm policy add src 192.0.2.0/24 dst 198.51.100.0/24 dir out")
        try ns.ip("xfrm policy flush")
        XCTAssertEqual(bg.finish(), 0)
        let live = bg.jsonLines.map { $0["type"] as? String }
        let replay = try Harness.run([Harness.binary, "events", "--json", "--replay", rec], check: true)
        let replayed = replay.stdout.split(separator: "\n").compactMap {
            ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any])?["type"] as? String
        }
        XCTAssertEqual(live, ["NEWPOLICY", "NEWPOLICY", "FLUSHPOLICY"])
        XCTAssertEqual(replayed, ["NEWPOLICY", "NEWPOLICY", "FLUSHPOLICY"])
    }

    func testOverrunIsReportedAndResynced() throws {
        try Harness.requireRoot("overrun")
        let ns = try Netns()
        var batch = ""
        for i in 0..<3_000 { batch += "xfrm policy add src 192.0.2.\(i % 250 + 1)/32 dst 198.51.100.\(i / 250 + 1)/32 dir out\n" }
        let file = NSTemporaryDirectory() + "ipsectop-overrun-\(getpid()).batch"
        try batch.write(toFile: file, atomically: true, encoding: .utf8)
        defer { unlink(file) }
        let bg = try startEvents(ns, ["--rcvbuf", "4096", "--duration", "30"])
        try ns.ip("-batch \(file)")
        XCTAssertTrue(bg.waitFor(timeout: 20) { $0.stdout.contains("\"RESYNCED\"") }, "no resync reported")
        bg.process.interrupt()
        _ = bg.finish()
        let ev = bg.jsonLines
        let resync = try XCTUnwrap(ev.first { $0["type"] as? String == "RESYNC" })
        XCTAssertTrue((resync["summary"] as? String ?? "").contains("ENOBUFS"), "\(resync)")
        XCTAssertEqual(resync["kind"] as? String, "resync")
        XCTAssertLessThan(ev.filter { $0["type"] as? String == "NEWPOLICY" }.count, 3_000, "nothing was lost: the test proves nothing")
        // The model's peer and direction ride along on SA events.
        XCTAssertTrue(ev.filter { $0["type"] as? String == "NEWPOLICY" }.allSatisfy { $0["model"] is [String: Any] })
    }
}
