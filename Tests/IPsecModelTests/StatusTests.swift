import XCTest
@testable import IPsecModel
import XFRMWire

final class KeepaliveTests: XCTestCase {
    let t0 = Fx.t0
    let peer = PeerKey(local: Fx.local, remote: Fx.remote, remotePort: 4501)

    func natModel(kernelInterval: UInt32? = nil) -> LiveModel {
        var out = Fx.out(0xA, encap: (4500, 4501))
        out.attributes.natKeepaliveInterval = kernelInterval
        return Fx.model([Fx.inb(0xB, encap: (4501, 4500)), out])
    }

    func sent(_ t: ModelTime) -> ModelInput {
        .keepalive(KeepaliveObservation(direction: .outbound, source: Fx.local, sourcePort: 4500,
                                        destination: Fx.remote, destinationPort: 4501, time: t))
    }

    func received(_ t: ModelTime) -> ModelInput {
        .keepalive(KeepaliveObservation(direction: .inbound, source: Fx.remote, sourcePort: 4501,
                                        destination: Fx.local, destinationPort: 4500, time: t))
    }

    func testObservedKeepalivesOKThenLateWithReason() throws {
        var m = natModel()
        m.apply(.capture(.active), at: t0)
        for t in [1.0, 6, 11] { m.apply(sent(t0 + t), at: t0 + t) }
        for t in [2.0, 7] { m.apply(received(t0 + t), at: t0 + t) }
        m.apply(.tick, at: t0 + 12)
        var ka = try XCTUnwrap(m.peer(peer)?.keepalive)
        XCTAssertEqual(ka.state, .ok, ka.reason)
        XCTAssertEqual(ka.interval, 5)
        XCTAssertEqual(ka.intervalSource, .observed)
        XCTAssertEqual(ka.lastSent, t0 + 11)
        XCTAssertEqual(ka.lastReceived, t0 + 7)
        XCTAssertEqual(ka.reason, "keepalive sent 1 s ago, keepalive received 5 s ago (interval 5 s, observed)")

        // Keepalives stop (an nftables rule drops them): LATE after 1.5 x 5 s.
        m.apply(.tick, at: t0 + 19)
        ka = try XCTUnwrap(m.peer(peer)?.keepalive)
        XCTAssertEqual(ka.state, .late)
        XCTAssertEqual(ka.reason, "nothing sent to 198.51.100.2:4501 for 8 s; nothing received from 198.51.100.2:4501 "
                       + "for 12 s (> 1.5x interval 5 s, observed)")
        // Evaluated on demand at another time.
        XCTAssertEqual(m.keepaliveStatus(for: peer, at: t0 + 12)?.state, .ok)
    }

    func testAPeersVerdictIsEvaluatedWhenReadAtTheLatestInput() throws {
        var m = natModel()
        m.apply(.capture(.active), at: t0)
        for t in [1.0, 6] { m.apply(sent(t0 + t), at: t0 + t); m.apply(received(t0 + t), at: t0 + t) }
        m.apply(.tick, at: t0 + 7)
        XCTAssertEqual(m.peer(peer)?.keepalive.reason,
                       "keepalive sent 1 s ago, keepalive received 1 s ago (interval 5 s, observed)")
        // A keepalive after the last tick shows at once, never as seen in the future.
        m.apply(received(t0 + 9.5), at: t0 + 9.5)
        let ka = try XCTUnwrap(m.peer(peer)?.keepalive)
        XCTAssertEqual(ka.lastReceived, t0 + 9.5)
        XCTAssertEqual(ka.reason, "keepalive sent 3.5 s ago, keepalive received 0 s ago (interval 3.5 s, observed)")
        XCTAssertEqual(ka, m.keepaliveStatus(for: peer, at: t0 + 9.5))
    }

    func testTrafficCountsAsKeepalive() throws {
        var m = natModel()
        m.apply(.capture(.active), at: t0)
        for t in [1.0, 6] { m.apply(received(t0 + t), at: t0 + t) }
        // Then real ESP arrives: the inbound SA's LASTUSED moves on, no keepalives needed.
        var inb = Fx.inb(0xB, encap: (4501, 4500))
        inb.attributes.lastUsed = UInt64(t0 + 19)
        var out = Fx.out(0xA, encap: (4500, 4501))
        out.attributes.lastUsed = UInt64(t0 + 19)
        m.refresh([inb, out], at: t0 + 20)
        let ka = try XCTUnwrap(m.peer(peer)?.keepalive)
        XCTAssertEqual(ka.state, .ok, ka.reason)
        XCTAssertEqual(ka.inboundIdle, 1)
        XCTAssertTrue(ka.reason.contains("traffic received 1 s ago"), ka.reason)
    }

    func testKernelIntervalWithoutCaptureFallsBackAndSaysSo() throws {
        var m = natModel(kernelInterval: 20)
        m.apply(.capture(.unavailable(reason: "no CAP_NET_RAW")), at: t0)
        m.apply(.tick, at: t0 + 1)
        let ka = try XCTUnwrap(m.peer(peer)?.keepalive)
        XCTAssertEqual(ka.state, .ok)
        XCTAssertEqual(ka.interval, 20)
        XCTAssertEqual(ka.intervalSource, .kernel)
        XCTAssertEqual(ka.kernelInterval, 20)
        XCTAssertFalse(ka.captureActive)
        XCTAssertEqual(ka.reason,
                       "kernel sends keepalives after 20 s idle (keepalive capture unavailable (no CAP_NET_RAW): not observed)")
        XCTAssertTrue(m.timeline.contains { $0.name == "CAPTURE" && $0.summary.contains("no CAP_NET_RAW") })
    }

    func testKernelIntervalWithCaptureGoesLateWhenNothingSent() throws {
        var m = natModel(kernelInterval: 10)
        m.apply(.capture(.active), at: t0)
        m.apply(sent(t0 + 2), at: t0 + 2)
        m.apply(.tick, at: t0 + 10)
        XCTAssertEqual(m.peer(peer)?.keepalive.state, .ok)
        m.apply(.tick, at: t0 + 18)
        let ka = try XCTUnwrap(m.peer(peer)?.keepalive)
        XCTAssertEqual(ka.state, .late)
        XCTAssertEqual(ka.reason, "nothing sent to 198.51.100.2:4501 for 16 s (> 1.5x interval 10 s, kernel)")
    }

    func testUnknownAndNone() throws {
        var m = natModel()
        m.apply(.capture(.unavailable(reason: "replay")), at: t0)
        m.apply(.tick, at: t0 + 1)
        XCTAssertEqual(m.peer(peer)?.keepalive.state, .unknown)
        XCTAssertEqual(m.peer(peer)?.keepalive.reason, "keepalive capture unavailable (replay) and no kernel keepalive interval")

        m.apply(.capture(.active), at: t0 + 2)
        m.apply(.tick, at: t0 + 30)
        XCTAssertEqual(m.peer(peer)?.keepalive.state, .unknown)
        XCTAssertEqual(m.peer(peer)?.keepalive.reason, "capture running for 28 s: no keepalive seen yet")
        m.apply(.tick, at: t0 + 62)
        XCTAssertEqual(m.peer(peer)?.keepalive.state, KeepaliveState.none)
        XCTAssertEqual(m.peer(peer)?.keepalive.reason, "no keepalive seen in 60 s of capture and no kernel interval")

        // Traffic flowing: no keepalive is expected, so that is not NONE.
        var busy = natModel()
        busy.apply(.capture(.active), at: t0)
        var inb = Fx.inb(0xB, encap: (4501, 4500))
        inb.attributes.lastUsed = UInt64(t0 + 99)
        busy.refresh([inb, Fx.out(0xA, encap: (4500, 4501))], at: t0 + 100)
        XCTAssertEqual(busy.peer(peer)?.keepalive.state, .unknown)
        XCTAssertEqual(busy.peer(peer)?.keepalive.reason,
                       "no keepalive seen, but traffic 1 s ago (keepalives are only sent when idle)")

        // Without UDP encapsulation keepalives do not apply.
        let plain = Fx.model([Fx.out(0xC), Fx.inb(0xD)])
        let p = try XCTUnwrap(plain.peers.first)
        XCTAssertNil(p.nat)
        XCTAssertEqual(p.keepalive.state, KeepaliveState.none)
    }

    func testCapturePortsEffect() {
        var m = LiveModel()
        m.apply(.policyDump([]), at: t0)
        let effects = m.apply(.saDump([Fx.out(0xA, encap: (4500, 4501))]), at: t0)
        XCTAssertEqual(effects, [.setKeepaliveCapturePorts([4500, 4501])])
        XCTAssertEqual(m.apply(.saDump([Fx.out(0xA, encap: (4500, 4501))]), at: t0 + 1), [])
    }
}

final class HealthTests: XCTestCase {
    let t0 = Fx.t0

    func flags(_ m: LiveModel, _ st: XFRMState) -> HealthFlags { m.sa(st.identity)?.health ?? [] }

    func testAntiReplayOffOnlyInbound() {
        let inb = Fx.sa(src: Fx.remote, dst: Fx.local, spi: 1, dir: .inbound, replayWindow: 0)
        let out = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 2, dir: .outbound, replayWindow: 0)
        let ok = Fx.sa(src: Fx.remote, dst: Fx.local, spi: 3, reqid: 2, dir: .inbound, replayWindow: 64)
        let m = Fx.model([inb, out, ok])
        XCTAssertTrue(flags(m, inb).contains(.antiReplayOff))
        XCTAssertFalse(flags(m, out).contains(.antiReplayOff))
        XCTAssertFalse(flags(m, ok).contains(.antiReplayOff))
        XCTAssertEqual(m.healthIssues(for: inb.identity).first?.reason, "inbound SA with replay window 0: anti-replay off")
    }

    func testReplayAndIntegrityFailuresRising() {
        func inb(_ r: UInt32, _ i: UInt32) -> XFRMState {
            Fx.sa(src: Fx.remote, dst: Fx.local, spi: 1, dir: .inbound, replayFailures: r, integrityFailures: i)
        }
        var m = Fx.model([inb(0, 0)])
        XCTAssertTrue(flags(m, inb(0, 0)).isDisjoint(with: [.replayFailuresRising, .integrityFailuresRising]))
        m.refresh([inb(3, 0)], at: t0 + 1)
        XCTAssertTrue(flags(m, inb(0, 0)).contains(.replayFailuresRising))
        XCTAssertFalse(flags(m, inb(0, 0)).contains(.integrityFailuresRising))
        m.refresh([inb(3, 2)], at: t0 + 2)
        XCTAssertFalse(flags(m, inb(0, 0)).contains(.replayFailuresRising), "steady counter is not rising")
        XCTAssertTrue(flags(m, inb(0, 0)).contains(.integrityFailuresRising))
        XCTAssertEqual(m.healthIssues(for: inb(0, 0).identity).map(\.reason), ["integrity failures rising (2 now)"])
    }

    func testSequencePastHalfWithoutESN() {
        let wrap = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 1, dir: .outbound, outboundSequence: 0x8000_0001)
        let esn = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 2, reqid: 2, dir: .outbound, esn: true,
                        outboundSequence: 0x8000_0001)
        let low = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 3, reqid: 3, dir: .outbound, outboundSequence: 0x7fff_ffff)
        let m = Fx.model([wrap, esn, low])
        XCTAssertTrue(flags(m, wrap).contains(.sequenceNearWrap))
        XCTAssertFalse(flags(m, esn).contains(.sequenceNearWrap))
        XCTAssertFalse(flags(m, low).contains(.sequenceNearWrap))
    }

    func testOneWayTraffic() {
        var m = Fx.model([Fx.out(0xA), Fx.inb(0xB)])
        for i in 1...12 {
            m.refresh([Fx.out(0xA, bytes: UInt64(100 * i), packets: UInt64(i)), Fx.inb(0xB)], at: t0 + Double(i))
        }
        XCTAssertTrue(flags(m, Fx.out(0xA)).contains(.oneWayTraffic))
        XCTAssertTrue(flags(m, Fx.inb(0xB)).contains(.oneWayTraffic))
        XCTAssertTrue(m.peers.first?.health.contains(.oneWayTraffic) ?? false)
        XCTAssertEqual(m.healthIssues(for: Fx.inb(0xB).identity).last?.reason,
                       "no traffic on this SA in 10 s while its reverse SA carries some")
        // Replies start: no longer one-way.
        for i in 13...14 {
            m.refresh([Fx.out(0xA, bytes: UInt64(100 * i), packets: UInt64(i)),
                       Fx.inb(0xB, bytes: UInt64(100 * i), packets: UInt64(i))], at: t0 + Double(i))
        }
        XCTAssertFalse(flags(m, Fx.out(0xA)).contains(.oneWayTraffic))
    }

    func testNearHardLifetimeUnlessSucceeded() {
        var byteLimited = XFRMLifetimeConfig.infinite
        byteLimited.hardByteLimit = 1000
        let a = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 1, dir: .outbound, bytes: 950, lifetime: byteLimited)
        var timeLimited = XFRMLifetimeConfig.infinite
        timeLimited.hardAddExpiresSeconds = 100
        let b = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 2, reqid: 2, dir: .outbound,
                      addTime: UInt64(Fx.t0) - 95, lifetime: timeLimited)
        let young = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 3, reqid: 3, dir: .outbound,
                          addTime: UInt64(Fx.t0) - 50, lifetime: timeLimited)
        var m = Fx.model([a, b, young])
        XCTAssertTrue(flags(m, a).contains(.nearHardLifetime))
        XCTAssertTrue(flags(m, b).contains(.nearHardLifetime))
        XCTAssertFalse(flags(m, young).contains(.nearHardLifetime))
        XCTAssertEqual(m.healthIssues(for: a.identity).map(\.reason),
                       ["within 10% of the hard byte limit (950 of 1000) and no successor"])
        // A successor appears (rekey): no longer a problem.
        let a2 = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 4, dir: .outbound, addTime: UInt64(Fx.t0) + 1)
        m.apply(.kernel(.newSA(a2)), at: t0 + 1)
        m.apply(.tick, at: t0 + 1)
        XCTAssertFalse(flags(m, a).contains(.nearHardLifetime))
    }

    func testTimeAloneRaisesLifetimeFlagOnTick() {
        var timeLimited = XFRMLifetimeConfig.infinite
        timeLimited.hardAddExpiresSeconds = 100
        let a = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 1, dir: .outbound, addTime: UInt64(Fx.t0) - 50,
                      lifetime: timeLimited)
        var m = Fx.model([a])
        m.apply(.tick, at: t0 + 30)
        XCTAssertFalse(flags(m, a).contains(.nearHardLifetime))
        XCTAssertFalse(m.derivedDirty, "nothing changed: the tick only re-evaluates")
        m.apply(.tick, at: t0 + 41)
        XCTAssertTrue(flags(m, a).contains(.nearHardLifetime))
        XCTAssertTrue(m.peers.first?.health.contains(.nearHardLifetime) ?? false)
    }

    func testFlagsAndReasonsAgree() {
        var limited = XFRMLifetimeConfig.infinite
        limited.hardPacketLimit = 100
        let states = [
            Fx.sa(src: Fx.remote, dst: Fx.local, spi: 1, dir: .inbound, replayWindow: 0),
            Fx.sa(src: Fx.local, dst: Fx.remote, spi: 2, reqid: 2, dir: .outbound, outboundSequence: 0x9000_0000),
            Fx.sa(src: Fx.local, dst: Fx.remote, spi: 3, reqid: 3, dir: .outbound, packets: 95, lifetime: limited),
            Fx.sa(src: Fx.local, dst: Fx.remote2, spi: 4, reqid: 4, dir: .outbound, larval: true),
            Fx.out(5, reqid: 5),
        ]
        var m = Fx.model(states)
        m.applyAcquire(source: Fx.local, destination: Fx.remote2, proto: .esp, reqid: 0, selector: Fx.anySelector(),
                       seq: 1, at: t0)
        m.apply(.kernel(.expire(Fx.out(5, reqid: 5), hard: false)), at: t0 + 1)
        m.apply(.tick, at: t0 + 2)
        var seen: HealthFlags = []
        for st in states {
            let e = m.sa(st.identity)!
            let fromReasons = m.healthIssues(for: st.identity, at: t0 + 2).reduce(into: HealthFlags()) { $0.formUnion($1.flag) }
            XCTAssertEqual(e.health, fromReasons, "SA \(SAIdentity.hex(st.spi))")
            XCTAssertFalse(e.health.isEmpty)
            seen.formUnion(e.health)
        }
        XCTAssertEqual(seen, [.antiReplayOff, .sequenceNearWrap, .nearHardLifetime, .larval, .acquirePending,
                              .rekeyRequested])
    }

    func testLarvalAcquireAndRekeyFlagsHaveReasons() {
        let larval = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0, dir: .outbound, larval: true)
        var m = Fx.model([larval, Fx.out(0xA, reqid: 5)])
        m.applyAcquire(source: Fx.local, destination: Fx.remote, proto: .esp, reqid: 9, selector: Fx.anySelector(),
                       seq: 1, at: t0)
        m.apply(.kernel(.expire(Fx.out(0xA, reqid: 5), hard: false)), at: t0 + 1)
        m.apply(.tick, at: t0 + 3)
        XCTAssertEqual(flags(m, larval), [.larval, .acquirePending])
        XCTAssertEqual(flags(m, Fx.out(0xA, reqid: 5)), [.rekeyRequested])
        XCTAssertEqual(m.healthIssues(for: Fx.out(0xA, reqid: 5).identity).map(\.reason),
                       ["soft expiry 2 s ago: rekey requested, no successor yet"])
        XCTAssertEqual(flags(m, larval).codes, ["LV", "AQ"])
    }
}

final class GroupingTests: XCTestCase {
    let t0 = Fx.t0

    /// Policies attach through a template's reqid (any SA of the peer, larval ones too), its
    /// addresses (either way round), or both (then both must match); several templates add up.
    func testPoliciesAttachByReqidAddressesOrBoth() throws {
        let r2 = Fx.remote2
        let zero = IPAddress.zero(.inet)
        let sas = [Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x10, reqid: 1, dir: .outbound),
                   Fx.sa(src: Fx.remote, dst: Fx.local, spi: 0x11, reqid: 1, dir: .inbound),
                   Fx.sa(src: Fx.remote, dst: Fx.local, spi: 0x12, reqid: 7, dir: .inbound, larval: true),
                   Fx.sa(src: Fx.local, dst: r2, spi: 0x20, reqid: 1, dir: .outbound),
                   Fx.sa(src: r2, dst: Fx.local, spi: 0x21, reqid: 1, dir: .inbound)]
        let sel = Fx.subnetSelector(from: "192.0.2.0", to: "198.51.100.0")
        func pol(_ index: UInt32, _ dir: PolicyDirection, _ t: [XFRMTemplate]) -> XFRMPolicy {
            Fx.policy(dir: dir, index: index, selector: sel, templates: t)
        }
        let byReqid = pol(8, .outbound, [Fx.template(src: zero, dst: zero, reqid: 1)])
        let byBoth = pol(16, .outbound, [Fx.template(src: Fx.local, dst: Fx.remote, reqid: 1)])
        let byAddresses = pol(24, .inbound, [Fx.template(src: r2, dst: Fx.local, reqid: 0)])
        let byLarvalReqid = pol(32, .inbound, [Fx.template(src: zero, dst: zero, reqid: 7)])
        let twoTemplates = pol(40, .outbound, [Fx.template(src: Fx.local, dst: r2, reqid: 1),
                                               Fx.template(src: zero, dst: zero, reqid: 7)])
        let none = pol(48, .outbound, [Fx.template(src: zero, dst: zero, reqid: 99)])
        let bothMismatch = pol(56, .outbound, [Fx.template(src: Fx.local, dst: r2, reqid: 7)])
        let policies = [byReqid, byBoth, byAddresses, byLarvalReqid, twoTemplates, none, bothMismatch]
        let m = Fx.model(sas, policies: policies)
        let a = PeerKey(local: Fx.local, remote: Fx.remote), b = PeerKey(local: Fx.local, remote: r2)
        func peers(_ p: XFRMPolicy) -> [PeerKey]? { m.policies.first { $0.policy.identity == p.identity }?.peers }
        XCTAssertEqual(peers(byReqid), [a, b].sorted())
        XCTAssertEqual(peers(byBoth), [a])
        XCTAssertEqual(peers(byAddresses), [b])
        XCTAssertEqual(peers(byLarvalReqid), [a])
        XCTAssertEqual(peers(twoTemplates), [a, b].sorted())
        XCTAssertEqual(peers(none), [])
        XCTAssertEqual(peers(bothMismatch), [])
        XCTAssertEqual(m.peer(a)?.policies, [byLarvalReqid, byReqid, byBoth, twoTemplates].map(\.identity)
                        .sorted { ($0.direction.rawValue, $0.index) < ($1.direction.rawValue, $1.index) })
        XCTAssertEqual(m.peer(b)?.policies, [byAddresses, byReqid, twoTemplates].map(\.identity)
                        .sorted { ($0.direction.rawValue, $0.index) < ($1.direction.rawValue, $1.index) })
    }

    func testDirectionFromPolicyTemplatesWithoutSADirAttribute() throws {
        let outPol = Fx.policy(dir: .outbound, index: 1, selector: Fx.subnetSelector(from: "192.0.2.0", to: "198.51.100.0"),
                               templates: [Fx.template(src: Fx.local, dst: Fx.remote, reqid: 7)])
        let o = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0xA, reqid: 7)
        let i = Fx.sa(src: Fx.remote, dst: Fx.local, spi: 0xB, reqid: 7)
        let m = Fx.model([o, i], policies: [outPol])
        XCTAssertEqual(m.sa(o.identity)?.direction, .outbound)
        XCTAssertEqual(m.sa(o.identity)?.directionSource, .localSource)
        XCTAssertEqual(m.sa(i.identity)?.direction, .inbound)
        XCTAssertEqual(m.sa(i.identity)?.directionSource, .localDestination)
        let p = try XCTUnwrap(m.peer(PeerKey(local: Fx.local, remote: Fx.remote)))
        XCTAssertEqual(p.pairs, [SAPair(reqid: 7, inbound: i.identity, outbound: o.identity)])
        XCTAssertEqual(p.policies, [outPol.identity])
        XCTAssertEqual(m.policies.first?.peers, [p.key])
        XCTAssertEqual(m.localAddresses, [Fx.local])
    }

    func testWithoutAnyHintDirectionIsUndetermined() {
        let o = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0xA)
        var m = Fx.model([o])
        XCTAssertNil(m.sa(o.identity)?.direction)
        XCTAssertEqual(m.peers.first?.undetermined, [o.identity])
        // Interface addresses settle it.
        m.apply(.localAddresses([Fx.local]), at: t0 + 1)
        XCTAssertEqual(m.sa(o.identity)?.direction, .outbound)
    }

    func testPairingWhenBothEndsAreLocal() {
        let a = Fx.ip("192.0.2.10"), b = Fx.ip("192.0.2.20")
        let x = Fx.sa(src: a, dst: b, spi: 1, reqid: 4, dir: .outbound)
        let y = Fx.sa(src: b, dst: a, spi: 2, reqid: 4)
        var m = LiveModel()
        m.apply(.localAddresses([a, b]), at: t0)
        m.apply(.policyDump([]), at: t0)
        m.apply(.saDump([x, y]), at: t0)
        XCTAssertEqual(m.sa(y.identity)?.direction, .inbound)
        XCTAssertEqual(m.sa(y.identity)?.directionSource, .pairing)
        XCTAssertEqual(m.peers.count, 1)
    }

    func testPeersSplitByRemoteAndByNATPort() {
        let m = Fx.model([
            Fx.out(0xA, encap: (4500, 4500)),
            Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0xB, reqid: 2, dir: .outbound, encap: (4500, 1031)),
            Fx.sa(src: Fx.local, dst: Fx.remote2, spi: 0xC, reqid: 3, dir: .outbound),
        ])
        XCTAssertEqual(m.peers.map(\.key.description),
                       ["192.0.2.1 <-> 198.51.100.2:1031", "192.0.2.1 <-> 198.51.100.2:4500", "192.0.2.1 <-> 203.0.113.9"])
        XCTAssertEqual(m.header.peerCount, 3)
    }

    func testPerCPUSAsGroupUnderParentAndAreNotRekeys() {
        let parent = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x10, dir: .outbound)
        let c0 = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x11, dir: .outbound, perCPU: 0)
        let c1 = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x12, dir: .outbound, perCPU: 1)
        var m = Fx.model([parent])
        m.apply(.kernel(.newSA(c0)), at: t0 + 1)
        m.apply(.kernel(.newSA(c1)), at: t0 + 1)
        m.apply(.tick, at: t0 + 2)
        XCTAssertEqual(m.sa(c0.identity)?.parent, parent.identity)
        XCTAssertEqual(m.perCPUChildren(of: parent.identity).map(\.identity), [c0.identity, c1.identity])
        XCTAssertTrue(m.rekeyLinks.isEmpty)
        XCTAssertNil(m.sa(c1.identity)?.predecessor)
    }

    func testIPv6Peers() {
        let l = Fx.ip("2001:db8::1"), r = Fx.ip("2001:db8:1::2")
        let m = Fx.model([Fx.sa(src: l, dst: r, spi: 1, dir: .outbound), Fx.sa(src: r, dst: l, spi: 2, dir: .inbound)])
        XCTAssertEqual(m.peers.map(\.key.description), ["2001:db8::1 <-> 2001:db8:1::2"])
        XCTAssertEqual(m.peers.first?.pairs.count, 1)
    }

    func testSortedAndFilteredRows() {
        var m = Fx.model([Fx.out(0xA), Fx.out(0xB, reqid: 2), Fx.inb(0xC, reqid: 3)])
        m.refresh([Fx.out(0xA, bytes: 100), Fx.out(0xB, bytes: 5000, reqid: 2), Fx.inb(0xC, bytes: 10, reqid: 3)],
                  at: t0 + 1)
        XCTAssertEqual(m.saRows(sortedBy: .rate, descending: true).map(\.state.spi), [0xB, 0xA, 0xC])
        XCTAssertEqual(m.saRows(filter: "0x0000000c").map(\.state.spi), [0xC])
        XCTAssertEqual(m.saRows(filter: "!0x0000000c", sortedBy: .spi).map(\.state.spi), [0xA, 0xB])
        XCTAssertEqual(m.saRows(filter: "REQID 2").map(\.state.spi), [0xB])
        XCTAssertEqual(m.header.outboundRates.last2s.bytesPerSecond, 5100, accuracy: 0.01)
        XCTAssertEqual(m.header.inboundRates.last2s.bytesPerSecond, 10, accuracy: 0.01)
    }
}
