import TestSupport
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
        var rng = SplitMix64(seed: 7)
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

    /// Every removal but the last moves the last entry into the freed position: the kernel-index
    /// lookups must follow it, and a removed policy's (index, direction) must no longer answer.
    func testKernelIndexLookupsFollowTheEntriesRemovalsMove() {
        var table = PolicyTable()
        let n = 200
        let policies = (0..<n).map { i in
            Fx.policy(dir: [.inbound, .outbound, .forward][i % 3], index: UInt32(8 * (i + 1) + i % 3),
                      selector: Fx.subnetSelector(from: "192.0.\(i / 200).\(i % 200)", to: "198.51.100.\(i % 250)"),
                      templates: [])
        }
        for p in policies { table.put(PolicyEntry(policy: p, firstSeen: 1, lastChanged: 1, softExpired: false, peers: [])) }
        var alive = Set(0..<n)
        // Removals from the front, the middle and the back, each checked against every kernel index.
        for victim in [0, 1, n / 2, n - 1, 7, n - 2, 3, 99, 101, 150] {
            let id = policies[victim].identity
            XCTAssertNotNil(table.removeValue(forKey: id))
            alive.remove(victim)
            for i in 0..<n {
                let p = policies[i]
                let key = PolicyIndexKey(index: p.index, direction: p.direction.rawValue)
                XCTAssertEqual(table.identity(kernelIndex: key), alive.contains(i) ? p.identity : nil,
                               "policy \(i) after removing \(victim)")
            }
        }
        XCTAssertEqual(table.count, alive.count)
        // Another policy taking an index owns it; removing the one it displaced leaves it the owner,
        // removing the owner leaves the index without one (as the kernel has no such policy either).
        let owner = policies[50]
        var taker = owner
        taker.selector = Fx.subnetSelector(from: "203.0.113.0", to: "203.0.113.128")
        let key = PolicyIndexKey(index: owner.index, direction: owner.direction.rawValue)
        table.put(PolicyEntry(policy: taker, firstSeen: 2, lastChanged: 2, softExpired: false, peers: []))
        XCTAssertEqual(table.identity(kernelIndex: key), taker.identity)
        table.removeValue(forKey: policies[60].identity) // moves the taker (the last entry)
        XCTAssertEqual(table.identity(kernelIndex: key), taker.identity)
        table.removeValue(forKey: owner.identity)
        XCTAssertEqual(table.identity(kernelIndex: key), taker.identity)
        table.put(PolicyEntry(policy: owner, firstSeen: 3, lastChanged: 3, softExpired: false, peers: []))
        XCTAssertEqual(table.identity(kernelIndex: key), owner.identity)
        table.removeValue(forKey: owner.identity)
        XCTAssertNil(table.identity(kernelIndex: key))
        XCTAssertNotNil(table[taker.identity])
    }
}

/// `PolicyEntry` keeps the per-policy fields inline and the rest in a shared `PolicyCommon`: it must
/// give back exactly the policy it was given, tell counter-only changes from configuration changes,
/// and share one common part across a dump of alike policies.
final class PolicyEntryTests: XCTestCase {
    let a = Fx.ip("192.0.2.1"), b = Fx.ip("198.51.100.1"), c = Fx.ip("203.0.113.9")

    /// Policies that differ from a base one in one field each (every field of `XFRMPolicy` and the
    /// attributes a policy carries).
    func variants() -> [XFRMPolicy] {
        let base = Fx.policy(dir: .outbound, index: 9, selector: Fx.subnetSelector(from: "192.0.2.0", to: "198.51.100.0"),
                             templates: [Fx.template(src: a, dst: b, reqid: 4)])
        var out = [base]
        func with(_ f: (inout XFRMPolicy) -> Void) { var p = base; f(&p); out.append(p) }
        with { $0.selector.destinationPrefixLength = 16 }
        with { $0.lifetimeConfig.hardAddExpiresSeconds = 3600 }
        with { $0.priority = 7 }
        with { $0.index = 10 }
        with { $0.direction = .forward }
        with { $0.action = 1 }
        with { $0.flags = 1 }
        with { $0.share = 2 }
        with { $0.attributes.templates = [] }
        with { $0.attributes.templates.append(Fx.template(src: a, dst: c, reqid: 5, mode: .transport)) }
        with { $0.attributes.templates[0].reqid = 6 }
        with { $0.attributes.mark = XFRMMark(value: 3, mask: 0xff) }
        with { $0.attributes.ifID = 12 }
        with { $0.attributes.policyType = 1 }
        with { $0.attributes.securityContext = XFRMSecurityContext(doi: 1, algorithm: 1, context: "system_u:object_r:ipsec_spd_t") }
        return out
    }

    func testTheEntryGivesBackThePolicyAndTellsCountersFromConfiguration() {
        let vs = variants()
        for (i, p) in vs.enumerated() {
            let e = PolicyEntry(policy: p, firstSeen: 1, lastChanged: 2, softExpired: false, peers: [])
            XCTAssertEqual(e.policy, p, "variant \(i)")
            XCTAssertEqual(e.identity, p.identity, "variant \(i)")
            var counters = p
            counters.lifetimeCurrent = XFRMLifetimeCurrent(bytes: 10, packets: 2, addTime: 5, useTime: 6)
            XCTAssertTrue(e.sameConfiguration(as: counters), "variant \(i): counters only")
            for (j, q) in vs.enumerated() where j != i {
                XCTAssertFalse(e.sameConfiguration(as: q), "variant \(i) vs \(j)")
                let f = PolicyEntry(policy: q, firstSeen: 1, lastChanged: 2, softExpired: false, peers: [])
                XCTAssertNotEqual(e, f, "variant \(i) vs \(j)")
            }
            // Setting the policy through the property: the entry then equals one built from it.
            for q in vs {
                var g = e
                g.policy = q
                XCTAssertEqual(g.policy, q)
                XCTAssertEqual(g, PolicyEntry(policy: q, firstSeen: 1, lastChanged: 2, softExpired: false, peers: []))
                XCTAssertEqual(g.hashValue, PolicyEntry(policy: q, firstSeen: 1, lastChanged: 2, softExpired: false,
                                                        peers: []).hashValue)
            }
        }
    }

    func testADumpOfAlikePoliciesSharesOneCommonPart() {
        var m = LiveModel()
        var policies: [XFRMPolicy] = []
        for i in 0..<300 {
            var p = Fx.policy(dir: [.inbound, .outbound, .forward][i % 3], index: UInt32(8 * i + i % 3),
                              selector: Fx.subnetSelector(from: "192.0.2.\(i % 250)", to: "198.51.100.\(i / 250)"),
                              templates: [Fx.template(src: a, dst: Fx.ip("203.0.113.\(i % 200 + 1)"), reqid: UInt32(i + 1))])
            if i >= 200 { p.attributes.mark = XFRMMark(value: 7, mask: 0xff) } // a second run of alike policies
            policies.append(p)
        }
        m.apply(.dumpBegan(.policy), at: 10)
        m.apply(.policyDump(policies), at: 10)
        XCTAssertEqual(Set(m.policies.map(\.policy)), Set(policies))
        XCTAssertEqual(Set(m.policyTable.values.map { ObjectIdentifier($0.common) }).count, 2)
        // A refresh with new counters keeps the entries (and their sharing); a changed template is a change.
        var next = policies
        for i in next.indices { next[i].lifetimeCurrent.useTime = 100 + UInt64(i) }
        next[5].attributes.templates[0].reqid = 999
        let version = m.policyVersion
        m.apply(.dumpBegan(.policy), at: 20)
        m.apply(.policyDump(next), at: 20)
        XCTAssertEqual(Set(m.policies.map(\.policy)), Set(next))
        XCTAssertEqual(m.policyVersion, version &+ 1, "one policy changed its configuration")
        XCTAssertEqual(m.policies.filter { $0.lastChanged == 20 }.count, 1)
        XCTAssertEqual(Set(m.policyTable.values.map { ObjectIdentifier($0.common) }).count, 2)
    }
}


/// `PolicyEntry` keeps what the kernel sends for nearly every policy in 128 bytes (zero byte and
/// packet counts, 32-bit times, the direction in the index's low bits, allow or block, port masks
/// of none or all) and anything else in a box of the policy's own: either way it must give back
/// exactly the policy it was given.
final class PolicyEntryEncodingTests: XCTestCase {
    let a = Fx.ip("192.0.2.1"), b = Fx.ip("198.51.100.1")
    let peer = PeerKey(local: Fx.ip("192.0.2.1"), remote: Fx.ip("198.51.100.1"), remotePort: 4500)

    func base() -> XFRMPolicy {
        var p = Fx.policy(dir: .outbound, index: 8 * 77 + 1, selector: Fx.subnetSelector(from: "192.0.2.0", to: "198.51.100.0"),
                          templates: [Fx.template(src: a, dst: b, reqid: 4)])
        p.lifetimeCurrent = XFRMLifetimeCurrent(bytes: 0, packets: 0, addTime: 1_795_000_000, useTime: 1_795_000_100)
        return p
    }

    /// Policies each with something the kernel does not send (or sends rarely), alone and together.
    func unusual() -> [(String, XFRMPolicy)] {
        var out: [(String, XFRMPolicy)] = [("plain", base())]
        func with(_ name: String, _ f: (inout XFRMPolicy) -> Void) { var p = base(); f(&p); out.append((name, p)) }
        with("bytes") { $0.lifetimeCurrent.bytes = 1500 }
        with("packets") { $0.lifetimeCurrent.packets = 3 }
        with("add time beyond 32 bits") { $0.lifetimeCurrent.addTime = 1 << 33 }
        with("use time beyond 32 bits") { $0.lifetimeCurrent.useTime = UInt64(UInt32.max) + 1 }
        with("largest 32-bit times") {
            $0.lifetimeCurrent.addTime = UInt64(UInt32.max); $0.lifetimeCurrent.useTime = UInt64(UInt32.max)
        }
        with("direction not in the index") { $0.direction = .inbound }
        with("index 0") { $0.index = 0 }
        with("socket policy") { $0.index = 8 * 5 + 4; $0.direction = PolicyDirection(rawValue: 4) }
        with("block") { $0.action = 1 }
        with("action 7") { $0.action = 7 }
        with("port masks of all") {
            $0.selector.destinationPort = 500; $0.selector.destinationPortMask = 0xFFFF
            $0.selector.sourcePort = 4500; $0.selector.sourcePortMask = 0xFFFF
        }
        with("partial port masks") {
            $0.selector.destinationPort = 0x1200; $0.selector.destinationPortMask = 0xFF00
            $0.selector.sourcePort = 7; $0.selector.sourcePortMask = 0x000F
        }
        with("a port without a mask") { $0.selector.sourcePort = 99 }
        with("three templates") {
            $0.attributes.templates.append(Fx.template(src: a, dst: b, reqid: 5, mode: .transport))
            $0.attributes.templates.append(Fx.template(src: b, dst: a, reqid: 6))
        }
        with("no template") { $0.attributes.templates = [] }
        with("template addresses of another family") {
            $0.attributes.templates[0].source = Fx.ip("2001:db8::1")
            $0.attributes.templates[0].spi = 0x1234
            $0.attributes.templates[0].optional = true
        }
        with("a selector address of another family") {
            $0.selector.destination = IPAddress(family: .unspecified, high: 0, low: 0xC633_6400)
        }
        with("a selector interface and user") { $0.selector.ifindex = 3; $0.selector.user = 1000 }
        with("IPv6") {
            $0.selector = XFRMSelector(destination: Fx.ip("2001:db8:b::"), source: Fx.ip("2001:db8:a::"), family: .inet6,
                                       destinationPrefixLength: 48, sourcePrefixLength: 48, upperProtocol: 58)
            $0.attributes.templates = [Fx.template(src: Fx.ip("2001:db8::1"), dst: Fx.ip("2001:db8::2"), reqid: 9)]
        }
        with("everything at once") {
            $0.lifetimeCurrent = XFRMLifetimeCurrent(bytes: 1, packets: 2, addTime: 1 << 40, useTime: 5)
            $0.direction = .forward; $0.action = 2; $0.flags = 3; $0.share = 1
            $0.selector.destinationPortMask = 0x00F0
            $0.attributes.templates.append(Fx.template(src: b, dst: a, reqid: 5))
            $0.attributes.mark = XFRMMark(value: 1, mask: 0xFF)
        }
        return out
    }

    func testUnusualPoliciesComeBackExactly() {
        let all = unusual()
        for (name, p) in all {
            let e = PolicyEntry(policy: p, firstSeen: 1, lastChanged: 2, softExpired: true, peers: [peer])
            XCTAssertEqual(e.policy, p, name)
            XCTAssertEqual(e.lifetimeCurrent, p.lifetimeCurrent, name)
            XCTAssertEqual(e.selector, p.selector, name)
            XCTAssertEqual(e.direction, p.direction, name)
            XCTAssertEqual(Array(e.templates), p.attributes.templates, name)
            XCTAssertEqual(e.identity, p.identity, name)
            XCTAssertEqual(e.peers, [peer], name)
            XCTAssertTrue(e.softExpired, name)
            XCTAssertTrue(e.sameConfiguration(as: p), name)
            for (other, q) in all {
                XCTAssertEqual(e.hasIdentity(q.identity), p.identity == q.identity, "\(name) vs \(other)")
                let sameConfiguration = { () -> Bool in
                    var r = q
                    r.lifetimeCurrent = p.lifetimeCurrent
                    return r == p
                }()
                XCTAssertEqual(e.sameConfiguration(as: q), sameConfiguration, "\(name) vs \(other)")
            }
        }
    }

    /// Counters that stop fitting inline go to the box and come back inline when they fit again;
    /// the peers and the other overrides stay.
    func testCountersMoveBetweenInlineAndTheBox() {
        for (name, p) in unusual() {
            var e = PolicyEntry(policy: p, firstSeen: 1, lastChanged: 1, softExpired: false, peers: [peer])
            let counters = [
                XFRMLifetimeCurrent(bytes: 0, packets: 0, addTime: 10, useTime: 0),
                XFRMLifetimeCurrent(bytes: 7, packets: 0, addTime: 10, useTime: 11),
                XFRMLifetimeCurrent(bytes: 0, packets: 0, addTime: 10, useTime: 12),
                XFRMLifetimeCurrent(bytes: 0, packets: 0, addTime: 1 << 32, useTime: 12),
                XFRMLifetimeCurrent(bytes: 0, packets: 9, addTime: 1 << 32, useTime: 1 << 35),
                p.lifetimeCurrent,
            ]
            for c in counters {
                e.lifetimeCurrent = c
                var q = p
                q.lifetimeCurrent = c
                XCTAssertEqual(e.policy, q, name)
                XCTAssertEqual(e.peers, [peer], name)
                XCTAssertEqual(e, PolicyEntry(policy: q, firstSeen: 1, lastChanged: 1, softExpired: false, peers: [peer]), name)
            }
            // Without overrides, nothing of the policy's own but its peer array.
            var plain = e
            plain.policy = base()
            if case .extras = plain.tail { XCTFail("\(name): a plain policy keeps a box") }
            XCTAssertEqual(plain.peers, [peer])
            plain.peers = []
            XCTAssertEqual(plain.policy, base())
        }
    }

    /// A dump of policies with byte counts (a kernel never sends them, a replay may) keeps them exactly.
    func testAModelKeepsUnusualCountersThroughRefreshes() {
        var m = LiveModel()
        let ps = unusual().map(\.1).enumerated().map { (i, p) -> XFRMPolicy in
            var q = p
            q.priority = UInt32(i) // (the variants differ in identity, bar the counters-only ones)
            q.index = p.index == 0 ? 0 : p.index + 8 * UInt32(i)
            if q.index != 0 && p.direction.rawValue == UInt8(p.index & 7) {
                q.direction = PolicyDirection(rawValue: UInt8(q.index & 7))
            }
            return q
        }
        m.apply(.dumpBegan(.policy), at: 10)
        m.apply(.policyDump(ps), at: 10)
        XCTAssertEqual(m.policies.count, Set(ps.map(\.identity)).count)
        XCTAssertEqual(Set(m.policies.map(\.policy)), Set(ps))
        var next = ps
        for i in next.indices { next[i].lifetimeCurrent.bytes = UInt64(i % 2) * 100 }
        m.apply(.dumpBegan(.policy), at: 20)
        m.apply(.policyDump(next), at: 20)
        XCTAssertEqual(Set(m.policies.map(\.policy)), Set(next))
        XCTAssertEqual(m.policies.filter { $0.lastChanged == 20 }.count, 0, "counters are not a change")
    }
}
