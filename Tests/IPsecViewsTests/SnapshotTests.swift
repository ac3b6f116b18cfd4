import XCTest
import SnapshotTesting
@testable import IPsecViews

extension Snapshotting where Value == ScreenBuffer, Format == String {
    /// Whole screen: text, then one line per style run.
    static var screen: Snapshotting<ScreenBuffer, String> { Snapshotting<String, String>.lines.pullback { (b: ScreenBuffer) in b.snapshotText } }
}

/// Snapshots of every view at 80x24, 120x40, 200x50 and 60x15, text and style runs, time fixed.
/// Re-record with `IPSECTOP_RECORD_SNAPSHOTS=1` (or swift-snapshot-testing's `SNAPSHOT_TESTING_RECORD=all`).
class SnapshotTestCase: XCTestCase {
    override func invokeTest() {
        let record = ProcessInfo.processInfo.environment["IPSECTOP_RECORD_SNAPSHOTS"].map { !$0.isEmpty && $0 != "0" } ?? false
        if record {
            withSnapshotTesting(record: .all) { super.invokeTest() }
        } else {
            super.invokeTest()
        }
    }
}

final class SnapshotTests: SnapshotTestCase {
    static let sizes = [(80, 24), (120, 40), (200, 50), (60, 15)]

    /// Renders `keys` pressed from a fresh dashboard at every size and compares.
    func check(_ keys: [Key], options: DashboardOptions = DashboardOptions(), data: DashboardData = Fixtures.data(),
               sizes: [(Int, Int)] = SnapshotTests.sizes, file: StaticString = #filePath, testName: String = #function,
               line: UInt = #line) {
        for (c, r) in sizes {
            var d = Fixtures.dashboard(cols: c, rows: r, options: options, data: data)
            for k in keys { _ = d.handle(.key(k), now: Fixtures.now) }
            let b = d.render(now: Fixtures.now)
            assertSnapshot(of: b, as: .screen, named: "\(c)x\(r)", file: file, testName: testName, line: line)
        }
    }

    func testSAs() { check([]) }
    func testPeers() { check([.character("2")]) }
    func testPeerDrillDown() { check([.character("2"), .enter]) }
    func testPeerDrillDownScrolledToNATAndKeepalive() { check([.character("2"), .enter, .pageDown]) }
    func testSADetail() { check([.character("2"), .enter, .down, .enter]) }
    func testPolicies() { check([.character("3")]) }
    func testTimeline() { check([.character("4")]) }
    func testXFRMStat() { check([.character("5")]) }
    func testActionsLog() {
        var d = Fixtures.dashboard(cols: 80, rows: 24)
        _ = d.handle(.key(.character("6")), now: Fixtures.now)
        d.record(ActionLogEntry(time: Fixtures.now - 5, operation: "delete",
                                target: "esp spi 0xc1a00001 dst 198.51.100.7", result: "ok (kernel)", level: .ok))
        d.record(ActionLogEntry(time: Fixtures.now - 3, operation: "rekey",
                                target: "esp spi 0x0000b002 dst 192.0.2.10 mark 0x2a/0xff",
                                result: "EINVAL: SA is not VALID (kernel)", level: .error))
        assertSnapshot(of: d.render(now: Fixtures.now + 20), as: .screen, named: "80x24")
    }
    func testHelpOverlay() { check([.character("?")]) }
    func testHelpOverlayReadOnly() { check([.character("?")], options: DashboardOptions(readOnly: true), sizes: [(80, 24)]) }
    func testDeleteConfirmation() { check([.down, .down, .character("d")]) }
    func testRekeyPeerConfirmationSkipsLarval() { check([.character("2"), .down, .down, .character("r")]) }
    func testConfirmationScrollsWhenItDoesNotFit() {
        check([.character(" "), .character(" "), .character(" "), .character(" "), .character(" "), .character(" "),
               .character("d"), .down, .down, .down], sizes: [(60, 15)])
    }
    func testFilterEditing() { check([.character("/"), .character("b"), .character("0")]) }
    func testSortedByRateDescending() { check([.character(">"), .character(">"), .character("I")]) }
    func testTaggedRows() { check([.character(" "), .down, .character(" ")], sizes: [(80, 24)]) }
    func testASCII() {
        check([], options: DashboardOptions(ascii: true), sizes: [(80, 24)])
    }
    func testASCIIPeerPage() {
        check([.character("2"), .enter], options: DashboardOptions(ascii: true), sizes: [(80, 24)])
    }
    func testTooSmall() { check([], sizes: [(59, 15), (80, 14)]) }
    func testEmpty() { check([], data: DashboardData(), sizes: [(80, 24)]) }
}
