import XCTest
@testable import IPsecModel
import TestSupport

/// `SlotIndex` against a dictionary, through inserts, replacements, removals, reservations and
/// growth, with well-spread and with colliding hashes.
final class SlotIndexTests: XCTestCase {
    func check(hash: (Int) -> Int, seed: UInt64, keys: Int = 3_000, steps: Int = 20_000) {
        var rng = SplitMix64(seed: seed)
        var index = SlotIndex()
        // key -> slot; the "entry table": slot -> key.
        var reference: [Int: Int32] = [:]
        var keyOfSlot: [Int32: Int] = [:]
        var nextSlot: Int32 = 0
        func find(_ k: Int) -> Int32? { index.find(hash: hash(k)) { keyOfSlot[$0] == k } }
        for step in 0..<steps {
            let k = rng.below(keys)
            switch rng.next() % 10 {
            case 0..<5:
                guard reference[k] == nil else { continue }
                let s = nextSlot
                nextSlot += 1
                index.insert(s, hash: hash(k))
                reference[k] = s
                keyOfSlot[s] = k
            case 5..<8:
                guard let s = reference[k] else {
                    XCTAssertNil(index.remove(hash: hash(k)) { keyOfSlot[$0] == k }, "step \(step)")
                    continue
                }
                XCTAssertEqual(index.remove(hash: hash(k)) { keyOfSlot[$0] == k }, s, "step \(step)")
                reference[k] = nil
                keyOfSlot[s] = nil
            case 8:
                guard let s = reference[k] else { continue }
                let t = nextSlot
                nextSlot += 1
                XCTAssertTrue(index.replace(hash: hash(k), matches: { keyOfSlot[$0] == k }, with: t))
                reference[k] = t
                keyOfSlot[s] = nil
                keyOfSlot[t] = k
            default:
                index.reserve(reference.count + rng.below(keys))
            }
            XCTAssertEqual(index.count, reference.count)
            XCTAssertLessThanOrEqual(index.count * 4, index.bucketCount * 3, "at most three quarters in use")
            if step % 499 == 0 {
                for q in 0..<keys { XCTAssertEqual(find(q), reference[q], "key \(q) at step \(step)") }
            }
        }
        for q in 0..<keys { XCTAssertEqual(find(q), reference[q]) }
    }

    func testMatchesADictionaryWithSpreadHashes() {
        check(hash: { $0 &* 0x5851_F42D_4C95_7F2D }, seed: 1)
    }

    func testMatchesADictionaryWithCollidingHashes() {
        // 37 distinct hashes: long runs, wrap-around at the table's end, removal marks everywhere.
        check(hash: { ($0 % 37) &* 0x5851_F42D_4C95_7F2D }, seed: 2)
        check(hash: { _ in -1 }, seed: 3, keys: 200, steps: 3_000)
    }

    func testAReservedTableHoldsItsKeysInAboutOneAndAHalfBucketsEach() {
        for n in [1_000, 65_537, 100_000, 130_000] {
            var index = SlotIndex()
            index.reserve(n)
            let buckets = index.bucketCount
            for k in 0..<n { index.insert(Int32(k), hash: k &* 0x5851_F42D_4C95_7F2D) }
            XCTAssertEqual(index.bucketCount, buckets, "no growth after reserve(\(n))")
            XCTAssertLessThanOrEqual(Double(buckets) / Double(n), 1.5, "n = \(n)")
            XCTAssertEqual(index.find(hash: (n - 1) &* 0x5851_F42D_4C95_7F2D) { $0 == Int32(n - 1) }, Int32(n - 1))
        }
    }
}
