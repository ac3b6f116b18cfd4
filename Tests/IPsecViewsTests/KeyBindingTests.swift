import XCTest
@testable import IPsecViews

final class KeyBindingTests: XCTestCase {
    func testReadOnlyDropsDangerousBindings() {
        let std = KeyBindings.standard
        XCTAssertEqual(std.action(for: .character("d")), .delete)
        XCTAssertEqual(std.action(for: .character("r")), .rekey)
        let ro = std.readOnly
        XCTAssertNil(ro.action(for: .character("d")))
        XCTAssertNil(ro.action(for: .character("r")))
        XCTAssertNil(ro.action(for: .function(9)))
        XCTAssertFalse(ro.hints(ascii: false).contains { $0.label == "Delete" })
        XCTAssertFalse(ro.helpLines(ascii: true).contains { $0.dangerous })
        XCTAssertEqual(ro.action(for: .character("q")), .quit)
    }

    func testEveryActionHasABindingAndNoKeyIsBoundTwice() {
        var seen: [Key: DashboardAction] = [:]
        for b in KeyBindings.standard.bindings {
            for k in b.keys {
                XCTAssertNil(seen[k], "\(k) bound twice")
                seen[k] = b.action
            }
        }
        for a in DashboardAction.allCases { XCTAssertNotNil(KeyBindings.standard.binding(for: a), "\(a)") }
    }
}
