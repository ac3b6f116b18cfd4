import Foundation
import XCTest
import XFRMKernel
import XFRMWire

/// In-process kernel session tests: a dedicated thread enters a fresh network
/// namespace (setns affects only that thread) and drives XFRMCommandChannel.
final class SessionTests: XCTestCase {
    var netns: String = ""

    override func setUpWithError() throws {
        guard getuid() == 0 else {
            let msg = "SKIPPED (needs root): kernel session tests use real NETLINK_XFRM in a fresh network namespace; run `sudo swift test`"
            FileHandle.standardError.write(Data((msg + "\n").utf8))
            throw XCTSkip(msg)
        }
        netns = "ipsectop-k\(getpid())-\(Int.random(in: 0..<1_000_000))"
        XCTAssertEqual(sh("ip netns add \(netns)"), 0)
    }

    override func tearDown() {
        if !netns.isEmpty { _ = sh("ip netns delete \(netns)") }
    }


    /// Runs `body` on a thread inside the namespace and returns its result.
    func inNamespace<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let box = ResultBox<T>()
        let name = netns
        let t = Thread {
            do {
                try NetworkNamespace.enter(named: name)
                box.set(.success(try body()))
            } catch { box.set(.failure(error)) }
        }
        t.start()
        return try box.wait().get()
    }

    func testDumpSeesLarvalSAsAndPolicies() throws {
        sh("ip -n \(netns) xfrm state allocspi src 203.0.113.1 dst 203.0.113.2 proto esp min 0x500 max 0x500")
        sh("ip -n \(netns) xfrm policy add src 192.0.2.0/24 dst 198.51.100.0/24 dir out tmpl src 203.0.113.1 dst 203.0.113.2 proto esp reqid 3 mode tunnel")
        let (sas, pols) = try inNamespace { () throws -> ([XFRMState], [XFRMPolicy]) in
            let c = try XFRMCommandChannel()
            return (try c.dumpSAs().records, try c.dumpPolicies().records)
        }
        XCTAssertEqual(sas.count, 1)
        XCTAssertEqual(sas.first?.spi, 0x500)
        XCTAssertEqual(sas.first?.isLarval, true)
        XCTAssertEqual(sas.first?.destination.description, "203.0.113.2")
        XCTAssertEqual(pols.count, 1)
        XCTAssertEqual(pols.first?.attributes.templates.first?.reqid, 3)
    }

    func testDeleteSAThroughSessionRemovesExactlyThatSA() throws {
        sh("ip -n \(netns) xfrm state allocspi src 203.0.113.1 dst 203.0.113.2 proto esp min 0x600 max 0x600")
        sh("ip -n \(netns) xfrm state allocspi src 203.0.113.1 dst 203.0.113.2 proto esp min 0x601 max 0x601")
        let remaining = try inNamespace { () throws -> [UInt32] in
            let c = try XFRMCommandChannel()
            let target = try c.dumpSAs().records.first { $0.spi == 0x600 }!
            try c.deleteSA(target.identity)
            return try c.dumpSAs().records.map(\.spi)
        }
        XCTAssertEqual(remaining, [0x601])
    }

    func testSoftExpireOnLarvalSAReturnsKernelExplanation() throws {
        sh("ip -n \(netns) xfrm state allocspi src 203.0.113.1 dst 203.0.113.2 proto esp min 0x700 max 0x700")
        let outcome = try inNamespace { () throws -> String in
            let c = try XFRMCommandChannel()
            let target = try c.dumpSAs().records.first!
            do {
                try c.expireSA(target.identity, hard: false)
                return "accepted"
            } catch let KernelError.rejected(_, errno, message) {
                return "\(errno.name): \(message ?? "")"
            }
        }
        XCTAssertEqual(outcome, "EINVAL: SA must be in VALID state")
    }

    func testExpireOfUnknownSAIsENOENT() throws {
        let outcome = try inNamespace { () throws -> String in
            let c = try XFRMCommandChannel()
            let id = SAIdentity(family: .inet, destination: IPAddress("203.0.113.9")!, spi: 0xdead, proto: .esp, mark: nil)
            do { try c.expireSA(id, hard: false); return "accepted" } catch let KernelError.rejected(_, errno, _) {
                return errno.name
            }
        }
        XCTAssertEqual(outcome, "ENOENT")
    }

    func testDumpFiltersByAddressAndProtocol() throws {
        sh("ip -n \(netns) xfrm state allocspi src 203.0.113.1 dst 203.0.113.2 proto esp min 0x810 max 0x810")
        sh("ip -n \(netns) xfrm state allocspi src 203.0.113.1 dst 203.0.113.3 proto esp min 0x811 max 0x811")
        sh("ip -n \(netns) xfrm state allocspi src 198.51.100.1 dst 203.0.113.3 proto ah min 0x812 max 0x812")
        let (byDst, byProto, bySrc) = try inNamespace { () throws -> ([UInt32], [UInt32], [UInt32]) in
            let c = try XFRMCommandChannel()
            func run(_ f: XFRMRequest.DumpFilter) throws -> [UInt32] {
                try c.dump({ XFRMRequest.dumpSAs(sequence: $0, filter: f) }, operation: "filtered dump") {
                    if case .newSA(let s) = $0 { return s.spi }
                    return nil
                }.records.sorted()
            }
            return (try run(.init(destination: (IPAddress("203.0.113.3")!, 32))),
                    try run(.init(proto: .ah)),
                    try run(.init(source: (IPAddress("203.0.113.0")!, 24))))
        }
        XCTAssertEqual(byDst, [0x811, 0x812])
        XCTAssertEqual(byProto, [0x812])
        XCTAssertEqual(bySrc, [0x810, 0x811])
    }

    /// The streamed policy dump hands over every policy the collected one returns, in the same
    /// order, over several datagrams (1,500 policies do not fit in one).
    func testStreamedPolicyDumpMatchesTheCollectedOne() throws {
        var batch = ""
        for i in 0..<1_500 {
            batch += "xfrm policy add src 192.0.2.\(i % 250 + 1)/32 dst 198.51.100.\(i / 250 + 1)/32 dir \(["in", "out", "fwd"][i % 3]) priority \(i)\n"
        }
        let file = NSTemporaryDirectory() + "ipsectop-policies-\(getpid()).batch"
        try batch.write(toFile: file, atomically: true, encoding: .utf8)
        defer { unlink(file) }
        XCTAssertEqual(sh("ip -n \(netns) -batch \(file)"), 0)
        let (collected, streamed, parts, counted) = try inNamespace { () throws -> ([XFRMPolicy], [XFRMPolicy], Int, Int) in
            let c = try XFRMCommandChannel()
            var streamed: [XFRMPolicy] = [], parts = 0
            try c.dumpPolicies { _, policies, malformed in
                XCTAssertTrue(malformed.isEmpty)
                streamed += policies
                parts += 1
            }
            let info = try c.spdInfo()
            let counted = info?.policyCount ?? 0
            return (try c.dumpPolicies().records, streamed, parts, counted)
        }
        XCTAssertEqual(collected.count, 1_500)
        XCTAssertEqual(counted, 1_500, "the count the live source reserves for")
        XCTAssertEqual(streamed.map(\.identity), collected.map(\.identity))
        XCTAssertEqual(streamed.map(\.priority), collected.map(\.priority))
        XCTAssertGreaterThan(parts, 2, "the dump came in several datagrams")
    }

    func testSADAndSPDInfo() throws {
        sh("ip -n \(netns) xfrm state allocspi src 203.0.113.1 dst 203.0.113.2 proto esp min 0x800 max 0x800")
        sh("ip -n \(netns) xfrm policy add src 192.0.2.0/24 dst 198.51.100.0/24 dir in")
        let (sad, spd) = try inNamespace { () throws -> (UInt32?, UInt32?) in
            let c = try XFRMCommandChannel()
            return (try c.sadInfo()?.count, try c.spdInfo()?.inbound)
        }
        XCTAssertEqual(sad, 1)
        XCTAssertEqual(spd, 1)
    }

    func testEventChannelSeesPolicyEventsFromKernelOnly() throws {
        let kinds = try inNamespace { () throws -> [String] in
            let ev = try XFRMEventChannel(receiveBufferBytes: 1 << 20)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "ip xfrm policy add src 192.0.2.0/24 dst 198.51.100.0/24 dir out && ip xfrm policy flush"]
            try p.run(); p.waitUntilExit()
            var kinds: [String] = []
            let end = Date().addingTimeInterval(5)
            while kinds.count < 2 && Date() < end {
                let (ds, _) = try ev.drain()
                for d in ds {
                    XCTAssertEqual(d.senderPortID, 0)
                    for m in XFRMDecoder.decodeDatagram(d.bytes).messages {
                        if case .success(let msg) = m.body { kinds.append(msg.kindName) }
                    }
                }
                usleep(10_000)
            }
            return kinds
        }
        XCTAssertEqual(kinds, ["NEWPOLICY", "FLUSHPOLICY"])
    }
}

/// Runs a shell command and returns its exit status.
@discardableResult
func sh(_ s: String) -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", s]
    try? p.run()
    p.waitUntilExit()
    return p.terminationStatus
}

final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let cond = NSCondition()
    private var value: Result<T, Error>?
    func set(_ v: Result<T, Error>) { cond.lock(); value = v; cond.signal(); cond.unlock() }
    func wait() -> Result<T, Error> {
        cond.lock(); defer { cond.unlock() }
        while value == nil { cond.wait() }
        return value!
    }
}

/// The AF_PACKET keepalive capture on real packets between two namespaces.
final class KeepaliveCaptureTests: XCTestCase {

    func testCapturesOnlyOneByteFFDatagramsBothWays() throws {
        guard getuid() == 0 else {
            let msg = "SKIPPED (needs root): keepalive capture needs CAP_NET_RAW and network namespaces"
            FileHandle.standardError.write(Data((msg + "\n").utf8))
            throw XCTSkip(msg)
        }
        let a = "ipsectop-ka\(getpid())", b = "ipsectop-kb\(getpid())"
        defer { _ = sh("ip netns delete \(a); ip netns delete \(b)") }
        XCTAssertEqual(sh("""
            ip netns add \(a) && ip netns add \(b) &&
            ip -n \(a) link add va type veth peer name vb netns \(b) &&
            ip -n \(a) addr add 192.0.2.1/24 dev va && ip -n \(b) addr add 192.0.2.2/24 dev vb &&
            ip -n \(a) addr add 2001:db8::1/64 dev va nodad && ip -n \(b) addr add 2001:db8::2/64 dev vb nodad &&
            ip -n \(a) link set va up && ip -n \(b) link set vb up
            """), 0)
        let box = ResultBox<[CapturedKeepalive]>()
        let ready = ResultBox<Bool>()
        let t = Thread {
            do {
                try NetworkNamespace.enter(named: b)
                let cap = try KeepaliveCapture()
                ready.set(.success(true))
                var seen: [CapturedKeepalive] = []
                let end = Date().addingTimeInterval(5)
                while seen.count < 3 && Date() < end {
                    seen += cap.drain()
                    usleep(20_000)
                }
                box.set(.success(seen))
            } catch { ready.set(.failure(error)); box.set(.failure(error)) }
        }
        t.start()
        _ = try ready.wait().get()
        // A keepalive each way (IPv4 in, IPv4 out, IPv6 in), plus datagrams the filter must reject.
        let py = """
            import socket
            def send(fam, src, dst, data):
                s = socket.socket(fam, socket.SOCK_DGRAM); s.bind(src); s.sendto(data, dst); s.close()
            send(socket.AF_INET, ('192.0.2.1', 4500), ('192.0.2.2', 4500), b'\\xff')
            send(socket.AF_INET, ('192.0.2.1', 4501), ('192.0.2.2', 4500), b'\\xff\\xff')
            send(socket.AF_INET, ('192.0.2.1', 4502), ('192.0.2.2', 4500), b'\\x00')
            send(socket.AF_INET6, ('2001:db8::1', 4500), ('2001:db8::2', 4500), b'\\xff')
            """
        XCTAssertEqual(sh("ip netns exec \(a) python3 -c \"\(py)\""), 0)
        XCTAssertEqual(sh("ip netns exec \(b) python3 -c \"import socket; s=socket.socket(); s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('192.0.2.2', 44500)); s.sendto(b'\\xff', ('192.0.2.1', 4500))\""), 0)
        let seen = try box.wait().get()
        let text = seen.map { "\($0.outgoing ? "out" : "in") \($0.source):\($0.sourcePort)->\($0.destination):\($0.destinationPort)" }
        XCTAssertEqual(Set(text), ["in 192.0.2.1:4500->192.0.2.2:4500", "in 2001:db8::1:4500->2001:db8::2:4500",
                                   "out 192.0.2.2:44500->192.0.2.1:4500"])
    }
}
