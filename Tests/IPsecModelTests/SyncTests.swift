import XCTest
@testable import IPsecModel
import XFRMWire

final class SyncTests: XCTestCase {
    let t0 = Fx.t0

    func testInitialDumpsSynchronise() {
        var m = LiveModel()
        XCTAssertEqual(m.sync, .initialising)
        m.apply(.dumpBegan(.sa), at: t0)
        m.apply(.saDump([Fx.out(0xA)]), at: t0)
        XCTAssertEqual(m.sync, .initialising)          // policies not dumped yet
        m.apply(.policyDump([]), at: t0)
        XCTAssertEqual(m.sync, .synchronised(lastResync: nil))
        XCTAssertEqual(m.saCount, 1)
        XCTAssertTrue(m.timeline.isEmpty, "the initial dump is not a stream of events")
    }

    func testResyncReconcilesStaleAndNewAndSaysResynced() throws {
        let pA = Fx.policy(dir: .outbound, index: 1, selector: Fx.anySelector(),
                           templates: [Fx.template(src: Fx.local, dst: Fx.remote, reqid: 1)])
        let pB = Fx.policy(dir: .inbound, index: 2, selector: Fx.anySelector(),
                           templates: [Fx.template(src: Fx.remote, dst: Fx.local, reqid: 1)])
        var m = Fx.model([Fx.out(0xA), Fx.out(0xB, reqid: 2)], policies: [pA])
        // Overrun: events were lost. The model asks for both dumps.
        let effects = m.apply(.resyncNeeded(reason: "ENOBUFS on the event socket"), at: t0 + 5)
        XCTAssertEqual(effects, [.dumpSAs, .dumpPolicies])
        guard case .resyncing(let since, _) = m.sync else { return XCTFail("not resyncing: \(m.sync)") }
        XCTAssertEqual(since, t0 + 5)
        XCTAssertEqual(m.header.sync.word, "resyncing")

        m.apply(.dumpBegan(.sa), at: t0 + 5.1)
        m.apply(.saDump([Fx.out(0xB, reqid: 2), Fx.out(0xC, reqid: 3)]), at: t0 + 5.2)
        XCTAssertNotEqual(m.sync, .synchronised(lastResync: t0 + 5.2), "policies still pending")
        m.apply(.dumpBegan(.policy), at: t0 + 5.3)
        m.apply(.policyDump([pB]), at: t0 + 5.4)

        XCTAssertNil(m.sa(Fx.out(0xA).identity), "stale SA removed")
        XCTAssertNotNil(m.sa(Fx.out(0xC, reqid: 3).identity), "new SA added")
        XCTAssertEqual(m.policies.map(\.policy.index), [2])
        XCTAssertEqual(m.sync, .synchronised(lastResync: t0 + 5.4))
        XCTAssertEqual(m.header.sync.word, "resynced")
        XCTAssertEqual(m.header.resyncCount, 1)
        let r = try XCTUnwrap(m.lastResync)
        XCTAssertEqual(r.addedSAs, 1); XCTAssertEqual(r.staleSAs, 1)
        XCTAssertEqual(r.addedPolicies, 1); XCTAssertEqual(r.stalePolicies, 1)
        let last = try XCTUnwrap(m.timeline.last)
        XCTAssertEqual(last.kind, .resync)
        XCTAssertEqual(last.name, "RESYNCED")
        XCTAssertEqual(last.summary, "resynced after ENOBUFS on the event socket: SAs +1 new -1 stale, policies +1 new -1 stale")
    }

    func testDumpInFlightAtOverrunDoesNotCompleteTheResync() {
        var m = Fx.model([Fx.out(0xA)])
        m.apply(.dumpBegan(.sa), at: t0 + 1)                      // periodic refresh under way
        _ = m.apply(.resyncNeeded(reason: "ENOBUFS"), at: t0 + 1.5)
        m.apply(.saDump([Fx.out(0xA)]), at: t0 + 2)              // began before the overrun
        m.apply(.dumpBegan(.policy), at: t0 + 2)
        m.apply(.policyDump([]), at: t0 + 2.1)
        guard case .resyncing = m.sync else { return XCTFail("an older dump must not complete the resync") }
        // A failed re-dump is asked for again.
        m.apply(.dumpBegan(.sa), at: t0 + 2.2)
        XCTAssertEqual(m.apply(.dumpFailed(.sa, errno: 16), at: t0 + 2.3), [.dumpSAs])
        m.apply(.dumpBegan(.sa), at: t0 + 2.4)
        m.apply(.saDump([Fx.out(0xA)]), at: t0 + 2.5)
        XCTAssertEqual(m.sync, .synchronised(lastResync: t0 + 2.5))
    }

    func testReduceIsTheFunctionalForm() {
        let m0 = Fx.model([Fx.out(0xA)])
        let (m1, effects) = LiveModel.reduce(m0, .kernel(.deleteSA(Fx.out(0xA).identity, source: nil, state: nil)), at: t0 + 1)
        XCTAssertEqual(effects, [])
        XCTAssertEqual(m0.saCount, 1, "the input state is a value: untouched")
        XCTAssertEqual(m1.saCount, 0)
    }

    func testDumpIsACursorWalkEventsDuringItWin() {
        let x = Fx.out(0xA), y = Fx.out(0xB, reqid: 2), z = Fx.out(0xC, reqid: 3)
        var m = Fx.model([x, z])
        m.apply(.dumpBegan(.sa), at: t0 + 1)
        // The dump already passed X when it is deleted; Y is created after the cursor passed its place.
        m.apply(.kernel(.deleteSA(x.identity, source: nil, state: nil)), at: t0 + 1.1)
        m.apply(.kernel(.newSA(y)), at: t0 + 1.2)
        m.apply(.saDump([x, z]), at: t0 + 1.3)
        XCTAssertNil(m.sa(x.identity), "a dump record must not resurrect an SA deleted during the dump")
        XCTAssertNotNil(m.sa(y.identity), "an SA created during the dump is not stale")
        XCTAssertNotNil(m.sa(z.identity))
        XCTAssertFalse(m.timeline.contains { $0.kind == .reconcile }, "nothing was lost")
        // Next refresh: y is in the dump, x is not.
        m.refresh([y, z], at: t0 + 2)
        XCTAssertEqual(m.saCount, 2)
    }

    func testPeriodicDumpFindsLostEventsAndSaysSo() {
        var m = Fx.model([Fx.out(0xA)])
        m.refresh([Fx.out(0xB, reqid: 2)], at: t0 + 1)
        XCTAssertNil(m.sa(Fx.out(0xA).identity))
        XCTAssertNotNil(m.sa(Fx.out(0xB, reqid: 2).identity))
        XCTAssertEqual(m.timeline.last?.kind, .reconcile)
        XCTAssertEqual(m.timeline.last?.summary,
                       "sa dump differed from events: SAs +1 new -1 stale, policies +0 new -0 stale")
    }

    func testPolicyDeletedDuringDumpIsNotResurrected() {
        let p = Fx.policy(dir: .outbound, index: 4, selector: Fx.anySelector(),
                          templates: [Fx.template(src: Fx.local, dst: Fx.remote, reqid: 1)])
        var m = Fx.model([], policies: [p])
        m.apply(.dumpBegan(.policy), at: t0 + 1)
        m.apply(.kernel(.deletePolicy(XFRMPolicyIDFixture.id(sel: p.selector, index: 4, dir: .outbound), policy: p,
                                      attributes: XFRMAttributes())), at: t0 + 1.1)
        m.apply(.policyDump([p]), at: t0 + 1.2)
        XCTAssertEqual(m.policyCount, 0)
    }

    func testEventStormStaysLinear() {
        // 10,000 policies and 10,000 SAs added then half deleted by events, then a reconciling dump.
        var m = Fx.model([])
        let n = 10_000
        var sas: [XFRMState] = []
        let clock = ContinuousClock()
        let d = clock.measure {
            for i in 0..<n {
                let remote = IPAddress(family: .inet, high: 0, low: 0xCB00_7100 | UInt64(i % 250))  // 203.0.113.x
                let sel = XFRMSelector(destination: remote, source: Fx.local, sourcePort: UInt16(i),
                                       sourcePortMask: 0xffff, family: .inet, destinationPrefixLength: 32,
                                       sourcePrefixLength: 32, upperProtocol: 17)
                let pol = Fx.policy(dir: .outbound, index: UInt32(8 * i + 1), selector: sel,
                                    templates: [Fx.template(src: Fx.local, dst: remote, reqid: UInt32(i))])
                m.apply(.kernel(.newPolicy(pol)), at: t0 + Double(i) / 1000)
                let sa = Fx.sa(src: Fx.local, dst: remote, spi: UInt32(0x10000 + i), reqid: UInt32(i), dir: .outbound)
                sas.append(sa)
                m.apply(.kernel(.newSA(sa)), at: t0 + Double(i) / 1000)
            }
            for i in stride(from: 0, to: n, by: 2) {
                m.apply(.kernel(.deleteSA(sas[i].identity, source: nil, state: nil)), at: t0 + 20)
            }
            m.refresh(Array(sas[1...].enumerated().filter { $0.offset % 2 == 0 }.map(\.element)), at: t0 + 21)
        }
        print("event storm of \(2 * n + n / 2) events + dump: \(d)")
        XCTAssertEqual(m.policyCount, n)
        XCTAssertEqual(m.saCount, n / 2)
        XCTAssertFalse(m.timeline.contains { $0.kind == .reconcile }, "events and dump agree")
        XCTAssertLessThan(d, Duration.seconds(20))
    }

    func testLargeRefreshIsLinearAndCompact() throws {
        // 20,000 SAs (10,000 peers), a third with traffic: a refresh must stay well under a second
        // even in a debug build, and the model must not keep per-SA history.
        let n = 20_000
        func states(_ k: UInt64) -> [XFRMState] {
            (0..<n).map { i in
                let remote = IPAddress(family: .inet, high: 0, low: 0xC633_6400 | UInt64(i / 2 % 250))  // 198.51.100.x
                let local = IPAddress(family: .inet, high: 0, low: 0xC000_0200 | UInt64(1 + i / 500))  // 192.0.2.x
                let out = i % 2 == 0
                return Fx.sa(src: out ? local : remote, dst: out ? remote : local, spi: UInt32(0x1000 + i),
                             reqid: UInt32(i / 2), dir: out ? .outbound : .inbound,
                             bytes: i % 3 == 0 ? 1000 * k : 0, packets: i % 3 == 0 ? 10 * k : 0)
            }
        }
        var m = Fx.model(states(0))
        let clock = ContinuousClock()
        var worst = Duration.zero
        for k in 1...3 {
            let s = states(UInt64(k))
            let d = clock.measure { m.refresh(s, at: t0 + Double(k)) }
            worst = max(worst, d)
        }
        print("refresh of \(n) SAs: worst \(worst); approx resident \(m.approximateResidentBytes / n) bytes/SA (tables only)")
        XCTAssertEqual(m.saCount, n)
        XCTAssertLessThan(worst, .seconds(5))
        XCTAssertEqual(m.rateStore.slotsInUse, (0..<n).filter { $0 % 3 == 0 }.count, "rate slots only for busy SAs")
        XCTAssertLessThanOrEqual(MemoryLayout<SAEntry>.stride, 232, "the per-SA entry must stay compact")
        XCTAssertLessThanOrEqual(m.approximateResidentBytes / n, 700, "SA tables per SA (entry, indexes, rate rings)")
    }
}
