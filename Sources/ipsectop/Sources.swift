import Glibc
import IPsecModel
import XFRMKernel
import XFRMWire

/// Something that keeps a `LiveModel` up to date: the kernel, or a recording.
protocol ModelSource: AnyObject {
    var model: LiveModel { get }
    /// File descriptors to poll for input (event socket, capture).
    var pollDescriptors: [Int32] { get }
    /// Clock the model runs on (wall clock live; recording time in a replay).
    func now() -> Double
    /// Handles readable descriptors and due timers; returns true when the model changed.
    func service(readable: Set<Int32>) -> Bool
    /// Seconds until the next timer is due (for the poll timeout).
    func secondsUntilNextDue() -> Double
    /// Whether the next `service` runs a kernel dump (which changes every SA).
    var dumpDue: Bool { get }
    var refreshInterval: Double { get set }
    /// Human description for the header (netns name or recording).
    var label: String { get }
    /// Ends the source (a replay that ran out returns true).
    var finished: Bool { get }
    /// Applies an action result to the model timeline.
    func record(_ result: ActionResult)
}

/// Keeps the model equal to the kernel: event socket bound first, then dumps; events
/// applied as idempotent upserts; periodic GETSA dumps for counters; ENOBUFS -> re-dump.
final class LiveSource: ModelSource {
    private(set) var model: LiveModel
    let events: XFRMEventChannel
    let command: XFRMCommandChannel
    let capture: KeepaliveCapture?
    let recorder: Recorder?
    let label: String
    var refreshInterval: Double {
        didSet { _ = model.apply(.setRefreshInterval(refreshInterval), at: now()) }
    }
    private var nextSADump: Double = 0
    private var nextPolicyDump: Double = 0
    /// Policies change rarely and have no per-refresh counters worth polling often.
    let policyInterval: Double = 10
    var finished: Bool { false }
    /// Dumps that failed (shown in the timeline via the model).
    private(set) var lastError: String?
    /// Called after each kernel message was applied, with the timeline entries it produced.
    var eventHook: ((ReceivedDatagram, XFRMMessage, [TimelineEvent]) -> Void)?
    /// Called with timeline entries that no kernel message produced (resyncs, reconciliations, rekey links, notes).
    var timelineHook: (([TimelineEvent]) -> Void)?
    private var timelineCursor: UInt64 = 0

    /// Timeline entries recorded since the last call.
    private func newTimelineEntries() -> [TimelineEvent] {
        let fresh = model.timeline(after: timelineCursor)
        if let last = fresh.last { timelineCursor = last.sequence }
        return fresh
    }

    /// Hands timeline entries produced outside kernel events to `timelineHook`.
    func flushTimeline() {
        guard let hook = timelineHook else { return }
        let fresh = newTimelineEntries()
        if !fresh.isEmpty { hook(fresh) }
    }

    /// `trimsHeap`: give malloc's free pages back after large dumps (see `trimHeap`); off for a
    /// one-shot snapshot, which exits right after.
    /// `deferPolicies`: the policy dump waits for the first `service()`, so that a dashboard can draw
    /// its first frame (SAs) before the policies are read (the header shows the model initialising
    /// until they are).
    init(configuration: ModelConfiguration, label: String, receiveBuffer: Int, recordTo: String?, captureKeepalives: Bool,
         deferPolicies: Bool = false, trimsHeap: Bool = true) throws {
        model = LiveModel(configuration: configuration)
        self.trimsHeap = trimsHeap
        refreshInterval = configuration.refreshInterval
        self.label = label
        events = try XFRMEventChannel(receiveBufferBytes: receiveBuffer)
        command = try XFRMCommandChannel()
        recorder = try recordTo.map { try Recorder(path: $0, netns: label, kernel: LocalHost.kernel, host: LocalHost.hostname) }
        let t = wallClock()
        _ = model.apply(.localAddresses(interfaceAddresses()), at: t)
        if captureKeepalives {
            do {
                capture = try KeepaliveCapture()
                _ = model.apply(.capture(.active), at: t)
            } catch {
                capture = nil
                _ = model.apply(.capture(.unavailable(reason: "no keepalive capture: \(error) (CAP_NET_RAW needed)")), at: t)
            }
        } else {
            capture = nil
            _ = model.apply(.capture(.unavailable(reason: "keepalive capture disabled (--no-capture)")), at: t)
        }
        drainEvents()
        if deferPolicies {
            dumpSAs()
            nextPolicyDump = 0
        } else {
            // Policies first: the SA dump's derive then groups with every policy known, once
            // (SAs first made the policy dump regroup everything a second time).
            dumpPolicies()
            dumpSAs()
        }
        readStat()
        drainEvents()
        // What the initial sync recorded is not news for streaming consumers.
        _ = newTimelineEntries()
    }

    var pollDescriptors: [Int32] { [events.fd] + (capture.map { [$0.fd] } ?? []) }

    func now() -> Double { wallClock() }

    func secondsUntilNextDue() -> Double { max(0, min(nextSADump, nextPolicyDump) - now()) }
    var dumpDue: Bool { secondsUntilNextDue() == 0 }

    @discardableResult
    func drainEvents() -> Bool {
        var changed = false
        do {
            while true {
                let (datagrams, overrun) = try events.drain(limit: 1024)
                if overrun {
                    recorder?.write(.overrun(time: now()))
                    perform(model.apply(.resyncNeeded(reason: "event socket overrun (ENOBUFS): events were lost"), at: now()))
                    changed = true
                }
                for d in datagrams {
                    recorder?.write(.event(d))
                    for m in XFRMDecoder.decodeDatagram(d.bytes).messages {
                        guard case .success(let msg) = m.body else { continue }
                        if eventHook != nil { flushTimeline() }
                        let effects = model.apply(.kernel(msg), at: d.time)
                        if let hook = eventHook { hook(d, msg, newTimelineEntries()) }
                        perform(effects)
                    }
                    changed = true
                }
                if datagrams.count < 1024 && !overrun { break }
            }
        } catch {
            lastError = "\(error)"
        }
        return changed
    }

    /// A GETSA dump fed to the model datagram by datagram as it arrives (`saDumpPart`, then
    /// `saDumpEnd`): the dump is never held whole (about 30 MB at 100,000 SAs).
    func dumpSAs() {
        nextSADump = dump(.sa, expected: (try? command.sadInfo())?.count.map(Int.init)) { (take) throws(KernelError) in
            try command.dumpSAsRaw { d, part in take(d, .saDumpPart(part), part.count) }
        } + refreshInterval
    }

    /// A GETPOLICY dump fed the same way (`policyDumpPart`, then `policyDumpEnd`): at 100,000
    /// policies the whole dump decoded at once held about 80 MB until the model had compared it.
    func dumpPolicies() {
        nextPolicyDump = dump(.policy, expected: (try? command.spdInfo())?.policyCount) { (take) throws(KernelError) in
            try command.dumpPolicies { d, policies, _ in take(d, .policyDumpPart(policies), policies.count) }
        } + policyInterval
    }

    /// One dump, streamed into the model: the kernel's count when known (`dumpSizeHint`: the
    /// tables are sized once), `dumpBegan`, then `receive`, which hands each datagram to `take` with
    /// its part of the dump and its record count, then the dump's end; or `dumpFailed`. The
    /// datagrams are recorded once the dump completed, as a failed dump is not recorded. Returns
    /// when the dump began.
    private func dump(_ kind: DumpKind, expected: Int?,
                      _ receive: (_ take: (ReceivedDatagram, ModelInput, Int) -> Void) throws(KernelError) -> Void) -> Double {
        if let n = expected { perform(model.apply(.dumpSizeHint(kind, n), at: now())) }
        let t = now()
        perform(model.apply(.dumpBegan(kind), at: t))
        var records = 0
        var recorded: [ReceivedDatagram] = []
        do {
            try receive { d, part, count in
                if recorder != nil { recorded.append(d) }
                records += count
                perform(model.apply(part, at: d.time))
            }
            if let rec = recorder { for d in recorded { rec.write(.dump(what: kind.rawValue, d)) } }
            perform(model.apply(kind == .sa ? .saDumpEnd : .policyDumpEnd, at: now()))
        } catch {
            records = 0
            perform(model.apply(.dumpFailed(kind, errno: errnoOf(error)), at: now()))
        }
        trimHeap(after: kind, records: records)
        return t
    }

    private let trimsHeap: Bool
    /// Record count of the SA dump after which the heap was last trimmed.
    private var trimmedAtSACount: Int?

    /// A policy dump decodes every policy (at 100,000 policies about 80 MB of datagrams, records and
    /// templates, freed once the model has compared them), and malloc keeps the freed pages: the
    /// resident size then stays that much above what the model holds. Give them back after each
    /// large policy dump (one trim per policy interval, about 5 ms at 100,000 SAs and policies) and
    /// after the first large SA dump (the table's growth leaves its smaller copies behind) or one
    /// whose size moved by more than a quarter. A periodic SA dump holds one datagram at a time:
    /// nothing to give back.
    private func trimHeap(after kind: DumpKind, records: Int) {
        guard trimsHeap, records >= Self.trimMinimumRecords else { return }
        if kind == .sa {
            if let last = trimmedAtSACount, abs(records - last) <= last / 4 { return }
            trimmedAtSACount = records
        }
        Heap.trim()
    }

    static let trimMinimumRecords = 4096

    func readStat() {
        guard let text = readXFRMStat() else { return }
        let t = now()
        recorder?.write(.proc(text: text, time: t))
        perform(model.apply(.xfrmStat(text), at: t))
    }

    func errnoOf(_ e: Error) -> Int32 {
        switch e as? KernelError {
        case .rejected(_, let e, _)?, .system(_, let e)?, .missingPrivilege(_, let e)?: return e.rawValue
        default: return EIO
        }
    }

    /// Executes what the model asks for.
    func perform(_ effects: [ModelEffect]) {
        for e in effects {
            switch e {
            case .dumpSAs: dumpSAs()
            case .dumpPolicies: dumpPolicies()
            case .setKeepaliveCapturePorts:
                // The BPF filter already keeps only one-byte 0xFF UDP datagrams; the model
                // matches them to peers by address and port, so no filter change is needed.
                break
            }
        }
    }

    func service(readable: Set<Int32>) -> Bool {
        var changed = false
        if readable.contains(events.fd) { changed = drainEvents() || changed }
        if let c = capture, readable.contains(c.fd) {
            for k in c.drain() {
                recorder?.write(.keepalive(outbound: k.outgoing, source: endpoint(k.source, k.sourcePort),
                                           destination: endpoint(k.destination, k.destinationPort), time: k.time))
                perform(model.apply(.keepalive(KeepaliveObservation(
                    direction: k.outgoing ? .outbound : .inbound, source: k.source, sourcePort: k.sourcePort,
                    destination: k.destination, destinationPort: k.destinationPort, time: k.time)), at: k.time))
                changed = true
            }
        }
        let t = now()
        if t >= nextSADump {
            drainEvents()
            dumpSAs()
            readStat()
            // The dump re-evaluated everything; events that came during it need one more pass.
            if drainEvents() { perform(model.apply(.tick, at: now())) }
            changed = true
        }
        if t >= nextPolicyDump {
            dumpPolicies()
            changed = true
        }
        flushTimeline()
        return changed
    }

    func record(_ result: ActionResult) { _ = model.apply(.action(result), at: now()) }
}

/// `addr:port`, IPv6 in brackets (the recording format).
func endpoint(_ a: IPAddress, _ port: UInt16) -> String {
    a.family == .inet6 ? "[\(a)]:\(port)" : "\(a):\(port)"
}

/// Parses `addr:port` / `[v6]:port`.
func parseEndpoint(_ s: String) -> (IPAddress, UInt16)? {
    if s.hasPrefix("["), let close = s.firstIndex(of: "]") {
        let addr = String(s[s.index(after: s.startIndex)..<close])
        let rest = s[s.index(after: close)...]
        guard rest.hasPrefix(":"), let p = UInt16(rest.dropFirst()), let a = IPAddress(addr) else { return nil }
        return (a, p)
    }
    guard let colon = s.lastIndex(of: ":"), let p = UInt16(s[s.index(after: colon)...]),
          let a = IPAddress(String(s[..<colon])) else { return nil }
    return (a, p)
}

/// Feeds a recording through the same model inputs, on the recording's own clock.
final class ReplaySource: ModelSource {
    private(set) var model: LiveModel
    let items: [RecordedItem]
    private var index = 0
    let speed: Double
    let label: String
    private let startRecorded: Double
    private let startWall: Double
    /// The kind of the recorded dump being fed ("sa" or "policy"), until its end.
    private var pendingDump: String?
    var refreshInterval: Double {
        didSet { _ = model.apply(.setRefreshInterval(refreshInterval), at: now()) }
    }
    var finished: Bool { index >= items.count }
    var pollDescriptors: [Int32] { [] }

    /// `speed` 0 replays everything at once.
    init(recording: Recording, configuration: ModelConfiguration, speed: Double, label: String) {
        model = LiveModel(configuration: configuration)
        refreshInterval = configuration.refreshInterval
        items = recording.items.sorted { $0.time < $1.time }
        self.speed = speed
        self.label = label
        startRecorded = items.first?.time ?? 0
        startWall = wallClock()
        let hasKeepalives = items.contains { if case .keepalive = $0 { return true }; return false }
        _ = model.apply(.capture(hasKeepalives ? .active : .unavailable(reason: "the recording holds no keepalive capture")),
                        at: startRecorded)
        // At speed 0 the whole recording is shown at once, as it ended.
        if speed == 0 { feedAll() }
    }

    func now() -> Double {
        guard speed > 0 else { return items.last?.time ?? startRecorded }
        let virtual = startRecorded + (wallClock() - startWall) * speed
        return finished ? max(virtual, items.last?.time ?? virtual) : virtual
    }

    /// Recorded dumps are fed with the events around them, under the view's 0.25 s throttle.
    var dumpDue: Bool { false }

    func secondsUntilNextDue() -> Double {
        guard index < items.count else { return 1 }
        guard speed > 0 else { return 0 }
        return max(0, min(1, (items[index].time - now()) / speed))
    }

    /// Feeds every item due by now (all of them at speed 0).
    func service(readable: Set<Int32>) -> Bool {
        let t = now()
        var changed = false
        while index < items.count && (speed == 0 || items[index].time <= t) {
            feed(items[index])
            index += 1
            changed = true
        }
        if changed && tickNeeded { tick(at: min(t, items[max(0, index - 1)].time)) }
        return changed
    }

    /// Feeds the whole recording.
    func feedAll() {
        while index < items.count { feed(items[index]); index += 1 }
        if let last = items.last, tickNeeded { tick(at: last.time) }
    }

    /// Whether something was fed since the last completed SA dump (which does what a `.tick`
    /// does), as the live source ticks after a dump only when events came after it.
    private var tickNeeded = true

    private func tick(at time: Double) {
        _ = model.apply(.tick, at: time)
        tickNeeded = false
    }

    private func feed(_ item: RecordedItem) {
        tickNeeded = true
        switch item {
        case .event(let d):
            for m in XFRMDecoder.decodeDatagram(d.bytes).messages {
                if case .success(let msg) = m.body { _ = model.apply(.kernel(msg), at: d.time) }
            }
        case .dump(let what, let d):
            if pendingDump != what {
                pendingDump = what
                _ = model.apply(.dumpBegan(what == "policy" ? .policy : .sa), at: d.time)
            }
            var done = false
            if what == "policy" {
                // Policy dumps as the live source applies them: datagram by datagram.
                var part: [XFRMPolicy] = []
                for m in XFRMDecoder.decodeDatagram(d.bytes).messages {
                    switch m.body {
                    case .success(.newPolicy(let p)): part.append(p)
                    case .success(.done): done = true
                    default: break
                    }
                }
                _ = model.apply(.policyDumpPart(part), at: d.time)
                if done {
                    _ = model.apply(.policyDumpEnd, at: d.time)
                    pendingDump = nil
                }
            } else {
                // SA dumps as the live source applies them: datagram by datagram, raw, decoded
                // only where changed.
                var part = RawSADump()
                for range in part.append(d.bytes) {
                    let decoded = d.bytes.withUnsafeBytes { XFRMDecoder.decodeDatagram(UnsafeRawBufferPointer(rebasing: $0[range])) }
                    for m in decoded.messages { if case .success(.done) = m.body { done = true } }
                }
                _ = model.apply(.saDumpPart(part), at: d.time)
                if done {
                    _ = model.apply(.saDumpEnd, at: d.time)
                    pendingDump = nil
                    tickNeeded = false
                }
            }
        case .reply: break
        case .proc(let text, let t): _ = model.apply(.xfrmStat(text), at: t)
        case .keepalive(let out, let src, let dst, let t):
            guard let (s, sp) = parseEndpoint(src), let (d, dp) = parseEndpoint(dst) else { return }
            _ = model.apply(.keepalive(KeepaliveObservation(direction: out ? .outbound : .inbound, source: s, sourcePort: sp,
                                                            destination: d, destinationPort: dp, time: t)), at: t)
        case .overrun(let t):
            _ = model.apply(.resyncNeeded(reason: "the recorded session lost events (ENOBUFS)"), at: t)
        }
    }

    func record(_ result: ActionResult) { _ = model.apply(.action(result), at: now()) }
}
