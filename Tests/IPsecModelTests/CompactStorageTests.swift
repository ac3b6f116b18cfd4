import XCTest
@testable import IPsecModel
import XFRMWire

/// The compact forms the model keeps its tables in (host selectors without a box, a policy's first
/// template inline, one slot array per peer) give back exactly what was put in.
final class CompactStorageTests: XCTestCase {
    let t0 = Fx.t0

    func host(_ src: IPAddress, _ dst: IPAddress) -> XFRMSelector {
        let bits: UInt8 = src.family == .inet6 ? 128 : 32
        return XFRMSelector(destination: dst, source: src, family: src.family, destinationPrefixLength: bits,
                            sourcePrefixLength: bits)
    }

    func boxed(_ m: LiveModel, _ st: XFRMState) -> Bool? {
        m.lookup(st.identity).map { m.entries[Int($0)].selectorBox != nil }
    }

    func testHostSelectorsAreNotBoxedAndReadBackTheSame() throws {
        let v6l = Fx.ip("2001:db8::1"), v6r = Fx.ip("2001:db8:2::9")
        var udp500 = host(Fx.local, Fx.remote)
        udp500.upperProtocol = 17; udp500.destinationPort = 500; udp500.destinationPortMask = 0xffff
        let a = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x100, dir: .outbound, selector: host(Fx.local, Fx.remote))
        let b = Fx.sa(src: v6l, dst: v6r, spi: 0x101, dir: .outbound, selector: host(v6l, v6r))
        // The host selector of the reversed addresses is not this SA's own: boxed.
        let c = Fx.sa(src: Fx.remote, dst: Fx.local, spi: 0x102, dir: .inbound, selector: host(Fx.local, Fx.remote))
        let d = Fx.sa(src: Fx.remote, dst: Fx.local, spi: 0x103, dir: .inbound) // the any-selector
        let e = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x104, dir: .outbound, selector: udp500)
        var m = Fx.model([a, b, c, d, e])
        for st in [a, b, c, d, e] {
            let entry = try XCTUnwrap(m.sa(st.identity))
            XCTAssertEqual(entry.selector, st.selector)
            XCTAssertEqual(entry.state, st)
        }
        XCTAssertEqual([a, b, c, d, e].map { boxed(m, $0) }, [false, false, true, true, true])
        XCTAssertEqual(m.selectors.count, 3)

        // An event gives a host-selector SA another selector, then its host selector back.
        var a2 = a
        a2.selector = udp500
        m.apply(.kernel(.updateSA(a2)), at: t0 + 1)
        XCTAssertEqual(m.sa(a.identity)?.selector, udp500)
        XCTAssertEqual(boxed(m, a), true)
        m.apply(.kernel(.updateSA(a)), at: t0 + 2)
        XCTAssertEqual(m.sa(a.identity)?.state, a)
        XCTAssertEqual(boxed(m, a), false)

        // The same through dumps, with the tunnel key (rekey stitching) following the selector.
        m.refresh([a2, b, c, d, e], at: t0 + 3)
        XCTAssertEqual(m.sa(a.identity)?.state, a2)
        XCTAssertEqual(m.sa(a.identity)?.tunnelKey.selector, udp500)
        XCTAssertEqual(boxed(m, a), true)
        m.refresh([a, b, c, d, e], at: t0 + 4)
        XCTAssertEqual(m.sa(a.identity)?.state, a)
        XCTAssertEqual(m.sa(a.identity)?.tunnelKey.selector, host(Fx.local, Fx.remote))
        XCTAssertEqual(boxed(m, a), false)
    }

    func testLifetimeLimitsAreBoxedOnlyWhenNotUnlimited() throws {
        func config(softBytes: UInt64 = .max, hardUse: UInt64 = 0, soft: UInt64, hard: UInt64) -> XFRMLifetimeConfig {
            var c = XFRMLifetimeConfig.infinite
            c.softByteLimit = softBytes; c.hardUseExpiresSeconds = hardUse
            c.softAddExpiresSeconds = soft; c.hardAddExpiresSeconds = hard
            return c
        }
        let a = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x200, dir: .outbound,
                      lifetime: config(soft: 3000, hard: 3600))
        let b = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x201, dir: .outbound,
                      lifetime: config(softBytes: 1 << 30, soft: 2950, hard: 3600))
        let c = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x202, dir: .outbound,
                      lifetime: config(hardUse: 600, soft: 0, hard: 0))
        var m = Fx.model([a, b, c])
        func box(_ st: XFRMState) -> LifetimeLimitsBox? { m.lookup(st.identity).flatMap { m.entries[Int($0)].limitsBox } }
        for st in [a, b, c] { XCTAssertEqual(m.sa(st.identity)?.state, st) }
        XCTAssertNil(box(a))
        let boxB = try XCTUnwrap(box(b))
        XCTAssertNotNil(box(c))
        // The same limits on the next dump keep the box; other limits replace it; unlimited drops it.
        m.refresh([a, b, c], at: t0 + 1)
        XCTAssertTrue(box(b) === boxB)
        var b2 = b
        b2.lifetimeConfig.softByteLimit = 1 << 31
        var c2 = c
        c2.lifetimeConfig = config(soft: 10, hard: 20)
        m.refresh([a, b2, c2], at: t0 + 2)
        XCTAssertFalse(box(b) === boxB)
        XCTAssertNil(box(c))
        for st in [a, b2, c2] { XCTAssertEqual(m.sa(st.identity)?.state, st) }

        // Add-expiry times beyond 32 bits: the whole configuration in the box; back to small ones: no box.
        var a3 = a
        a3.lifetimeConfig.hardAddExpiresSeconds = 1 << 33
        m.refresh([a3, b2, c2], at: t0 + 3)
        XCTAssertEqual(m.sa(a.identity)?.state, a3)
        XCTAssertEqual(box(a)?.whole, true)
        m.refresh([a, b2, c2], at: t0 + 4)
        XCTAssertEqual(m.sa(a.identity)?.state, a)
        XCTAssertNil(box(a))
    }

    func testAddAndUseTimesBeyond32BitsReadBackTheSame() throws {
        var a = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x210, dir: .outbound, addTime: (1 << 32) + 5)
        a.lifetimeCurrent.useTime = 1 << 40
        let b = Fx.sa(src: Fx.remote, dst: Fx.local, spi: 0x211, reqid: 2, dir: .inbound)
        var m = Fx.model([a, b])
        func extras(_ st: XFRMState) -> SAExtrasBox? { m.lookup(st.identity).flatMap { m.entries[Int($0)].extrasBox } }
        XCTAssertEqual(m.sa(a.identity)?.state, a)
        XCTAssertEqual(m.sa(b.identity)?.state, b)
        XCTAssertNotNil(extras(a)?.value.rare?.value.wideTimes)
        XCTAssertNil(extras(b))
        var a2 = a
        a2.lifetimeCurrent = XFRMLifetimeCurrent(bytes: 10, packets: 1, addTime: 1_794_999_000, useTime: 1_794_999_001)
        m.refresh([a2, b], at: t0 + 1)
        XCTAssertEqual(m.sa(a.identity)?.state, a2)
        XCTAssertNil(extras(a)?.value.rare?.value.wideTimes)
    }

    func testRareFieldsAreBoxedOnlyWhileSetAndReadBackTheSame() throws {
        func extras(_ m: LiveModel, _ st: XFRMState) -> SAExtrasBox? {
            m.lookup(st.identity).flatMap { m.entries[Int($0)].extrasBox }
        }
        let plain = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x300, reqid: 10, dir: .outbound, outboundSequence: 7)
        let natt = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x301, reqid: 11, dir: .outbound, encap: (4500, 4501),
                         keepaliveInterval: 20)
        let marked = Fx.sa(src: Fx.remote, dst: Fx.local, spi: 0x302, reqid: 12, dir: .inbound, perCPU: 3,
                           mark: XFRMMark(value: 0x2a, mask: 0xff))
        var esn = Fx.sa(src: Fx.remote, dst: Fx.local, spi: 0x303, reqid: 13, dir: .inbound, esn: true, outboundSequence: 9)
        esn.attributes.replayESN?.outboundSequenceHigh = 2
        esn.attributes.replayESN?.inboundSequence = 5
        esn.attributes.replayESN?.inboundSequenceHigh = 1
        // Four tunnels (reqids): no rekey links between them.
        let all = [plain, natt, marked, esn]
        var m = Fx.model(all)
        for st in all { XCTAssertEqual(m.sa(st.identity)?.state, st) }
        XCTAssertEqual(all.map { extras(m, $0) != nil }, [false, true, true, false])
        XCTAssertEqual(m.sa(esn.identity)?.outboundSequence, 2 << 32 | 9)
        XCTAssertEqual(m.sa(plain.identity)?.outboundSequence, 7)

        // NAT-T taken away by an event: the box goes; given back: it returns.
        var natt2 = natt
        natt2.attributes.encapsulation = nil
        natt2.attributes.natKeepaliveInterval = nil
        m.apply(.kernel(.updateSA(natt2)), at: t0 + 1)
        XCTAssertEqual(m.sa(natt.identity)?.state, natt2)
        XCTAssertNil(extras(m, natt))
        m.apply(.kernel(.updateSA(natt)), at: t0 + 2)
        XCTAssertEqual(m.sa(natt.identity)?.state, natt)
        XCTAssertEqual(m.sa(natt.identity)?.encapsulation?.destinationPort, 4501)
        // NAT-T alone (no keepalive interval, mark or per-CPU id): the small box, no rarer parts.
        var natt3 = natt
        natt3.attributes.natKeepaliveInterval = nil
        m.apply(.kernel(.updateSA(natt3)), at: t0 + 2.5)
        XCTAssertEqual(m.sa(natt.identity)?.state, natt3)
        XCTAssertNotNil(extras(m, natt))
        XCTAssertNil(extras(m, natt)?.value.rare)
        XCTAssertNotNil(extras(m, marked)?.value.rare)

        // Counters going backwards on the plain SA: the reset's offsets are boxed, totals keep counting.
        var busy = plain
        busy.lifetimeCurrent.bytes = 5000; busy.lifetimeCurrent.packets = 50
        m.refresh([busy, natt, marked, esn], at: t0 + 3)
        XCTAssertNil(extras(m, plain))
        var reset = plain
        reset.lifetimeCurrent.bytes = 100; reset.lifetimeCurrent.packets = 1
        m.refresh([reset, natt, marked, esn], at: t0 + 4)
        let e = try XCTUnwrap(m.sa(plain.identity))
        XCTAssertEqual(e.counterResets, 1)
        XCTAssertEqual(e.totals, TrafficTotals(bytes: 5100, packets: 51))
        XCTAssertEqual(e.tunnelTotals, TrafficTotals(bytes: 5100, packets: 51))
        XCTAssertEqual(e.state, reset)
        XCTAssertNotNil(extras(m, plain))

        // A field set and cleared again leaves no box; an unchanged value allocates none.
        var f = try XCTUnwrap(m.sa(marked.identity))
        f.mark = nil
        f.perCPU = nil
        XCTAssertNil(f.extrasBox)
        f.rekeyRequestedAt = t0
        let box = try XCTUnwrap(f.extrasBox)
        f.rekeyRequestedAt = t0
        XCTAssertTrue(f.extrasBox === box)
        f.rekeyRequestedAt = nil
        XCTAssertNil(f.extrasBox)
    }

    func testPoliciesKeepEveryTemplateInOrder() {
        let sel = Fx.subnetSelector(from: "192.0.2.0", to: "198.51.100.0")
        let all = (1...3).map { Fx.template(src: Fx.local, dst: Fx.ip("203.0.113.\($0)"), reqid: UInt32($0)) }
        for n in 0...3 {
            let p = Fx.policy(dir: .outbound, index: 8 * UInt32(n + 1), selector: sel, templates: Array(all.prefix(n)))
            let entry = PolicyEntry(policy: p, firstSeen: t0, lastChanged: t0, softExpired: false, peers: [])
            XCTAssertEqual(entry.policy, p, "\(n) templates")
            XCTAssertEqual(Array(entry.templates), Array(all.prefix(n)))
            XCTAssertTrue(entry.sameConfiguration(as: p))
            for k in 0..<n {
                var q = p
                q.attributes.templates[k].reqid += 100
                XCTAssertFalse(entry.sameConfiguration(as: q), "template \(k) of \(n) changed")
            }
            var longer = p
            longer.attributes.templates.append(all[0])
            XCTAssertFalse(entry.sameConfiguration(as: longer))
            if n > 0 {
                var shorter = p
                shorter.attributes.templates.removeLast()
                XCTAssertFalse(entry.sameConfiguration(as: shorter))
            }
        }
    }

    func testAPeerListsItsSAsByDirectionFromOneSlotArray() throws {
        let o1 = Fx.out(0x10), o2 = Fx.out(0x11, reqid: 2), i1 = Fx.inb(0x20), i2 = Fx.inb(0x21, reqid: 2)
        // Both ends are interface addresses: an SA between them without a direction attribute has
        // an undetermined direction (and is grouped with local = source).
        let u = Fx.sa(src: Fx.local, dst: Fx.remote, spi: 0x40, reqid: 9) // no reverse SA with its reqid
        var m = LiveModel()
        m.apply(.localAddresses([Fx.local, Fx.remote]), at: t0)
        m.refresh([o1, i1, u, o2, i2], at: t0)
        let key = PeerKey(local: Fx.local, remote: Fx.remote)
        let p = try XCTUnwrap(m.peer(key))
        XCTAssertEqual(p.inbound, [i1.identity, i2.identity].sorted())
        XCTAssertEqual(p.outbound, [o1.identity, o2.identity].sorted())
        XCTAssertEqual(p.undetermined, [u.identity])
        let ids = m.sas(of: key).map(\.identity)
        XCTAssertEqual(Set(ids.prefix(2)), [i1.identity, i2.identity])
        XCTAssertEqual(Set(ids.dropFirst(2).prefix(2)), [o1.identity, o2.identity])
        XCTAssertEqual(ids.last, u.identity)
        XCTAssertEqual(ids.count, 5)
        // An SA deleted by an event leaves the cached peer's lists at once.
        m.apply(.kernel(.deleteSA(o1.identity, source: nil, state: nil)), at: t0 + 1)
        XCTAssertEqual(m.peer(key)?.outbound, [o2.identity])
        XCTAssertEqual(m.sas(of: key).count, 4)
    }
}
