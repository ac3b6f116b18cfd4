import XCTest
@testable import IPsecModel
import XFRMWire

final class EventSemanticsTests: XCTestCase {
    let t0 = Fx.t0

    func testHardExpireDeletesAndSoftExpireRequestsRekey() throws {
        var m = Fx.model([Fx.out(0xA), Fx.out(0xB, reqid: 2)])
        m.apply(.kernel(.expire(Fx.out(0xA), hard: true)), at: t0 + 1)
        XCTAssertNil(m.sa(Fx.out(0xA).identity))
        XCTAssertEqual(m.saCount, 1)
        XCTAssertEqual(m.timeline.last?.name, "EXPIRE")
        XCTAssertTrue(m.timeline.last?.summary.contains("hard") ?? false)

        m.apply(.kernel(.expire(Fx.out(0xB, reqid: 2), hard: false)), at: t0 + 2)
        let b = try XCTUnwrap(m.sa(Fx.out(0xB, reqid: 2).identity))
        XCTAssertEqual(b.rekeyRequestedAt, t0 + 2)
        XCTAssertTrue(b.health.contains(.rekeyRequested))
        XCTAssertEqual(m.saCount, 1)
    }

    func testDeleteSAWithAndWithoutBody() {
        var m = Fx.model([Fx.out(0xA), Fx.out(0xB, reqid: 2)])
        m.apply(.kernel(.deleteSA(Fx.out(0xA).identity, source: nil, state: nil)), at: t0 + 1)
        XCTAssertNil(m.sa(Fx.out(0xA).identity))
        m.apply(.kernel(.deleteSA(Fx.out(0xB, reqid: 2).identity, source: Fx.local, state: Fx.out(0xB, reqid: 2))),
                at: t0 + 2)
        XCTAssertEqual(m.saCount, 0)
        XCTAssertEqual(m.timeline.filter { $0.name == "DELSA" }.count, 2)
    }

    func testMarkedSAsWithSameSPIAreDistinct() {
        let m1 = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0xA, dir: .outbound, mark: XFRMMark(value: 1, mask: 0xff))
        let m2 = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0xA, dir: .outbound, mark: XFRMMark(value: 2, mask: 0xff))
        var m = Fx.model([m1, m2])
        XCTAssertEqual(m.saCount, 2)
        m.apply(.kernel(.deleteSA(m1.identity, source: nil, state: nil)), at: t0 + 1)
        XCTAssertNil(m.sa(m1.identity))
        XCTAssertNotNil(m.sa(m2.identity))
    }

    func testFlushByProtocol() {
        let esp = Fx.out(0x1)
        let ah = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x2, proto: .ah, dir: .outbound)
        let comp = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x3, proto: .comp, dir: .outbound)
        let route = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x4, proto: .routing, dir: .outbound)
        var m = Fx.model([esp, ah, comp, route])
        m.apply(.kernel(.flushSA(.esp)), at: t0 + 1)
        XCTAssertNil(m.sa(esp.identity))
        XCTAssertEqual(m.saCount, 3)
        m.apply(.kernel(.flushSA(.anyIPsec)), at: t0 + 2)       // 255: AH, ESP, IPcomp only
        XCTAssertNil(m.sa(ah.identity))
        XCTAssertNil(m.sa(comp.identity))
        XCTAssertNotNil(m.sa(route.identity))
        m.apply(.kernel(.flushSA(IPsecProtocol(rawValue: 0))), at: t0 + 3)  // 0: everything
        XCTAssertEqual(m.saCount, 0)
        XCTAssertEqual(m.timeline.filter { $0.name == "FLUSHSA" }.map(\.summary),
                       ["flushed esp SAs (1)", "flushed AH/ESP/IPcomp SAs (2)", "flushed all SAs (1)"])
    }

    func testPolicyEventsAndFlush() throws {
        let sel = Fx.subnetSelector(from: "192.0.2.0", to: "198.51.100.0")
        let out = Fx.policy(dir: .outbound, index: 9, selector: sel,
                            templates: [Fx.template(src: Fx.local, dst: Fx.remote, reqid: 1)])
        var m = Fx.model([])
        m.apply(.kernel(.newPolicy(out)), at: t0 + 1)
        XCTAssertEqual(m.policyCount, 1)
        // DELPOLICY without body: matched by index and direction.
        m.apply(.kernel(.deletePolicy(XFRMPolicyIDFixture.id(sel: sel, index: 9, dir: .outbound), policy: nil,
                                      attributes: XFRMAttributes())), at: t0 + 2)
        XCTAssertEqual(m.policyCount, 0)
        m.apply(.kernel(.newPolicy(out)), at: t0 + 3)
        m.apply(.kernel(.policyExpire(out, hard: false)), at: t0 + 4)
        XCTAssertEqual(m.policies.first?.softExpired, true)
        m.apply(.kernel(.policyExpire(out, hard: true)), at: t0 + 5)
        XCTAssertEqual(m.policyCount, 0)
        m.apply(.kernel(.newPolicy(out)), at: t0 + 6)
        m.apply(.kernel(.flushPolicy(type: nil)), at: t0 + 7)
        XCTAssertEqual(m.policyCount, 0)
    }

    func testLarvalStateFlagsAndEndsWithHardExpire() throws {
        let larval = Fx.sa(src: Fx.remote, dst: Fx.local, spi: 0xC0DE, dir: .inbound, larval: true)
        var m = Fx.model([larval])
        let e = try XCTUnwrap(m.sa(larval.identity))
        XCTAssertTrue(e.isLarval)
        XCTAssertTrue(e.health.contains(.larval))
        XCTAssertFalse(e.health.contains(.antiReplayOff))
        XCTAssertEqual(m.header.larvalCount, 1)
        m.apply(.kernel(.expire(larval, hard: true)), at: t0 + 30)
        XCTAssertEqual(m.saCount, 0)
        XCTAssertTrue(m.timeline.last?.summary.contains("larval") ?? false)
    }

    func testUpdateSAKeepsDumpCounters() throws {
        var m = Fx.model([Fx.out(0xA, bytes: 5000)])
        var upd = Fx.out(0xA)          // UPDSA echoes what userspace sent: zero counters
        upd.attributes.encapsulation = XFRMEncapsulation(type: .espInUDP, sourcePort: 4500, destinationPort: 4501,
                                                         originalAddress: .zero(.inet))
        m.apply(.kernel(.updateSA(upd)), at: t0 + 1)
        let e = try XCTUnwrap(m.sa(upd.identity))
        XCTAssertEqual(e.totals.bytes, 5000)
        XCTAssertEqual(e.state.attributes.encapsulation?.destinationPort, 4501)
    }

    func testMappingRecordsHistoryAndBehindNAT() throws {
        let inSA = Fx.inb(0xB1, encap: (4500, 4500))
        let outSA = Fx.out(0xA1, encap: (4500, 4500))
        var m = Fx.model([inSA, outSA])
        let before = PeerKey(local: Fx.local, remote: Fx.remote, remotePort: 4500)
        XCTAssertEqual(m.peer(before)?.nat?.behindNAT, false)
        XCTAssertEqual(m.peer(before)?.nat?.behindNATReason, "ports 4500/4500 and no mapping change seen")

        let bytes = Fx.mappingDatagram(daddr: Fx.local, spi: 0xB1, reqid: 1, oldSource: Fx.remote, oldPort: 4500,
                                       newSource: Fx.remote, newPort: 1031)
        let msg = try Fx.decodeOne(bytes)
        m.apply(.kernel(msg), at: t0 + 10)
        XCTAssertEqual(m.timeline.last?.name, "MAPPING")
        XCTAssertTrue(m.timeline.last?.summary.contains("198.51.100.2:4500 -> 198.51.100.2:1031") ?? false)

        // strongSwan then updates the SAs with the new port.
        m.apply(.kernel(.updateSA(Fx.inb(0xB1, encap: (1031, 4500)))), at: t0 + 10.1)
        m.apply(.kernel(.updateSA(Fx.out(0xA1, encap: (4500, 1031)))), at: t0 + 10.2)
        m.refresh([Fx.inb(0xB1, encap: (1031, 4500)), Fx.out(0xA1, encap: (4500, 1031))], at: t0 + 11)
        let after = PeerKey(local: Fx.local, remote: Fx.remote, remotePort: 1031)
        let nat = try XCTUnwrap(m.peer(after)?.nat)
        XCTAssertTrue(nat.behindNAT)
        XCTAssertEqual(nat.localPort, 4500)
        XCTAssertEqual(nat.remotePort, 1031)
        XCTAssertEqual(nat.mappingHistory.count, 1)
        let change = try XCTUnwrap(nat.mappingHistory.first)
        XCTAssertEqual(change.time, t0 + 10)
        XCTAssertEqual(change.oldPort, 4500)
        XCTAssertEqual(change.newPort, 1031)
        XCTAssertEqual(change.sa.spi, 0xB1)
        XCTAssertNil(m.peer(before))
        XCTAssertTrue(m.timeline(for: after).contains { $0.name == "MAPPING" })
    }

    func testPortChangeSeenOnlyInADumpIsAMappingChange() throws {
        var m = Fx.model([Fx.inb(0xB1, encap: (4501, 4500)), Fx.out(0xA1, encap: (4500, 4501))])
        m.refresh([Fx.inb(0xB1, encap: (1033, 4500)), Fx.out(0xA1, encap: (4500, 1033))], at: t0 + 5)
        let nat = try XCTUnwrap(m.peer(PeerKey(local: Fx.local, remote: Fx.remote, remotePort: 1033))?.nat)
        XCTAssertEqual(nat.mappingHistory.map(\.summary), ["198.51.100.2:4501 -> 198.51.100.2:1033"])
        XCTAssertEqual(m.timeline.filter { $0.name == "MAPPING" }.count, 1, "in and out SA report one change")
        XCTAssertTrue(m.timeline.last { $0.name == "MAPPING" }?.summary.hasSuffix("(seen in dump)") ?? false)
    }

    func testAcquirePendingUntilSAArrives() throws {
        var m = Fx.model([])
        m.applyAcquire(source: Fx.local, destination: Fx.remote, proto: .esp, reqid: 1,
                       selector: Fx.subnetSelector(from: "192.0.2.0", to: "198.51.100.0"), seq: 7, at: t0 + 1)
        XCTAssertEqual(m.pendingAcquires.count, 1)
        // The kernel's larval placeholder shows up in the next dump, flagged.
        let larval = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0, dir: .outbound, larval: true)
        m.refresh([larval], at: t0 + 2)
        let e = try XCTUnwrap(m.sa(larval.identity))
        XCTAssertTrue(e.health.contains(.acquirePending))
        XCTAssertEqual(m.header.pendingAcquires, 1)
        // The IKE daemon installs the real SA: resolved.
        m.apply(.kernel(.newSA(Fx.out(0xA))), at: t0 + 3)
        XCTAssertTrue(m.pendingAcquires.isEmpty)
        // A second acquire times out after xfrm_acq_expires.
        m.applyAcquire(source: Fx.local, destination: Fx.remote2, proto: .esp, reqid: 3,
                       selector: Fx.anySelector(), seq: 8, at: t0 + 4)
        m.apply(.tick, at: t0 + 40)
        XCTAssertTrue(m.pendingAcquires.isEmpty)
    }

    func testTimelineIsBoundedAndKeepsNewest() {
        var m = Fx.model([]) { $0.timelineCapacity = 5 }
        for i in 0..<20 { m.apply(.kernel(.newSA(Fx.out(UInt32(0x100 + i), reqid: UInt32(i + 10)))), at: t0 + Double(i)) }
        XCTAssertEqual(m.timeline.count, 5)
        XCTAssertEqual(m.timeline.map(\.time), (15..<20).map { t0 + Double($0) })
        XCTAssertTrue(m.timeline.last?.summary.contains("0x00000113") ?? false)
        XCTAssertEqual(m.timeline.map(\.sequence), [16, 17, 18, 19, 20])
        XCTAssertEqual(m.timeline(after: 18).map(\.sequence), [19, 20])
        XCTAssertEqual(m.timeline(after: 20).count, 0)
        XCTAssertEqual(m.timeline(after: 3).count, 5, "older than the ring: everything kept")
    }

    func testActionResultsGoToTimeline() {
        var m = Fx.model([Fx.out(0xA)])
        m.apply(.action(ActionResult(kind: "rekey", target: "esp spi 0x0000000a", sa: Fx.out(0xA).identity,
                                     outcome: .failed(errno: 22, message: "SA must be in VALID state"))), at: t0 + 1)
        m.apply(.action(ActionResult(kind: "delete", target: "esp spi 0x0000000a", outcome: .succeeded)), at: t0 + 2)
        let actions = m.timeline.filter { $0.kind == .action }
        XCTAssertEqual(actions.count, 2)
        XCTAssertEqual(actions[0].succeeded, false)
        XCTAssertEqual(actions[0].summary, "rekey esp spi 0x0000000a: failed, errno 22 (SA must be in VALID state)")
        XCTAssertEqual(actions[0].peer, PeerKey(local: Fx.local, remote: Fx.remote))
        XCTAssertEqual(actions[1].succeeded, true)
    }

    func testXFRMStatDeltas() throws {
        var m = Fx.model([])
        m.apply(.xfrmStat("XfrmInError                     0\nXfrmInNoStates                  3\nXfrmOutBundleGenError\t1\n"),
                at: t0)
        XCTAssertEqual(m.xfrmStat?.counter(named: "XfrmInNoStates")?.value, 3)
        XCTAssertEqual(m.xfrmStat?.counter(named: "XfrmInNoStates")?.delta, 0)
        m.apply(.xfrmStat("XfrmInError                     0\nXfrmInNoStates                  10\nXfrmOutBundleGenError\t1\n"),
                at: t0 + 1)
        let s = try XCTUnwrap(m.xfrmStat)
        XCTAssertEqual(s.counters.map(\.name), ["XfrmInError", "XfrmInNoStates", "XfrmOutBundleGenError"])
        XCTAssertEqual(s.counter(named: "XfrmInNoStates")?.delta, 7)
        XCTAssertEqual(s.previousTime, t0)
        XCTAssertEqual(m.header.xfrmStatErrors, 7)
        XCTAssertEqual(m.timeline.last?.summary, "XfrmInNoStates +7")
    }
}

/// `XFRMPolicyID` has no public initialiser: build one through a DELPOLICY datagram.
enum XFRMPolicyIDFixture {
    static func id(sel: XFRMSelector, index: UInt32, dir: PolicyDirection) -> XFRMPolicyID {
        // struct xfrm_userpolicy_id: xfrm_selector (56) + index u32 + dir u8 + 3 pad = 64
        var b: [UInt8] = []
        b += sel.destination.xfrmBytes + sel.source.xfrmBytes
        for v in [sel.destinationPort.bigEndian, sel.destinationPortMask.bigEndian, sel.sourcePort.bigEndian,
                  sel.sourcePortMask.bigEndian, sel.family.rawValue] {
            b += withUnsafeBytes(of: v) { Array($0) }
        }
        b += [sel.destinationPrefixLength, sel.sourcePrefixLength, sel.upperProtocol, 0, 0, 0]
        b += withUnsafeBytes(of: sel.ifindex) { Array($0) }
        b += withUnsafeBytes(of: sel.user) { Array($0) }
        b += withUnsafeBytes(of: index) { Array($0) }
        b += [dir.rawValue, 0, 0, 0]
        var h: [UInt8] = withUnsafeBytes(of: UInt32(16 + b.count)) { Array($0) }
        h += withUnsafeBytes(of: XFRMMessageType.delPolicy.rawValue) { Array($0) }
        h += [0, 0] + [UInt8](repeating: 0, count: 8)
        let msg = XFRMDecoder.decodeDatagram(h + b).messages.first.flatMap { try? $0.body.get() }
        guard case .deletePolicy(let pid, _, _)? = msg else { fatalError("DELPOLICY fixture did not decode: \(String(describing: msg))") }
        return pid
    }
}
