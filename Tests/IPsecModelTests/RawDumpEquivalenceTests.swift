import Foundation
import XCTest
@testable import IPsecModel
import XFRMWire

/// The refresh path the live source uses (`.saDumpRaw`: records decoded only when their
/// configuration hash changed, peers re-aggregated without regrouping while nothing structural
/// changed) against the reference path (`.saDump` of fully decoded states, which always regroups),
/// fed the same real lab recordings: every observable of the two models must be equal after
/// every input.
final class RawDumpEquivalenceTests: XCTestCase {
    struct Line {
        var t: Double
        var kind: String
        var what: String?
        var bytes: [UInt8]
        var text: String?
        var dir: String?
        var src: String?
        var dst: String?
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func load(_ relative: String) throws -> [Line] {
        let url = Self.root.appendingPathComponent(relative)
        var out: [Line] = []
        for l in try String(contentsOf: url, encoding: .utf8).split(separator: "\n").dropFirst() {
            guard let o = try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any],
                  let t = o["t"] as? Double, let kind = o["kind"] as? String else { continue }
            var bytes: [UInt8] = []
            if let hex = o["hex"] as? String {
                var it = hex.utf8.makeIterator()
                while let h = it.next(), let l = it.next() {
                    bytes.append(UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16)!)
                }
            }
            out.append(Line(t: t, kind: kind, what: o["what"] as? String, bytes: bytes, text: o["text"] as? String,
                            dir: o["dir"] as? String, src: o["src"] as? String, dst: o["dst"] as? String))
        }
        return out
    }

    func endpoint(_ s: String) -> (IPAddress, UInt16)? {
        var host = s, port = ""
        if s.hasPrefix("["), let close = s.firstIndex(of: "]") {
            host = String(s[s.index(after: s.startIndex)..<close])
            port = String(s[s.index(close, offsetBy: 2)...])
        } else if let colon = s.lastIndex(of: ":") {
            host = String(s[..<colon])
            port = String(s[s.index(after: colon)...])
        }
        guard let a = IPAddress(host), let p = UInt16(port) else { return nil }
        return (a, p)
    }

    /// Everything a view, snapshot or event stream reads from the model.
    func observables(_ m: LiveModel, at now: ModelTime) -> [String] {
        var out: [String] = ["\(m.header)", "\(m.peers)", "\(m.policies)", "\(m.timeline)", "\(m.rekeyLinks)",
                             "\(m.totalHistory)", "\(m.sync)", "\(m.pendingAcquires)"]
        m.forEachSA { e in
            out.append("\(e.identity) \(e.state) \(e.direction as Any) \(e.directionSource) \(e.health) "
                       + "\(e.tunnelTotals) \(e.rates) \(e.totals) \(e.counterResets) \(e.predecessor as Any) "
                       + "\(e.successor as Any) \(e.parent as Any) \(e.lastUpdated) \(m.healthIssues(for: e.identity, at: now))")
        }
        for p in m.peers {
            out.append("\(p.key) \(m.history(of: p.key)) \(m.keepaliveStatus(for: p.key, at: now) as Any) \(m.sas(of: p.key).map(\.identity))")
        }
        return out
    }

    /// `exercised`: the recording has stretches of dumps without events, so the raw path must have
    /// taken its shortcuts (a recording with an event between every two dumps never can).
    func checkEquivalence(_ relative: String, exercised: Bool = true, file: StaticString = #filePath,
                          line: UInt = #line) throws {
        let lines = try load(relative)
        XCTAssertFalse(lines.isEmpty, file: file, line: line)
        var reference = LiveModel()
        var raw = LiveModel()
        var pendingStates: [XFRMState]?
        var pendingRaw = RawSADump()
        var pendingPolicies: [XFRMPolicy]?
        var rawDumps = 0
        var compared = 0
        func both(_ input: ModelInput, _ rawInput: ModelInput? = nil, at t: Double) {
            _ = reference.apply(input, at: t)
            _ = raw.apply(rawInput ?? input, at: t)
        }
        func compare(at t: Double) {
            let a = observables(reference, at: t), b = observables(raw, at: t)
            XCTAssertEqual(a.count, b.count, "\(relative) at \(t)", file: file, line: line)
            for (x, y) in zip(a, b) where x != y {
                XCTFail("\(relative) at \(t):\nreference: \(x)\nraw:       \(y)", file: file, line: line)
                return
            }
            compared += 1
        }
        for l in lines {
            switch l.kind {
            case "event":
                for m in XFRMDecoder.decodeDatagram(l.bytes).messages {
                    if case .success(let msg) = m.body { both(.kernel(msg), at: l.t) }
                }
            case "dump" where l.what == "policy":
                if pendingPolicies == nil {
                    pendingPolicies = []
                    both(.dumpBegan(.policy), at: l.t)
                }
                var done = false
                for m in XFRMDecoder.decodeDatagram(l.bytes).messages {
                    if case .success(.newPolicy(let p)) = m.body { pendingPolicies?.append(p) }
                    if case .success(.done) = m.body { done = true }
                }
                if done, let p = pendingPolicies {
                    both(.policyDump(p), at: l.t)
                    pendingPolicies = nil
                }
            case "dump":
                if pendingStates == nil {
                    pendingStates = []
                    pendingRaw = RawSADump()
                    both(.dumpBegan(.sa), at: l.t)
                }
                var done = false
                for m in XFRMDecoder.decodeDatagram(l.bytes).messages {
                    if case .success(.newSA(let s)) = m.body { pendingStates?.append(s) }
                    if case .success(.done) = m.body { done = true }
                }
                pendingRaw.append(l.bytes)
                if done, let s = pendingStates {
                    XCTAssertEqual(s.count, pendingRaw.count, file: file, line: line)
                    both(.saDump(s), .saDumpRaw(pendingRaw), at: l.t)
                    rawDumps += 1
                    pendingStates = nil
                    compare(at: l.t)
                    both(.tick, at: l.t + 0.001)
                    compare(at: l.t + 0.001)
                }
            case "proc":
                both(.xfrmStat(l.text ?? ""), at: l.t)
            case "keepalive":
                guard let (s, sp) = l.src.flatMap(endpoint), let (d, dp) = l.dst.flatMap(endpoint) else { continue }
                both(.keepalive(KeepaliveObservation(direction: l.dir == "out" ? .outbound : .inbound, source: s,
                                                     sourcePort: sp, destination: d, destinationPort: dp, time: l.t)),
                     at: l.t)
            case "overrun":
                both(.resyncNeeded(reason: "overrun"), at: l.t)
            default:
                break
            }
        }
        XCTAssertGreaterThan(rawDumps, 2, "\(relative) has SA dumps", file: file, line: line)
        if exercised {
        XCTAssertGreaterThan(raw.counterOnlyRefreshes, 0, "\(relative): the raw path never skipped a decode",
                             file: file, line: line)
        XCTAssertGreaterThan(raw.counterOnlyDerives, 0, "\(relative): the raw path never re-aggregated without regrouping",
                             file: file, line: line)
        }
        XCTAssertEqual(reference.counterOnlyRefreshes, 0, file: file, line: line)
        XCTAssertGreaterThanOrEqual(compared, 4, file: file, line: line)
    }

    func testSampleRecording() throws { try checkEquivalence("Samples/natt-strongswan.xfrmrec") }
    func testStrongSwanNATT61() throws { try checkEquivalence("Tests/XFRMWireTests/Fixtures/strongswan-natt-6.1.xfrmrec") }
    func testStrongSwanNATT612() throws { try checkEquivalence("Tests/XFRMWireTests/Fixtures/strongswan-natt-6.12.xfrmrec") }
    func testManualESP61() throws { try checkEquivalence("Tests/XFRMWireTests/Fixtures/manual-esp-6.1.xfrmrec") }
    func testKernelLifetimes612() throws { try checkEquivalence("Tests/XFRMWireTests/Fixtures/kernel-lifetimes-6.12.xfrmrec", exercised: false) }
}

/// What counts as a structural change for the re-aggregating `derive`.
final class StructureTests: XCTestCase {
    func testPolicyCountersAloneAreNoPolicyChange() {
        let sel = Fx.subnetSelector(from: "192.0.2.0", to: "198.51.100.0")
        let pol = Fx.policy(dir: .outbound, index: 9, selector: sel,
                            templates: [Fx.template(src: Fx.local, dst: Fx.remote, reqid: 1)])
        var m = Fx.model([Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x100, dir: .outbound)], policies: [pol])
        let before = m.policy(pol.identity)
        let derives = m.counterOnlyDerives
        var used = pol
        used.lifetimeCurrent = XFRMLifetimeCurrent(bytes: 840, packets: 10, addTime: 1_794_999_000, useTime: 1_795_000_004)
        m.apply(.dumpBegan(.policy), at: Fx.t0 + 5)
        m.apply(.policyDump([used]), at: Fx.t0 + 5)
        XCTAssertEqual(m.policy(pol.identity)?.policy.lifetimeCurrent, used.lifetimeCurrent, "counters taken")
        XCTAssertEqual(m.policy(pol.identity)?.lastChanged, before?.lastChanged, "counters are not a change")
        XCTAssertEqual(m.counterOnlyDerives, derives + 1, "no regrouping for counters")

        // A real change (priority) regroups and is dated.
        var changed = used
        changed.priority = 7
        m.apply(.dumpBegan(.policy), at: Fx.t0 + 6)
        m.apply(.policyDump([changed]), at: Fx.t0 + 6)
        XCTAssertEqual(m.policy(pol.identity)?.lastChanged, Fx.t0 + 6)
        XCTAssertEqual(m.counterOnlyDerives, derives + 1, "a changed policy regroups")
    }

    func testAPolicyMissingFromADumpIsRemovedWithOrWithoutNewOnes() {
        let sel = Fx.subnetSelector(from: "192.0.2.0", to: "198.51.100.0")
        let sel2 = Fx.subnetSelector(from: "192.0.2.0", to: "203.0.113.0")
        let a = Fx.policy(dir: .outbound, index: 1, selector: sel, templates: [])
        let b = Fx.policy(dir: .outbound, index: 2, selector: sel2, templates: [])
        let c = Fx.policy(dir: .inbound, index: 3, selector: sel, templates: [])
        var m = Fx.model([], policies: [a, b])
        // Nothing new, one gone.
        m.apply(.dumpBegan(.policy), at: Fx.t0 + 1)
        m.apply(.policyDump([a]), at: Fx.t0 + 1)
        XCTAssertEqual(m.policies.map(\.identity), [a.identity])
        // One new, one gone: the counts match, the table does not.
        m.apply(.dumpBegan(.policy), at: Fx.t0 + 2)
        m.apply(.policyDump([c]), at: Fx.t0 + 2)
        XCTAssertEqual(m.policies.map(\.identity), [c.identity])
        // The same again: nothing changes.
        m.apply(.dumpBegan(.policy), at: Fx.t0 + 3)
        m.apply(.policyDump([c]), at: Fx.t0 + 3)
        XCTAssertEqual(m.policies.map(\.identity), [c.identity])
    }

    func testAnSADumpDoesWhatATickDoes() throws {
        // The live source sends no tick after a dump unless events came during it.
        var m = Fx.model([])
        m.applyAcquire(source: Fx.local, destination: Fx.remote, proto: .esp, reqid: 1,
                       selector: Fx.anySelector(), seq: 7, at: Fx.t0 + 1)
        let larval = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0, dir: .outbound, larval: true)
        m.apply(.dumpBegan(.sa), at: Fx.t0 + 2)
        m.apply(.saDump([larval]), at: Fx.t0 + 2)
        XCTAssertTrue(try XCTUnwrap(m.sa(larval.identity)).health.contains(.acquirePending))
        m.apply(.dumpBegan(.sa), at: Fx.t0 + 40)
        m.apply(.saDump([larval]), at: Fx.t0 + 40)
        XCTAssertTrue(m.pendingAcquires.isEmpty, "the acquire timed out with the dump")
        XCTAssertFalse(try XCTUnwrap(m.sa(larval.identity)).health.contains(.acquirePending))
    }

    func testTicksReevaluateTimeDependentHealth() {
        // An SA with a hard time limit: the near-expiry flag depends on the clock alone.
        var lifetime = XFRMLifetimeConfig.infinite
        lifetime.hardAddExpiresSeconds = 100
        let add = UInt64(Fx.t0) - 89
        var m = Fx.model([Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x100, dir: .outbound, addTime: add, lifetime: lifetime)])
        let id = SAIdentity(family: .inet, destination: Fx.remote, spi: 0x100, proto: .esp, mark: nil)
        XCTAssertFalse(m.sa(id)!.health.contains(.nearHardLifetime), "89 of 100 s")
        m.apply(.tick, at: Fx.t0 + 2)
        XCTAssertTrue(m.sa(id)!.health.contains(.nearHardLifetime), "91 of 100 s: the later tick re-evaluates")
    }
}
