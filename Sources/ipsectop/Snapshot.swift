import ArgumentParser
import Foundation
import IPsecExport
import XFRMKernel
import XFRMWire

struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print SAs, policies, SAD/SPD counts and /proc/net/xfrm_stat once.",
        discussion: "The JSON schema is documented in docs/json.md.")

    @Flag(help: "Print one JSON document instead of tables.")
    var json = false

    @OptionGroup var namespace: NamespaceOptions

    @Option(help: "Also write the netlink replies to a recording (docs/recording.md).")
    var record: String?

    @Option(help: "Build the snapshot from a recording instead of the kernel (no privilege needed).")
    var replay: String?

    func validate() throws {
        if replay != nil && (namespace.netns != nil || namespace.netnsPath != nil) {
            throw ValidationError("--replay cannot be combined with --netns/--netns-path")
        }
        if replay != nil && record != nil { throw ValidationError("--replay cannot be combined with --record") }
    }

    func run() throws {
        ignoreSIGPIPE()
        let data: SnapshotData
        do {
            if let path = replay {
                data = try ReplaySnapshot.build(from: Recording(path: path))
            } else {
                try namespace.enter()
                data = try LiveSnapshot.take(netns: namespace.label, recordTo: record)
            }
        } catch {
            throw fail(error)
        }
        if json {
            Output.write(SnapshotJSON.render(data))
        } else {
            Output.write(SnapshotText.render(data))
        }
    }
}

/// Reads everything a snapshot shows from the kernel.
enum LiveSnapshot {
    static func take(netns: String?, recordTo: String?) throws -> SnapshotData {
        let cmd = try XFRMCommandChannel()
        let recorder = try recordTo.map { try Recorder(path: $0, netns: netns, kernel: LocalHost.kernel, host: LocalHost.hostname) }
        let sas = try cmd.dumpSAs()
        let pols = try cmd.dumpPolicies()
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

/// Rebuilds the kernel tables at the end of a recording.
enum ReplaySnapshot {
    static func build(from rec: Recording) throws -> SnapshotData {
        var tables = KernelTables()
        var stat = ""
        var last = 0.0
        var pendingDump: (what: String, items: [XFRMMessage])?
        for item in rec.items {
            last = max(last, item.time)
            switch item {
            case .dump(let what, let d):
                if pendingDump?.what != what { pendingDump = (what, []) }
                var done = false
                for m in XFRMDecoder.decodeDatagram(d.bytes).messages {
                    if case .success(let msg) = m.body {
                        if case .done = msg { done = true } else { pendingDump?.items.append(msg) }
                    }
                }
                if done, let p = pendingDump {
                    tables.replace(what: p.what, with: p.items)
                    pendingDump = nil
                }
            case .event(let d):
                for m in XFRMDecoder.decodeDatagram(d.bytes).messages {
                    if case .success(let msg) = m.body { tables.apply(msg) }
                }
            case .proc(let text, _): stat = text
            default: break
            }
        }
        return SnapshotData(takenAt: last, host: rec.host ?? "?", netns: rec.netns, kernel: rec.kernel ?? "?",
                            sas: tables.sortedSAs, policies: tables.sortedPolicies, sad: nil, spd: nil,
                            xfrmStat: parseXFRMStat(stat))
    }
}

/// Minimal kernel tables: upserts and deletes by identity.
struct KernelTables {
    var sas: [SAIdentity: XFRMState] = [:]
    var policies: [PolicyIdentity: XFRMPolicy] = [:]

    mutating func replace(what: String, with msgs: [XFRMMessage]) {
        if what == "sa" {
            sas = [:]
            for case .newSA(let s) in msgs { sas[s.identity] = s }
        } else {
            policies = [:]
            for case .newPolicy(let p) in msgs { policies[p.identity] = p }
        }
    }

    mutating func apply(_ m: XFRMMessage) {
        switch m {
        case .newSA(let s), .updateSA(let s): sas[s.identity] = s
        case .deleteSA(let id, _, _): sas[id] = nil
        case .expire(let s, let hard): if hard { sas[s.identity] = nil }
        case .flushSA(let proto):
            sas = sas.filter { _, s in
                !(proto.rawValue == 0 || s.proto == proto
                  || (proto == .anyIPsec && [.esp, .ah, .comp].contains(s.proto)))
            }
        case .newPolicy(let p), .updatePolicy(let p): policies[p.identity] = p
        case .deletePolicy(let id, _, _):
            policies = policies.filter { $0.key.index != id.index || $0.key.direction != id.direction }
        case .policyExpire(let p, let hard): if hard { policies[p.identity] = nil }
        case .flushPolicy: policies = [:]
        default: break
        }
    }

    var sortedSAs: [XFRMState] { sas.values.sorted { $0.identity < $1.identity } }
    var sortedPolicies: [XFRMPolicy] {
        policies.values.sorted { ($0.direction.rawValue, $0.index) < ($1.direction.rawValue, $1.index) }
    }
}
