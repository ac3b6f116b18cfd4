import TestSupport
import XCTest
import IPsecModel
import XFRMWire
@testable import IPsecViews

/// View data built from the model (rows built on demand) must look and behave exactly like the same
/// data as plain rows (every row built up front, as the dashboard did before).
final class ModelBackedRowsTests: XCTestCase {
    let now = Fixtures.now
    let host = HostInfo(host: "gw1.example", netns: "ipsec-test", kernel: "6.18.0")

    /// A model from the fixture rows (plus `extra` SAs), `dumps` SA dumps one second apart.
    func model(extra: Int, dumps: Int) -> LiveModel {
        var m = LiveModel()
        let d = Fixtures.data(extraSAs: extra)
        func states(bump: UInt64) -> [XFRMState] {
            d.sas.enumerated().map { i, r in
                var s = r.state
                if s.lifetimeCurrent.bytes > 0 || i % 3 == 0 {
                    s.lifetimeCurrent.bytes += bump * 1000 * UInt64(i % 7 + 1); s.lifetimeCurrent.packets += bump
                }
                return s
            }
        }
        m.apply(.localAddresses([Fixtures.local, Fixtures.local6]), at: now - 10)
        m.apply(.dumpBegan(.policy), at: now - 10)
        m.apply(.policyDump(d.policies.map(\.policy)), at: now - 10)
        m.apply(.xfrmStat("XfrmInError 0\nXfrmInNoStates 14\n"), at: now - 10)
        for k in 0..<dumps {
            let t = now - Double(dumps - 1 - k)
            m.apply(.dumpBegan(.sa), at: t)
            m.apply(.saDump(states(bump: UInt64(k) * 10)), at: t)
            m.apply(.tick, at: t)
        }
        return m
    }

    func plain(_ d: DashboardData) -> DashboardData {
        DashboardData(header: d.header, sas: d.sas.array, peers: d.peers, policies: d.policies, timeline: d.timeline,
                      xfrmStat: d.xfrmStat)
    }

    func testRowsFromTheModelAreTheRowsOfBefore() {
        let m = model(extra: 40, dumps: 2)
        let lazy = DashboardData(model: m, now: now, host: host)
        let h = m.header
        XCTAssertEqual(lazy.header, HeaderInfo(host: host.host, netns: host.netns, kernel: host.kernel, saCount: h.saCount,
                                               policyCount: h.policyCount, rateIn: h.inboundRates.last2s.bytesPerSecond,
                                               rateOut: h.outboundRates.last2s.bytesPerSecond, resync: nil,
                                               refreshInterval: h.refreshInterval, paused: h.paused))
        XCTAssertGreaterThan(lazy.header.rateIn + lazy.header.rateOut, 0)
        let rows = lazy.sas.array
        XCTAssertEqual(rows.count, 46)
        XCTAssertEqual(rows.map(\.id), rows.map(\.id).sorted(), "identity order")
        for (i, r) in rows.enumerated() {
            XCTAssertEqual(lazy.sas.id(at: i), r.id)
            XCTAssertEqual(lazy.sas.row(for: r.id), r)
            XCTAssertEqual(lazy.sas.index(of: r.id), i)
        }
        let p = plain(lazy)
        for peer in lazy.peers {
            XCTAssertEqual(lazy.sas.indices(ofPeer: peer.id), p.sas.indices(ofPeer: peer.id))
            XCTAssertEqual(lazy.policies(ofPeer: peer.id), p.policies(ofPeer: peer.id))
            XCTAssertEqual(lazy.peer(id: peer.id), peer)
        }
        XCTAssertNil(lazy.peer(id: "nobody"))
        XCTAssertEqual(lazy.sas.filterKeys(reusing: .init()).keys, rows.map(Columns.saKey))
        for c in Columns.sa.map(\.id) + ["nonsense"] {
            for asc in [true, false] {
                XCTAssertEqual(lazy.sas.sortedIndices(column: c, ascending: asc, now: now + 5),
                               p.sas.sortedIndices(column: c, ascending: asc, now: now + 5), "\(c) \(asc)")
            }
        }
    }

    func testBaseOrderFollowsSAsThatCameAndWent() {
        var m = model(extra: 10, dumps: 2)
        var d = Dashboard(cols: 150, rows: 30)
        d.update(DashboardData(model: m, now: now, host: host), now: now)
        var states = Fixtures.data(extraSAs: 10).sas.map(\.state)
        for (k, change) in [(1, UInt32(0x0000_0001)), (2, 0xffff_fff0), (3, 0x1000_0003)].enumerated() {
            // Same number of SAs, one replaced (its slot is reused by an SA sorting elsewhere).
            states[change.0 + 3].spi = change.1
            let t = now + Double(k + 1)
            m.apply(.dumpBegan(.sa), at: t)
            m.apply(.saDump(states), at: t)
            m.apply(.tick, at: t)
            d.update(DashboardData(model: m, now: t, host: host), now: t)
            let ids = d.data.sas.array.map(\.id)
            XCTAssertEqual(ids, ids.sorted(), "refresh \(k)")
            XCTAssertEqual(Set(ids), Set(states.map(\.identity)), "refresh \(k)")
            XCTAssertEqual((0..<d.data.sas.count).map { d.data.sas.id(at: $0) }, ids)
            // And an unchanged refresh keeps it.
            m.apply(.dumpBegan(.sa), at: t + 0.5)
            m.apply(.saDump(states), at: t + 0.5)
            d.update(DashboardData(model: m, now: t + 0.5, host: host), now: t + 0.5)
            XCTAssertEqual(d.data.sas.array.map(\.id), ids)
        }
    }

    /// An SA stored in the entry slot of one deleted since the last refresh is another SA, as it is
    /// for plain rows (by identity): its counters are not compared with the deleted one's (no
    /// highlight, even when they differ), its place in the base order is found by sorting (even
    /// when its counters and ports are the deleted one's), and the deleted one's tag is dropped.
    func testAnotherSAInTheSlotOfADeletedOneIsAnotherSA() {
        var m = model(extra: 10, dumps: 2)
        var a = Dashboard(cols: 150, rows: 30), b = Dashboard(cols: 150, rows: 30)
        var t = now
        func refresh(_ step: String) {
            m.apply(.tick, at: t)
            let lazy = DashboardData(model: m, now: t, host: host)
            a.update(lazy, now: t)
            b.update(plain(lazy), now: t)
            let ids = a.data.sas.array.map(\.id)
            XCTAssertEqual(ids, ids.sorted(), "identity order, \(step)")
            XCTAssertEqual(ids, b.data.sas.array.map(\.id), step)
            XCTAssertEqual(Set(a.highlightedSAs.keys), Set(b.highlightedSAs.keys), step)
            XCTAssertEqual(a.tags, b.tags, step)
        }
        func replace(_ old: XFRMState, with new: XFRMState) {
            let slot = m.saSlot(of: old.identity)
            XCTAssertNotNil(slot)
            m.apply(.kernel(.deleteSA(old.identity, source: nil, state: nil)), at: t)
            m.apply(.kernel(.newSA(new)), at: t)
            XCTAssertEqual(m.saSlot(of: new.identity), slot, "the new SA is stored in the deleted one's slot")
        }
        refresh("first")
        for _ in 0..<a.data.sas.count {
            _ = a.handle(.key(.character(" ")), now: t)
            _ = b.handle(.key(.character(" ")), now: t)
        }
        let rows = a.data.sas.array
        XCTAssertEqual(a.tags, Set(rows.map(\.id)), "every SA tagged")

        // An SA followed in the order by one of the same destination, replaced by one with its
        // counters and ports that sorts after that one; another SA's NAT-T ports change.
        t += 1
        guard let k = rows.indices.dropLast().first(where: { rows[$0].state.destination == rows[$0 + 1].state.destination })
        else { return XCTFail("no two SAs with one destination") }
        let gone = rows[k].state
        var other = gone
        other.spi = 0xffff_fff0
        replace(gone, with: other)
        guard var moved = rows.last(where: { $0.state.attributes.encapsulation != nil && $0.id != gone.identity })?.state
        else { return XCTFail("no encapsulated SA") }
        moved.attributes.encapsulation?.sourcePort = 4501
        m.apply(.kernel(.updateSA(moved)), at: t)
        refresh("same counters")
        XCTAssertEqual(a.data.sas.array.map(\.id).firstIndex(of: other.identity).map { $0 > k }, true)
        XCTAssertEqual(Set(a.highlightedSAs.keys), [moved.identity])
        XCTAssertEqual(a.tags, Set(rows.map(\.id)).subtracting([gone.identity]))

        // An SA replaced by one at the same place in the order with other counters.
        t += 1
        guard let w = rows.first(where: { $0.state.spi == 0x1000_0003 })?.state else { return XCTFail("no SA 0x10000003") }
        var z = w
        z.spi = 0x1000_8003
        z.lifetimeCurrent.bytes += 12_345; z.lifetimeCurrent.packets += 9
        replace(w, with: z)
        refresh("other counters")
        XCTAssertEqual(a.data.sas.index(of: z.identity), rows.firstIndex { $0.id == w.identity })
        XCTAssertNil(a.highlightedSAs[z.identity])
        XCTAssertEqual(Set(a.highlightedSAs.keys), [moved.identity], "still highlighted")
        XCTAssertFalse(a.tags.contains(w.identity) || a.tags.contains(z.identity))

        // Unchanged: the order is kept, nothing new highlighted.
        t += 1
        refresh("unchanged")
        XCTAssertTrue(a.highlightedSAs.isEmpty)
    }

    /// A dashboard that lets go of the model before each change (as the main loop does before a
    /// refresh) draws exactly what one that keeps it draws, and the change no longer copies the
    /// model's SA table.
    func testReleasingTheModelBeforeAChangeDrawsTheSameAndCopiesNothing() {
        // Two identical models, one per dashboard.
        var kept = model(extra: 30, dumps: 2), released = kept
        released.apply(.tick, at: now) // (a change of its own: the two no longer share a table)
        kept.apply(.tick, at: now)
        var keep = Dashboard(cols: 160, rows: 40)
        var release = Dashboard(cols: 160, rows: 40)
        keep.update(DashboardData(model: kept, now: now, host: host), now: now)
        release.update(DashboardData(model: released, now: now, host: host), now: now)
        // Sorted by rate, descending, on both: the order must survive the release.
        for k in [Key.character(">"), .character(">"), .character(">"), .character(">"), .character(">"), .character("I")] {
            _ = keep.handle(.key(k), now: now); _ = release.handle(.key(k), now: now)
        }
        func table(_ m: LiveModel) -> UnsafeRawPointer? { m.withSAEntries { UnsafeRawPointer($0.baseAddress) } }
        func change(_ m: inout LiveModel, _ states: [XFRMState], at t: Double) -> Bool {
            let before = table(m)
            m.apply(.dumpBegan(.sa), at: t)
            m.apply(.saDump(states), at: t)
            m.apply(.tick, at: t)
            return table(m) != before
        }
        var states = Fixtures.data(extraSAs: 30).sas.map(\.state)
        var copies = (keep: 0, release: 0)
        for k in 0..<6 {
            let t = now + Double(k + 1)
            for i in states.indices where i % (k + 2) == 0 {
                states[i].lifetimeCurrent.bytes += UInt64(1000 * (i + k)); states[i].lifetimeCurrent.packets += 3
            }
            if k == 3 { states.remove(at: 5) }
            if k == 4 { states[7].spi = 0x4000_0007 }
            if change(&kept, states, at: t) { copies.keep += 1 }
            keep.update(DashboardData(model: kept, now: t, host: host), now: t)
            XCTAssertTrue(release.releaseModel())
            if change(&released, states, at: t) { copies.release += 1 }
            release.update(DashboardData(model: released, now: t, host: host), now: t)
            XCTAssertEqual(release.render(now: t + 0.3).cells, keep.render(now: t + 0.3).cells, "refresh \(k)")
            XCTAssertEqual(release.data.sas.array.map(\.id), keep.data.sas.array.map(\.id), "refresh \(k)")
            XCTAssertEqual(release.data.sas.count, states.count)
        }
        XCTAssertEqual(copies.keep, 6, "a model shared with the view data is copied by each change")
        XCTAssertEqual(copies.release, 0, "after releaseModel the model changes in place")
        // Paused: the frozen view keeps its data (nothing to release) and still draws it.
        _ = release.handle(.key(.character("p")), now: now + 10)
        XCTAssertTrue(release.paused)
        XCTAssertFalse(release.releaseModel())
        XCTAssertEqual(release.data.sas.array.count, states.count)
    }

    func testFilterKeysFollowConfigurationChangesInTheModel() {
        var m = model(extra: 10, dumps: 2)
        var d = Dashboard(cols: 150, rows: 30)
        d.update(DashboardData(model: m, now: now, host: host), now: now)
        for k in [Key.character("/"), .character("r"), .character("e"), .character("q"), .character("i"),
                  .character("d"), .character(" "), .character("4"), .character("2"), .character("4"), .character("2"), .enter] {
            _ = d.handle(.key(k), now: now)
        }
        XCTAssertEqual(d.lists[0].visible.count, 0)
        var states = Fixtures.data(extraSAs: 10).sas.map(\.state)
        for (k, reqid) in [UInt32(4242), 7, 4242].enumerated() {
            states[4].reqid = reqid
            let t = now + Double(k + 1)
            m.apply(.dumpBegan(.sa), at: t)
            m.apply(.saDump(states), at: t)
            d.update(DashboardData(model: m, now: t, host: host), now: t)
            XCTAssertEqual(d.lists[0].visible.map { d.data.sas[$0].state.spi }, reqid == 4242 ? [states[4].spi] : [],
                           "refresh \(k)")
        }
    }

    func testSearchKeysAreTheLowercasedJoinedParts() {
        for parts in [["OUT", "192.0.2.1", "2001:DB8::1", "ESP/Tunnel", "0xC1A00001", "reqid", "7", "LATE", "R0", "LV"],
                      ["Zürich", "ÄÖÜ", "İstanbul", "x"], [], [""], ["", "A"], ["[\\]^_`@AZaz{"]] {
            XCTAssertEqual(SearchMatcher.key(parts), Array(parts.joined(separator: " ").lowercased().utf8), "\(parts)")
        }
    }

    func testSortCacheGivesTheSortOfTheCurrentKeys() {
        var cache = SARows.SortCache()
        for (n, m) in [model(extra: 20, dumps: 2), model(extra: 20, dumps: 2), model(extra: 20, dumps: 3),
                       model(extra: 21, dumps: 3)].enumerated() {
            var lazy = DashboardData(model: m, now: now + Double(n), host: host).sas
            lazy.resolveOrder()
            let p = SARows(lazy.array)
            for c in ["rate", "peer", "bytes", "rate"] {
                XCTAssertEqual(lazy.sortedIndices(column: c, ascending: false, now: now, cache: &cache),
                               p.sortedIndices(column: c, ascending: false, now: now), "\(n) \(c)")
                XCTAssertEqual(lazy.sortedIndices(column: c, ascending: false, now: now, cache: &cache),
                               p.sortedIndices(column: c, ascending: false, now: now), "\(n) \(c) again")
            }
        }
    }

    /// The sort cache's check: an order passes exactly when it is what sorting the keys gives
    /// (stable, ascending or descending), for keys with many ties; NaN keys never pass.
    func testAnOrderIsStillSortedExactlyWhenSortingGivesIt() {
        var rng = SplitMix64(seed: 11)
        for round in 0..<300 {
            let n = Int(rng.next() % 12)
            let numbers = (0..<n).map { _ in Double(rng.next() % 4) }
            let words = (0..<n).map { _ in
                SortWords(IPAddress(family: .inet, high: 0, low: rng.next() % 3), IPAddress(family: .inet, high: 0, low: rng.next() % 2))
            }
            for ascending in [true, false] {
                let sortedNumbers = TableLayout.sorted(numbers: numbers, ascending: ascending)
                let sortedWords = TableLayout.sorted(words: words, ascending: ascending)
                XCTAssertTrue(SARows.stillSorted(sortedNumbers, numbers, ascending: ascending))
                XCTAssertTrue(SARows.stillSorted(sortedWords, words, ascending: ascending))
                // Another permutation (the sorted one with a couple of swaps, or a shuffle)
                // passes only when it is the sorted order.
                var p = sortedNumbers
                if n > 1 && rng.next() % 2 == 0 {
                    p.swapAt(Int(rng.next() % UInt64(n - 1)), 0)
                    let k = Int(rng.next() % UInt64(n - 1))
                    p.swapAt(k, k + 1)
                } else {
                    for k in stride(from: n - 1, to: 0, by: -1) { p.swapAt(k, Int(rng.next() % UInt64(k + 1))) }
                }
                XCTAssertEqual(SARows.stillSorted(p, numbers, ascending: ascending), p == sortedNumbers,
                               "round \(round): \(numbers) \(p)")
                XCTAssertEqual(SARows.stillSorted(p, words, ascending: ascending), p == sortedWords,
                               "round \(round)")
            }
        }
        XCTAssertFalse(SARows.stillSorted([0, 1], [1, .nan] as [Double], ascending: true))
        XCTAssertFalse(SARows.stillSorted([0], [.nan] as [Double], ascending: true))
        XCTAssertFalse(SARows.stillSorted([0, 1], [1, 2, 3] as [Double], ascending: true), "other count")
    }

    func testScreensFromTheModelMatchPlainRows() {
        let keys: [Key] = [.character(">"), .character(">"), .character("I"), .down, .down, .pageDown, .character(" "),
                           .character("<"), .character("<"), .character("<"), .character("I"),
                           .character("/"), .character("1"), .character("9"), .enter, .down, .enter, .escape,
                           .character("d"), .escape, .escape,
                           .character("2"), .down, .character(">"), .enter, .down, .enter, .escape, .escape,
                           .character(" "), .character("d"), .escape,
                           .character("3"), .down, .enter, .escape, .character("4"), .character("5"), .character("6"),
                           .character("1"), .end, .character("/"), .character("!"), .character("l"), .enter]
        let models = [model(extra: 30, dumps: 2), model(extra: 30, dumps: 3), model(extra: 31, dumps: 3)]
        var a = Dashboard(cols: 150, rows: 30), b = Dashboard(cols: 150, rows: 30)
        var step = 0
        var seen = ""
        for (n, m) in models.enumerated() {
            let t = now + Double(n)
            let lazy = DashboardData(model: m, now: t, host: host)
            a.update(lazy, now: t)
            b.update(plain(lazy), now: t)
            XCTAssertEqual(a.render(now: t).snapshotText, b.render(now: t).snapshotText, "after refresh \(n)")
            for k in keys {
                step += 1
                let ca = a.handle(.key(k), now: t), cb = b.handle(.key(k), now: t)
                XCTAssertEqual(ca, cb, "commands at step \(step) (\(k))")
                let text = a.render(now: t + 0.5).snapshotText
                XCTAssertEqual(text, b.render(now: t + 0.5).snapshotText, "screen at step \(step) (\(k)), refresh \(n)")
                seen += text
            }
        }
        // The walk went through every kind of screen.
        for part in ["─ SAs (", "replay window", "Delete 1 SA(s)?", "tagged 1", "filter: 19", "SELECTOR", "COUNTER",
                     "/37", "peer 198.51.100.7"] {
            XCTAssertTrue(seen.contains(part), part)
        }
    }
}
