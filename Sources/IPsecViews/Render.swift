import XFRMWire

/// One line of a drill-down page; lines carrying an SA are selectable.
struct PageLine {
    var sa: SAIdentity?
    var draw: (inout ScreenBuffer, Int, RenderContext, Bool) -> Void

    static func text(_ segments: [(String, ThemeRole)], indent: Int = 1) -> PageLine {
        PageLine(sa: nil) { b, y, _, _ in
            var x = indent
            for (t, r) in segments { x += b.write(t, x: x, y: y, role: r) }
        }
    }
    static func section(_ title: String) -> PageLine {
        PageLine(sa: nil) { b, y, c, _ in
            let t = c.glyphs.horizontal + " " + title + " "
            let w = b.write(t, x: 0, y: y, role: .title)
            b.write(String(repeating: c.glyphs.horizontal, count: max(0, b.cols - w)), x: w, y: y, role: .border)
        }
    }
}

extension Dashboard {
    func context(now: Double) -> RenderContext {
        RenderContext(now: now, glyphs: glyphs, utcOffset: options.utcOffset, changedSA: changeTime(of:),
                      changedPeer: changedPeer, highlight: options.highlightSeconds)
    }

    /// Draws the whole screen for the current state at time `now` (seconds since the epoch).
    public func render(now: Double) -> ScreenBuffer {
        var b = ScreenBuffer(cols: cols, rows: rows)
        if isTooSmall {
            drawTooSmall(&b)
            return b
        }
        let ctx = context(now: now)
        drawHeader(&b, ctx)
        drawTabs(&b)
        drawContextLine(&b)
        switch screen {
        case .list(let v): drawList(v, into: &b, ctx)
        case .peer, .sa: drawPage(&b, ctx)
        }
        drawFooter(&b, now: now)
        switch overlay {
        case .help?: drawHelp(&b)
        case .confirm(let c)?: drawConfirm(c, into: &b)
        case nil: break
        }
        if options.ascii { b.foldToASCII() }
        return b
    }

    func drawTooSmall(_ b: inout ScreenBuffer) {
        let lines = ["terminal too small", "\(cols)x\(rows), need \(Dashboard.minimumCols)x\(Dashboard.minimumRows)", "q quits"]
        let y0 = max(0, rows / 2 - 1)
        for (i, l) in lines.enumerated() {
            let w = TextWidth.of(l)
            b.write(l, x: max(0, (cols - w) / 2), y: y0 + i, role: i == 0 ? .error : .normal)
        }
    }

    // MARK: header, tabs, context, footer

    func drawHeader(_ b: inout ScreenBuffer, _ c: RenderContext) {
        let h = data.header
        b.fill(y: 0, height: 2, role: .header)
        // (label, value, role, priority): lower priority numbers survive narrow widths.
        var items: [(String, String, ThemeRole, Int)] = [
            ("", "ipsectop", .header, 0),
            ("host ", Sanitizer.clean(h.host, maxLength: 40), .header, 3),
            ("netns ", Sanitizer.clean(h.netns, maxLength: 24), .header, 4),
            ("kernel ", Sanitizer.clean(h.kernel, maxLength: 24), .header, 6),
            ("SAs ", String(h.saCount), .header, 1),
            ("pol ", String(h.policyCount), .header, 2),
            (c.glyphs.down, Format.rate(h.rateIn), .header, 1),
            (c.glyphs.up, Format.rate(h.rateOut), .header, 1),
            ("every ", Format.fixed(refreshInterval, refreshInterval < 1 ? 1 : (refreshInterval == refreshInterval.rounded() ? 0 : 1)) + "s", .header, 2),
        ]
        if paused { items.append(("", "PAUSED", .warn, 0)) }
        items.removeAll { $0.1.isEmpty }
        layoutItems(items, into: &b, y: 0)
        // Line 2: sync state, xfrm_stat error deltas, capture note.
        var line2: [(String, String, ThemeRole, Int)] = []
        if let r = h.resync { line2.append(("", Sanitizer.clean(r, maxLength: 40), .warn, 0)) }
        else { line2.append(("", "in sync", .ok, 1)) }
        let errs = data.statErrors
        if errs.isEmpty {
            line2.append(("xfrm_stat ", "no new errors", .header, 2))
        } else {
            for (i, e) in errs.sorted(by: { ($0.delta, $1.name) > ($1.delta, $0.name) }).enumerated() {
                line2.append((i == 0 ? "xfrm_stat " : "", "\(Sanitizer.clean(e.name, maxLength: 40)) +\(Format.grouped(e.delta))",
                              .error, i == 0 ? 0 : 1 + i))
            }
        }
        if let n = h.captureNote { line2.append(("", Sanitizer.clean(n, maxLength: 60), .dim, 5)) }
        layoutItems(line2, into: &b, y: 1)
    }

    /// Writes label/value items separated by two spaces, dropping the least important ones
    /// (highest priority number, later first) until they fit.
    func layoutItems(_ items: [(String, String, ThemeRole, Int)], into b: inout ScreenBuffer, y: Int) {
        var keep = Array(items.indices)
        func width(_ idx: [Int]) -> Int {
            idx.reduce(0) { $0 + TextWidth.of(items[$1].0) + TextWidth.of(items[$1].1) + 2 } + 1
        }
        while width(keep) > cols, let drop = keep.max(by: { (items[$0].3, $0) < (items[$1].3, $1) }), keep.count > 1 {
            keep.removeAll { $0 == drop }
        }
        var x = 1
        for i in keep {
            let (label, value, role, _) = items[i]
            if !label.isEmpty { x += b.write(label, x: x, y: y, role: .headerLabel) }
            // Status colours on the header bar keep its background.
            let onBar: ThemeRole
            switch role {
            case .ok: onBar = .headerOK
            case .warn: onBar = .headerWarn
            case .error: onBar = .headerError
            case .dim: onBar = .headerLabel
            default: onBar = role
            }
            x += b.write(value, x: x, y: y, role: onBar, attributes: role == .header || role == .dim ? [] : .bold)
            x += 2
        }
    }

    func drawTabs(_ b: inout ScreenBuffer) {
        b.fill(y: 2, role: .tab)
        let current = currentView
        for t in tabLayout() {
            b.write(t.label, x: t.x, y: 2, role: t.view == current ? .tabActive : .tab, maxWidth: t.width)
        }
        if options.readOnly {
            let s = " read-only "
            b.write(s, x: cols - TextWidth.of(s), y: 2, role: .warn)
        }
    }

    func breadcrumbs() -> [String] {
        stack.map { s -> String in
            switch s {
            case .list(let v): return v.title
            case .peer(let id):
                if let p = data.peer(id: id) { return "peer \(p.remote)" }
                return "peer \(id)"
            case .sa(let id): return "SA \(SAIdentity.hex(id.spi))"
            }
        }
    }

    func drawContextLine(_ b: inout ScreenBuffer) {
        let y = 3
        var x = 1
        let crumbs = breadcrumbs()
        for (i, c) in crumbs.enumerated() {
            if i > 0 { x += b.write(glyphs.breadcrumb, x: x, y: y, role: .dim) }
            x += b.write(Sanitizer.clean(c), x: x, y: y, role: .breadcrumb, attributes: i == crumbs.count - 1 ? .bold : [])
        }
        guard case .list(let v) = screen else { return }
        let st = lists[v.rawValue]
        var right = ""
        if !tags.isEmpty { right += "tagged \(tags.count)  " }
        right += "\(st.visible.count)/\(rowCount(v))"
        let rw = TextWidth.of(right)
        var fx = x + 2
        if isEditingFilter || !st.filter.isEmpty {
            let label = isEditingFilter ? "/" : "filter: "
            fx += b.write(label, x: fx, y: y, role: .filter)
            let avail = max(0, cols - rw - 2 - fx)
            let shown = TextWidth.of(st.filter) > avail ? String(st.filter.suffix(avail)) : st.filter
            fx += b.write(Sanitizer.clean(shown), x: fx, y: y, role: .filter, maxWidth: avail)
        }
        b.write(right, x: max(fx + 1, cols - rw - 1), y: y, role: .dim)
        if isEditingFilter { b.cursor = (min(fx, cols - 1), y) }
    }

    func drawFooter(_ b: inout ScreenBuffer, now: Double) {
        let y = rows - 1
        b.fill(y: y, role: .footer)
        if let s = status, now - s.time < options.statusSeconds, now >= s.time {
            b.write(" " + Sanitizer.clean(s.text), x: 0, y: y, role: s.level == .none ? .footer : s.level.role)
            return
        }
        if isEditingFilter {
            b.write(" Enter keep filter  Esc clear  leading ! inverts", x: 0, y: y, role: .footer)
            return
        }
        // Help and Quit always show (right-aligned); the others fill the left as space allows.
        let all = bindings.hints(ascii: options.ascii)
        let essential = all.filter { $0.label == "Help" || $0.label == "Quit" }
        let others = all.filter { $0.label != "Help" && $0.label != "Quit" }
        func width(_ h: (key: String, label: String)) -> Int { TextWidth.of(h.key) + TextWidth.of(h.label) + 2 }
        let rightWidth = essential.reduce(0) { $0 + width($1) }
        var x = 0
        for h in others {
            if x + width(h) > cols - rightWidth { break }
            x += b.write(h.key, x: x, y: y, role: .footerKey)
            x += b.write(" " + h.label + " ", x: x, y: y, role: .footer)
        }
        x = max(x, cols - rightWidth)
        for h in essential {
            x += b.write(h.key, x: x, y: y, role: .footerKey)
            x += b.write(" " + h.label + " ", x: x, y: y, role: .footer)
        }
    }

    // MARK: lists

    func drawList(_ v: DashboardView, into b: inout ScreenBuffer, _ ctx: RenderContext) {
        switch v {
        case .sas:
            // Only the rows drawn are built.
            let sas = data.sas
            drawTable(Columns.sa, count: sas.count, row: { sas[$0] }, view: v, into: &b, ctx) { tags.contains($0.id) }
        case .peers:
            drawTable(Columns.peer, rows: data.peers, view: v, into: &b, ctx) { p in
                guard !tags.isEmpty else { return false }
                let mine = data.sas.ids(ofPeer: p.id)
                return !mine.isEmpty && mine.allSatisfy { tags.contains($0) }
            }
        case .policies: drawTable(Columns.policy, rows: data.policies, view: v, into: &b, ctx) { _ in false }
        case .timeline: drawTable(Columns.timeline, rows: data.timeline, view: v, into: &b, ctx) { _ in false }
        case .xfrmStat: drawTable(Columns.stat, rows: data.xfrmStat, view: v, into: &b, ctx) { _ in false }
        case .actions: drawTable(Columns.action, rows: actionLog, view: v, into: &b, ctx) { _ in false }
        }
    }

    func drawTable<R>(_ columns: [Column<R>], rows data: [R], view v: DashboardView, into b: inout ScreenBuffer,
                      _ ctx: RenderContext, tagged: (R) -> Bool) {
        drawTable(columns, count: data.count, row: { data[$0] }, view: v, into: &b, ctx, tagged: tagged)
    }

    func drawTable<R>(_ columns: [Column<R>], count: Int, row rowAt: (Int) -> R, view v: DashboardView,
                      into b: inout ScreenBuffer, _ ctx: RenderContext, tagged: (R) -> Bool) {
        let st = lists[v.rawValue]
        let placed = TableLayout.place(columns, width: cols)
        TableLayout.drawHeader(columns, placed: placed, into: &b, y: 4, sortColumn: st.sortColumn,
                               ascending: st.ascending, glyphs: ctx.glyphs)
        let h = bodyHeight
        if st.visible.isEmpty {
            let msg = count == 0 ? "(nothing yet)" : "(no row matches the filter)"
            b.write(msg, x: 2, y: 5, role: .dim)
            return
        }
        // Only the visible window is formatted: cost is independent of the row count.
        for i in 0..<h {
            let pos = st.top + i
            guard pos < st.visible.count else { break }
            let row = rowAt(st.visible[pos])
            let y = 5 + i
            TableLayout.drawRow(columns, placed: placed, row: row, into: &b, y: y, context: ctx)
            let isTagged = tagged(row)
            if isTagged { b.write(ctx.glyphs.tag, x: 0, y: y, role: .rowTagged) }
            if pos == st.cursor {
                b.restyle(x: 0, y: y, width: cols, role: .rowSelected)
            } else if isTagged {
                for x in 1..<cols where b[x, y].role == .normal { b[x, y].role = .rowTagged }
            }
        }
    }

    // MARK: drill-down pages

    func pageLines() -> [PageLine] {
        switch screen {
        case .peer(let id): return peerLines(id)
        case .sa(let id): return saDetailLines(id)
        case .list: return []
        }
    }

    func drawPage(_ b: inout ScreenBuffer, _ ctx: RenderContext) {
        let lines = pageLines()
        let selectable = lines.indices.filter { lines[$0].sa != nil }
        let cursorLine = page.cursor < selectable.count ? selectable[page.cursor] : -1
        for i in 0..<pageHeight {
            let n = page.scroll + i
            guard n < lines.count else { break }
            let y = 4 + i
            lines[n].draw(&b, y, ctx, n == cursorLine)
            if let s = lines[n].sa, tags.contains(s) { b.write(ctx.glyphs.tag, x: 0, y: y, role: .rowTagged) }
            if n == cursorLine { b.restyle(x: 0, y: y, width: cols, role: .rowSelected) }
        }
        if lines.count > pageHeight {
            let more = "\(page.scroll + 1)-\(min(lines.count, page.scroll + pageHeight))/\(lines.count)"
            b.write(more, x: cols - TextWidth.of(more) - 1, y: 3, role: .dim)
        }
    }

    func peerLines(_ id: String) -> [PageLine] {
        guard let p = data.peer(id: id) else {
            return [.text([("peer \(id) is gone", .warn)])]
        }
        let g = glyphs
        var out: [PageLine] = []
        out.append(.text([("Peer ", .title), ("\(p.local) \(g.bidirectional) \(p.remote)", .title),
                          ("   SAs in/out \(p.inboundSAs)/\(p.outboundSAs)", .normal),
                          ("   rekeys \(p.rekeys)", .dim)]))
        out.append(.text([("traffic ", .dim), (g.down + Format.rate(p.rateIn), .rateIn), ("  ", .normal),
                          (g.up + Format.rate(p.rateOut), .rateOut), ("   total ", .dim),
                          (g.down + Format.size(p.totalBytesIn) + "B " + g.up + Format.size(p.totalBytesOut) + "B", .normal),
                          ("   health ", .dim),
                          (p.health.isEmpty ? "ok" : p.health.map(\.code).joined(separator: ","), p.healthLevel.role)]))
        // SAs of both directions.
        let mine = data.sas.indices(ofPeer: id).map { data.sas[$0] }.sorted {
            ($0.direction?.rawValue ?? 0, $0.state.spi) < ($1.direction?.rawValue ?? 0, $1.state.spi)
        }
        out.append(.section("SAs (\(mine.count))"))
        let placed = TableLayout.place(Columns.sa, width: cols)
        out.append(PageLine(sa: nil) { b, y, c, _ in
            TableLayout.drawHeader(Columns.sa, placed: placed, into: &b, y: y, sortColumn: nil, ascending: true, glyphs: c.glyphs)
        })
        for r in mine {
            out.append(PageLine(sa: r.id) { b, y, c, _ in
                TableLayout.drawRow(Columns.sa, placed: placed, row: r, into: &b, y: y, context: c)
            })
        }
        // Policies pointing at this peer.
        let pols = data.policies(ofPeer: id)
        out.append(.section("Policies (\(pols.count))"))
        if pols.isEmpty { out.append(.text([("no policy references this peer", .dim)])) }
        for r in pols {
            let pol = r.policy
            out.append(.text([(TextWidth.pad(pol.direction.description, to: 4), .normal),
                              (pol.selector.summary, .normal), ("  " + pol.actionName, pol.action == 1 ? .warn : .dim),
                              ("  " + Columns.templateSummary(pol, glyphs: g), .dim)]))
        }
        // NAT-T.
        out.append(.section("NAT-T"))
        if let e = p.encapsulation {
            var segs: [(String, ThemeRole)] = [("encap ", .dim), (e.type.description, .normal),
                                               ("  local port ", .dim), (String(e.sourcePort), .normal),
                                               ("  remote port ", .dim), (String(e.destinationPort), .normal)]
            segs.append(("  original address ", .dim))
            segs.append((e.originalAddress.isZero ? "-" : e.originalAddress.description, .normal))
            segs.append(("  NAT ", .dim))
            segs.append((p.natDetected ? "detected" : "not detected", p.natDetected ? .warn : .ok))
            out.append(.text(segs))
            if p.mappings.isEmpty {
                out.append(.text([("no mapping changes seen", .dim)]))
            } else {
                out.append(.text([("mapping history:", .dim)]))
                for m in p.mappings.suffix(8).reversed() {
                    out.append(.text([(Format.clock(m.time, utcOffset: options.utcOffset) + "  ", .dim),
                                      ("\(m.oldAddress):\(m.oldPort) \(g.arrow) \(m.newAddress):\(m.newPort)", .normal)], indent: 3))
                }
            }
        } else {
            out.append(.text([("no UDP encapsulation (plain ESP)", .dim)]))
        }
        // Keepalive.
        out.append(.section("Keepalive"))
        let k = p.keepalive
        out.append(PageLine(sa: nil) { b, y, c, _ in
            var x = 1
            x += b.write("status ", x: x, y: y, role: .dim)
            x += b.write(k.label, x: x, y: y, role: k.level.role, attributes: .bold)
            x += b.write("  interval ", x: x, y: y, role: .dim)
            x += b.write(k.interval.map { "\($0)s" } ?? "-", x: x, y: y)
            x += b.write("  last sent ", x: x, y: y, role: .dim)
            x += b.write(Format.ago(k.lastSent, now: c.now), x: x, y: y)
            x += b.write("  last received ", x: x, y: y, role: .dim)
            b.write(Format.ago(k.lastReceived, now: c.now), x: x, y: y)
        })
        out.append(.text([("reason ", .dim), (Sanitizer.clean(k.reason), .normal)]))
        // Traffic history.
        let gw = max(10, cols - 16)
        out.append(.section("Traffic history (\(min(gw, max(p.historyIn.count, p.historyOut.count))) samples)"))
        let height = rows >= 30 ? 3 : 1
        if p.historyIn.isEmpty && p.historyOut.isEmpty {
            out.append(.text([("no traffic samples yet", .dim)]))
        }
        for (label, hist, role) in [("in ", p.historyIn, ThemeRole.rateIn), ("out", p.historyOut, ThemeRole.rateOut)]
            where !(p.historyIn.isEmpty && p.historyOut.isEmpty) {
            let peak = hist.suffix(gw).max() ?? 0
            let rowsG = Format.graph(hist, width: gw, height: height, glyphs: g)
            for (i, line) in rowsG.enumerated() {
                out.append(.text([(i == 0 ? label + " " : "    ", .dim), (line, role),
                                  (i == 0 ? " " + Format.rate(peak) : "", .dim)]))
            }
        }
        // Timeline.
        let events = data.timeline.filter { $0.peerID == id }.suffix(10).reversed()
        out.append(.section("Timeline (\(events.count) latest)"))
        if events.isEmpty { out.append(.text([("no events for this peer yet", .dim)])) }
        for e in events {
            out.append(.text([(Format.clock(e.time, utcOffset: options.utcOffset) + " ", .dim),
                              (TextWidth.pad(Sanitizer.clean(e.kind), to: 10) + " ", e.level == .none ? .normal : e.level.role),
                              (Sanitizer.clean(e.text), .normal)]))
        }
        // Actions, from the binding table.
        out.append(.section("Actions"))
        let acts = bindings.bindings.filter { $0.dangerous || $0.action == .drillIn || $0.action == .tag || $0.action == .back }
        // Packed into as many lines as the width needs.
        var segs: [(String, ThemeRole)] = []
        var used = 1
        for a in acts {
            let key = a.keys.first.map { options.ascii ? $0.asciiLabel : $0.label } ?? ""
            let text = " " + a.description + "   "
            let w = TextWidth.of(key) + TextWidth.of(text)
            if used + w > cols, !segs.isEmpty {
                out.append(.text(segs))
                segs = []; used = 1
            }
            segs.append((key, .helpKey))
            segs.append((text, a.dangerous ? .danger : .normal))
            used += w
        }
        if !segs.isEmpty { out.append(.text(segs)) }
        if options.readOnly { out.append(.text([("read-only: delete and rekey are disabled", .dim)])) }
        return out
    }

    func saDetailLines(_ id: SAIdentity) -> [PageLine] {
        guard let r = data.sas.row(for: id) else {
            return [.text([("SA \(SAIdentity.hex(id.spi)) dst \(id.destination) is gone", .warn)])]
        }
        let s = r.state, a = s.attributes, g = glyphs
        var kv: [(String, String, ThemeRole)] = []
        func add(_ k: String, _ v: String, _ role: ThemeRole = .normal) { kv.append((k, v, role)) }
        add("direction", (r.direction?.name ?? "unknown") + (r.directionSource.map { " (\($0))" } ?? ""))
        if let raw = a.rawDirection { add("raw direction", "\(raw) (not 1 or 2)", .warn) }
        add("src " + g.arrow + " dst", "\(s.source) \(g.arrow) \(s.destination)")
        add("family", s.family.name)
        add("proto / mode", "\(s.proto) / \(s.mode)")
        add("spi", "\(SAIdentity.hex(s.spi)) (\(s.spi))")
        add("reqid", String(s.reqid))
        add("state", s.isLarval ? "larval (no algorithms)" : "valid", s.isLarval ? .warn : .ok)
        add("selector", s.selector.summary)
        add("flags", s.flagNames.isEmpty ? "-" : s.flagNames.joined(separator: " "))
        add("replay window", String(s.effectiveReplayWindow))
        add("seq", String(s.seq))
        func alg(_ x: XFRMAlgorithm) -> String {
            var t = "\(Sanitizer.clean(x.name)) (\(x.keyBits) bits"
            if let i = x.icvBits { t += ", icv \(i)" }
            return t + ")"
        }
        if let x = a.aead { add("aead", alg(x)) }
        if let x = a.crypt { add("enc", alg(x)) }
        if let x = a.auth { add("auth", alg(x)) }
        if let x = a.authTrunc { add("auth-trunc", alg(x)) }
        if let x = a.comp { add("comp", alg(x)) }
        if let e = a.encapsulation {
            add("encap", "\(e.type) sport \(e.sourcePort) dport \(e.destinationPort) oa \(e.originalAddress.isZero ? "-" : e.originalAddress.description)")
        }
        if let m = a.mark { add("mark", m.description) }
        if let v = a.setMark { add("output mark", "0x\(String(v, radix: 16))/0x\(String(a.setMarkMask ?? 0xffff_ffff, radix: 16))") }
        if let v = a.ifID { add("if_id", String(v)) }
        if let c = a.securityContext { add("security context", "doi \(c.doi) alg \(c.algorithm) \(Sanitizer.clean(c.context))") }
        if let v = a.natKeepaliveInterval { add("nat keepalive", "\(v)s") }
        if let o = a.offload { add("offload", "ifindex \(o.ifindex) flags 0x\(String(o.flags, radix: 16))") }
        if let v = a.tfcPad { add("tfcpad", String(v)) }
        if let v = a.extraFlags { add("extra flags", "0x\(String(v, radix: 16))") }
        if let v = a.replayThreshold { add("replay threshold", String(v)) }
        if let v = a.etimerThreshold { add("aevent timer", String(v)) }
        if let v = a.mtimerThreshold { add("mapping timer", String(v)) }
        if let v = a.perCPU { add("pcpu", String(v)) }
        if let v = a.sourceAddress { add("source address", v.description) }
        if let v = a.careOfAddress { add("care-of address", v.description) }
        if let rp = a.replayESN {
            add("replay (esn)", "oseq \(rp.outbound64) seq \(rp.inbound64) window \(rp.replayWindow) bitmap \(rp.bitmapLength) words")
        } else if let rp = a.replay {
            add("replay", "oseq \(rp.outboundSequence) seq \(rp.inboundSequence) bitmap 0x\(String(rp.bitmap, radix: 16))")
        }
        if let t = a.iptfs {
            var parts: [String] = []
            if let v = t.packetSize { parts.append("pkt-size \(v)") }
            if let v = t.maxQueueSize { parts.append("max-queue \(v)") }
            if let v = t.dropTimeMicroseconds { parts.append("drop-time \(v)us") }
            if let v = t.reorderWindow { parts.append("reorder-window \(v)") }
            if let v = t.initialDelayMicroseconds { parts.append("init-delay \(v)us") }
            if t.dontFragment { parts.append("dont-frag") }
            add("iptfs", parts.joined(separator: " "))
        }
        let cur = s.lifetimeCurrent, cfg = s.lifetimeConfig
        func lim(_ v: UInt64, zeroInf: Bool = false) -> String { v == .max || (zeroInf && v == 0) ? "∞" : Format.grouped(v) }
        add("bytes / packets", "\(Format.grouped(cur.bytes)) / \(Format.grouped(cur.packets))")
        add("rate", Format.rate(r.byteRate) + "  " + Format.fixed(r.packetRate, 1) + " pkt/s")
        add("added", cur.addTime == 0 ? "-" : Format.clock(Double(cur.addTime), utcOffset: options.utcOffset)
            + " (" + Format.duration(clock - Double(cur.addTime)) + " ago)")
        add("first use", cur.useTime == 0 ? "never" : Format.clock(Double(cur.useTime), utcOffset: options.utcOffset))
        if let lu = a.lastUsed { add("last used", lu == 0 ? "never" : Format.clock(Double(lu), utcOffset: options.utcOffset)) }
        add("limits time (add)", "soft \(lim(cfg.softAddExpiresSeconds, zeroInf: true))s hard \(lim(cfg.hardAddExpiresSeconds, zeroInf: true))s")
        add("limits time (use)", "soft \(lim(cfg.softUseExpiresSeconds, zeroInf: true))s hard \(lim(cfg.hardUseExpiresSeconds, zeroInf: true))s")
        add("limits bytes", "soft \(lim(cfg.softByteLimit)) hard \(lim(cfg.hardByteLimit))")
        add("limits packets", "soft \(lim(cfg.softPacketLimit)) hard \(lim(cfg.hardPacketLimit))")
        add("stats", "replay-window \(s.stats.replayWindow) replay \(s.stats.replay) integrity-failed \(s.stats.integrityFailed)",
            s.stats.replay + s.stats.integrityFailed > 0 ? .warn : .normal)
        add("keepalive", "\(r.keepalive.label): \(Sanitizer.clean(r.keepalive.reason))", r.keepalive.level.role)
        if r.health.isEmpty { add("health", "ok", .ok) }
        for h in r.health { add("health", "\(h.code): \(Sanitizer.clean(h.text))", h.level.role) }
        if let old = r.rekeyedFrom { add("rekeyed from", SAIdentity.hex(old)) }
        if let pid = r.peerID { add("peer", Sanitizer.clean(pid)) }
        if let lv = a.lifetimeValue {
            add("lifetime value", "bytes \(Format.grouped(lv.bytes)) packets \(Format.grouped(lv.packets))")
        }
        if let v = a.policyType { add("policy type", String(v)) }
        for t in a.templates {
            add("template", "\(t.proto) \(t.mode) \(t.source) \(g.arrow) \(t.destination) reqid \(t.reqid)")
        }
        if let k = a.kmAddress { add("km address", "\(k.local) \(g.arrow) \(k.remote)") }
        for m in a.migrations {
            add("migrate", "\(m.oldSource) \(g.arrow) \(m.oldDestination) to \(m.newSource) \(g.arrow) \(m.newDestination) reqid \(m.reqid)")
        }
        for u in a.unknown { add("attribute \(u.type)", "\(u.payload.count) bytes (not decoded)", .dim) }
        add("keys", "never shown (not kept by the decoder)", .dim)
        let keyWidth = min(20, kv.map { TextWidth.of($0.0) }.max() ?? 10)
        var out: [PageLine] = [.text([("SA ", .title), ("\(s.proto) spi \(SAIdentity.hex(s.spi)) dst \(s.destination)", .title)])]
        out.append(PageLine(sa: nil) { b, y, c, _ in
            b.write("lifetime ", x: 1, y: y, role: .dim)
            Columns.drawLifetime(&b, x: 10, y: y, width: min(30, b.cols - 12), state: s, context: c)
        })
        for (k, v, role) in kv {
            out.append(.text([(TextWidth.pad(k, to: keyWidth) + "  ", .dim), (v, role)]))
        }
        return out
    }

    // MARK: overlays

    func drawBox(_ b: inout ScreenBuffer, width: Int, height: Int, title: String, titleRole: ThemeRole) -> (x: Int, y: Int) {
        let w = min(width, cols - 2), h = min(height, rows - 2)
        let x0 = (cols - w) / 2, y0 = max(1, (rows - h) / 2)
        let g = glyphs
        b.fill(x: x0, y: y0, width: w, height: h, role: .dialog)
        b.write(g.topLeft + String(repeating: g.horizontal, count: max(0, w - 2)) + g.topRight, x: x0, y: y0, role: .dialog)
        for y in (y0 + 1)..<(y0 + h - 1) {
            b.write(g.vertical, x: x0, y: y, role: .dialog)
            b.write(g.vertical, x: x0 + w - 1, y: y, role: .dialog)
        }
        b.write(g.bottomLeft + String(repeating: g.horizontal, count: max(0, w - 2)) + g.bottomRight, x: x0, y: y0 + h - 1, role: .dialog)
        b.write(" " + title + " ", x: x0 + 2, y: y0, role: titleRole, maxWidth: w - 4)
        return (x0, y0)
    }

    func drawHelp(_ b: inout ScreenBuffer) {
        let lines = bindings.helpLines(ascii: options.ascii)
        let keyW = min(18, lines.map { TextWidth.of($0.keys) }.max() ?? 8)
        let w = min(cols - 2, max(50, keyW + 44))
        let inner = rows - 4
        let h = min(rows - 2, lines.count + 5)
        let (x0, y0) = drawBox(&b, width: w, height: h, title: "Help" + (options.readOnly ? " (read-only)" : ""), titleRole: .dialogTitle)
        let visibleCount = min(lines.count, max(1, h - 5))
        let start = max(0, min(helpScroll, lines.count - visibleCount))
        for i in 0..<visibleCount {
            let l = lines[start + i]
            let y = y0 + 1 + i
            b.write(TextWidth.pad(l.keys, to: keyW), x: x0 + 2, y: y, role: .helpKey, maxWidth: keyW)
            b.write(l.description + (l.dangerous ? " !" : ""), x: x0 + 3 + keyW, y: y,
                    role: l.dangerous ? .danger : .dialog, maxWidth: w - keyW - 5)
        }
        _ = inner
        let more = lines.count > visibleCount ? " (\(start + 1)-\(start + visibleCount)/\(lines.count), j/k scroll)" : ""
        b.write("Mouse: click tab/row (twice opens), heading sorts", x: x0 + 2,
                y: y0 + h - 3, role: .dialog, maxWidth: w - 4)
        b.write("any key closes" + more, x: x0 + 2, y: y0 + h - 2, role: .dim, maxWidth: w - 4)
    }

    /// The confirmation's lines (also used by tests and the command line's prompt).
    public static func confirmationLines(_ c: Confirmation, glyphs: Glyphs) -> [(String, ThemeRole)] {
        // Most important first: what will be hit, then what the filter hides, then how.
        var out: [(String, ThemeRole)] = []
        let n = c.request.targets.count
        out.append(("Targets (\(c.scope)) — dir proto SPI src \(glyphs.arrow) dst mark:", .dialog))
        for t in c.request.targets { out.append(("  " + t.summary(glyphs: glyphs), .dialog)) }
        if c.hiddenTagged > 0 {
            out.append(("\(c.hiddenTagged) tagged SA(s) hidden by the current filter are INCLUDED", .warn))
        } else {
            out.append(("No tagged SA is hidden by the current filter", .dim))
        }
        for s in c.skipped { out.append(("Skipped: " + s.target.summary(glyphs: glyphs) + " — " + s.reason, .warn)) }
        switch c.request.kind {
        case .delete:
            out.append(("Operation: XFRM_MSG_DELSA on \(n) SA(s)", .danger))
            if let t = c.request.targets.first {
                out.append(("Equivalent to: " + t.ipDeleteCommand + (n > 1 ? " (and \(n - 1) more)" : ""), .dim))
            }
        case .rekey:
            out.append(("Operation: rekey \(n) SA(s): VICI rekey when charon is reachable, else "
                        + "XFRM_MSG_EXPIRE soft (hard=0) so the IKE daemon rekeys", .danger))
        }
        return out
    }

    /// Splits a line at spaces so it fits `width` columns; continuation lines are indented.
    static func wrap(_ text: String, width: Int) -> [String] {
        guard width > 8, TextWidth.of(text) > width else { return [text] }
        let indent = String(text.prefix { $0 == " " })
        var out: [String] = []
        var cur = indent
        for word in text.dropFirst(indent.count).split(separator: " ") {
            let w = String(word)
            let candidate = cur == indent || cur == indent + "    " ? cur + w : cur + " " + w
            if TextWidth.of(candidate) > width, cur != indent, cur != indent + "    " {
                out.append(cur)
                cur = indent + "    " + w
            } else {
                cur = candidate
            }
        }
        if !cur.isEmpty { out.append(cur) }
        return out.map { TextWidth.of($0) > width ? TextWidth.truncate($0, to: width) : $0 }
    }

    /// The dialog's width and wrapped lines at the current size.
    func confirmLayout(_ c: Confirmation) -> (width: Int, lines: [(String, ThemeRole)]) {
        let raw = Dashboard.confirmationLines(c, glyphs: glyphs)
        let w = min(cols - 2, max(56, (raw.map { TextWidth.of($0.0) }.max() ?? 40) + 4))
        return (w, raw.flatMap { l in Dashboard.wrap(l.0, width: w - 4).map { ($0, l.1) } })
    }

    func drawConfirm(_ c: Confirmation, into b: inout ScreenBuffer) {
        let (w, lines) = confirmLayout(c)
        let maxBody = max(1, rows - 6)
        let shown = min(lines.count, maxBody)
        let start = max(0, min(confirmScroll, lines.count - shown))
        let h = shown + 4
        let verb = c.request.kind == .delete ? "Delete" : "Rekey"
        let (x0, y0) = drawBox(&b, width: w, height: h, title: "\(verb) \(c.request.targets.count) SA(s)?", titleRole: .danger)
        for i in 0..<shown {
            let l = lines[start + i]
            b.write(l.0, x: x0 + 2, y: y0 + 1 + i, role: l.1, maxWidth: w - 4)
        }
        let y = y0 + h - 2
        var x = x0 + 2
        x += b.write("y", x: x, y: y, role: .helpKey)
        x += b.write(" \(verb.lowercased())   ", x: x, y: y, role: .danger)
        x += b.write("n/Esc", x: x, y: y, role: .helpKey)
        x += b.write(" cancel", x: x, y: y, role: .dialog)
        if shown < lines.count {
            b.write("   j/k: \(start + 1)-\(start + shown)/\(lines.count)", x: x, y: y, role: .warn, maxWidth: x0 + w - 1 - x)
        }
    }
}
