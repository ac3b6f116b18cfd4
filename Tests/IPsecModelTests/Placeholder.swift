import XCTest
final class IPsecModelTestsPlaceholder: XCTestCase { func testNothing() {} }
