import XCTest
final class XFRMKernelTestsPlaceholder: XCTestCase { func testNothing() {} }
