import ArgumentParser
import Glibc
import IPsecExport
import IPsecModel
import XFRMKernel
import XFRMWire

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stream kernel XFRM events (SA, policy, expire, acquire, mapping, report, migrate).",
        discussion: "With --json: one JSON object per line (NDJSON), schema in docs/json.md.")

    @Flag(help: "Print NDJSON instead of text lines.")
    var json = false

    @Option(help: "Stop after N events.")
    var count: Int?

    @Option(help: "Stop after S seconds.")
    var duration: Double?

    @OptionGroup var namespace: NamespaceOptions

    @Option(help: "Also write the received datagrams to a recording (docs/recording.md).")
    var record: String?

    @Option(help: "Read events from a recording instead of the kernel (no privilege needed).")
    var replay: String?

    @Option(help: "Replay speed factor (0 = as fast as possible).")
    var speed: Double = 0

    @Option(name: .customLong("rcvbuf"), help: "Event socket receive buffer in bytes (SO_RCVBUFFORCE).")
    var receiveBuffer: Int = 8 << 20

    @Option(name: [.customShort("d"), .customLong("refresh")], help: "Counter refresh (GETSA dump) interval of the model, in seconds.")
    var refresh: Double = 5

    func validate() throws {
        if let c = count, c <= 0 { throw ValidationError("--count must be positive") }
        if let d = duration, d <= 0 { throw ValidationError("--duration must be positive") }
        if speed < 0 { throw ValidationError("--speed must not be negative") }
        if receiveBuffer < 4096 { throw ValidationError("--rcvbuf must be at least 4096") }
        if refresh < 0.1 { throw ValidationError("--refresh must be at least 0.1 s") }
        if replay != nil && (namespace.netns != nil || namespace.netnsPath != nil) {
            throw ValidationError("--replay cannot be combined with --netns/--netns-path")
        }
    }

    func run() throws {
        ignoreSIGPIPE()
        var printer = EventPrinter(json: json, limit: count)
        do {
            if let path = replay {
                let rec = try Recording(path: path)
                let start = rec.items.first?.time ?? 0
                let wallStart = wallClock()
                for item in rec.items {
                    if let d = duration, item.time - start > d { break }
                    if speed > 0 {
                        let due = wallStart + (item.time - start) / speed
                        let wait = due - wallClock()
                        if wait > 0 { usleep(UInt32(min(wait, 60) * 1e6)) }
                    }
                    switch item {
                    case .event(let d): if printer.print(d) { return }
                    case .overrun(let t): if printer.overrun(at: t) { return }
                    default: break
                    }
                }
                return
            }
            try namespace.enter()
            var config = ModelConfiguration()
            config.refreshInterval = refresh
            // The model runs alongside, so every line also says what the event means for it.
            let source = try LiveSource(configuration: config, label: namespace.label ?? "(current)",
                                        receiveBuffer: receiveBuffer, recordTo: record, captureKeepalives: false)
            var done = false
            source.eventHook = { d, msg, entries in
                if !done { done = printer.print(msg, time: d.time, group: d.groups, model: entries, live: source.model) }
            }
            // Resyncs and rekey links are news; reconciliations (e.g. larval SAs, which no event
            // announces, found by a dump) and notes stay in the dashboard's timeline.
            source.timelineHook = { entries in
                for e in entries where !done && EventPrinter.streamed(e) { done = printer.timeline(e) }
            }
            Output.error("ipsectop: listening for XFRM events in \(namespace.label.map { "network namespace \($0)" } ?? "the current network namespace")")
            let deadline = duration.map { wallClock() + $0 }
            while !done {
                var timeout = source.secondsUntilNextDue()
                if let d = deadline {
                    let left = d - wallClock()
                    if left <= 0 { return }
                    timeout = min(timeout, left)
                }
                var pfd = pollfd(fd: source.events.fd, events: Int16(POLLIN), revents: 0)
                let r = poll(&pfd, 1, Int32(min(max(timeout, 0), 60) * 1000) + 1)
                if r < 0 && errno != EINTR { throw KernelError.system(operation: "poll", errno: .current) }
                _ = source.service(readable: r > 0 ? [source.events.fd] : [])
            }
        } catch {
            throw fail(error)
        }
    }
}

/// Prints events as NDJSON or text; counts toward `--count`.
struct EventPrinter {
    let json: Bool
    let limit: Int?
    var printed = 0
    var writer = JSONWriter(reserve: 4096)

    init(json: Bool, limit: Int?) { self.json = json; self.limit = limit }

    /// Prints one applied kernel message with what the model made of it; true when the limit is reached.
    mutating func print(_ msg: XFRMMessage, time: Double, group: UInt32, model entries: [TimelineEvent], live model: LiveModel) -> Bool {
        let kernelEntry = entries.first { $0.kind == .kernel }
        if json {
            writer.reset()
            KernelJSON.event(&writer, msg, time: time, group: group) { w in
                w.key("model")
                w.beginObject()
                w.member("peer", kernelEntry?.peer?.description)
                w.member("summary", kernelEntry?.summary)
                if let id = kernelEntry?.sa, let e = model.sa(id) {
                    w.member("direction", e.direction?.name)
                    w.key("tunnel_totals"); w.beginObject()
                    w.member("bytes", e.tunnelTotals.bytes); w.member("packets", e.tunnelTotals.packets); w.endObject()
                    w.member("rekeyed_from", e.predecessor.map { SAIdentity.hex($0.spi) })
                    w.key("health"); w.beginArray(); for c in e.health.codes { w.string(c) }; w.endArray()
                }
                w.endObject()
            }
            writer.newline()
            writer.withBytes { Output.write($0) }
        } else {
            Output.write(EventText.line(msg, time: time) + (kernelEntry?.peer.map { "  [peer \($0)]" } ?? "") + "\n")
        }
        if counted() { return true }
        // Entries the same message caused besides its own (rekey links, resync completion) follow it.
        for e in entries where e.kind != .kernel && EventPrinter.streamed(e) { if timeline(e) { return true } }
        return false
    }

    /// Timeline kinds the event stream carries besides kernel events.
    static func streamed(_ e: TimelineEvent) -> Bool { e.kind == .resync || e.kind == .rekey || e.kind == .action }

    /// Prints a model timeline entry that is not a kernel event (RESYNC, REKEY, ...).
    mutating func timeline(_ e: TimelineEvent) -> Bool {
        line(time: e.time, type: e.name, text: e.summary) { w in
            w.member("kind", e.kind.rawValue)
            w.member("summary", e.summary)
            w.member("peer", e.peer?.description)
            w.member("spi", e.sa.map { SAIdentity.hex($0.spi) })
        }
        return counted()
    }

    /// Writes one line that is not a kernel message: an NDJSON object with `time`, `epoch`,
    /// `type` and the members `body` adds, or the text `time type text`.
    mutating func line(time: Double, type: String, text: String, _ body: (inout JSONWriter) -> Void) {
        guard json else {
            Output.write("\(iso8601Milliseconds(time)) \(type) \(text)\n")
            return
        }
        writer.reset()
        writer.beginObject()
        writer.member("time", iso8601Milliseconds(time))
        writer.member("epoch", double: time, decimals: 6)
        writer.member("type", type)
        body(&writer)
        writer.endObject()
        writer.newline()
        writer.withBytes { Output.write($0) }
    }

    /// Counts a printed line; true when `--count` is reached.
    mutating func counted() -> Bool {
        printed += 1
        if let l = limit, printed >= l { return true }
        return false
    }

    /// Prints every message of a datagram; returns true when the limit is reached.
    mutating func print(_ d: ReceivedDatagram) -> Bool {
        let decoded = XFRMDecoder.decodeDatagram(d.bytes)
        for m in decoded.messages {
            switch m.body {
            case .success(let msg):
                if json {
                    writer.reset()
                    KernelJSON.event(&writer, msg, time: d.time, group: d.groups)
                    writer.newline()
                    writer.withBytes { Output.write($0) }
                } else {
                    Output.write(EventText.line(msg, time: d.time) + "\n")
                }
            case .failure(let e):
                malformed(e.description, type: m.header.type, time: d.time)
            }
            if counted() { return true }
        }
        if let fe = decoded.framingError { malformed(fe.description, type: nil, time: d.time) }
        return false
    }

    mutating func malformed(_ text: String, type: UInt16?, time: Double) {
        line(time: time, type: "MALFORMED", text: text) { w in
            w.member("raw_type", type)
            w.member("error", text)
        }
    }

    /// Reports lost events (ENOBUFS); returns true when the limit is reached.
    mutating func overrun(at t: Double) -> Bool {
        line(time: t, type: "ENOBUFS", text: "events were lost (receive buffer overrun); resync needed") { w in
            w.member("message", "the kernel dropped events: re-run snapshot to resynchronise")
        }
        return counted()
    }
}

/// One-line text rendering of kernel events, in the spirit of `ip xfrm monitor`.
enum EventText {
    static func sa(_ s: XFRMState) -> String {
        var t = "\(s.proto) spi \(SAIdentity.hex(s.spi)) \(s.source) -> \(s.destination) \(s.mode) reqid \(s.reqid)"
        if let e = s.attributes.encapsulation { t += " encap \(e.type) \(e.sourcePort)->\(e.destinationPort)" }
        if let m = s.attributes.mark { t += " mark \(m)" }
        if s.isLarval { t += " (larval)" }
        return t
    }

    static func line(_ m: XFRMMessage, time: Double) -> String {
        let head = "\(iso8601Milliseconds(time)) \(m.kindName)"
        switch m {
        case .newSA(let s), .updateSA(let s): return "\(head) \(sa(s))"
        case .deleteSA(let id, _, _): return "\(head) \(id)"
        case .expire(let s, let hard): return "\(head) \(hard ? "hard" : "soft") \(sa(s))"
        case .acquire(let a): return "\(head) \(a.proto) \(a.source) -> \(a.destination) sel \(a.selector.summary)"
        case .newPolicy(let p), .updatePolicy(let p):
            return "\(head) dir \(p.direction) \(p.selector.summary) index \(p.index) \(p.actionName)"
        case .deletePolicy(let id, _, _): return "\(head) dir \(id.direction) \(id.selector.summary) index \(id.index)"
        case .policyExpire(let p, let hard): return "\(head) \(hard ? "hard" : "soft") dir \(p.direction) index \(p.index)"
        case .flushSA(let p): return "\(head) proto \(p.rawValue == 0 ? "all" : p.description)"
        case .flushPolicy: return head
        case .mapping(let mp):
            return "\(head) \(mp.identity) \(mp.oldSource):\(mp.oldSourcePort) -> \(mp.newSource):\(mp.newSourcePort)"
        case .report(let p, let sel, _): return "\(head) \(p) \(sel.summary)"
        case .migrate(let id, let a): return "\(head) dir \(id.direction) \(a.migrations.count) migration(s)"
        case .asyncEvent(let ae): return "\(head) \(ae.identity)"
        default: return head
        }
    }
}
