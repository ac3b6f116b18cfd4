import ArgumentParser
import Foundation
import IPsecExport
import IPsecModel
import Glibc
import XFRMKernel
import XFRMWire

struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print SAs, policies, peers, SAD/SPD counts and /proc/net/xfrm_stat once.",
        discussion: """
            The JSON schema is documented in docs/json.md. By default the snapshot goes through the \
            live model (peer, direction, NAT-T, keepalive and health fields); rates need --follow. \
            --kernel-only prints the kernel objects alone, fastest.
            """)

    @Flag(help: "Print one JSON document instead of tables.")
    var json = false

    @OptionGroup var namespace: NamespaceOptions

    @Option(help: "Also write the netlink replies to a recording (docs/recording.md).")
    var record: String?

    @Option(help: "Build the snapshot from a recording instead of the kernel (no privilege needed).")
    var replay: String?

    @Flag(name: .customLong("kernel-only"), help: "Only the kernel objects, without the model's derived fields.")
    var kernelOnly = false

    @Option(help: "Keep following events and refreshing for S seconds before printing (0: until SIGINT/SIGTERM); SIGUSR1 prints a snapshot meanwhile.")
    var follow: Double?

    @Option(name: [.customShort("d"), .customLong("refresh")], help: "Counter refresh interval while following, in seconds.")
    var refresh: Double = 1

    @Option(name: .customLong("rcvbuf"), help: "Event socket receive buffer in bytes (SO_RCVBUFFORCE).")
    var receiveBuffer: Int = 8 << 20

    func validate() throws {
        if replay != nil && (namespace.netns != nil || namespace.netnsPath != nil) {
            throw ValidationError("--replay cannot be combined with --netns/--netns-path")
        }
        if replay != nil && record != nil { throw ValidationError("--replay cannot be combined with --record") }
        if kernelOnly && follow != nil { throw ValidationError("--kernel-only cannot be combined with --follow") }
        if let f = follow, f < 0 { throw ValidationError("--follow must not be negative") }
        if refresh < 0.1 { throw ValidationError("--refresh must be at least 0.1 s") }
        if receiveBuffer < 4096 { throw ValidationError("--rcvbuf must be at least 4096") }
    }

    func run() throws {
        ignoreSIGPIPE()
        do {
            if kernelOnly && replay == nil {
                try namespace.enter()
                let data = try LiveSnapshot.take(netns: namespace.label, recordTo: record)
                if json {
                    // Streamed in 1 MiB chunks: memory stays bounded at 100,000 SAs.
                    SnapshotJSON.write(data) { Output.write($0) }
                } else {
                    Output.write(Array(SnapshotText.render(data).utf8))
                }
                return
            }
            var config = ModelConfiguration()
            config.refreshInterval = refresh
            let source: ModelSource
            var sad: XFRMSADInfo?, spd: XFRMSPDInfo?
            var host = LocalHost.hostname, kernel = LocalHost.kernel, netns = namespace.label
            if let path = replay {
                let rec = try Recording(path: path)
                source = ReplaySource(recording: rec, configuration: config, speed: 0, label: rec.netns ?? "(recorded)")
                host = rec.host ?? "?"; kernel = rec.kernel ?? "?"; netns = rec.netns
            } else {
                try namespace.enter()
                let live = try LiveSource(configuration: config, label: namespace.label ?? "(current)",
                                          receiveBuffer: receiveBuffer, recordTo: record, captureKeepalives: follow != nil,
                                          trimsHeap: follow != nil)
                if let f = follow {
                    // SIGUSR1 prints the snapshot of that moment (one JSON document per line) and goes on.
                    let context = { (now: Double) in
                        ModelJSON.Context(host: host, netns: netns, kernel: kernel, now: now,
                                          sad: try? live.command.sadInfo(), spd: try? live.command.spdInfo())
                    }
                    FollowLoop.run(live, seconds: f) {
                        if json { ModelJSON.write(live.model, context: context(live.now())) { Output.write($0) } }
                    }
                }
                sad = try live.command.sadInfo()
                spd = try live.command.spdInfo()
                source = live
            }
            let now = source.now()
            if json && !kernelOnly {
                ModelJSON.write(source.model, context: .init(host: host, netns: netns, kernel: kernel, now: now,
                                                              sad: sad, spd: spd)) { Output.write($0) }
            } else {
                // The kernel objects as the model holds them (the text snapshot, and --kernel-only
                // of a recording: its last dumps with the events after them).
                let m = source.model
                let data = SnapshotData(takenAt: now, host: host, netns: netns, kernel: kernel,
                                        sas: m.allSAs.map(\.state), policies: m.policies.map(\.policy), sad: sad, spd: spd,
                                        xfrmStat: (m.xfrmStat?.counters ?? []).map { ($0.name, $0.value) })
                if json { SnapshotJSON.write(data) { Output.write($0) } } else { Output.write(SnapshotText.render(data)) }
            }
        } catch {
            throw fail(error)
        }
    }
}

/// Serves a live source for a while (or until SIGINT/SIGTERM) without a terminal.
enum FollowLoop {
    nonisolated(unsafe) static var stop: sig_atomic_t = 0
    nonisolated(unsafe) static var snapshotRequested: sig_atomic_t = 0

    /// `intermediate` runs on SIGUSR1 (print the state of that moment).
    static func run(_ source: LiveSource, seconds: Double, intermediate: () -> Void = {}) {
        let handler: @convention(c) (Int32) -> Void = { _ in FollowLoop.stop = 1 }
        let usr1: @convention(c) (Int32) -> Void = { _ in FollowLoop.snapshotRequested = 1 }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        signal(SIGUSR1, usr1)
        Output.error("ipsectop: following XFRM events" + (seconds > 0 ? " for \(seconds) s" : " until SIGINT/SIGTERM")
                     + "; SIGUSR1 prints a snapshot")
        let deadline = seconds > 0 ? wallClock() + seconds : Double.infinity
        while stop == 0 && wallClock() < deadline {
            if snapshotRequested != 0 {
                snapshotRequested = 0
                source.drainEvents()
                intermediate()
            }
            var fds = source.pollDescriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let timeout = min(source.secondsUntilNextDue(), deadline - wallClock(), 1)
            _ = poll(&fds, nfds_t(fds.count), Int32(max(0, timeout) * 1000))
            var readable = Set<Int32>()
            for f in fds where f.revents != 0 { readable.insert(f.fd) }
            _ = source.service(readable: readable)
        }
        // Whatever the kernel queued before the stop still counts.
        source.drainEvents()
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        signal(SIGUSR1, SIG_DFL)
    }
}

/// Reads everything a snapshot shows from the kernel.
enum LiveSnapshot {
    static func take(netns: String?, recordTo: String?) throws -> SnapshotData {
        let cmd = try XFRMCommandChannel()
        // The policies come on a socket of their own, received and decoded on another core while
        // this one takes the SAs (the two dumps were about a third of the snapshot's wall time at
        // 100,000). The socket is made here: a socket belongs to the network namespace of the
        // thread that makes it (this one entered --netns), whichever thread then reads it.
        let policyChannel = try XFRMCommandChannel()
        let recorder = try recordTo.map { try Recorder(path: $0, netns: netns, kernel: LocalHost.kernel, host: LocalHost.hostname) }
        let policyDump = Concurrent { try policyChannel.dumpPolicies() }
        let sas: DumpResult<XFRMState>
        do {
            sas = try cmd.dumpSAs()
        } catch {
            _ = try? policyDump.value()
            throw error
        }
        let pols = try policyDump.value()
        let sad = try cmd.sadInfo()
        let spd = try cmd.spdInfo()
        let statText = readXFRMStat() ?? ""
        let now = wallClock()
        if let r = recorder {
            for d in sas.datagrams { r.write(.dump(what: "sa", d)) }
            for d in pols.datagrams { r.write(.dump(what: "policy", d)) }
            r.write(.proc(text: statText, time: now))
        }
        for w in sas.malformed + pols.malformed { Output.error("ipsectop: warning: skipped a malformed record: \(w)") }
        return SnapshotData(takenAt: now, host: LocalHost.hostname, netns: netns, kernel: LocalHost.kernel,
                            sas: sas.records, policies: pols.records, sad: sad, spd: spd, xfrmStat: parseXFRMStat(statText))
    }
}


/// Work started on another thread now and waited for by `value()`: the one result is handed over
/// once, after the work ends (the semaphore orders the write before the read).
final class Concurrent<Value>: @unchecked Sendable {
    private var result: Result<Value, any Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ work: @escaping () throws -> Value) {
        nonisolated(unsafe) let work = work
        DispatchQueue.global().async {
            do { self.result = .success(try work()) } catch { self.result = .failure(error) }
            self.done.signal()
        }
    }

    /// Waits for the work and returns its value or throws its error.
    func value() throws -> Value {
        done.wait()
        done.signal() // (a second call returns at once)
        return try result!.get()
    }
}
