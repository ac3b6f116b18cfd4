import Glibc
import XCTest
import XFRMKernel

/// `Heap.trim` gives back the pages of freed allocations that malloc kept (what a large dump leaves
/// behind), and `Heap.bytesInUse` follows what is allocated.
final class HeapTests: XCTestCase {
    func resident() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return -1 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    func testTrimReturnsTheFreedPagesOfManySmallAllocations() throws {
        let count = 200_000, size = 256 // 51 MB in blocks malloc serves from its heap, not by mmap
        let before = Heap.bytesInUse
        var blocks: [UnsafeMutableRawPointer] = []
        blocks.reserveCapacity(count)
        for i in 0..<count {
            let p = try XCTUnwrap(malloc(size))
            memset(p, Int32(i & 0x7f) | 1, size) // touched: resident
            blocks.append(p)
        }
        XCTAssertGreaterThanOrEqual(Heap.bytesInUse - before, count * size)
        let full = resident()
        // Free all but the last block: it pins the top of the heap, so malloc keeps every page.
        for p in blocks.dropLast() { free(p) }
        XCTAssertLessThan(Heap.bytesInUse - before, count * 8 + (1 << 20), "only the list of blocks and one block remain")
        let freed = resident()
        XCTAssertGreaterThan(freed, full - (8 << 20), "malloc kept the freed pages (nothing to trim otherwise)")
        Heap.trim()
        let trimmed = resident()
        XCTAssertLessThan(trimmed, freed - (30 << 20), "trim gave back at least 30 of the 51 MB freed")
        free(blocks[count - 1])
    }
}
