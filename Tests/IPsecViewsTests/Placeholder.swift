import XCTest
final class IPsecViewsTestsPlaceholder: XCTestCase { func testNothing() {} }
