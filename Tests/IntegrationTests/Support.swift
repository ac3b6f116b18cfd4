import Foundation
import XCTest

/// Runs processes and manages throw-away network namespaces for root tests.
enum Harness {
    static var isRoot: Bool { getuid() == 0 }

    /// Skips loudly when not root.
    static func requireRoot(_ what: String) throws {
        guard isRoot else {
            let msg = "SKIPPED (needs root): \(what): run `sudo swift test` to exercise real netlink in a network namespace"
            FileHandle.standardError.write(Data((msg + "\n").utf8))
            throw XCTSkip(msg)
        }
    }

    /// The ipsectop binary built next to the test bundle.
    static var binary: String {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("ipsectop").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath + "/.build/debug/ipsectop"
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a command to completion.
    @discardableResult
    static func run(_ argv: [String], input: String? = nil, check: Bool = false,
                    file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0].hasPrefix("/") ? argv[0] : "/usr/bin/env")
        p.arguments = argv[0].hasPrefix("/") ? Array(argv.dropFirst()) : argv
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        if let input {
            let inp = Pipe()
            p.standardInput = inp
            try p.run()
            inp.fileHandleForWriting.write(Data(input.utf8))
            try inp.fileHandleForWriting.close()
        } else {
            p.standardInput = FileHandle.nullDevice
            try p.run()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let r = Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                       stderr: String(decoding: e, as: UTF8.self))
        if check && r.status != 0 {
            XCTFail("\(argv.joined(separator: " ")) failed (\(r.status)): \(r.stderr)", file: file, line: line)
        }
        return r
    }

    /// `sh -c` convenience.
    @discardableResult
    static func sh(_ script: String, check: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        try run(["/bin/sh", "-c", script], check: check, file: file, line: line)
    }
}

/// A fresh network namespace, deleted at the end of the test.
final class Netns {
    let name: String
    nonisolated(unsafe) static var counter = 0

    init() throws {
        Netns.counter += 1
        name = "ipsectop-t\(getpid())-\(Netns.counter)"
        try Harness.sh("ip netns add \(name) && ip -n \(name) link set lo up")
    }

    deinit { _ = try? Harness.sh("ip netns delete \(name)", check: false) }

    /// Runs `ip -n NAME ARGS`.
    @discardableResult
    func ip(_ args: String, check: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws -> Harness.Result {
        try Harness.sh("ip -n \(name) \(args)", check: check, file: file, line: line)
    }

    /// Runs a shell command inside the namespace.
    @discardableResult
    func exec(_ script: String, check: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws -> Harness.Result {
        try Harness.run(["/usr/bin/env", "ip", "netns", "exec", name, "/bin/sh", "-c", script], check: check, file: file, line: line)
    }

    /// `ipsectop snapshot --json --netns NAME`, parsed.
    func snapshotJSON(_ options: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let r = try Harness.run([Harness.binary, "snapshot", "--json", "--netns", name] + options, check: true,
                                file: file, line: line)
        guard let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            XCTFail("snapshot --json is not a JSON object", file: file, line: line)
            return [:]
        }
        return o
    }
}

/// A background process whose output is collected while the test goes on.
final class Background: @unchecked Sendable {
    let process = Process()
    private let outPipe = Pipe(), errPipe = Pipe()
    private let lock = NSLock()
    nonisolated(unsafe) private var outData = Data()
    nonisolated(unsafe) private var errData = Data()

    init(_ argv: [String]) throws {
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = FileHandle.nullDevice
        outPipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self else { return }
            self.lock.lock(); self.outData.append(d); self.lock.unlock()
        }
        errPipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self else { return }
            self.lock.lock(); self.errData.append(d); self.lock.unlock()
        }
        try process.run()
    }

    var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: outData, as: UTF8.self) }
    var stderr: String { lock.lock(); defer { lock.unlock() }; return String(decoding: errData, as: UTF8.self) }

    /// Polls until `condition` holds or the timeout passes; returns whether it held.
    @discardableResult
    func waitFor(timeout: Double = 10, _ condition: (Background) -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if condition(self) { return true }
            usleep(20_000)
        }
        return condition(self)
    }

    /// Waits for exit (with a timeout, after which the process is terminated).
    func finish(timeout: Double = 10) -> Int32 {
        let end = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < end { usleep(20_000) }
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        usleep(50_000)
        outPipe.fileHandleForReading.readabilityHandler = nil
        errPipe.fileHandleForReading.readabilityHandler = nil
        lock.lock(); outData.append(outPipe.fileHandleForReading.readDataToEndOfFile()); lock.unlock()
        lock.lock(); errData.append(errPipe.fileHandleForReading.readDataToEndOfFile()); lock.unlock()
        return process.terminationStatus
    }

    deinit { if process.isRunning { process.terminate() } }

    /// Parsed NDJSON lines of stdout.
    var jsonLines: [[String: Any]] {
        stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }
}

/// Parses `ip -s xfrm state` and `ip -s xfrm policy` text into field dictionaries,
/// the independent reference that snapshots are compared with.
enum IPXfrmText {
    static func blocks(_ text: String) -> [[String]] {
        var out: [[String]] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if !line.hasPrefix("\t") && !line.hasPrefix(" ") { out.append([String(line)]) } else if !out.isEmpty {
                out[out.count - 1].append(line.trimmingCharacters(in: .whitespaces))
            }
        }
        return out
    }

    static func words(_ s: String) -> [String] { s.split(separator: " ").map(String.init) }

    static func value(after key: String, in line: String) -> String? {
        let w = words(line)
        guard let i = w.firstIndex(of: key), i + 1 < w.count else { return nil }
        return w[i + 1]
    }

    /// One dictionary per SA: src, dst, proto, spi, reqid, mode, replay_window, sel_src, sel_dst,
    /// bytes, packets, hard_add, mark, encap_type, encap_sport, encap_dport, encap_oa.
    static func states(_ text: String) -> [[String: String]] {
        blocks(text).map { b in
            var d: [String: String] = [:]
            d["src"] = value(after: "src", in: b[0]); d["dst"] = value(after: "dst", in: b[0])
            var i = 1
            while i < b.count {
                let l = b[i]
                if l.hasPrefix("proto ") {
                    d["proto"] = value(after: "proto", in: l)
                    d["spi"] = value(after: "spi", in: l).map { String($0.prefix { $0 != "(" }) }
                    d["reqid"] = value(after: "reqid", in: l).map { String($0.prefix { $0 != "(" }) }
                    d["mode"] = value(after: "mode", in: l)
                } else if l.hasPrefix("replay-window ") {
                    d["replay_window"] = value(after: "replay-window", in: l)
                } else if l.hasPrefix("sel ") {
                    d["sel_src"] = value(after: "src", in: l); d["sel_dst"] = value(after: "dst", in: l)
                } else if l.hasPrefix("mark ") {
                    d["mark"] = value(after: "mark", in: l)
                } else if l.hasPrefix("encap ") {
                    d["encap_type"] = value(after: "type", in: l); d["encap_sport"] = value(after: "sport", in: l)
                    d["encap_dport"] = value(after: "dport", in: l); d["encap_oa"] = value(after: "addr", in: l)
                } else if l.hasPrefix("expire add:") {
                    d["hard_add"] = value(after: "hard", in: l).map { String($0.prefix { $0 != "(" }) }
                } else if l == "lifetime current:", i + 1 < b.count {
                    let c = b[i + 1]
                    d["bytes"] = c.split(separator: "(").first.map(String.init)
                    d["packets"] = c.components(separatedBy: ", ").dropFirst().first?.split(separator: "(").first.map(String.init)
                } else if l.hasPrefix("if_id ") {
                    d["if_id"] = value(after: "if_id", in: l)
                }
                i += 1
            }
            return d
        }
    }

    /// One dictionary per policy: src, dst, dir, action, index, priority, mark, tmpl_src, tmpl_dst,
    /// tmpl_proto, tmpl_reqid, tmpl_mode (first template), templates (count).
    static func policies(_ text: String) -> [[String: String]] {
        blocks(text).map { b in
            var d: [String: String] = [:]
            d["src"] = value(after: "src", in: b[0]); d["dst"] = value(after: "dst", in: b[0])
            var templates = 0
            for (i, l) in b.enumerated() {
                if l.hasPrefix("dir ") {
                    d["dir"] = value(after: "dir", in: l); d["action"] = value(after: "action", in: l)
                    d["index"] = value(after: "index", in: l); d["priority"] = value(after: "priority", in: l)
                } else if l.hasPrefix("mark ") {
                    d["mark"] = value(after: "mark", in: l)
                } else if l.hasPrefix("tmpl ") {
                    templates += 1
                    if templates == 1 {
                        d["tmpl_src"] = value(after: "src", in: l); d["tmpl_dst"] = value(after: "dst", in: l)
                        if i + 1 < b.count {
                            let n = b[i + 1]
                            d["tmpl_proto"] = value(after: "proto", in: n)
                            d["tmpl_reqid"] = value(after: "reqid", in: n).map { String($0.prefix { $0 != "(" }) }
                            d["tmpl_mode"] = value(after: "mode", in: n)
                        }
                    }
                }
            }
            d["templates"] = String(templates)
            return d
        }
    }
}
