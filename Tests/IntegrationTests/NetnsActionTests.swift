import Foundation
import XCTest

/// `ipsectop delete` / `rekey` against real larval SAs in a fresh namespace.
final class NetnsActionTests: XCTestCase {
    func spis(_ ns: Netns) throws -> [String] {
        IPXfrmText.states(try ns.ip("xfrm state").stdout).compactMap { $0["spi"] }.sorted()
    }

    func testDeleteRemovesExactlyTheSelectedSA() throws {
        try Harness.requireRoot("delete")
        let ns = try Netns()
        try ns.ip("xfrm state allocspi src 203.0.113.1 dst 203.0.113.2 proto esp min 0xa00 max 0xa00")
        try ns.ip("xfrm state allocspi src 203.0.113.2 dst 203.0.113.1 proto esp min 0xa01 max 0xa01")
        try ns.ip("xfrm state allocspi src 203.0.113.1 dst 203.0.113.2 proto esp min 0xa02 max 0xa02")
        let dry = try Harness.run([Harness.binary, "delete", "--netns", ns.name, "--spi", "0xa00", "--dst", "203.0.113.2", "--dry-run"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertTrue(dry.stdout.contains("would send: XFRM_MSG_DELSA {family inet, daddr 203.0.113.2, spi 0x00000a00, proto esp}"), dry.stdout)
        XCTAssertEqual(try spis(ns).count, 3, "dry run changed the kernel")
        let refused = try Harness.run([Harness.binary, "delete", "--netns", ns.name, "--spi", "0xa00", "--dst", "203.0.113.2"])
        XCTAssertEqual(refused.status, 7, "non-TTY without --yes must refuse: \(refused.stderr)")
        XCTAssertEqual(try spis(ns).count, 3)
        let r = try Harness.run([Harness.binary, "delete", "--netns", ns.name, "--spi", "0xa00", "--dst", "203.0.113.2", "--yes"])
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        XCTAssertTrue(r.stdout.contains("via kernel: ok"), r.stdout)
        let left = IPXfrmText.states(try ns.ip("xfrm state").stdout).map { "\($0["dst"]!) \($0["spi"]!)" }.sorted()
        XCTAssertEqual(left, ["203.0.113.1 0x00000a01", "203.0.113.2 0x00000a02"])
    }

    func testRekeyOfLarvalSAIsRefusedAndNothingSent() throws {
        try Harness.requireRoot("rekey larval")
        let ns = try Netns()
        try ns.ip("xfrm state allocspi src 203.0.113.1 dst 203.0.113.2 proto esp min 0xb00 max 0xb00")
        let bg = try Background([Harness.binary, "events", "--json", "--netns", ns.name, "--duration", "2"])
        XCTAssertTrue(bg.waitFor { $0.stderr.contains("listening") })
        let r = try Harness.run([Harness.binary, "rekey", "--netns", ns.name, "--spi", "0xb00", "--via", "kernel", "--yes"])
        XCTAssertEqual(r.status, 6, r.stdout)
        XCTAssertTrue(r.stdout.contains("larval"), r.stdout)
        _ = bg.finish()
        XCTAssertFalse(bg.stdout.contains("EXPIRE"), "an EXPIRE was sent for a larval SA: \(bg.stdout)")
        XCTAssertEqual(try spis(ns), ["0x00000b00"])
    }

    func testNoMatchAndBadSelection() throws {
        try Harness.requireRoot("selection errors")
        let ns = try Netns()
        let none = try Harness.run([Harness.binary, "delete", "--netns", ns.name, "--spi", "0x1234", "--yes"])
        XCTAssertEqual(none.status, 8, none.stderr)
        let empty = try Harness.run([Harness.binary, "delete", "--netns", ns.name])
        XCTAssertEqual(empty.status, 2, empty.stderr)
        let bad = try Harness.run([Harness.binary, "rekey", "--netns", ns.name, "--dst", "not-an-address"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("not an IPv4 or IPv6 address"), bad.stderr)
    }
}
