import XCTest
import XFRMWire
@testable import IPsecViews

final class DashboardTests: XCTestCase {
    let now = Fixtures.now

    @discardableResult
    func press(_ d: inout Dashboard, _ keys: Key...) -> [DashboardCommand] {
        var out: [DashboardCommand] = []
        for k in keys { out += d.handle(.key(k), now: now) }
        return out
    }

    func selectedSPI(_ d: Dashboard) -> UInt32? { d.selectedSA?.state.spi }

    func footer(_ d: Dashboard, at t: Double) -> String { d.render(now: t).line(d.rows - 1) }

    func sort(_ d: inout Dashboard, by column: String) {
        for _ in 0..<20 where d.lists[d.currentView.rawValue].sortColumn != column { press(&d, .character(">")) }
        XCTAssertEqual(d.lists[d.currentView.rawValue].sortColumn, column)
    }

    func testNavigationKeysMoveTheCursorAndScroll() {
        var d = Fixtures.dashboard(cols: 80, rows: 24, data: Fixtures.data(extraSAs: 100))
        let h = d.bodyHeight
        XCTAssertEqual(d.lists[0].cursor, 0)
        press(&d, .down, .character("j"))
        XCTAssertEqual(d.lists[0].cursor, 2)
        press(&d, .up)
        XCTAssertEqual(d.lists[0].cursor, 1)
        press(&d, .pageDown)
        XCTAssertEqual(d.lists[0].cursor, 1 + h)
        XCTAssertEqual(d.lists[0].top, 2)
        press(&d, .end)
        XCTAssertEqual(d.lists[0].cursor, 105)
        XCTAssertEqual(d.lists[0].top, 106 - h)
        press(&d, .home)
        XCTAssertEqual(d.lists[0].cursor, 0)
        XCTAssertEqual(d.lists[0].top, 0)
        press(&d, .up)
        XCTAssertEqual(d.lists[0].cursor, 0)
    }

    func testSelectionFollowsTheRowAcrossRefreshAndResort() {
        var d = Fixtures.dashboard()
        press(&d, .down, .down)
        let spi = selectedSPI(d)
        XCTAssertEqual(spi, 0xc1a0_0002)
        sort(&d, by: "rate")
        press(&d, .character("I")) // descending
        XCTAssertEqual(selectedSPI(d), spi)
        XCTAssertEqual(d.lists[0].cursor, 0, "the busiest SA sorts first")
        var data = Fixtures.data()
        data.sas.reverse()
        d.update(data, now: now + 1)
        XCTAssertEqual(selectedSPI(d), spi)
    }

    func testViewsSwitchWithTabAndDigits() {
        var d = Fixtures.dashboard()
        press(&d, .tab)
        XCTAssertEqual(d.screen, .list(.peers))
        press(&d, .character("5"))
        XCTAssertEqual(d.screen, .list(.xfrmStat))
        press(&d, .backTab)
        XCTAssertEqual(d.screen, .list(.timeline))
        press(&d, .character("6"), .tab)
        XCTAssertEqual(d.screen, .list(.sas))
    }

    func testDrillInAndBackWithBreadcrumbs() {
        var d = Fixtures.dashboard()
        press(&d, .character("2"), .enter)
        guard case .peer(let id) = d.screen else { return XCTFail("not on a peer page") }
        XCTAssertEqual(id, "192.0.2.10<>198.51.100.7")
        XCTAssertEqual(d.breadcrumbs(), ["Peers", "peer 198.51.100.7"])
        press(&d, .down, .enter)
        XCTAssertEqual(d.breadcrumbs(), ["Peers", "peer 198.51.100.7", "SA 0xc1a00001"])
        XCTAssertTrue(d.render(now: now).line(3).contains("Peers › peer 198.51.100.7 › SA 0xc1a00001"))
        press(&d, .escape)
        XCTAssertEqual(d.breadcrumbs(), ["Peers", "peer 198.51.100.7"])
        press(&d, .escape)
        XCTAssertEqual(d.screen, .list(.peers))
        press(&d, .escape)
        XCTAssertEqual(d.screen, .list(.peers))
    }

    func testIncrementalFilterInvertAndClear() {
        var d = Fixtures.dashboard()
        press(&d, .character("/"))
        XCTAssertTrue(d.isEditingFilter)
        press(&d, .character("2"), .character("0"), .character("3"))
        XCTAssertEqual(d.lists[0].visible.count, 2)
        press(&d, .character("."), .character("9"))
        XCTAssertEqual(d.lists[0].visible.count, 0)
        XCTAssertTrue(d.render(now: now).text.contains("(no row matches the filter)"))
        press(&d, .backspace, .backspace)
        XCTAssertEqual(d.lists[0].visible.count, 2)
        press(&d, .enter)
        XCTAssertFalse(d.isEditingFilter)
        XCTAssertEqual(d.lists[0].filter, "203")
        // Keys act normally again: j moves instead of typing.
        press(&d, .character("j"))
        XCTAssertEqual(d.lists[0].filter, "203")
        XCTAssertEqual(d.lists[0].cursor, 1)
        // Inverted.
        press(&d, .character("/"), .escape, .character("/"), .character("!"), .character("e"), .character("s"), .character("p"))
        XCTAssertEqual(d.lists[0].visible.count, 0)
        press(&d, .backspace, .backspace, .backspace, .character("l"), .character("a"), .character("t"), .character("e"))
        XCTAssertEqual(d.lists[0].visible.count, 4, "!late hides the two LATE SAs")
        press(&d, .escape)
        XCTAssertEqual(d.lists[0].filter, "")
        XCTAssertEqual(d.lists[0].visible.count, 6)
    }

    func testFilterMatchesCaseInsensitivelyOnSPIAndHealth() {
        var d = Fixtures.dashboard()
        press(&d, .character("/"), .character("0"), .character("X"), .character("C"), .character("1"))
        XCTAssertEqual(d.lists[0].visible.map { d.data.sas[$0].state.spi }.sorted(), [0xc1a0_0001, 0xc1a0_0002])
        press(&d, .escape, .character("/"), .character("L"), .character("A"), .character("R"), .character("V"))
        XCTAssertEqual(d.lists[0].visible.map { d.data.sas[$0].state.spi }, [0x0000_0d0e])
    }

    func testSortCyclesVisibleColumnsAndInverts() {
        var d = Fixtures.dashboard(cols: 200, rows: 50)
        XCTAssertEqual(d.lists[0].sortColumn, "peer")
        press(&d, .character("<"))
        XCTAssertEqual(d.lists[0].sortColumn, "dir")
        press(&d, .character(">"), .character(">"), .function(6))
        XCTAssertEqual(d.lists[0].sortColumn, "spi")
        press(&d, .character(">"))
        XCTAssertEqual(d.lists[0].sortColumn, "reqid")
        let asc = d.lists[0].visible.map { d.data.sas[$0].state.reqid }
        XCTAssertEqual(asc, asc.sorted())
        press(&d, .character("I"))
        let desc = d.lists[0].visible.map { d.data.sas[$0].state.reqid }
        XCTAssertEqual(desc, asc.sorted(by: >))
        let hdr = d.render(now: now)
        let x = hdr.line(4).range(of: "REQID").map { hdr.line(4).distance(from: hdr.line(4).startIndex, to: $0.lowerBound) }
        XCTAssertEqual(x.map { hdr[$0, 4].role }, .columnSorted)
        // At 60 columns REQID is dropped, so sorting cycles only over what is shown.
        var n = Fixtures.dashboard(cols: 60, rows: 15)
        var seen: [String] = []
        for _ in 0..<8 { press(&n, .character(">")); seen.append(n.lists[0].sortColumn) }
        XCTAssertFalse(seen.contains("reqid"))
    }

    func testTaggingAndHiddenTaggedCountInConfirmation() {
        var d = Fixtures.dashboard()
        press(&d, .character(" "))                // tag row 0 (0xc1a00001), cursor moves down
        XCTAssertEqual(d.tags.count, 1)
        press(&d, .character(" "))                // tag row 1 (0x0000b001, marked)
        XCTAssertEqual(d.tags.count, 2)
        press(&d, .character("/"), .character("c"), .character("1"), .character("a"), .enter) // hides b001
        press(&d, .character("d"))
        guard case .confirm(let c)? = d.overlay else { return XCTFail("no confirmation") }
        XCTAssertEqual(c.request.kind, .delete)
        XCTAssertEqual(Set(c.request.targets.map(\.identity.spi)), [0xc1a0_0001, 0x0000_b001])
        XCTAssertEqual(c.hiddenTagged, 1)
        let text = Dashboard.confirmationLines(c, glyphs: .ascii).map(\.0).joined(separator: "\n")
        XCTAssertTrue(text.contains("out esp spi 0x0000b001 192.0.2.10 > 203.0.113.45 mark 0x2a/0xff"), text)
        XCTAssertTrue(text.contains("out esp spi 0xc1a00001 192.0.2.10 > 198.51.100.7 mark none"), text)
        XCTAssertTrue(text.contains("1 tagged SA(s) hidden by the current filter are INCLUDED"), text)
        XCTAssertTrue(text.contains("XFRM_MSG_DELSA"), text)
        XCTAssertTrue(text.contains("2 tagged SA(s)"), text)
        // The rendered dialog names them too.
        let screen = d.render(now: now).text
        XCTAssertTrue(screen.contains("Delete 2 SA(s)?"))
        XCTAssertTrue(screen.contains("mark 0x2a/0xff"))
        // y confirms: exactly one perform command with both targets; tags cleared.
        let cmds = press(&d, .character("y"))
        XCTAssertEqual(cmds, [.perform(c.request)])
        XCTAssertNil(d.overlay)
        XCTAssertTrue(d.tags.isEmpty)
    }

    func testConfirmationCancelSendsNothing() {
        var d = Fixtures.dashboard()
        press(&d, .character("d"))
        XCTAssertNotNil(d.overlay)
        XCTAssertEqual(press(&d, .character("x"), .enter), [], "only y confirms")
        XCTAssertNotNil(d.overlay)
        XCTAssertEqual(press(&d, .escape), [])
        XCTAssertNil(d.overlay)
        press(&d, .character("r"))
        XCTAssertEqual(press(&d, .character("n")), [])
        XCTAssertNil(d.overlay)
    }

    func testDeleteOnAPeerTargetsBothDirectionsWithMark() {
        var d = Fixtures.dashboard()
        press(&d, .character("2"), .down, .character("d"))
        guard case .confirm(let c)? = d.overlay else { return XCTFail("no confirmation") }
        XCTAssertEqual(c.request.targets.map(\.identity.spi).sorted(), [0x0000_b001, 0x0000_b002])
        XCTAssertEqual(Set(c.request.targets.compactMap(\.direction)), [.inbound, .outbound])
        XCTAssertTrue(c.request.targets.allSatisfy { $0.identity.mark == XFRMMark(value: 0x2a, mask: 0xff) })
        XCTAssertEqual(c.request.targets.first { $0.identity.spi == 0xb001 }?.ipDeleteCommand,
                       "ip xfrm state delete src 192.0.2.10 dst 203.0.113.45 proto esp spi 0x0000b001 mark 0x2a mask 0xff")
        XCTAssertTrue(c.scope.contains("both directions"))
    }

    func testRekeyOfALarvalSASendsNothingAndSaysWhy() {
        var d = Fixtures.dashboard()
        press(&d, .character("/"), .character("l"), .character("a"), .character("r"), .character("v"), .enter)
        let cmds = press(&d, .character("r"))
        XCTAssertEqual(cmds, [])
        XCTAssertNil(d.overlay)
        XCTAssertTrue(footer(d, at: now).contains("nothing sent"), footer(d, at: now))
        XCTAssertTrue(footer(d, at: now).contains("larval"))
    }

    func testReadOnlyRemovesActionsEverywhere() {
        var d = Fixtures.dashboard(options: DashboardOptions(readOnly: true))
        XCTAssertEqual(press(&d, .character("d"), .character("r"), .function(9)), [])
        XCTAssertNil(d.overlay)
        press(&d, .character(" "))
        XCTAssertEqual(press(&d, .character("d")), [])
        let screen = d.render(now: now)
        XCTAssertFalse(screen.line(39).contains("Delete"))
        XCTAssertTrue(screen.line(2).contains("read-only"))
        press(&d, .character("?"))
        XCTAssertFalse(d.render(now: now).text.contains("Delete SA"))
        press(&d, .escape, .character("2"), .enter)
        XCTAssertFalse(d.render(now: now).text.contains("Rekey SA"))
    }

    func testPauseRefreshAndQuitCommands() {
        var d = Fixtures.dashboard()
        XCTAssertEqual(press(&d, .character("p")), [.setPaused(true)])
        XCTAssertTrue(d.render(now: now).line(0).contains("PAUSED"))
        // Paused: new data is not shown.
        var data = Fixtures.data()
        data.sas.removeAll()
        d.update(data, now: now + 1)
        XCTAssertEqual(d.data.sas.count, 6)
        XCTAssertEqual(press(&d, .character("p")), [.setPaused(false)])
        XCTAssertEqual(press(&d, .character("+")), [.setRefreshInterval(2)])
        XCTAssertEqual(press(&d, .character("+")), [.setRefreshInterval(3)])
        XCTAssertEqual(press(&d, .character("-"), .character("-"), .character("-")),
                       [.setRefreshInterval(2), .setRefreshInterval(1), .setRefreshInterval(0.5)])
        XCTAssertEqual(press(&d, .character("-")), [.setRefreshInterval(0.5)])
        XCTAssertTrue(d.render(now: now).line(0).contains("every 0.5s"))
        XCTAssertEqual(press(&d, .character("t")), [.nextTheme])
        XCTAssertEqual(press(&d, .character("q")), [.quit])
        XCTAssertEqual(press(&d, .function(10)), [.quit])
    }

    func testHelpOverlayIsGeneratedFromTheTable() {
        var d = Fixtures.dashboard(cols: 120, rows: 40)
        press(&d, .function(1))
        XCTAssertEqual(d.overlay, .help)
        let text = d.render(now: now).text
        for b in KeyBindings.standard.bindings { XCTAssertTrue(text.contains(b.description), b.description) }
        press(&d, .character("x"))
        XCTAssertNil(d.overlay)
    }

    func testMouseSelectsTabsAndRows() {
        var d = Fixtures.dashboard()
        let peersTab = d.tabLayout()[1]
        _ = d.handle(.mouse(MouseEvent(x: peersTab.x + 1, y: 2, button: .left)), now: now)
        XCTAssertEqual(d.screen, .list(.peers))
        _ = d.handle(.mouse(MouseEvent(x: 10, y: 7, button: .left)), now: now)
        XCTAssertEqual(d.lists[1].cursor, 2)
        _ = d.handle(.mouse(MouseEvent(x: 10, y: 20, button: .left)), now: now)
        XCTAssertEqual(d.lists[1].cursor, 2, "click below the last row does nothing")
        _ = d.handle(.mouse(MouseEvent(x: 10, y: 7, button: .wheelUp)), now: now)
        XCTAssertEqual(d.lists[1].cursor, 0)
        // Headings sort; a second click inverts.
        let line = d.render(now: now).line(4)
        let inX = line.distance(from: line.startIndex, to: line.range(of: "    IN")!.upperBound) - 1
        _ = d.handle(.mouse(MouseEvent(x: inX, y: 4, button: .left)), now: now)
        XCTAssertEqual(d.lists[1].sortColumn, "in")
        XCTAssertTrue(d.lists[1].ascending)
        _ = d.handle(.mouse(MouseEvent(x: inX, y: 4, button: .left)), now: now)
        XCTAssertFalse(d.lists[1].ascending)
        XCTAssertEqual(d.data.peers[d.lists[1].visible[0]].remote, Fixtures.peerA)
        // Clicking the selected row opens it.
        _ = d.handle(.mouse(MouseEvent(x: 10, y: 5, button: .left)), now: now)
        XCTAssertEqual(d.lists[1].cursor, 0)
        _ = d.handle(.mouse(MouseEvent(x: 10, y: 5, button: .left)), now: now)
        guard case .peer = d.screen else { return XCTFail("click on the selected row should open it") }
    }

    func testResizeBelowMinimumShowsTooSmallAndStillQuits() {
        var d = Fixtures.dashboard()
        _ = d.handle(.resize(cols: 50, rows: 12), now: now)
        XCTAssertTrue(d.render(now: now).text.contains("terminal too small"))
        XCTAssertEqual(press(&d, .character("q")), [.quit])
        _ = d.handle(.resize(cols: 60, rows: 15), now: now)
        XCTAssertFalse(d.render(now: now).text.contains("terminal too small"))
        XCTAssertTrue(d.render(now: now).text.contains("0xc1a00001"))
    }

    func testChangedValuesAreHighlightedBriefly() {
        var d = Fixtures.dashboard(cols: 120, rows: 40)
        var data = Fixtures.data()
        data.sas[0].state.lifetimeCurrent.bytes += 1500
        data.sas[0].state.lifetimeCurrent.packets += 1
        d.update(data, now: now + 1)
        let b = d.render(now: now + 1)
        let row = (0..<b.rows).first { b.line($0).contains("0xc1a00001") }!
        let roles = Set((0..<b.cols).map { b[$0, row].role })
        // Selected row wins over highlight; move away to see it.
        XCTAssertTrue(roles.contains(.rowSelected))
        _ = d.handle(.key(.down), now: now + 1)
        let b2 = d.render(now: now + 1.5)
        XCTAssertTrue((0..<b2.cols).contains { b2[$0, row].role == .changed })
        let other = (0..<b2.rows).first { b2.line($0).contains("0x0000b001") }!
        XCTAssertFalse((0..<b2.cols).contains { b2[$0, other].role == .changed })
        let b3 = d.render(now: now + 4)
        XCTAssertFalse((0..<b3.cols).contains { b3[$0, row].role == .changed }, "highlight expires")
    }

    func testKernelStringsAreSanitised() {
        var d = Fixtures.dashboard(cols: 200, rows: 50)
        press(&d, .character("/"), .character("b"), .character("0"), .character("0"), .character("2"), .enter, .enter)
        let b = d.render(now: now)
        XCTAssertTrue(b.text.contains("ipsec_spd_t:s0\\x1b[31m"), b.text)
        press(&d, .escape, .character("4"))
        let t = d.render(now: now)
        XCTAssertTrue(t.text.contains("2001:db8::10\\x07"))
        for c in t.cells + b.cells {
            for s in c.character.unicodeScalars { XCTAssertFalse(s.value < 0x20 || s.value == 0x7f, "control char drawn") }
        }
    }

    func testNoKeyMaterialInSADetail() {
        var d = Fixtures.dashboard(cols: 200, rows: 50)
        press(&d, .enter)
        let text = d.render(now: now).text
        XCTAssertTrue(text.contains("rfc4106(gcm(aes)) (288 bits, icv 128)"))
        XCTAssertTrue(text.contains("never shown"))
    }

    func testActionResultsGoToTheLogAndFooter() {
        var d = Fixtures.dashboard()
        d.record(ActionLogEntry(time: now, operation: "delete", target: "esp spi 0xc1a00001 dst 198.51.100.7",
                                result: "ENOENT: No such file or directory", level: .error))
        XCTAssertTrue(footer(d, at: now + 1).contains("ENOENT"))
        XCTAssertFalse(footer(d, at: now + 60).contains("ENOENT"), "status expires")
        press(&d, .character("6"))
        XCTAssertTrue(d.render(now: now + 60).text.contains("ENOENT: No such file or directory"))
    }

    func testFilterFollowsChangedRowsAcrossRefreshes() {
        var d = Fixtures.dashboard()
        press(&d, .character("/"), .character("l"), .character("a"), .character("t"), .character("e"), .enter)
        XCTAssertEqual(d.lists[0].visible.count, 2)
        var data = Fixtures.data()
        data.sas[2].keepalive = Fixtures.keepaliveOK // 0x0000b001 no longer LATE
        d.update(data, now: now + 1)
        XCTAssertEqual(d.lists[0].visible.map { d.data.sas[$0].state.spi }, [0x0000_b002])
        data.sas.insert(data.sas.remove(at: 3), at: 0) // rows move: keys must follow them
        data.sas[5].keepalive = Fixtures.keepaliveLate
        d.update(data, now: now + 2)
        XCTAssertEqual(Set(d.lists[0].visible.map { d.data.sas[$0].state.spi }), [0x0000_b002, 0x0000_0d0e])
    }

    func testHiddenListsAreRefreshedWhenShown() {
        var d = Fixtures.dashboard()
        press(&d, .character("2"), .character("1"))
        var data = Fixtures.data()
        data.peers.removeLast()
        data.sas.removeLast(2)
        d.update(data, now: now + 1)
        press(&d, .character("2"))
        XCTAssertEqual(d.lists[1].visible.count, 2)
        XCTAssertTrue(d.render(now: now + 1).line(3).hasSuffix("2/2 "))
        // An action from the peers view after a refresh sees fresh SA rows.
        press(&d, .down, .character("d"))
        guard case .confirm(let c)? = d.overlay else { return XCTFail("no confirmation") }
        XCTAssertEqual(c.request.targets.count, 2)
    }

    func testNonFiniteAndExtremeValuesNeverTrap() {
        var data = Fixtures.data()
        data.sas[0].byteRate = .infinity
        data.sas[1].byteRate = .nan
        data.sas[2].packetRate = -.infinity
        data.sas[3].state.lifetimeCurrent.addTime = .max
        data.sas[3].state.lifetimeCurrent.bytes = .max
        data.peers[0].historyIn = [.nan, .infinity, 1, -.infinity]
        data.peers[0].rateIn = .nan
        data.peers[1].keepalive.lastReceived = .infinity
        data.header.rateIn = .infinity
        data.header.refreshInterval = .nan
        data.timeline.append(TimelineEntry(time: .infinity, kind: "X", text: "far future"))
        var d = Fixtures.dashboard(cols: 200, rows: 50, data: data)
        for keys in [[], [Key.character("2")], [.character("2"), .enter], [.character("2"), .down, .enter],
                     [.enter], [.character("4")], [.character(">"), .character(">"), .character(">")]] {
            var e = d
            for k in keys { press(&e, k) }
            XCTAssertFalse(e.render(now: now).text.isEmpty)
        }
        XCTAssertEqual(Format.size(.infinity), "?")
        XCTAssertEqual(Format.duration(1e300), ">100000d")
        XCTAssertEqual(Format.clock(.nan), "--:--:--")
        XCTAssertEqual(Format.clampedInt(.nan), 0)
        press(&d, .character("p"))
    }

    func testSADetailShowsEveryDecodedAttribute() {
        var data = Fixtures.data()
        var a = data.sas[0].state.attributes
        a.auth = XFRMAlgorithm(name: "hmac(sha256)", keyBits: 256)
        a.crypt = XFRMAlgorithm(name: "cbc(aes)", keyBits: 128)
        a.comp = XFRMAlgorithm(name: "deflate", keyBits: 0)
        a.authTrunc = XFRMAlgorithm(name: "hmac(sha512)", keyBits: 512, icvBits: 256)
        a.securityContext = XFRMSecurityContext(doi: 1, algorithm: 1, context: "ctx\u{1b}]0;x\u{7}")
        a.lifetimeValue = XFRMLifetimeCurrent(bytes: 5, packets: 6, addTime: 0, useTime: 0)
        a.replay = XFRMReplayState(outboundSequence: 1, inboundSequence: 2, bitmap: 3)
        a.replayESN = nil
        a.replayThreshold = 11; a.etimerThreshold = 12; a.mtimerThreshold = 13
        a.sourceAddress = IPAddress("192.0.2.99"); a.careOfAddress = IPAddress("192.0.2.98")
        a.lastUsed = UInt64(now - 3); a.policyType = 0; a.tfcPad = 1500; a.extraFlags = 1
        a.offload = XFRMOffload(ifindex: 4, flags: 1); a.setMark = 0x10; a.setMarkMask = 0xff; a.ifID = 42
        a.rawDirection = 7; a.natKeepaliveInterval = 20; a.perCPU = 3
        var t = XFRMIPTFS(); t.packetSize = 1400; t.dontFragment = true; a.iptfs = t
        a.unknown = [XFRMUnknownAttribute(type: 99, payload: [1, 2, 3])]
        data.sas[0].state.attributes = a
        var d = Fixtures.dashboard(cols: 120, rows: 40, data: data)
        press(&d, .enter)
        var text = ""
        for _ in 0..<4 { text += d.render(now: now).text; press(&d, .pageDown) }
        for label in ["aead", "enc", "auth", "auth-trunc", "comp", "encap", "security context", "lifetime value",
                      "replay ", "replay threshold", "aevent timer", "mapping timer", "source address",
                      "care-of address", "last used", "policy type", "tfcpad", "extra flags", "offload",
                      "output mark", "if_id", "raw direction", "nat keepalive", "pcpu", "iptfs", "attribute 99",
                      "limits bytes", "stats", "selector", "flags"] {
            XCTAssertTrue(text.contains(label), label)
        }
        XCTAssertTrue(text.contains("ctx\\x1b]0;x\\x07"))
        XCTAssertFalse(text.unicodeScalars.contains { $0.value == 0x1b })
    }

    func testLifetimeSortUsesTheCurrentTime() {
        var d = Fixtures.dashboard(cols: 200, rows: 50)
        sort(&d, by: "life")
        // Ascending: least used first; the 55-minute-old SAs (91% of 1 h) come last.
        let spis = d.lists[0].visible.map { d.data.sas[$0].state.spi }
        XCTAssertEqual(Array(spis.suffix(2)).sorted(), [0x0000_b001, 0x0000_b002])
        XCTAssertEqual(spis.first, 0x0bad_cafe)
    }

    func testHighlightFollowsRowsThatMoved() {
        var d = Fixtures.dashboard(cols: 120, rows: 40)
        var data = Fixtures.data()
        data.sas.reverse()
        data.sas[0].state.lifetimeCurrent.packets += 1 // 0x00000d0e (was last)
        d.update(data, now: now + 1)
        XCTAssertEqual(Set(d.highlightedSAs.keys.map(\.spi)), [0x0000_0d0e])
        d.update(data, now: now + 5)
        XCTAssertTrue(d.highlightedSAs.isEmpty, "expired and nothing new")
    }
}
