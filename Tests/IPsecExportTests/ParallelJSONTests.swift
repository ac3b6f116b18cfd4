import XCTest
@testable import IPsecExport

/// Arrays written in blocks on every core must be byte for byte what one writer writes, whatever
/// the count, the block size and the positions that hold nothing.
final class ParallelJSONTests: XCTestCase {
    /// Element `i` (nothing when `i` is a multiple of `gap`): nested containers, strings, numbers.
    static func element(_ w: inout JSONWriter, _ i: Int, gap: Int) {
        if gap > 0 && i % gap == 0 { return }
        w.beginObject()
        w.member("i", i)
        w.member("name", "sa-\(i)\u{1}\"")
        w.key("list"); w.beginArray(); for k in 0..<(i % 4) { w.int(k) }; w.endArray()
        w.member("rate", double: Double(i) / 7, decimals: 2)
        w.endObject()
    }

    func serial(count: Int, gap: Int) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject(); w.key("a"); w.beginArray()
        for i in 0..<count { Self.element(&w, i, gap: gap) }
        w.endArray(); w.member("after", true); w.endObject()
        return w.bytes
    }

    func parallel(count: Int, gap: Int, block: Int, chunk: Int?) -> [UInt8] {
        var out: [UInt8] = []
        var w = chunk.map { c in JSONWriter(chunk: c) { out += $0 } } ?? JSONWriter()
        w.beginObject(); w.key("a"); w.beginArray()
        ParallelJSON.elements(into: &w, count: count, block: block) { w, range in
            for i in range { ParallelJSONTests.element(&w, i, gap: gap) }
        }
        w.endArray(); w.member("after", true); w.endObject()
        if chunk != nil { w.flush(); return out }
        return w.bytes
    }

    func testBlocksWrittenConcurrentlyGiveTheSerialDocument() throws {
        for count in [0, 1, 2, 7, 8, 9, 63, 64, 65, 1000, 5001] {
            for gap in [0, 1, 2, 5] {
                let expected = serial(count: count, gap: gap)
                _ = try JSONSerialization.jsonObject(with: Data(expected))
                for block in [1, 8, 64, 2048] {
                    for chunk in [nil, 16, 4096] as [Int?] {
                        XCTAssertEqual(parallel(count: count, gap: gap, block: block, chunk: chunk), expected,
                                       "count \(count) gap \(gap) block \(block) chunk \(String(describing: chunk))")
                    }
                }
            }
        }
    }

    func testAppendingAnotherWritersElements() {
        var a = JSONWriter(), b = JSONWriter(), empty = JSONWriter()
        b.int(1); b.string("x"); b.beginObject(); b.endObject()
        a.beginArray(); a.int(0); a.appendElements(of: empty); a.appendElements(of: b); a.appendElements(of: b); a.endArray()
        XCTAssertEqual(String(decoding: a.bytes, as: UTF8.self), "[0,1,\"x\",{},1,\"x\",{}]")
        var c = JSONWriter()
        c.beginArray(); c.appendElements(of: empty); c.appendElements(of: b); c.endArray()
        XCTAssertEqual(String(decoding: c.bytes, as: UTF8.self), "[1,\"x\",{}]")
    }
}
