import Foundation
import XCTest

/// Level-2 tests: the real binary against the host kernel's XFRM in a fresh network namespace.
final class NetnsSnapshotTests: XCTestCase {
    func sas(_ snap: [String: Any]) -> [[String: Any]] { snap["sas"] as? [[String: Any]] ?? [] }
    func policies(_ snap: [String: Any]) -> [[String: Any]] { snap["policies"] as? [[String: Any]] ?? [] }

    func testSnapshotAgreesWithIPForPoliciesAndLarvalSAs() throws {
        try Harness.requireRoot("snapshot vs ip")
        let ns = try Netns()
        try ns.ip("xfrm policy add src 192.0.2.0/24 dst 198.51.100.0/24 dir out priority 100 tmpl src 203.0.113.1 dst 203.0.113.2 proto esp reqid 5 mode tunnel")
        try ns.ip("xfrm policy add src 198.51.100.0/24 dst 192.0.2.0/24 dir in priority 100 tmpl src 203.0.113.2 dst 203.0.113.1 proto esp reqid 5 mode tunnel")
        try ns.ip("-6 xfrm policy add src 2001:db8:1::/64 dst 2001:db8:2::/64 dir fwd mark 0x5 mask 0xff tmpl src 2001:db8::1 dst 2001:db8::2 proto esp reqid 7 mode tunnel")
        try ns.ip("xfrm policy add src 192.0.2.7/32 dst 198.51.100.7/32 proto udp dport 4500 dir out action block")
        try ns.ip("xfrm state allocspi src 203.0.113.1 dst 203.0.113.2 proto esp min 0x1000 max 0x1fff")
        try ns.ip("xfrm state allocspi src 203.0.113.2 dst 203.0.113.1 proto esp reqid 9 mode tunnel min 0x2000 max 0x2fff")
        try ns.ip("-6 xfrm state allocspi src 2001:db8::1 dst 2001:db8::2 proto esp min 0x3000 max 0x3fff")

        let snap = try ns.snapshotJSON()
        let ipStates = IPXfrmText.states(try ns.ip("-s xfrm state").stdout)
        let ipPolicies = IPXfrmText.policies(try ns.ip("-s xfrm policy").stdout)
        XCTAssertEqual(sas(snap).count, 3)
        XCTAssertEqual(ipStates.count, 3)
        XCTAssertEqual(policies(snap).count, 4)
        XCTAssertEqual(ipPolicies.count, 4)

        for ref in ipStates {
            let match = sas(snap).first { ($0["spi"] as? String) == ref["spi"] && ($0["dst"] as? String) == ref["dst"] }
            guard let s = match else { XCTFail("SA \(ref) missing from snapshot"); continue }
            XCTAssertEqual(s["src"] as? String, ref["src"])
            XCTAssertEqual(s["proto"] as? String, ref["proto"])
            XCTAssertEqual((s["reqid"] as? Int).map(String.init), ref["reqid"])
            XCTAssertEqual(s["mode"] as? String, ref["mode"])
            XCTAssertEqual((s["replay_window"] as? Int).map(String.init), ref["replay_window"])
            XCTAssertEqual((s["bytes"] as? Int).map(String.init), ref["bytes"])
            XCTAssertEqual((s["packets"] as? Int).map(String.init), ref["packets"])
            XCTAssertEqual(s["larval"] as? Bool, true)
            let sel = s["selector"] as? [String: Any]
            XCTAssertEqual(sel?["src"] as? String, ref["sel_src"])
            XCTAssertEqual(sel?["dst"] as? String, ref["sel_dst"])
            let limits = s["limits"] as? [String: Any]
            XCTAssertEqual((limits?["hard_add_seconds"] as? Int).map(String.init), ref["hard_add"])
        }
        for ref in ipPolicies {
            let match = policies(snap).first { ($0["index"] as? Int).map(String.init) == ref["index"] && ($0["dir"] as? String) == ref["dir"] }
            guard let p = match else { XCTFail("policy \(ref) missing from snapshot"); continue }
            let sel = p["selector"] as? [String: Any]
            XCTAssertEqual(sel?["src"] as? String, ref["src"])
            XCTAssertEqual(sel?["dst"] as? String, ref["dst"])
            XCTAssertEqual(p["action"] as? String, ref["action"])
            XCTAssertEqual((p["priority"] as? Int).map(String.init), ref["priority"])
            let tmpls = p["templates"] as? [[String: Any]] ?? []
            XCTAssertEqual(String(tmpls.count), ref["templates"])
            if let t = tmpls.first {
                XCTAssertEqual(t["src"] as? String, ref["tmpl_src"])
                XCTAssertEqual(t["dst"] as? String, ref["tmpl_dst"])
                XCTAssertEqual(t["proto"] as? String, ref["tmpl_proto"])
                XCTAssertEqual((t["reqid"] as? Int).map(String.init), ref["tmpl_reqid"])
                XCTAssertEqual(t["mode"] as? String, ref["tmpl_mode"])
            }
            if let m = ref["mark"] {
                let mk = p["mark"] as? [String: Any]
                let text = mk.map { "0x\(String(($0["value"] as? Int) ?? 0, radix: 16))/0x\(String(($0["mask"] as? Int) ?? 0, radix: 16))" }
                XCTAssertEqual(text, m)
            }
        }
        let sad = snap["sad"] as? [String: Any]
        XCTAssertEqual(sad?["count"] as? Int, 3)
        let spd = snap["spd"] as? [String: Any]
        XCTAssertEqual(spd?["out"] as? Int, 2)
        XCTAssertEqual(spd?["in"] as? Int, 1)
        XCTAssertEqual(spd?["fwd"] as? Int, 1)
        let stat = snap["xfrm_stat"] as? [String: Any]
        XCTAssertNotNil(stat?["XfrmInError"], "xfrm_stat counters missing")

        // --kernel-only takes its two dumps at once, the policies on a socket of their own: both
        // must come from this namespace, member for member the kernel part of the model's snapshot.
        let kernel = try ns.snapshotJSON(["--kernel-only"])
        func kernelPart(_ objects: [[String: Any]], without key: String, by id: [String]) -> [String: NSDictionary] {
            var out: [String: NSDictionary] = [:]
            for o in objects {
                var k = o
                k[key] = nil
                out[id.map { "\(o[$0] ?? "-")" }.joined(separator: " ")] = k as NSDictionary
            }
            return out
        }
        XCTAssertEqual(kernelPart(sas(kernel), without: "derived", by: ["spi", "dst"]),
                       kernelPart(sas(snap), without: "derived", by: ["spi", "dst"]))
        XCTAssertEqual(kernelPart(policies(kernel), without: "peers", by: ["index", "dir"]),
                       kernelPart(policies(snap), without: "peers", by: ["index", "dir"]))
        XCTAssertEqual(sas(kernel).count, 3)
        XCTAssertEqual(policies(kernel).count, 4)
    }

    func testTextSnapshotListsObjects() throws {
        try Harness.requireRoot("text snapshot")
        let ns = try Netns()
        try ns.ip("xfrm policy add src 192.0.2.0/24 dst 198.51.100.0/24 dir out tmpl src 203.0.113.1 dst 203.0.113.2 proto esp reqid 5 mode tunnel")
        try ns.ip("xfrm state allocspi src 203.0.113.1 dst 203.0.113.2 proto esp min 0x4242 max 0x4242")
        let r = try Harness.run([Harness.binary, "snapshot", "--netns", ns.name], check: true)
        XCTAssertTrue(r.stdout.contains("0x00004242"), r.stdout)
        XCTAssertTrue(r.stdout.contains("192.0.2.0/24 -> 198.51.100.0/24"), r.stdout)
        XCTAssertTrue(r.stdout.contains("(larval)"), r.stdout)
    }

    func testEmptyNamespaceGivesEmptyTables() throws {
        try Harness.requireRoot("empty snapshot")
        let ns = try Netns()
        let snap = try ns.snapshotJSON()
        XCTAssertEqual(sas(snap).count, 0)
        XCTAssertEqual(policies(snap).count, 0)
        XCTAssertEqual(snap["netns"] as? String, ns.name)
    }
}

/// Command-line behaviour that needs no privilege.
final class CommandLineTests: XCTestCase {
    func testUnknownFlagExitsWithUsage() throws {
        let r = try Harness.run([Harness.binary, "snapshot", "--no-such-flag"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("no-such-flag"), r.stderr)
    }

    /// `--kernel-only` of a recording shows the recording's objects (it once read the current
    /// namespace instead), as the model snapshot of the same recording does, without derived fields.
    func testKernelOnlySnapshotOfARecordingShowsItsObjects() throws {
        let sample = repositoryRoot + "/Samples/natt-strongswan.xfrmrec"
        func document(_ extra: [String]) throws -> [String: Any] {
            let r = try Harness.run([Harness.binary, "snapshot", "--json", "--replay", sample] + extra, check: true)
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        }
        let kernel = try document(["--kernel-only"]), model = try document([])
        func spis(_ d: [String: Any]) -> Set<String> { Set((d["sas"] as? [[String: Any]] ?? []).compactMap { $0["spi"] as? String }) }
        func indexes(_ d: [String: Any]) -> Set<Int> { Set((d["policies"] as? [[String: Any]] ?? []).compactMap { $0["index"] as? Int }) }
        XCTAssertEqual(kernel["netns"] as? String, model["netns"] as? String)
        XCTAssertFalse(spis(kernel).isEmpty, "the recording's SAs")
        XCTAssertEqual(spis(kernel), spis(model))
        XCTAssertFalse(indexes(kernel).isEmpty, "the recording's policies")
        XCTAssertEqual(indexes(kernel), indexes(model))
        let sa = try XCTUnwrap((kernel["sas"] as? [[String: Any]])?.first)
        XCTAssertNil(sa["derived"], "kernel objects only")
        XCTAssertNotNil(sa["encap"] as? [String: Any], "the sample's SAs are ESP-in-UDP")
    }

    func testMissingNamespaceIsExplained() throws {
        try Harness.requireRoot("namespace lookup")
        let r = try Harness.run([Harness.binary, "snapshot", "--netns", "ipsectop-does-not-exist"])
        XCTAssertEqual(r.status, 4)
        XCTAssertTrue(r.stderr.contains("ipsectop-does-not-exist"), r.stderr)
    }

    func testWithoutPrivilegeExplainsCapNetAdmin() throws {
        try Harness.requireRoot("dropping privileges needs root first")
        let ns = try Netns()
        // setpriv drops to nobody with no capabilities, inside a namespace we own.
        let r = try Harness.run(["/usr/bin/env", "ip", "netns", "exec", ns.name, "setpriv", "--reuid=65534",
                                 "--regid=65534", "--clear-groups", "--inh-caps=-all", Harness.binary, "snapshot"])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("CAP_NET_ADMIN"), r.stderr)
        XCTAssertTrue(r.stderr.contains("setcap"), r.stderr)
        let e = try Harness.run(["/usr/bin/env", "ip", "netns", "exec", ns.name, "setpriv", "--reuid=65534",
                                 "--regid=65534", "--clear-groups", "--inh-caps=-all", Harness.binary, "events", "--json"])
        XCTAssertEqual(e.status, 3, e.stderr)
        XCTAssertTrue(e.stderr.contains("CAP_NET_ADMIN"), e.stderr)
    }
}
