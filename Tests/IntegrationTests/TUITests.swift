import Foundation
import XCTest

/// Drives the real binary in tmux (docs: ../shared/docs/testing.md).
final class Tmux {
    let name: String
    /// A tmux server of the tests' own, so no other session (or its global environment) is touched.
    static let socket = "ipsectop-tests-\(getpid())"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") }

    init(_ command: String, cols: Int = 120, rows: Int = 30, utf8: Bool = true, env: [String: String] = [:]) throws {
        name = "ipsectop-tui-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        var args = ["/usr/bin/tmux", "-L", Tmux.socket, "-f", "/dev/null", "new-session", "-d", "-s", name, "-x", String(cols), "-y", String(rows),
                    "-e", "LANG=\(utf8 ? "C.UTF-8" : "C")", "-e", "LC_ALL=\(utf8 ? "C.UTF-8" : "C")", "-e", "TERM=tmux-256color"]
        for (k, v) in env { args += ["-e", "\(k)=\(v)"] }
        args.append("\(command); echo EXIT=$?; sleep 60")
        try Tmux.detached(args)
    }

    /// Runs tmux without capturing its output: the server it forks keeps inherited pipes
    /// open, so reading them to the end would never finish.
    static func detached(_ argv: [String]) throws {
        // posix_spawn + waitpid: no pipes, and the exit is reaped here, whatever the forked server does.
        var fa: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        for fd in Int32(0)...2 { posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        var cargs = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var pid: pid_t = 0
        // The server's global environment comes from ours: drop NO_COLOR (test runners may set it).
        var env: [UnsafeMutablePointer<CChar>?] = []
        var e = environ
        while let p = e.pointee {
            if strncmp(p, "NO_COLOR=", 9) != 0 { env.append(strdup(p)) }
            e += 1
        }
        env.append(nil)
        defer { for p in env { free(p) } }
        let rc = posix_spawn(&pid, argv[0], &fa, nil, &cargs, &env)
        guard rc == 0 else { return XCTFail("cannot start \(argv[0]): \(rc)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        XCTAssertEqual(status, 0, "tmux \(argv.dropFirst().joined(separator: " ")) failed")
    }

    deinit { try? Tmux.detached(["/usr/bin/tmux", "-L", Tmux.socket, "kill-session", "-t", name]) }

    func capture(escapes: Bool = false) -> String {
        (try? Harness.run(["/usr/bin/tmux", "-L", Tmux.socket, "capture-pane", "-p"] + (escapes ? ["-e"] : []) + ["-t", name]).stdout) ?? ""
    }

    func send(_ keys: String...) {
        try? Tmux.detached(["/usr/bin/tmux", "-L", Tmux.socket, "send-keys", "-t", name] + keys)
    }

    func resize(cols: Int, rows: Int) {
        try? Tmux.detached(["/usr/bin/tmux", "-L", Tmux.socket, "resize-window", "-t", name, "-x", String(cols), "-y", String(rows)])
    }

    /// Polls the screen until `predicate` holds (no fixed sleeps).
    @discardableResult
    func waitFor(_ what: String, timeout: Double = 10, file: StaticString = #filePath, line: UInt = #line,
                 _ predicate: (String) -> Bool) -> String {
        let end = Date().addingTimeInterval(timeout)
        var screen = capture()
        while Date() < end {
            if predicate(screen) { return screen }
            usleep(50_000)
            screen = capture()
        }
        XCTFail("timed out waiting for \(what); screen:\n\(screen)", file: file, line: line)
        return screen
    }

    @discardableResult
    func waitFor(text: String, timeout: Double = 10, file: StaticString = #filePath, line: UInt = #line) -> String {
        waitFor("'\(text)'", timeout: timeout, file: file, line: line) { $0.contains(text) }
    }
}

/// The checkout root (for Samples/).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

final class TUIReplayTests: XCTestCase {
    var sample: String { repositoryRoot + "/Samples/natt-strongswan.xfrmrec" }

    override func setUpWithError() throws {
        guard Tmux.available else { throw XCTSkip("SKIPPED: tmux is not installed (apt-get install tmux)") }
        XCTAssertTrue(FileManager.default.fileExists(atPath: sample), "the sample recording must ship: \(sample)")
    }

    func testNavigationDrillDownFilterSortHelpAndQuit() throws {
        // The lab sample holds strongSwan SAs through a NAT: ESP-in-UDP with the NAT's port.
        let t = try Tmux("\(Harness.binary) --replay \(sample) --speed 0")
        let first = t.waitFor(text: "SPI")
        XCTAssertTrue(first.contains("espinudp") || first.contains("4500"), "no NAT-T SA on screen:\n\(first)")
        // Peers view, then drill into the first peer and back.
        t.send("2")
        t.waitFor(text: "Peers")
        t.send("Enter")
        let peer = t.waitFor("peer page") { $0.contains("NAT-T") && $0.contains("Keepalive") }
        XCTAssertTrue(peer.contains("Peers › peer") || peer.contains("Peers > peer"), "no breadcrumb:\n\(peer)")
        t.send("Escape")
        t.waitFor(text: "Peers")
        // Help overlay lists the bindings from the key table, then closes.
        t.send("?")
        let help = t.waitFor(text: "Quit")
        XCTAssertTrue(help.contains("Rekey") == false, "replay is read-only, help must not offer Rekey:\n\(help)")
        t.send("Escape")
        // SAs view: filter for something absent, then clear.
        t.send("1")
        t.waitFor(text: "SPI")
        t.send("/", "n", "o", "s", "u", "c", "h", "t", "h", "i", "n", "g")
        t.waitFor("an empty filtered list") { !$0.contains("0x") }
        t.send("Escape")
        t.waitFor("rows back") { $0.contains("0x") }
        // Sort: the sort marker moves when the sort column changes.
        let before = t.capture()
        t.send(">")
        t.waitFor("sort marker moved") { $0 != before }
        t.send("q")
        let after = t.waitFor(text: "EXIT=0")
        XCTAssertFalse(after.contains("SPI"), "the dashboard is still on screen after quitting:\n\(after)")
    }

    func testResizeToSmallAndBack() throws {
        let t = try Tmux("\(Harness.binary) --replay \(sample) --speed 0")
        t.waitFor(text: "SPI")
        t.resize(cols: 60, rows: 15)
        let small = t.waitFor("60x15 layout") { $0.split(separator: "\n").allSatisfy { $0.count <= 60 } && $0.contains("0x") }
        XCTAssertTrue(small.contains("SAs"), small)
        t.resize(cols: 40, rows: 10)
        t.waitFor(text: "too small")
        t.resize(cols: 120, rows: 30)
        t.waitFor(text: "SPI")
        t.send("q")
        t.waitFor(text: "EXIT=0")
    }

    func testASCIIFallbackWithoutUTF8Locale() throws {
        let t = try Tmux("\(Harness.binary) --replay \(sample) --speed 0", utf8: false)
        let s = t.waitFor(text: "SPI")
        XCTAssertFalse(s.contains("→") || s.contains("│") || s.contains("▲"), "non-ASCII drawing without a UTF-8 locale:\n\(s)")
        t.send("q")
        t.waitFor(text: "EXIT=0")
    }

    func testUnknownThemeIsAnError() throws {
        let r = try Harness.run([Harness.binary, "--replay", sample, "--theme", "no-such-theme"])
        XCTAssertEqual(r.status, 5, r.stderr)
        XCTAssertTrue(r.stderr.contains("no-such-theme"), r.stderr)
    }

    func testThemeSwitchChangesColours() throws {
        let t = try Tmux("\(Harness.binary) --replay \(sample) --speed 0 --theme default-dark")
        t.waitFor(text: "SPI")
        let before = t.capture(escapes: true)
        t.send("t")
        XCTAssertTrue(before.contains("\u{1b}["), "no colours at all:\n\(before)")
        t.waitFor("colours changed") { _ in t.capture(escapes: true) != before }
        t.send("q")
        t.waitFor(text: "EXIT=0")
    }

    func testNoColorGivesMonochrome() throws {
        let t = try Tmux("\(Harness.binary) --replay \(sample) --speed 0", env: ["NO_COLOR": "1"])
        t.waitFor(text: "SPI")
        let s = t.capture(escapes: true)
        XCTAssertFalse(s.contains("38;5;") || s.contains("48;5;"), "colours despite NO_COLOR")
        t.send("q")
        t.waitFor(text: "EXIT=0")
    }

    func testNotATTYPointsAtSnapshotAndEvents() throws {
        let r = try Harness.run([Harness.binary, "--replay", sample])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("snapshot") && r.stderr.contains("events"), r.stderr)
    }

    func testTagAndNoActionsInReplay() throws {
        let t = try Tmux("\(Harness.binary) --replay \(sample) --speed 0")
        t.waitFor(text: "SPI")
        t.send("Space")
        t.waitFor("a tag mark") { $0.contains("*") || $0.contains("●") || $0.contains("tagged") }
        t.send("d")
        let s = t.capture()
        XCTAssertFalse(s.contains("Delete 1 SA") || s.contains("Delete?"), "replay must not offer delete:\n\(s)")
        t.send("q")
        t.waitFor(text: "EXIT=0")
    }
}

/// The dashboard on a live namespace (root).
final class TUILiveTests: XCTestCase {
    func testLiveDashboardShowsNewObjectsAndDeletesSelectedSA() throws {
        try Harness.requireRoot("live dashboard")
        guard Tmux.available else { throw XCTSkip("SKIPPED: tmux is not installed") }
        let ns = try Netns()
        try ns.ip("xfrm policy add src 192.0.2.0/24 dst 198.51.100.0/24 dir out tmpl src 203.0.113.1 dst 203.0.113.2 proto esp reqid 5 mode tunnel")
        try ns.exec("sysctl -qw net.core.xfrm_acq_expires=600")
        let t = try Tmux("\(Harness.binary) --netns \(ns.name) -d 0.5")
        t.waitFor(text: "SAs 0")
        // The policy dump follows the first frame; the header then counts the policy and is in sync.
        t.waitFor("the policy counted and the model in sync") { $0.contains("pol 1") && $0.contains("in sync") }
        try ns.ip("xfrm state allocspi src 203.0.113.1 dst 203.0.113.2 proto esp min 0xd00 max 0xd00")
        t.waitFor(text: "0x00000d00")
        t.send("d")
        let confirm = t.waitFor(text: "0x00000d00 203.0.113.1")
        XCTAssertTrue(confirm.lowercased().contains("delete"), confirm)
        t.send("y")
        t.waitFor("the SA gone from the table") { !$0.contains("SAs 1") && $0.contains("SAs 0") }
        XCTAssertTrue(IPXfrmText.states(try ns.ip("xfrm state").stdout).isEmpty, "the SA is still in the kernel")
        t.send("q")
        t.waitFor(text: "EXIT=0")
    }
}
