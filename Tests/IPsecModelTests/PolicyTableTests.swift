import XCTest
@testable import IPsecModel
import XFRMWire

/// `PolicyTable` against the dictionaries it replaced, under random puts and removals.
final class PolicyTableTests: XCTestCase {
    struct Reference {
        var table: [PolicyIdentity: PolicyEntry] = [:]
        var byIndex: [PolicyIndexKey: PolicyIdentity] = [:]
        mutating func put(_ e: PolicyEntry) {
            table[e.identity] = e
            if e.identity.index != 0 {
                byIndex[PolicyIndexKey(index: e.identity.index, direction: e.identity.direction.rawValue)] = e.identity
            }
        }
        mutating func remove(_ id: PolicyIdentity) -> Bool {
            guard table.removeValue(forKey: id) != nil else { return false }
            let k = PolicyIndexKey(index: id.index, direction: id.direction.rawValue)
            if byIndex[k] == id { byIndex[k] = nil }
            return true
        }
    }

    func testRandomPutsAndRemovalsMatchTheDictionaries() {
        var rng = SplitMix(seed: 7)
        var table = PolicyTable()
        var reference = Reference()
        let selectors = (0..<6).map { i in
            Fx.subnetSelector(from: "192.0.2.\(i * 16)", to: "198.51.100.\(i * 16)")
        }
        func randomPolicy() -> XFRMPolicy {
            var p = Fx.policy(dir: rng.next() % 2 == 0 ? .inbound : .outbound, index: UInt32(rng.next() % 12),
                              selector: selectors[Int(rng.next() % 6)], templates: [])
            p.priority = UInt32(rng.next() % 3)
            if rng.next() % 5 == 0 { p.attributes.mark = XFRMMark(value: UInt32(rng.next() % 3), mask: 0xff) }
            return p
        }
        for step in 0..<20_000 {
            let p = randomPolicy()
            if rng.next() % 3 == 0 {
                XCTAssertEqual(table.removeValue(forKey: p.identity) != nil, reference.remove(p.identity), "step \(step)")
            } else {
                let e = PolicyEntry(policy: p, firstSeen: Double(step), lastChanged: Double(step), softExpired: false, peers: [])
                table.put(e)
                reference.put(e)
            }
            if step % 97 == 0 || step > 19_900 {
                XCTAssertEqual(table.count, reference.table.count)
                XCTAssertEqual(Set(table.keys), Set(reference.table.keys))
                for (id, e) in reference.table {
                    XCTAssertEqual(table[id], e)
                    XCTAssertEqual(table.index(forKey: id).map { table.values[$0].identity }, id)
                }
                for (k, id) in reference.byIndex { XCTAssertEqual(table.identity(kernelIndex: k), id, "step \(step)") }
                for i in 0..<12 {
                    for d: UInt8 in [0, 1] {
                        let k = PolicyIndexKey(index: UInt32(i), direction: d)
                        if reference.byIndex[k] == nil { XCTAssertNil(table.identity(kernelIndex: k), "step \(step)") }
                    }
                }
            }
        }
    }
}

/// A small deterministic generator (SplitMix64) for reproducible random tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
