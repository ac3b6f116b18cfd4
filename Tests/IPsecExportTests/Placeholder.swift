import XCTest
final class IPsecExportTestsPlaceholder: XCTestCase { func testNothing() {} }
