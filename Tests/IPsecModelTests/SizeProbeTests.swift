import XCTest
@testable import IPsecModel
import XFRMWire

final class SizeProbeTests: XCTestCase {
    func testPrintSizes() {
        print("SIZES state \(MemoryLayout<XFRMState>.size) entry \(MemoryLayout<SAEntry>.size)")
    }
}
