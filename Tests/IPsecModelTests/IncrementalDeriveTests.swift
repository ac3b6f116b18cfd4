import XCTest
@testable import IPsecModel
import TestSupport
import XFRMWire

/// A derive after SAs came, went or changed regroups only the peers of their addresses
/// (`deriveIncrementally`): what readers see must be exactly what a full derive gives.
final class IncrementalDeriveTests: XCTestCase {
    /// Everything a reader can see, as text (`RawDumpEquivalenceTests.observables`, plus the keepalive
    /// capture ports and each peer's policies, rekey links and timeline).
    func observables(_ m: LiveModel, at now: ModelTime) -> [String] {
        var out: [String] = ["\(m.header)", "\(m.peers)", "\(m.policies)", "\(m.timeline)", "\(m.rekeyLinks)",
                             "\(m.totalHistory)", "\(m.sync)", "\(m.pendingAcquires)", "\(m.capturePorts)"]
        m.forEachSA { e in
            out.append("\(e.identity) \(e.state) \(e.direction as Any) \(e.directionSource) \(e.health) "
                       + "\(e.tunnelTotals) \(m.rates(of: e)) \(e.totals) \(e.counterResets) \(e.predecessor as Any) "
                       + "\(e.successor as Any) \(e.parent as Any) \(m.healthIssues(for: e.identity, at: now))")
        }
        for p in m.peers {
            out.append("\(p.key) \(m.history(of: p.key)) \(m.keepaliveStatus(for: p.key, at: now) as Any) "
                       + "\(m.sas(of: p.key).map(\.identity)) \(m.policies(of: p.key).map(\.identity)) "
                       + "\(m.rekeyLinks(of: p.key)) \(m.timeline(for: p.key).count)")
        }
        return out
    }

    /// Random SA adds, removes, updates, rekeys and dumps fed to a model that must derive fully and
    /// to one that may derive incrementally; after every input and every derive both show the same.
    func testRandomChurnMatchesFullDerive() {
        var totals = (0, 0, 0)
        for seed: UInt64 in 1...6 {
            let n = churn(seed: seed, steps: 120)
            totals = (totals.0 + n.0, totals.1 + n.1, totals.2 + n.2)
        }
        print("incremental derives: \(totals.0), records replaced in place: \(totals.1), merged: \(totals.2)")
        XCTAssertGreaterThan(totals.0, 200, "the incremental path was hardly taken")
        XCTAssertGreaterThan(totals.1, 50, "records were hardly replaced in place")
        XCTAssertGreaterThan(totals.2, 50, "records were hardly merged")
    }

    /// Runs one random sequence; returns how many incremental derives the second model took, and
    /// how many of them replaced records in place and merged them.
    @discardableResult
    func churn(seed: UInt64, steps: Int, file: StaticString = #filePath, line: UInt = #line) -> (Int, Int, Int) {
        var inPlace = 0, merged = 0
        var rng = SplitMix64(seed: seed)
        let locals = [Fx.ip("192.0.2.1"), Fx.ip("192.0.2.2")] // the first is a known local address
        let remotes = [Fx.ip("198.51.100.2"), Fx.ip("198.51.100.3"), Fx.ip("203.0.113.9"), Fx.ip("203.0.113.10")]
        var policies: [XFRMPolicy] = []
        for (k, r) in remotes.enumerated() {
            let sel = Fx.subnetSelector(from: "192.0.2.0", to: k < 2 ? "198.51.100.0" : "203.0.113.0")
            policies.append(Fx.policy(dir: .outbound, index: UInt32(8 * k + 1), selector: sel,
                                      templates: [Fx.template(src: locals[0], dst: r, reqid: UInt32(k + 1))]))
            // reqid only, and addresses only
            let byReqid = Fx.template(src: .zero(.inet), dst: .zero(.inet), reqid: UInt32(k + 2))
            policies.append(Fx.policy(dir: .inbound, index: UInt32(8 * k + 2), selector: sel, templates: [byReqid]))
            policies.append(Fx.policy(dir: .forward, index: UInt32(8 * k + 3), selector: sel,
                                      templates: [Fx.template(src: r, dst: locals[1], reqid: 0)]))
        }
        let initial = [Fx.sa(src: locals[0], dst: remotes[0], spi: 0x100, reqid: 1),
                       Fx.sa(src: remotes[0], dst: locals[0], spi: 0x101, reqid: 1)]
        var full = Fx.model(initial, policies: policies) { $0.localAddresses = [locals[0]] }
        var inc = full
        full.allowsIncrementalDerive = false
        let fullIncrementalBefore = full.incrementalDerives
        var live: [UInt32: XFRMState] = [:]
        for st in initial { live[st.spi] = st }
        var nextSPI: UInt32 = 0x200
        var t = Fx.t0
        var traffic: [UInt32: UInt64] = [:]

        func randomState(like base: XFRMState? = nil) -> XFRMState {
            nextSPI += 1
            var src = locals[rng.below(2)], dst = remotes[rng.below(remotes.count)]
            switch rng.below(6) {
            case 0, 1: swap(&src, &dst)
            case 2: src = remotes[rng.below(remotes.count)] // neither end local: undetermined or paired
            default: break
            }
            var reqid = UInt32(1 + rng.below(5))
            if let b = base { (src, dst, reqid) = (b.source, b.destination, b.reqid) }
            let encap: (UInt16, UInt16)? = rng.below(3) == 0 ? (4500, rng.below(2) == 0 ? 4500 : 31_000) : nil
            let dir: SADirection? = rng.below(12) == 0 ? (rng.below(2) == 0 ? .inbound : .outbound) : nil
            return Fx.sa(src: src, dst: dst, spi: nextSPI, reqid: reqid, dir: dir,
                         addTime: UInt64(t) + UInt64(rng.below(3)), encap: encap, larval: rng.below(4) == 0,
                         perCPU: rng.below(10) == 0 ? UInt32(rng.below(2)) : nil)
        }
        func feed(_ input: ModelInput) {
            let a = full.apply(input, at: t), b = inc.apply(input, at: t)
            XCTAssertEqual("\(a)", "\(b)", "seed \(seed): effects of \(input)", file: file, line: line)
        }
        func compare(_ what: String) -> Bool {
            let a = observables(full, at: t), b = observables(inc, at: t)
            if a.count != b.count {
                XCTFail("seed \(seed) \(what): \(a.count) vs \(b.count) lines", file: file, line: line)
                return false
            }
            for (x, y) in zip(a, b) where x != y {
                XCTFail("seed \(seed) \(what):\nfull:        \(x)\nincremental: \(y)", file: file, line: line)
                return false
            }
            return true
        }
        func randomLive() -> XFRMState? {
            guard !live.isEmpty else { return nil }
            let keys = live.keys.sorted()
            return live[keys[rng.below(keys.count)]]
        }

        for step in 0..<steps {
            t += 0.5 + Double(rng.below(3))
            let op = rng.below(20)
            switch op {
            case 0...4: // a new SA
                let st = randomState()
                live[st.spi] = st
                feed(.kernel(.newSA(st)))
            case 5: // an SA and its reverse, same reqid
                var st = randomState()
                if rng.below(3) > 0 { st.attributes.direction = nil }
                let rev = Fx.sa(src: st.destination, dst: st.source, spi: nextSPI + 1, reqid: st.reqid,
                                addTime: UInt64(t), larval: rng.below(5) == 0)
                nextSPI += 1
                live[st.spi] = st
                live[rev.spi] = rev
                feed(.kernel(.newSA(st)))
                feed(.kernel(.newSA(rev)))
            case 6...7: // a rekey: same tunnel, new SPI; the old one goes, now or later
                guard let old = randomLive() else { continue }
                var st = randomState(like: old)
                st.selector = old.selector
                st.attributes.perCPU = old.attributes.perCPU
                live[st.spi] = st
                feed(.kernel(.newSA(st)))
                if rng.below(2) == 0 {
                    live[old.spi] = nil
                    feed(.kernel(.deleteSA(old.identity, source: old.source, state: nil)))
                }
            case 8...10: // an SA goes
                guard let old = randomLive() else { continue }
                live[old.spi] = nil
                feed(rng.below(3) == 0 ? .kernel(.expire(old, hard: true))
                                       : .kernel(.deleteSA(old.identity, source: old.source, state: nil)))
            case 11: // an update: larval SA completed, reqid or encapsulation changed
                guard var st = randomLive() else { continue }
                switch rng.below(3) {
                case 0: st.attributes.aead = XFRMAlgorithm(name: "rfc4106(gcm(aes))", keyBits: 160, icvBits: 128)
                case 1: st.reqid = UInt32(1 + rng.below(5))
                default:
                    st.attributes.encapsulation = XFRMEncapsulation(type: .espInUDP, sourcePort: 4500,
                                                                    destinationPort: 4500, originalAddress: .zero(.inet))
                }
                live[st.spi] = st
                feed(.kernel(.updateSA(st)))
            case 12: // soft expiry
                guard let st = randomLive() else { continue }
                feed(.kernel(.expire(st, hard: false)))
            case 13...16: // a dump with traffic: some SAs missing (stale), some new (missed events)
                var states: [XFRMState] = []
                for k in live.keys.sorted() {
                    guard var st = live[k] else { continue }
                    if rng.below(25) == 0 {
                        live[k] = nil
                        continue
                    }
                    if rng.below(2) == 0 { traffic[k, default: 0] += UInt64(rng.below(5000)) }
                    let bytes = traffic[k, default: 0]
                    st.lifetimeCurrent = XFRMLifetimeCurrent(bytes: bytes, packets: bytes / 100,
                                                             addTime: st.lifetimeCurrent.addTime,
                                                             useTime: bytes > 0 ? st.lifetimeCurrent.addTime : 0)
                    live[k] = st
                    states.append(st)
                }
                if rng.below(4) == 0 {
                    let st = randomState()
                    live[st.spi] = st
                    states.append(st)
                }
                feed(.dumpBegan(.sa))
                feed(.saDump(states))
            case 17: // a burst of changes before one derive
                for _ in 0..<(2 + rng.below(4)) {
                    if rng.below(2) == 0, let old = randomLive() {
                        live[old.spi] = nil
                        feed(.kernel(.deleteSA(old.identity, source: old.source, state: nil)))
                    } else {
                        let st = randomState()
                        live[st.spi] = st
                        feed(.kernel(.newSA(st)))
                    }
                }
            default:
                break
            }
            if step % 4 == 0 && !compare("step \(step) op \(op), before the derive") { return (0, 0, 0) }
            let (incremental, detached) = (inc.incrementalDerives, inc.detachedPeerRecords)
            feed(.tick)
            if inc.incrementalDerives > incremental {
                if inc.detachedPeerRecords > detached { inPlace += 1 } else { merged += 1 }
            }
            if !compare("step \(step) op \(op), after the derive") { return (0, 0, 0) }
        }
        XCTAssertEqual(full.incrementalDerives, fullIncrementalBefore, file: file, line: line)
        return (inc.incrementalDerives - fullIncrementalBefore, inPlace, merged)
    }

    /// A model at 800 SAs: one SA coming and going is an incremental derive, and the peers,
    /// policies and capture ports match a full derive's.
    func testOneSAComingAndGoingAmongMany() {
        var states: [XFRMState] = []
        var policies: [XFRMPolicy] = []
        func remote(_ k: Int) -> IPAddress { Fx.ip(k < 200 ? "198.51.100.\(k + 1)" : "203.0.113.\(k - 199)") }
        for k in 0..<400 {
            let remote = remote(k)
            let reqid = UInt32(k + 1)
            states.append(Fx.sa(src: Fx.local, dst: remote, spi: UInt32(0x1000 + 2 * k), reqid: reqid,
                                encap: k % 7 == 0 ? (4500, UInt16(4500 + k % 3)) : nil))
            states.append(Fx.sa(src: remote, dst: Fx.local, spi: UInt32(0x1001 + 2 * k), reqid: reqid,
                                encap: k % 7 == 0 ? (UInt16(4500 + k % 3), 4500) : nil))
            policies.append(Fx.policy(dir: .outbound, index: UInt32(8 * k + 1), selector: Fx.anySelector(),
                                      templates: [Fx.template(src: Fx.local, dst: remote, reqid: reqid)]))
        }
        var full = Fx.model(states, policies: policies) { $0.localAddresses = [Fx.local] }
        var inc = full
        full.allowsIncrementalDerive = false
        let added = Fx.sa(src: Fx.local, dst: remote(5), spi: 0x9000, reqid: 6, encap: (4500, 4600))
        var t = Fx.t0
        for input: ModelInput in [.kernel(.newSA(added)), .tick,
                                  .kernel(.deleteSA(states[10].identity, source: nil, state: nil)), .tick,
                                  .kernel(.deleteSA(added.identity, source: nil, state: nil)), .tick] {
            t += 1
            XCTAssertEqual("\(full.apply(input, at: t))", "\(inc.apply(input, at: t))")
            XCTAssertEqual(observables(full, at: t), observables(inc, at: t))
        }
        XCTAssertEqual(inc.incrementalDerives, 3)
    }
}
