import XFRMWire

/// Column sets of the list views.
enum Columns {
    static func direction(_ d: SADirection?) -> String { d?.name ?? "?" }

    static func saKey(_ r: SARow) -> [UInt8] {
        let s = r.state
        return saKey(direction: r.direction, source: s.source, destination: s.destination, proto: s.proto, mode: s.mode,
                     spi: s.spi, reqid: s.reqid, keepalive: r.keepalive.label, encapsulation: s.attributes.encapsulation,
                     mark: s.attributes.mark, healthCodes: r.health.map(\.code), isLarval: s.isLarval)
    }

    /// The filter key of an SA from its fields (the same for a row and a model entry).
    static func saKey(direction d: SADirection?, source: IPAddress, destination: IPAddress, proto: IPsecProtocol,
                      mode: XFRMMode, spi: UInt32, reqid: UInt32, keepalive: String, encapsulation: XFRMEncapsulation?,
                      mark: XFRMMark?, healthCodes: [String], isLarval: Bool) -> [UInt8] {
        var parts = [direction(d), source.description, destination.description, proto.description,
                     mode.description, SAIdentity.hex(spi), "reqid", String(reqid), keepalive]
        if let e = encapsulation { parts += ["\(e.sourcePort)", "\(e.destinationPort)", e.type.description] }
        if let m = mark { parts.append(m.description) }
        parts += healthCodes
        if isLarval { parts.append("larval") }
        return SearchMatcher.key(parts)
    }

    static let sa: [Column<SARow>] = [
        Column(id: "dir", title: "DIR", width: 3, priority: 1,
               text: { r, _ in direction(r.direction) },
               role: { r, _ in r.direction == .inbound ? .rateIn : (r.direction == .outbound ? .rateOut : .dim) },
               sort: .number { Double($0.direction?.rawValue ?? 0) }),
        Column(id: "peer", title: "SRC → DST", width: 25, priority: 0, flexible: true, maxWidth: 48,
               text: { r, c in "\(r.state.source) \(c.glyphs.arrow) \(r.state.destination)" },
               sort: .words { SortWords($0.state.source, $0.state.destination) }),
        Column(id: "proto", title: "PROTO/MODE", width: 10, priority: 6,
               text: { r, _ in "\(r.state.proto)/\(r.state.mode)" },
               sort: .number { Double(r: $0.state.proto.rawValue, $0.state.mode.rawValue) }),
        Column(id: "spi", title: "SPI", width: 10, priority: 0,
               text: { r, _ in SAIdentity.hex(r.state.spi) },
               role: { r, _ in r.state.isLarval ? .dim : .normal },
               sort: .number { Double($0.state.spi) }),
        Column(id: "reqid", title: "REQID", width: 5, priority: 8, rightAligned: true,
               text: { r, _ in String(r.state.reqid) }, sort: .number { Double($0.state.reqid) }),
        Column(id: "encap", title: "ENCAP", width: 11, priority: 5,
               text: { r, c in Format.encap(r.state.attributes.encapsulation, glyphs: c.glyphs) },
               role: { r, c in c.saChanged(r.id) ? .changed : .normal },
               sort: .number { Double($0.state.attributes.encapsulation?.destinationPort ?? 0) }),
        Column(id: "rate", title: "RATE", width: 8, priority: 2, rightAligned: true,
               text: { r, c in (r.direction == .inbound ? c.glyphs.down : c.glyphs.up) + Format.rate(r.byteRate) },
               role: { r, _ in r.byteRate <= 0 ? .dim : (r.direction == .inbound ? .rateIn : .rateOut) },
               sort: .number(\.byteRate)),
        Column(id: "bytes", title: "BYTES", width: 6, priority: 3, rightAligned: true,
               text: { r, _ in Format.size(r.state.lifetimeCurrent.bytes) },
               role: { r, c in c.saChanged(r.id) ? .changed : .normal },
               sort: .number { Double($0.state.lifetimeCurrent.bytes) }),
        Column(id: "packets", title: "PKTS", width: 6, priority: 4, rightAligned: true,
               text: { r, _ in Format.size(r.state.lifetimeCurrent.packets) },
               role: { r, c in c.saChanged(r.id) ? .changed : .normal },
               sort: .number { Double($0.state.lifetimeCurrent.packets) }),
        Column(id: "age", title: "AGE", width: 6, priority: 3, rightAligned: true,
               text: { r, c in
                   let t = r.state.lifetimeCurrent.addTime
                   return t == 0 ? "-" : Format.duration(c.now - Double(t))
               },
               sort: .number { -Double($0.state.lifetimeCurrent.addTime) }),
        Column(id: "life", title: "LIFETIME", width: 10, priority: 5, flexible: true, maxWidth: 24,
               text: { _, _ in "" },
               sort: .number { LifetimeUse(state: $0.state, now: 0).fraction ?? -1 },
               draw: { b, x, y, w, r, c in drawLifetime(&b, x: x, y: y, width: w, state: r.state, context: c) }),
        Column(id: "ka", title: "KEEPALV", width: 7, priority: 2,
               text: { r, _ in r.keepalive.label },
               role: { r, _ in r.keepalive.level.role },
               sort: .number { Double($0.keepalive.level.rawValue) }),
        Column(id: "health", title: "HEALTH", width: 6, priority: 1, flexible: true,
               text: { r, _ in r.health.isEmpty ? "ok" : r.health.map(\.code).joined(separator: ",") },
               role: { r, _ in r.healthLevel.role },
               sort: .number { Double($0.healthLevel.rawValue) }),
    ]

    static func drawLifetime(_ b: inout ScreenBuffer, x: Int, y: Int, width: Int, state: XFRMState, context c: RenderContext) {
        let use = LifetimeUse(state: state, now: c.now)
        guard let f = use.fraction else {
            b.write(TextWidth.pad("∞", to: width), x: x, y: y, role: .dim, maxWidth: width)
            return
        }
        let cells = max(1, width - 4)
        let filled = min(cells, Int((f * Double(cells)).rounded()))
        let soft = use.softFraction.map { Int(($0 * Double(cells)).rounded()) }
        for i in 0..<cells {
            let isFilled = i < filled
            let pastSoft = soft.map { i >= $0 } ?? false
            let role: ThemeRole = isFilled ? (pastSoft ? .barSoft : .barFill) : .barEmpty
            b.write(isFilled ? c.glyphs.barFull : c.glyphs.barEmpty, x: x + i, y: y, role: role, maxWidth: 1)
        }
        let pct = String(Int((f * 100).rounded(.down)))
        b.write(TextWidth.pad(pct + "%", to: 4, right: true), x: x + cells, y: y,
                role: f >= 0.9 ? .error : (use.softFraction.map { f >= $0 } ?? false ? .warn : .dim), maxWidth: 4)
    }

    static func peerKey(_ p: PeerRow) -> [UInt8] {
        var parts = [p.local.description, p.remote.description, p.keepalive.label]
        if let e = p.encapsulation { parts += [String(e.sourcePort), String(e.destinationPort), "nat"] }
        parts += p.health.map(\.code)
        return SearchMatcher.key(parts)
    }

    static let peer: [Column<PeerRow>] = [
        Column(id: "peer", title: "LOCAL ⇄ REMOTE", width: 25, priority: 0, flexible: true, maxWidth: 48,
               text: { p, c in "\(p.local) \(c.glyphs.bidirectional) \(p.remote)" },
               sort: .words { SortWords($0.local, $0.remote) }),
        Column(id: "nat", title: "NAT-T", width: 11, priority: 3,
               text: { p, c in p.encapsulation.map { "\($0.sourcePort)\(c.glyphs.arrow)\($0.destinationPort)" } ?? "-" },
               role: { p, c in c.peerChanged(p.id) ? .changed : (p.natDetected ? .warn : .dim) },
               sort: .number { Double($0.encapsulation?.destinationPort ?? 0) }),
        Column(id: "sas", title: "SA in/out", width: 9, priority: 4, rightAligned: true,
               text: { p, _ in "\(p.inboundSAs)/\(p.outboundSAs)" },
               sort: .number { Double($0.inboundSAs + $0.outboundSAs) }),
        Column(id: "in", title: "IN", width: 7, priority: 1, rightAligned: true,
               text: { p, _ in Format.rate(p.rateIn) }, role: { p, _ in p.rateIn > 0 ? .rateIn : .dim },
               sort: .number(\.rateIn)),
        Column(id: "out", title: "OUT", width: 7, priority: 1, rightAligned: true,
               text: { p, _ in Format.rate(p.rateOut) }, role: { p, _ in p.rateOut > 0 ? .rateOut : .dim },
               sort: .number(\.rateOut)),
        Column(id: "spark", title: "HISTORY", width: 12, priority: 5, flexible: true,
               text: { p, _ in "" }, sort: nil,
               draw: { b, x, y, w, p, c in
                   let sum = zip(p.historyIn, p.historyOut).map { $0 + $1 }
                   b.write(Format.sparkline(sum, width: w, glyphs: c.glyphs), x: x, y: y, role: .sparkline, maxWidth: w)
               }),
        Column(id: "ka", title: "KEEPALV", width: 7, priority: 2,
               text: { p, _ in p.keepalive.label }, role: { p, _ in p.keepalive.level.role },
               sort: .number { Double($0.keepalive.level.rawValue) }),
        Column(id: "health", title: "HEALTH", width: 6, priority: 2,
               text: { p, _ in p.health.isEmpty ? "ok" : p.health.map(\.code).joined(separator: ",") },
               role: { p, _ in p.healthLevel.role }, sort: .number { Double($0.healthLevel.rawValue) }),
    ]

    static func templateSummary(_ p: XFRMPolicy, glyphs: Glyphs) -> String {
        if p.attributes.templates.isEmpty { return "-" }
        return p.attributes.templates.map { t in
            var s = "\(t.proto) \(t.mode)"
            if !t.source.isZero || !t.destination.isZero { s += " \(t.source)\(glyphs.arrow)\(t.destination)" }
            if t.reqid != 0 { s += " reqid \(t.reqid)" }
            return s
        }.joined(separator: "; ")
    }

    static func policyKey(_ r: PolicyRow) -> [UInt8] {
        let p = r.policy
        var parts = [p.direction.description, p.selector.summary, p.actionName, templateSummary(p, glyphs: .ascii),
                     "index", String(p.index), "prio", String(p.priority)]
        if let m = p.attributes.mark { parts.append(m.description) }
        return SearchMatcher.key(parts)
    }

    static let policy: [Column<PolicyRow>] = [
        Column(id: "dir", title: "DIR", width: 3, priority: 0,
               text: { r, _ in r.policy.direction.description }, sort: .number { Double($0.policy.direction.rawValue) }),
        Column(id: "selector", title: "SELECTOR", width: 30, priority: 0, flexible: true, maxWidth: 56,
               text: { r, c in
                   let s = r.policy.selector
                   var t = "\(s.source)/\(s.sourcePrefixLength) \(c.glyphs.arrow) \(s.destination)/\(s.destinationPrefixLength)"
                   if s.upperProtocol != 0 { t += " proto \(s.upperProtocol)" }
                   return t
               },
               sort: .words { SortWords($0.policy.selector.source, $0.policy.selector.destination) }),
        Column(id: "action", title: "ACTION", width: 6, priority: 1,
               text: { r, _ in r.policy.actionName }, role: { r, _ in r.policy.action == 1 ? .warn : .normal },
               sort: .number { Double($0.policy.action) }),
        Column(id: "prio", title: "PRIO", width: 6, priority: 4, rightAligned: true,
               text: { r, _ in String(r.policy.priority) }, sort: .number { Double($0.policy.priority) }),
        Column(id: "index", title: "INDEX", width: 6, priority: 5, rightAligned: true,
               text: { r, _ in String(r.policy.index) }, sort: .number { Double($0.policy.index) }),
        Column(id: "mark", title: "MARK", width: 9, priority: 6,
               text: { r, _ in r.policy.attributes.mark?.description ?? "-" },
               sort: .number { Double($0.policy.attributes.mark?.value ?? 0) }),
        Column(id: "tmpl", title: "TEMPLATE", width: 24, priority: 2, flexible: true,
               text: { r, c in templateSummary(r.policy, glyphs: c.glyphs) }, sort: nil),
    ]

    static func timelineKey(_ e: TimelineEntry) -> [UInt8] { SearchMatcher.key([e.kind, e.text, e.peerID ?? ""]) }

    static let timeline: [Column<TimelineEntry>] = [
        Column(id: "time", title: "TIME", width: 8, priority: 0,
               text: { e, c in Format.clock(e.time, utcOffset: c.utcOffset) }, sort: .number(\.time)),
        Column(id: "ago", title: "AGO", width: 7, priority: 3, rightAligned: true,
               text: { e, c in Format.duration(c.now - e.time) }, role: { _, _ in .dim }, sort: .number(\.time)),
        Column(id: "kind", title: "EVENT", width: 10, priority: 1,
               text: { e, _ in Sanitizer.clean(e.kind) }, role: { e, _ in e.level == .none ? .normal : e.level.role },
               sort: .ordered { $0.kind < $1.kind }),
        Column(id: "text", title: "DETAIL", width: 20, priority: 0, flexible: true,
               text: { e, _ in Sanitizer.clean(e.text) }, sort: .ordered { $0.text < $1.text }),
    ]

    static func statKey(_ s: StatCounter) -> [UInt8] { SearchMatcher.key([s.name]) }

    static let stat: [Column<StatCounter>] = [
        Column(id: "name", title: "COUNTER", width: 23, priority: 0,
               text: { s, _ in Sanitizer.clean(s.name) }, role: { s, _ in s.value == 0 ? .dim : .normal },
               sort: .ordered { $0.name < $1.name }),
        Column(id: "value", title: "VALUE", width: 12, priority: 0, rightAligned: true,
               text: { s, _ in Format.grouped(s.value) }, role: { s, _ in s.value == 0 ? .dim : .normal },
               sort: .number { Double($0.value) }),
        Column(id: "delta", title: "DELTA", width: 8, priority: 1, rightAligned: true,
               text: { s, _ in s.delta == 0 ? "0" : "+" + Format.grouped(s.delta) },
               role: { s, _ in s.delta > 0 ? .error : .dim }, sort: .number { Double($0.delta) }),
        Column(id: "meaning", title: "MEANING", width: 28, priority: 2, flexible: true,
               text: { s, _ in statMeaning[s.name] ?? "" }, role: { _, _ in .dim }, sort: nil),
    ]

    /// What each /proc/net/xfrm_stat counter counts (after the kernel's xfrm_proc documentation).
    static let statMeaning: [String: String] = [
        "XfrmInError": "inbound errors not counted elsewhere",
        "XfrmInBufferError": "inbound: out of buffers",
        "XfrmInHdrError": "inbound: bad header",
        "XfrmInNoStates": "inbound: no SA for SPI/address/protocol",
        "XfrmInStateProtoError": "inbound: ESP/AH failure (e.g. wrong key)",
        "XfrmInStateModeError": "inbound: mode-specific failure",
        "XfrmInStateSeqError": "inbound: sequence outside replay window",
        "XfrmInStateExpired": "inbound: SA expired",
        "XfrmInStateMismatch": "inbound: SA option mismatch (e.g. encap type)",
        "XfrmInStateInvalid": "inbound: SA not valid",
        "XfrmInTmplMismatch": "inbound: SA fine but no matching policy template",
        "XfrmInNoPols": "inbound: SA fine but no policy",
        "XfrmInPolBlock": "inbound: dropped by a block policy",
        "XfrmInPolError": "inbound: policy error",
        "XfrmInStateDirError": "inbound: SA direction mismatch",
        "XfrmInIptfsError": "inbound: IP-TFS error",
        "XfrmAcquireError": "SA used before it was fully acquired",
        "XfrmFwdHdrError": "forwarding not allowed for the packet",
        "XfrmOutError": "outbound errors not counted elsewhere",
        "XfrmOutBundleGenError": "outbound: bundle generation failed",
        "XfrmOutBundleCheckError": "outbound: bundle check failed",
        "XfrmOutNoStates": "outbound: no SA for the policy (ACQUIRE pending?)",
        "XfrmOutStateProtoError": "outbound: ESP/AH failure",
        "XfrmOutStateModeError": "outbound: mode-specific failure",
        "XfrmOutStateSeqError": "outbound: sequence number overflow",
        "XfrmOutStateExpired": "outbound: SA expired",
        "XfrmOutPolBlock": "outbound: dropped by a block policy",
        "XfrmOutPolDead": "outbound: policy is dead",
        "XfrmOutPolError": "outbound: policy error",
        "XfrmOutStateInvalid": "outbound: SA not valid (expired?)",
        "XfrmOutStateDirError": "outbound: SA direction mismatch",
        "XfrmOutNoQueueSpace": "outbound: IP-TFS queue full",
    ]

    static func actionKey(_ a: ActionLogEntry) -> [UInt8] { SearchMatcher.key([a.operation, a.target, a.result]) }

    static let action: [Column<ActionLogEntry>] = [
        Column(id: "time", title: "TIME", width: 8, priority: 0,
               text: { a, c in Format.clock(a.time, utcOffset: c.utcOffset) }, sort: .number(\.time)),
        Column(id: "op", title: "ACTION", width: 10, priority: 0,
               text: { a, _ in Sanitizer.clean(a.operation) }, sort: .ordered { $0.operation < $1.operation }),
        Column(id: "target", title: "TARGET", width: 20, priority: 1, flexible: true,
               text: { a, _ in Sanitizer.clean(a.target) }, sort: .ordered { $0.target < $1.target }),
        Column(id: "result", title: "RESULT", width: 16, priority: 0, flexible: true,
               text: { a, _ in Sanitizer.clean(a.result) }, role: { a, _ in a.level.role },
               sort: .number { Double($0.level.rawValue) }),
    ]
}

extension Double {
    init(r a: UInt8, _ b: UInt8) { self = Double(Int(a) * 256 + Int(b)) }
}

/// One line of the actions log (view 6): what was asked and how it ended.
public struct ActionLogEntry: Hashable, Sendable {
    public var time: Double
    public var operation: String
    public var target: String
    public var result: String
    public var level: StatusLevel
    public init(time: Double, operation: String, target: String, result: String, level: StatusLevel) {
        self.time = time; self.operation = operation; self.target = target; self.result = result; self.level = level
    }
}
