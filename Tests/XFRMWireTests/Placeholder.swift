import XCTest
final class XFRMWireTestsPlaceholder: XCTestCase { func testNothing() {} }
