// ipsectop-bench: in-process measurements that a whole-process timing cannot split.
// Prints `key value` lines (one figure each) that Benchmarks/run.sh collects into its
// results table. Nothing here asserts a time. Needs root (CAP_NET_ADMIN) for the dumps.
//
//   ipsectop-bench refresh  NETNS [ROUNDS]   decode + model update per refresh vs the kernel's dump CPU
//   ipsectop-bench frame    NETNS [FRAMES]   first frame (dump -> model -> view data -> frame), frame
//                                            build p50/p99 sorted by rate and filtered, resident bytes per SA
//   ipsectop-bench ingest   NETNS [ROUNDS]   replayed events (NEWSA, UPDSA, hard EXPIRE) through decode + model
//   ipsectop-bench memory-busy N [ROUNDS]    live heap per SA of a model and dashboard holding N busy,
//                                            rekeyed NAT-T SAs made in process (no kernel, no policies),
//                                            then the model update and dashboard per refresh on them
//   ipsectop-bench decode   FIXTURE [N]      a dump of N SAs (default 100,000) cloned from the real NEWSA
//                                            records of a lab recording: decode SAs/s, bytes retained per SA
import CXFRM
import Glibc
import IPsecModel
import IPsecViews
import XFRMKernel
import XFRMWire

// MARK: - clocks

func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// User and system CPU seconds of this process so far.
func cpu() -> (user: Double, sys: Double) {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return (s(u.ru_utime), s(u.ru_stime))
}

/// User and system seconds of each of `rounds` calls of `body`.
func cpuPerRound(_ rounds: Int, _ body: () -> Void) -> (user: [Double], sys: [Double]) {
    var user: [Double] = [], sys: [Double] = []
    for _ in 0..<rounds {
        let a = cpu()
        body()
        let b = cpu()
        user.append(b.user - a.user)
        sys.append(b.sys - a.sys)
    }
    return (user, sys)
}

/// Resident set size from /proc/self/statm, in bytes.
func residentBytes() -> Int {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size = 0, resident = 0
    withUnsafeMutablePointer(to: &size) { sp in
        withUnsafeMutablePointer(to: &resident) { rp in
            _ = withVaList([sp, rp]) { vfscanf(f, "%ld %ld", $0) }
        }
    }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func percentile(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    return s[min(s.count - 1, Int((Double(s.count) * p).rounded(.down)))]
}

func median(_ xs: [Double]) -> Double { percentile(xs, 0.5) }

func fmt(_ x: Double, _ digits: Int = 3) -> String {
    guard x.isFinite else { return "nan" }
    var buf = [CChar](repeating: 0, count: 64)
    _ = withVaList([x]) { vsnprintf(&buf, 64, "%.\(digits)f", $0) }
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func emit(_ key: String, _ value: String) {
    let line = Array("\(key) \(value)\n".utf8)
    _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}

func die(_ s: String) -> Never {
    let line = Array("ipsectop-bench: \(s)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(1)
}

func enter(_ netns: String) {
    do { try NetworkNamespace.enter(named: netns) } catch { die("netns \(netns): \(error)") }
}

func channel() -> XFRMCommandChannel {
    do { return try XFRMCommandChannel() } catch { die("netlink: \(error)") }
}

func dumpSAs(_ c: XFRMCommandChannel) -> DumpResult<XFRMState> {
    do { return try c.dumpSAs() } catch { die("GETSA dump: \(error)") }
}

// `interfaceAddresses()` (XFRMKernel) after entering the namespace: the fixture puts
// 203.0.113.1-250 and 2001:db8:0:1::1 on lo, and the dashboard feeds them to the model the same way.

// MARK: - refresh: decode + model update vs the kernel's dump CPU

/// One refresh as the live source did it before streaming: GETSA dump (kernel work is this
/// process's system time; receiving and decoding is user time), then dumpBegan/saDumpRaw on a model that
/// already holds every SA (the live source ticks after a dump only when events came during it). The decode is also timed alone by decoding the same datagrams again.
func refresh(netns: String, rounds: Int) {
    enter(netns)
    let c = channel()
    var t = 1_000_000.0
    var model = loadedModel(c, at: t)
    var kernelSys: [Double] = [], dumpUser: [Double] = [], decodeUser: [Double] = [], modelUser: [Double] = []
    var dumpWall: [Double] = [], modelWall: [Double] = []
    for _ in 0..<rounds {
        t += 1
        // As the live source: the dump received raw, the model decodes only changed records.
        let c0 = cpu(), w0 = monotonic()
        let r: RawSADump
        do { r = try c.dumpSAsRaw() } catch { die("GETSA dump: \(error)") }
        let c1 = cpu(), w1 = monotonic()
        // Decoding every record, for comparison (not part of the refresh).
        var decoded = 0
        for d in r.datagrams { decoded += XFRMDecoder.decodeDatagram(d).messages.count }
        let c2 = cpu()
        _ = model.apply(.dumpBegan(.sa), at: t)
        _ = model.apply(.saDumpRaw(r), at: t)
        let c3 = cpu(), w3 = monotonic()
        if decoded < r.count { die("decoded \(decoded) < \(r.count)") }
        kernelSys.append(c1.sys - c0.sys)
        dumpUser.append(c1.user - c0.user)
        decodeUser.append(c2.user - c1.user)
        modelUser.append(c3.user - c2.user)
        dumpWall.append(w1 - w0)
        modelWall.append(w3 - w1)
    }
    // The same refreshes streamed, as the live source now feeds them (receive and model interleaved):
    // user time of both together, and the system time.
    let (streamUser, streamSys) = cpuPerRound(rounds) {
        t += 1
        streamedRefresh(&model, c, at: t)
    }
    // The same with churn: before each refresh an SA the kernel does not have arrives as an event
    // (as a rekey's new SA would), and the dump then finds it gone. Anything that changes the
    // grouping makes the refresh regroup every SA (a full derive) instead of updating counters.
    guard var template = model.allSAs.first?.state else { die("no SA in \(netns)") }
    var spi: UInt32 = 0xF000_0000
    let (churnUser, _) = cpuPerRound(rounds) {
        t += 1
        spi += 1
        template.spi = spi
        _ = model.apply(.kernel(.newSA(template)), at: t - 0.5)
        streamedRefresh(&model, c, at: t)
    }
    let n = model.header.saCount
    emit("refresh.streamed_user_ms", fmt(median(streamUser) * 1e3))
    emit("refresh.streamed_sys_ms", fmt(median(streamSys) * 1e3))
    emit("refresh.streamed_with_churn_user_ms", fmt(median(churnUser) * 1e3))
    emit("refresh.sas", "\(n)")
    emit("refresh.rounds", "\(rounds)")
    emit("refresh.kernel_dump_sys_ms", fmt(median(kernelSys) * 1e3))
    emit("refresh.recv_decode_user_ms", fmt(median(dumpUser) * 1e3))
    emit("refresh.decode_only_user_ms", fmt(median(decodeUser) * 1e3))
    emit("refresh.model_update_user_ms", fmt(median(modelUser) * 1e3))
    emit("refresh.dump_wall_ms", fmt(median(dumpWall) * 1e3))
    let ours = zip(dumpUser, modelUser).map { $0 + $1 }
    emit("refresh.decode_plus_model_ms", fmt(median(ours) * 1e3))
    // Ratio of the medians (the system time of a small dump can round to 0 in one round).
    let k = median(kernelSys)
    emit("refresh.ratio_vs_kernel", k > 0 ? fmt(median(ours) / k, 2) : "nan")
}

/// A model holding every SA and policy of the namespace (its interface addresses, the SA dump,
/// then the policy dump).
func loadedModel(_ c: XFRMCommandChannel, at t: Double) -> LiveModel {
    var model = LiveModel()
    _ = model.apply(.localAddresses(interfaceAddresses()), at: t)
    streamedRefresh(&model, c, at: t)
    streamedPolicyRefresh(&model, c, at: t)
    return model
}

/// One policy refresh as the live source does it: the kernel's policy count, then the dump fed
/// datagram by datagram. Returns the number of policies dumped.
@discardableResult
func streamedPolicyRefresh(_ model: inout LiveModel, _ c: XFRMCommandChannel, at t: Double) -> Int {
    do {
        if let info = try c.spdInfo() {
            _ = model.apply(.dumpSizeHint(.policy, info.policyCount), at: t)
        }
    } catch { die("GETSPDINFO: \(error)") }
    _ = model.apply(.dumpBegan(.policy), at: t)
    var n = 0
    do {
        try c.dumpPolicies { _, part, _ in
            n += part.count
            _ = model.apply(.policyDumpPart(part), at: t)
        }
    } catch { die("GETPOLICY dump: \(error)") }
    _ = model.apply(.policyDumpEnd, at: t)
    return n
}

/// One refresh as the live source does it: the dump fed to the model datagram by datagram.
func streamedRefresh(_ model: inout LiveModel, _ c: XFRMCommandChannel, at t: Double) {
    // As the live source: the kernel's SA count first, then the dump.
    do {
        if let count = try c.sadInfo()?.count { _ = model.apply(.dumpSizeHint(.sa, Int(count)), at: t) }
    } catch { die("GETSADINFO: \(error)") }
    _ = model.apply(.dumpBegan(.sa), at: t)
    do {
        try c.dumpSAsRaw { _, part in _ = model.apply(.saDumpPart(part), at: t) }
    } catch { die("GETSA dump: \(error)") }
    _ = model.apply(.saDumpEnd, at: t)
}

// MARK: - policies: the periodic policy refresh

/// A model that holds every SA and policy takes `rounds` policy refreshes as the live source
/// does every 10 s (GETSPDINFO, `dumpBegan`, the GETPOLICY dump in parts): user and system time of each.
func policies(netns: String, rounds: Int) {
    enter(netns)
    let c = channel()
    var t = 1_000_000.0
    var model = loadedModel(c, at: t)
    let (user, sys) = cpuPerRound(rounds) {
        t += 10
        streamedPolicyRefresh(&model, c, at: t)
    }
    emit("policies.count", "\(model.policyCount)")
    emit("policies.refresh_user_ms", fmt(median(user) * 1e3))
    emit("policies.refresh_sys_ms", fmt(median(sys) * 1e3))
}

// MARK: - initial: the model built from the first dump, alone

/// The first SA dump received once, then a fresh model built from it `rounds` times (scan,
/// decode, insert, full derive), as the dashboard does before its first frame.
func initial(netns: String, rounds: Int) {
    enter(netns)
    let c = channel()
    let sas: RawSADump
    do { sas = try c.dumpSAsRaw() } catch { die("GETSA dump: \(error)") }
    var times: [Double] = []
    var n = 0
    for _ in 0..<rounds {
        var model = LiveModel()
        let now = wallClockSeconds()
        _ = model.apply(.localAddresses(interfaceAddresses()), at: now)
        let a = cpu()
        _ = model.apply(.dumpBegan(.sa), at: now)
        _ = model.apply(.saDumpRaw(sas), at: now)
        times.append(cpu().user - a.user)
        n = model.header.saCount
    }
    emit("initial.sas", "\(n)")
    emit("initial.model_from_dump_user_ms", fmt(median(times) * 1e3))
}

// MARK: - frame: first frame, frame build, resident bytes

func render(_ d: Dashboard, now: Double) -> ScreenBuffer { d.render(now: now) }

func frame(netns: String, frames: Int) {
    enter(netns)
    let rss0 = residentBytes()
    let t0 = monotonic()
    let c = channel()
    var model: LiveModel = LiveModel()
    let now = wallClockSeconds()
    _ = model.apply(.localAddresses(interfaceAddresses()), at: now)
    _ = model.apply(.dumpBegan(.sa), at: now)
    // As the dashboard starts: the SA dump (raw), the model, the view data and the first frame;
    // the policy dump comes after the first frame.
    let sas: RawSADump
    do { sas = try c.dumpSAsRaw() } catch { die("GETSA dump: \(error)") }
    let t1 = monotonic()
    _ = model.apply(.saDumpRaw(sas), at: now)
    let t2 = monotonic()
    let rssSAModel = residentBytes()
    let host = HostInfo(host: "bench", netns: netns, kernel: "")
    var dash = Dashboard(cols: 200, rows: 50, refreshInterval: 1)
    dash.update(DashboardData(model: model, now: now, host: host), now: now)
    let t3 = monotonic()
    let screen = dash.render(now: now)
    let t4 = monotonic()
    dash.releaseModel() // as the dashboard does before a due dump (else the dump copies the SA table)
    let policyCount = streamedPolicyRefresh(&model, c, at: now)
    let t5 = monotonic()
    let rssModel = residentBytes()
    var viewData: DashboardData? = DashboardData(model: model, now: now, host: host)
    let rssViewData = residentBytes()
    dash.update(viewData!, now: now)
    viewData = nil
    let t6 = monotonic()
    let rssDashboard = residentBytes()
    let n = model.header.saCount
    emit("frame.sas", "\(n)")
    emit("frame.policies", "\(policyCount)")
    emit("first.sa_dump_ms", fmt((t1 - t0) * 1e3, 1))
    emit("first.model_sa_ms", fmt((t2 - t1) * 1e3, 1))
    emit("first.view_data_and_update_ms", fmt((t3 - t2) * 1e3, 1))
    emit("first.render_ms", fmt((t4 - t3) * 1e3, 1))
    emit("first.total_in_process_ms", fmt((t4 - t0) * 1e3, 1))
    emit("after_first.policies_ms", fmt((t5 - t4) * 1e3, 1))
    emit("after_first.view_data_and_update_ms", fmt((t6 - t5) * 1e3, 1))
    if screen.cells.isEmpty { die("empty frame") }

    // Memory: the model's own estimate and this process's resident growth (the model,
    // the view data and the dashboard, plus the dump's datagrams still held here).
    emit("memory.model_estimate_bytes_per_sa", fmt(Double(model.approximateResidentBytes) / Double(max(n, 1)), 0))
    emit("memory.rss_growth_bytes_per_sa", fmt(Double(residentBytes() - rss0) / Double(max(n, 1)), 0))
    // Where it goes (RSS steps; the dump results are still held, so "model" includes them).
    emit("memory.rss_after_sa_dump_and_model_bytes_per_sa", fmt(Double(rssSAModel - rss0) / Double(max(n, 1)), 0))
    emit("memory.rss_after_dumps_and_model_bytes_per_sa", fmt(Double(rssModel - rss0) / Double(max(n, 1)), 0))
    emit("memory.rss_view_data_bytes_per_sa", fmt(Double(rssViewData - rssModel) / Double(max(n, 1)), 0))
    emit("memory.rss_dashboard_update_bytes_per_sa", fmt(Double(rssDashboard - rssViewData) / Double(max(n, 1)), 0))

    // Sort by rate (">" five times from "peer": dir peer proto spi reqid encap RATE), descending ("I").
    let s0 = monotonic()
    for _ in 0..<5 { _ = dash.handle(.key(.character(">")), now: now) }
    _ = dash.handle(.key(.character("I")), now: now)
    let s1 = monotonic()
    emit("frame.sort_rate_desc_ms", fmt((s1 - s0) * 1e3, 1))
    /// Frame build times while moving the cursor (down, then page down).
    func frameTimes() -> [Double] {
        var times: [Double] = []
        for i in 0..<frames {
            let a = monotonic()
            _ = dash.render(now: now + Double(i) / 100)
            times.append(monotonic() - a)
            _ = dash.handle(.key(i % 40 < 20 ? .down : .pageDown), now: now)
        }
        return times
    }
    let plain = frameTimes()
    emit("frame.sorted_build_p50_ms", fmt(percentile(plain, 0.5) * 1e3))
    emit("frame.sorted_build_p99_ms", fmt(percentile(plain, 0.99) * 1e3))
    // Filter: "/" then a prefix that matches a tenth of the rows, then Enter.
    _ = dash.handle(.key(.character("/")), now: now)
    var typing: [Double] = []
    for ch in "198.51.100.1" {
        let a = monotonic()
        _ = dash.handle(.key(.character(ch)), now: now)
        typing.append(monotonic() - a)
    }
    _ = dash.handle(.key(.enter), now: now)
    emit("frame.filter_keystroke_max_ms", fmt((typing.max() ?? .nan) * 1e3, 1))
    let filtered = frameTimes()
    emit("frame.sorted_filtered_build_p50_ms", fmt(percentile(filtered, 0.5) * 1e3))
    emit("frame.sorted_filtered_build_p99_ms", fmt(percentile(filtered, 0.99) * 1e3))
    // A refresh with the view sorted and filtered: new model data into the dashboard, then a frame.
    var refreshes: [Double] = []
    for i in 1...5 {
        let t = now + Double(i)
        dash.releaseModel() // as the dashboard's loop does before a refresh
        _ = model.apply(.dumpBegan(.sa), at: t)
        _ = model.apply(.saDumpRaw(sas), at: t)
        let a = monotonic()
        dash.update(DashboardData(model: model, now: t, host: host), now: t)
        _ = dash.render(now: t)
        refreshes.append(monotonic() - a)
    }
    emit("frame.refresh_update_plus_frame_median_ms", fmt(median(refreshes) * 1e3, 1))
}

func wallClockSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

// MARK: - ingest: replayed events through decode + model

/// Raw NEWSA records (netlink header + xfrm_usersa_info + attributes) from dump datagrams.
func rawRecords(_ datagrams: [ReceivedDatagram]) -> [[UInt8]] {
    var out: [[UInt8]] = []
    for d in datagrams {
        var off = 0
        let b = d.bytes
        while off + 16 <= b.count {
            let len = Int(b[off]) | Int(b[off + 1]) << 8 | Int(b[off + 2]) << 16 | Int(b[off + 3]) << 24
            let type = UInt16(b[off + 4]) | UInt16(b[off + 5]) << 8
            guard len >= 16, off + len <= b.count else { break }
            if type == 0x10 { out.append(Array(b[off..<(off + len)])) }
            off += (len + 3) & ~3
        }
    }
    return out
}

/// An event datagram as the kernel multicasts it: one message, seq 0, portid 0.
func event(type: UInt16, payload: ArraySlice<UInt8>) -> [UInt8] {
    let len = 16 + payload.count
    var m = [UInt8](repeating: 0, count: (len + 3) & ~3)
    m[0] = UInt8(len & 0xff); m[1] = UInt8(len >> 8 & 0xff); m[2] = UInt8(len >> 16 & 0xff); m[3] = UInt8(len >> 24)
    m[4] = UInt8(type & 0xff); m[5] = UInt8(type >> 8)
    m.replaceSubrange(16..<len, with: payload)
    return m
}

/// The stream: NEWSA for every SA, UPDSA for every SA, then a hard EXPIRE for every SA
/// (the kernel's deletion on expiry), i.e. 3 events per SA. EXPIRE's payload is
/// xfrm_user_expire: the 224-byte xfrm_usersa_info, `hard` at 224, padded to 232.
func ingest(netns: String, rounds: Int) {
    enter(netns)
    let c = channel()
    let raw = rawRecords(dumpSAs(c).datagrams)
    if raw.isEmpty { die("no SAs in \(netns)") }
    var stream: [[UInt8]] = []
    stream.reserveCapacity(raw.count * 3)
    for r in raw { stream.append(event(type: 0x10, payload: r[16...])) }
    for r in raw { stream.append(event(type: 0x1a, payload: r[16...])) }
    for r in raw {
        var p = Array(r[16..<(16 + 224)])
        p.append(1)
        p.append(contentsOf: [0, 0, 0, 0, 0, 0, 0])
        stream.append(event(type: 0x18, payload: p[...]))
    }
    var decodeOnly: [Double] = [], full: [Double] = []
    var finalCount = -1
    for _ in 0..<rounds {
        var n = 0
        let a = monotonic()
        for d in stream { n += XFRMDecoder.decodeDatagram(d).messages.count }
        decodeOnly.append(monotonic() - a)
        if n != stream.count { die("decoded \(n) of \(stream.count) events") }
        var model = LiveModel()
        var t = 1_000_000.0
        _ = model.apply(.localAddresses(interfaceAddresses()), at: t)
        let b = monotonic()
        var applied = 0
        for d in stream {
            t += 1e-6
            for m in XFRMDecoder.decodeDatagram(d).messages {
                if case .success(let msg) = m.body { _ = model.apply(.kernel(msg), at: t); applied += 1 }
            }
        }
        full.append(monotonic() - b)
        if applied != stream.count { die("applied \(applied) of \(stream.count) events") }
        finalCount = model.header.saCount
    }
    emit("ingest.events", "\(stream.count)")
    emit("ingest.final_sa_count", "\(finalCount)")
    emit("ingest.decode_only_events_per_s", fmt(Double(stream.count) / median(decodeOnly), 0))
    emit("ingest.decode_plus_model_events_per_s", fmt(Double(stream.count) / median(full), 0))
    emit("ingest.decode_plus_model_min_events_per_s", fmt(Double(stream.count) / (full.max() ?? .nan), 0))
    emit("ingest.decode_plus_model_max_events_per_s", fmt(Double(stream.count) / (full.min() ?? .nan), 0))
}

// MARK: - decode throughput on real fixtures

/// Builds an N-SA GETSA dump from the NEWSA records of a lab recording (SPIs rewritten so every
/// SA is distinct), packed into 32 KiB datagrams like the kernel's, and times the decoder.
func decode(fixture: String, count n: Int) {
    guard let rec = try? Recording(path: fixture) else { die("cannot read \(fixture)") }
    var templates: [[UInt8]] = []
    for item in rec.items {
        guard case .dump(let what, let d) = item, what == "sa" else { continue }
        var off = 0
        let b = d.bytes
        while off + 16 <= b.count {
            let len = Int(b[off]) | Int(b[off + 1]) << 8 | Int(b[off + 2]) << 16 | Int(b[off + 3]) << 24
            let type = Int(b[off + 4]) | Int(b[off + 5]) << 8
            guard len >= 16, off + len <= b.count else { break }
            if type == 0x10 { templates.append(Array(b[off..<(off + len)])) }
            off += (len + 3) & ~3
        }
    }
    guard !templates.isEmpty else { die("no NEWSA dump records in \(fixture)") }
    // xfrm_usersa_info: the SPI (big-endian) sits after the 56-byte selector and the 16-byte daddr.
    let spiOffset = 16 + 56 + 16
    var datagrams: [[UInt8]] = []
    var current: [UInt8] = []
    var bytesTotal = 0
    for i in 0..<n {
        var m = templates[i % templates.count]
        let spi = UInt32(0x1000_0000 + i)
        m[spiOffset] = UInt8(spi >> 24); m[spiOffset + 1] = UInt8(spi >> 16 & 0xff)
        m[spiOffset + 2] = UInt8(spi >> 8 & 0xff); m[spiOffset + 3] = UInt8(spi & 0xff)
        while m.count % 4 != 0 { m.append(0) }
        if current.count + m.count > 32 * 1024 { datagrams.append(current); current = [] }
        current += m
        bytesTotal += m.count
    }
    datagrams.append(current + [20, 0, 0, 0, 3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    emit("decode.fixture", fixture.split(separator: "/").last.map(String.init) ?? fixture)
    emit("decode.template_records", String(templates.count))
    emit("decode.sas", String(n))
    emit("decode.dump_bytes", String(bytesTotal))
    var times: [Double] = []
    var kept: [XFRMState] = []
    for round in 0..<5 {
        let before = residentBytes()
        let t0 = monotonic()
        var states: [XFRMState] = []
        states.reserveCapacity(n)
        for d in datagrams {
            for msg in XFRMDecoder.decodeDatagram(d).messages {
                if case .success(.newSA(let st)) = msg.body { states.append(st) }
            }
        }
        times.append(monotonic() - t0)
        if states.count != n { die("decoded \(states.count) of \(n) SAs") }
        if round == 0 {
            kept = states
            emit("decode.retained_bytes_per_sa", fmt(Double(residentBytes() - before) / Double(n), 0))
            emit("decode.inline_bytes_per_sa", String(MemoryLayout<XFRMState>.stride))
            emit("decode.model_entry_bytes_per_sa", String(MemoryLayout<SAEntry>.stride))
        }
    }
    emit("decode.sas_per_s_median", fmt(Double(n) / median(times), 0))
    emit("decode.sas_per_s_best", fmt(Double(n) / (times.min() ?? .nan), 0))
    emit("decode.mb_per_s_median", fmt(Double(bytesTotal) / median(times) / 1e6, 1))
    _ = kept.count
    kept = []
    // The dump path (XFRMCommandChannel.dumpSAs): records decoded straight into the result array
    // with one decoding context for the whole dump, no per-datagram message array.
    var dumpTimes: [Double] = []
    for _ in 0..<5 {
        let t0 = monotonic()
        var states: [XFRMState] = []
        states.reserveCapacity(n)
        var context = XFRMDecoder.Context()
        for d in datagrams {
            _ = d.withUnsafeBytes { b in
                XFRMDecoder.forEachMessage(in: b) { h, p in
                    if h.type == 0x10, let st = try? XFRMDecoder.decodeState(payload: p, context: &context) {
                        states.append(st)
                    }
                }
            }
        }
        dumpTimes.append(monotonic() - t0)
        if states.count != n { die("dump path decoded \(states.count) of \(n) SAs") }
    }
    emit("decode.dump_path_sas_per_s_median", fmt(Double(n) / median(dumpTimes), 0))
}

// MARK: - memory: live heap per stage

/// Bytes in use by malloc (arenas and mmapped chunks): what the program holds, without the
/// pages malloc keeps after frees.
func heapInUse() -> Int { Heap.bytesInUse }

/// The dashboard's order (SA dump, model, view data; policy dump, model, view data; refreshes),
/// with every dump result dropped before measuring: malloc's in-use bytes per SA after each stage,
/// and the resident size after `malloc_trim` at the end.
func memory(netns: String, refreshes: Int) {
    enter(netns)
    let c = channel()
    let h0 = heapInUse(), r0 = residentBytes()
    var model = LiveModel()
    var t = wallClockSeconds()
    _ = model.apply(.localAddresses(interfaceAddresses()), at: t)
    streamedRefresh(&model, c, at: t) // the first dump streamed, as the live source reads it
    let n = max(model.header.saCount, 1)
    let hSA = heapInUse()
    streamedPolicyRefresh(&model, c, at: t)
    let hPol = heapInUse()
    let host = HostInfo(host: "bench", netns: netns, kernel: "")
    var dash = Dashboard(cols: 200, rows: 50, refreshInterval: 1)
    dash.update(DashboardData(model: model, now: t, host: host), now: t)
    _ = dash.render(now: t)
    let hDash = heapInUse()
    for _ in 0..<refreshes {
        t += 1
        dash.releaseModel() // as the dashboard's loop does before a refresh
        streamedRefresh(&model, c, at: t)
        dash.update(DashboardData(model: model, now: t, host: host), now: t)
        _ = dash.render(now: t)
    }
    let hEnd = heapInUse(), rEnd = residentBytes()
    let tt0 = monotonic()
    Heap.trim()
    let tt1 = monotonic()
    let rTrim = residentBytes()
    emit("heap.trim_ms", fmt((tt1 - tt0) * 1e3, 2))
    func per(_ b: Int) -> String { fmt(Double(b) / Double(n), 0) }
    emit("heap.sas", "\(model.header.saCount)")
    emit("heap.policies", "\(model.policyCount)")
    emit("heap.heap_sa_model_bytes_per_sa", per(hSA - h0))
    emit("heap.heap_policies_bytes_per_sa", per(hPol - hSA))
    emit("heap.heap_dashboard_bytes_per_sa", per(hDash - hPol))
    emit("heap.heap_after_refreshes_bytes_per_sa", per(hEnd - h0))
    emit("heap.rss_after_refreshes_bytes_per_sa", per(rEnd - r0))
    emit("heap.rss_after_trim_bytes_per_sa", per(rTrim - r0))
    // Exit with everything still allocated (a heap profiler then shows what the stages hold).
    withExtendedLifetime((model, dash)) { exit(0) }
}

/// Live heap per SA of a model and dashboard holding busy, rekeyed NAT-T tunnels (no kernel: the
/// states are made here, as a strongSwan gateway's would look): N/2 peers behind NATs (IPv6
/// documentation addresses, each with its own NAT port), one inbound and one outbound ESP-in-UDP SA
/// each, tunnel-mode selectors of their own, AEAD, replay state, last-use time, add-expiry limits.
/// Three refreshes with traffic on every SA, then every SA rekeyed (NEWSA for a new SPI, DELSA of
/// the old one with its last counters), then three more refreshes with traffic. No policies.
func memoryBusy(count n: Int, rounds busyRounds: Int) {
    let pairs = max(1, n / 2)
    let local = IPAddress("2001:db8:0:1::1")!
    // The first SAs were added 1,000 s before the start, their successors at the start: both within
    // their lifetimes (the model's clock is the wall clock), as on a gateway rekeying on time.
    let start = UInt64(wallClockSeconds())
    var aead = XFRMAttributes()
    aead.aead = XFRMAlgorithm(name: "rfc4106(gcm(aes))", keyBits: 160, icvBits: 128)
    func remote(_ k: Int) -> IPAddress { IPAddress("2001:db8:2:\(String(k >> 16, radix: 16)):\(String(k & 0xffff, radix: 16))::1")! }
    func net(_ a: Int, _ k: Int) -> IPAddress { IPAddress("2001:db8:\(String(a, radix: 16)):\(String(k & 0xffff, radix: 16))::")! }
    func state(_ k: Int, inbound: Bool, generation g: Int, bytes: UInt64) -> XFRMState {
        let r = remote(k)
        let natPort = UInt16(1024 + k % 60_000)
        var a = aead
        a.encapsulation = XFRMEncapsulation(type: .espInUDP, sourcePort: inbound ? natPort : 4500,
                                            destinationPort: inbound ? 4500 : natPort, originalAddress: .zero(.inet6))
        a.replay = XFRMReplayState(outboundSequence: inbound ? 0 : UInt32(truncatingIfNeeded: bytes / 100),
                                   inboundSequence: inbound ? UInt32(truncatingIfNeeded: bytes / 100) : 0, bitmap: inbound ? 0xffff_ffff : 0)
        a.lastUsed = bytes > 0 ? start - 999 + UInt64(g) * 1000 + bytes / 1_000_000 : nil
        let mine = net(0xa, k), theirs = net(0xb, k)
        let sel = XFRMSelector(destination: inbound ? mine : theirs, source: inbound ? theirs : mine, family: .inet6,
                               destinationPrefixLength: 64, sourcePrefixLength: 64)
        var life = XFRMLifetimeConfig.infinite
        life.softAddExpiresSeconds = 3000 + UInt64(k % 300)
        life.hardAddExpiresSeconds = 3600
        let spi = UInt32(0x1000_0000 + (g * pairs + k) * 2 + (inbound ? 1 : 0))
        return XFRMState(selector: sel, destination: inbound ? local : r, spi: spi, proto: .esp, source: inbound ? r : local,
                         lifetimeConfig: life,
                         lifetimeCurrent: XFRMLifetimeCurrent(bytes: bytes, packets: bytes / 100,
                                                              addTime: start - 1000 + UInt64(g) * 1000, useTime: bytes > 0 ? start - 999 + UInt64(g) * 1000 : 0),
                         stats: XFRMStats(replayWindow: 0, replay: 0, integrityFailed: 0), seq: 0, reqid: UInt32(k + 1),
                         family: .inet6, mode: .tunnel, replayWindow: 32, flags: 0, attributes: a)
    }
    func dump(generation g: Int, bytes: UInt64) -> [XFRMState] {
        var out: [XFRMState] = []
        out.reserveCapacity(pairs * 2)
        for k in 0..<pairs {
            out.append(state(k, inbound: false, generation: g, bytes: bytes + UInt64(k % 7) * 100))
            out.append(state(k, inbound: true, generation: g, bytes: bytes + UInt64(k % 5) * 100))
        }
        return out
    }
    var states = dump(generation: 0, bytes: 0)
    let h0 = heapInUse()
    var model = LiveModel()
    var t = wallClockSeconds()
    _ = model.apply(.localAddresses([local]), at: t)
    let host = HostInfo(host: "bench", netns: "-", kernel: "")
    var dash = Dashboard(cols: 200, rows: 50, refreshInterval: 1)
    func refresh(_ s: [XFRMState]) {
        t += 1
        dash.releaseModel()
        _ = model.apply(.dumpBegan(.sa), at: t)
        _ = model.apply(.saDump(s), at: t)
        dash.update(DashboardData(model: model, now: t, host: host), now: t)
        _ = dash.render(now: t)
    }
    refresh(states)
    for r in 1...3 { refresh(dump(generation: 0, bytes: UInt64(r) * 1_000_000)) }
    // Rekey every tunnel: the new SA first, then the old one goes with its last counters.
    t += 0.5
    dash.releaseModel()
    for k in 0..<pairs {
        for inbound in [false, true] {
            _ = model.apply(.kernel(.newSA(state(k, inbound: inbound, generation: 1, bytes: 0))), at: t)
            let old = state(k, inbound: inbound, generation: 0, bytes: 3_500_000)
            _ = model.apply(.kernel(.deleteSA(old.identity, source: old.source, state: old)), at: t)
        }
    }
    for r in 1...3 {
        states = dump(generation: 1, bytes: UInt64(r) * 1_000_000)
        refresh(states)
    }
    states = []
    let h1 = heapInUse()
    let c = max(model.header.saCount, 1)
    emit("busy.sas", "\(model.header.saCount)")
    emit("busy.peers", "\(model.header.peerCount)")
    emit("busy.heap_model_and_dashboard_bytes_per_sa", fmt(Double(h1 - h0) / Double(c), 0))
    emit("busy.model_estimate_bytes_per_sa", fmt(Double(model.approximateResidentBytes) / Double(c), 0))
    // Refresh cost on these SAs, as the live source feeds them: raw GETSA dumps (the records
    // encoded here from the states above), scanned, with every SA's counters, replay state and last
    // use moving (the larval fixture's refreshes find nothing changed). The first raw refresh
    // takes the records' configuration hashes (the decoded dumps above carry none) and is not timed.
    func rawDump(generation g: Int, bytes: UInt64) -> RawSADump {
        var raw = RawSADump()
        var datagram: [UInt8] = []
        for st in dump(generation: g, bytes: bytes) {
            let record = encodeNewSA(st)
            if datagram.count + record.count > 32 << 10 { raw.append(datagram); datagram = [] }
            datagram += record
        }
        raw.append(datagram)
        return raw
    }
    func rawRefresh(_ raw: RawSADump) {
        _ = model.apply(.dumpBegan(.sa), at: t)
        _ = model.apply(.saDumpRaw(raw), at: t)
    }
    t += 1
    dash.releaseModel()
    var raw = rawDump(generation: 1, bytes: 4_000_000)
    rawRefresh(raw)
    // Each round adds traffic to every record in place (`curlft` bytes and packets).
    let curOffset = MemoryLayout<xfrm_usersa_info>.offset(of: \.curlft)!
    func addTraffic(_ k: UInt64) {
        for (d, off, _) in raw.records {
            raw.datagrams[Int(d)].withUnsafeMutableBytes { b in
                let at = Int(off) + curOffset
                b.storeBytes(of: b.loadUnaligned(fromByteOffset: at, as: UInt64.self) + 1_000_000 + k % 7 * 100,
                             toByteOffset: at, as: UInt64.self)
                b.storeBytes(of: b.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self) + 10_000,
                             toByteOffset: at + 8, as: UInt64.self)
            }
        }
    }
    var modelUser: [Double] = [], viewUser: [Double] = []
    let derives0 = model.deriveCounts
    for r in 0..<busyRounds {
        addTraffic(UInt64(r))
        t += 1
        dash.releaseModel()
        let c0 = cpu()
        rawRefresh(raw)
        let c1 = cpu()
        dash.update(DashboardData(model: model, now: t, host: host), now: t)
        _ = dash.render(now: t)
        let c2 = cpu()
        modelUser.append(c1.user - c0.user)
        viewUser.append(c2.user - c1.user)
    }
    let derives1 = model.deriveCounts
    emit("busy.refresh_rounds", "\(busyRounds)")
    emit("busy.refresh_full_derives", "\(derives1.full - derives0.full)")
    emit("busy.refresh_counter_only_derives", "\(derives1.countersOnly - derives0.countersOnly)")
    emit("busy.refresh_model_update_user_ms", fmt(median(modelUser) * 1e3))
    emit("busy.refresh_dashboard_user_ms", fmt(median(viewUser) * 1e3))
    withExtendedLifetime((model, dash)) { exit(0) }
}

/// A NEWSA dump record (netlink header, `xfrm_usersa_info`, attributes) for a state of the busy
/// benchmark: the fields and attributes those states use (AEAD with a zero key, ESP-in-UDP, legacy
/// replay state, last use), laid out as the kernel sends them.
func encodeNewSA(_ st: XFRMState) -> [UInt8] {
    let setAddress = XFRMRequest.setAddress
    var info = xfrm_usersa_info()
    info.sel = XFRMRequest.cSelector(st.selector)
    setAddress(&info.id.daddr, st.destination)
    info.id.spi = st.spi.bigEndian
    info.id.proto = st.proto.rawValue
    setAddress(&info.saddr, st.source)
    let l = st.lifetimeConfig
    info.lft.soft_byte_limit = l.softByteLimit; info.lft.hard_byte_limit = l.hardByteLimit
    info.lft.soft_packet_limit = l.softPacketLimit; info.lft.hard_packet_limit = l.hardPacketLimit
    info.lft.soft_add_expires_seconds = l.softAddExpiresSeconds; info.lft.hard_add_expires_seconds = l.hardAddExpiresSeconds
    info.lft.soft_use_expires_seconds = l.softUseExpiresSeconds; info.lft.hard_use_expires_seconds = l.hardUseExpiresSeconds
    let c = st.lifetimeCurrent
    info.curlft.bytes = c.bytes; info.curlft.packets = c.packets
    info.curlft.add_time = c.addTime; info.curlft.use_time = c.useTime
    info.stats.replay_window = st.stats.replayWindow; info.stats.replay = st.stats.replay
    info.stats.integrity_failed = st.stats.integrityFailed
    info.seq = st.seq; info.reqid = st.reqid
    info.family = st.family.rawValue; info.mode = st.mode.rawValue
    info.replay_window = st.replayWindow; info.flags = st.flags
    var b = XFRMRequestBuilder(type: .newSA, flags: NetlinkFlags.multi, sequence: 1)
    b.appendStruct(info)
    let a = st.attributes
    if let aead = a.aead {
        var name = [UInt8](repeating: 0, count: 64)
        for (i, ch) in aead.name.utf8.prefix(63).enumerated() { name[i] = ch }
        var payload = name
        withUnsafeBytes(of: aead.keyBits.littleEndian) { payload += $0 }
        withUnsafeBytes(of: (aead.icvBits ?? 0).littleEndian) { payload += $0 }
        payload += [UInt8](repeating: 0, count: Int(aead.keyBits + 7) / 8)
        b.appendAttribute(.algAEAD, payload)
    }
    if let e = a.encapsulation {
        var tmpl = xfrm_encap_tmpl()
        tmpl.encap_type = e.type.rawValue
        tmpl.encap_sport = e.sourcePort.bigEndian
        tmpl.encap_dport = e.destinationPort.bigEndian
        setAddress(&tmpl.encap_oa, e.originalAddress)
        b.appendAttribute(.encap, value: tmpl)
    }
    if let r = a.replay {
        var rs = xfrm_replay_state()
        rs.oseq = r.outboundSequence; rs.seq = r.inboundSequence; rs.bitmap = r.bitmap
        b.appendAttribute(.replayValue, value: rs)
    }
    if let u = a.lastUsed { b.appendAttribute(.lastUsed, value: u) }
    return b.bytes
}

// MARK: - main

let args = CommandLine.arguments
guard args.count >= 3 else {
    die("usage: ipsectop-bench refresh|frame|ingest|initial|policies|memory NETNS [COUNT] | decode FIXTURE [N] | memory-busy N [ROUNDS]")
}
let count = args.count > 3 ? Int(args[3]) : nil
switch args[1] {
case "refresh": refresh(netns: args[2], rounds: count ?? 10)
case "frame": frame(netns: args[2], frames: count ?? 300)
case "ingest": ingest(netns: args[2], rounds: count ?? 5)
case "decode": decode(fixture: args[2], count: count ?? 100_000)
case "initial": initial(netns: args[2], rounds: count ?? 5)
case "policies": policies(netns: args[2], rounds: count ?? 5)
case "memory": memory(netns: args[2], refreshes: count ?? 3)
case "memory-busy": memoryBusy(count: Int(args[2]) ?? 100_000, rounds: max(1, count ?? 5))
default: die("unknown benchmark \(args[1])")
}
