import Foundation
import IPsecExport
import IPsecModel
import TestSupport
import XCTest
import XFRMWire

func sampleSA(spi: UInt32 = 0xc001, securityContext: String? = nil) -> XFRMState {
    var a = XFRMAttributes()
    a.aead = XFRMAlgorithm(name: "rfc4106(gcm(aes))", keyBits: 160, icvBits: 128)
    a.encapsulation = XFRMEncapsulation(type: .espInUDP, sourcePort: 4500, destinationPort: 44500, originalAddress: .zero(.inet))
    a.mark = XFRMMark(value: 0x10, mask: 0xff)
    if let c = securityContext { a.securityContext = XFRMSecurityContext(doi: 1, algorithm: 1, context: c) }
    let s = IPAddress("192.0.2.2")!, d = IPAddress("203.0.113.2")!
    var lim = XFRMLifetimeConfig.infinite
    lim.hardAddExpiresSeconds = 3600
    return XFRMState(selector: XFRMSelector(destination: IPAddress("198.51.100.0")!, source: IPAddress("192.0.2.0")!,
                                            family: .inet, destinationPrefixLength: 24, sourcePrefixLength: 24),
                     destination: d, spi: spi, proto: .esp, source: s, lifetimeConfig: lim,
                     lifetimeCurrent: XFRMLifetimeCurrent(bytes: 1234, packets: 5, addTime: 1_790_000_000, useTime: 0),
                     stats: XFRMStats(replayWindow: 32, replay: 0, integrityFailed: 0), seq: 0, reqid: 3,
                     family: .inet, mode: .tunnel, replayWindow: 32, flags: 0, attributes: a)
}

final class JSONExportTests: XCTestCase {
    func parse(_ bytes: [UInt8]) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    func testSAFieldsAndConventions() throws {
        var w = JSONWriter()
        KernelJSON.sa(&w, sampleSA())
        let o = try parse(w.bytes)
        XCTAssertEqual(o["spi"] as? String, "0x0000c001")
        XCTAssertEqual(o["src"] as? String, "192.0.2.2")
        XCTAssertEqual(o["bytes"] as? Int, 1234)
        XCTAssertEqual((o["encap"] as? [String: Any])?["dport"] as? Int, 44500)
        XCTAssertEqual((o["mark"] as? [String: Any])?["value"] as? Int, 16)
        XCTAssertEqual(o["add_time"] as? String, "2026-09-21T14:13:20Z")
        XCTAssertEqual(o["add_time_epoch"] as? Int, 1_790_000_000)
        XCTAssertTrue(o["first_use"] is NSNull)
        let limits = try XCTUnwrap(o["limits"] as? [String: Any])
        XCTAssertTrue(limits["hard_bytes"] is NSNull, "infinite limits must be null")
        XCTAssertEqual(limits["hard_add_seconds"] as? Int, 3600)
        let aead = (o["algorithms"] as? [String: Any])?["aead"] as? [String: Any]
        XCTAssertEqual(aead?["name"] as? String, "rfc4106(gcm(aes))")
        XCTAssertEqual(aead?["icv_bits"] as? Int, 128)
        XCTAssertEqual((o["selector"] as? [String: Any])?["src"] as? String, "192.0.2.0/24")
    }

    func testKernelStringsAreEscaped() throws {
        var w = JSONWriter()
        KernelJSON.sa(&w, sampleSA(securityContext: "sys\u{1b}[31m\"ctx\"\n\\"))
        let text = String(decoding: w.bytes, as: UTF8.self)
        XCTAssertFalse(text.contains("\u{1b}"), "raw escape in JSON")
        XCTAssertTrue(text.contains("\\u001b"))
        let o = try parse(w.bytes)
        XCTAssertEqual(o["security_context"] as? String, "sys\u{1b}[31m\"ctx\"\n\\")
    }

    func testEventLinesForMappingAndFlush() throws {
        let id = SAIdentity(family: .inet, destination: IPAddress("203.0.113.2")!, spi: 0xc2c57eea, proto: .esp, mark: nil)
        let mapping = XFRMMessage.mapping(XFRMMapping(identity: id, reqid: 1, oldSource: IPAddress("203.0.113.1")!,
                                                     newSource: IPAddress("203.0.113.1")!, oldSourcePort: 16388, newSourcePort: 24108))
        var w = JSONWriter()
        KernelJSON.event(&w, mapping, time: 1_790_000_000.25, group: XFRMGroup.mapping.bindMask)
        let o = try parse(w.bytes)
        XCTAssertEqual(o["type"] as? String, "MAPPING")
        XCTAssertEqual(o["group"] as? String, "mapping")
        XCTAssertEqual(o["time"] as? String, "2026-09-21T14:13:20.250Z")
        XCTAssertEqual(o["old_sport"] as? Int, 16388)
        XCTAssertEqual(o["new_sport"] as? Int, 24108)
        XCTAssertEqual(o["spi"] as? String, "0xc2c57eea")
        w.reset()
        KernelJSON.event(&w, .flushSA(IPsecProtocol(rawValue: 0)), time: 0, group: XFRMGroup.sa.bindMask)
        XCTAssertEqual(try parse(w.bytes)["proto"] as? String, "all")
    }

    func testModelSnapshotCarriesDerivedFieldsAndPeers() throws {
        var model = LiveModel()
        let t0 = 1_790_000_000.0
        _ = model.apply(.dumpBegan(.sa), at: t0)
        _ = model.apply(.saDump([sampleSA()]), at: t0)
        _ = model.apply(.dumpBegan(.policy), at: t0)
        _ = model.apply(.policyDump([]), at: t0)
        var later = sampleSA()
        later.lifetimeCurrent.bytes += 10_000
        later.lifetimeCurrent.packets += 10
        _ = model.apply(.dumpBegan(.sa), at: t0 + 1)
        _ = model.apply(.saDump([later]), at: t0 + 1)
        let doc = try parse(ModelJSON.render(model, context: .init(host: "gw", netns: "left", kernel: "6.1", now: t0 + 1)))
        let sa = try XCTUnwrap((doc["sas"] as? [[String: Any]])?.first)
        let derived = try XCTUnwrap(sa["derived"] as? [String: Any])
        XCTAssertEqual(derived["peer"] as? String, model.allSAs.first?.peer.description)
        let r2 = ((derived["rates"] as? [String: Any])?["2s"] as? [String: Any])?["bytes_per_s"] as? Double
        XCTAssertEqual(r2 ?? 0, 10_000, accuracy: 1)
        XCTAssertEqual((derived["tunnel_totals"] as? [String: Any])?["bytes"] as? Int, 11_234)
        let peers = try XCTUnwrap(doc["peers"] as? [[String: Any]])
        XCTAssertEqual(peers.count, 1)
        let nat = try XCTUnwrap(peers[0]["nat"] as? [String: Any])
        XCTAssertEqual(nat["behind_nat"] as? Bool, true)
        XCTAssertNotNil((peers[0]["keepalive"] as? [String: Any])?["reason"] as? String)
        XCTAssertEqual((doc["sync"] as? [String: Any])?["state"] as? String, "in sync")
    }

    func testHugeAndOddNumbersStayValidJSON() throws {
        var w = JSONWriter()
        w.beginArray()
        for v in [1e63, -1.7976931348623157e308, 123.456, .nan, .infinity] { w.double(v, decimals: 3) }
        w.endArray()
        let a = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [Any])
        XCTAssertEqual((a[0] as? NSNumber)?.doubleValue ?? 0, 1e63, accuracy: 1e57)
        XCTAssertEqual((a[2] as? NSNumber)?.doubleValue ?? 0, 123.456, accuracy: 1e-9)
        XCTAssertTrue(a[3] is NSNull)
        XCTAssertTrue(a[4] is NSNull)
    }

    /// A peer's text written in place is the text `PeerKey.description` builds.
    func testPeerTextWrittenInPlaceIsTheKeysDescription() throws {
        let keys = [PeerKey(local: IPAddress("192.0.2.1")!, remote: IPAddress("198.51.100.2")!, remotePort: 4500),
                    PeerKey(local: IPAddress("203.0.113.250")!, remote: IPAddress("192.0.2.255")!),
                    PeerKey(local: IPAddress("2001:db8:0:1::1")!, remote: IPAddress("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe")!,
                            remotePort: 65535),
                    PeerKey(local: IPAddress("2001:db8::")!, remote: IPAddress("::ffff:192.0.2.1")!, remotePort: 1)]
        for k in keys {
            var w = JSONWriter()
            w.beginArray(); w.peer(k); w.endArray()
            let a = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String])
            XCTAssertEqual(a, [k.description])
        }
    }

    /// Fractional numbers print exactly as `"%.*f"` prints them (the writer formats them in
    /// integers and leaves near-ties to the C library): halves, values that only look like halves
    /// (2.675 is 2.67499999... in binary), negatives that round to zero, and the edges of the
    /// integer range, at every number of decimals the documents use and beyond.
    func testFixedDecimalsMatchPrintf() throws {
        var r = SplitMix64(seed: 0x5eed_f1ed)
        var values: [Double] = [0.25, 0.125, 0.375, 2.675, 1.005, 0.045, -0.04, -0.05, -0.0, 0.05, 0.15, 9.995,
                                123_456.789, 0.000_49, 0.000_5, 1_099_511.627_775, 1_099_511_627_775.4, 1e-7]
        for _ in 0..<20_000 {
            let magnitude = Double(r.below(13)) - 3            // 1e-3 ... 1e9
            var v = Double(r.next() >> 11) / Double(1 << 53) * pow(10, magnitude)
            if r.below(4) == 0 { v = (v * 1000).rounded() / 1000 + [0.0005, 0.005, 0.05, 0.5][r.below(4)] }
            values.append(r.below(5) == 0 ? -v : v)
        }
        for v in values {
            for d in 1...6 {
                var w = JSONWriter()
                w.double(v, decimals: d)
                XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), String(format: "%.*f", d, v), "\(v) with \(d) decimals")
            }
        }
    }

    /// Commas stay right at every depth, also past the 64 levels the writer keeps in one word.
    func testNestedContainersKeepTheirCommasAtAnyDepth() {
        for depth in [1, 2, 63, 64, 65, 66, 130, 200] {
            var w = JSONWriter()
            var expected = ""
            for level in 0..<depth {
                w.beginArray(); w.int(level); w.beginObject(); w.member("k", level); w.key("v")
                expected += "[\(level),{\"k\":\(level),\"v\":"
            }
            w.null()
            expected += "null"
            for level in (0..<depth).reversed() {
                w.endObject(); w.bool(level % 2 == 0); w.endArray()
                expected += "},\(level % 2 == 0)]"
            }
            XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), expected, "depth \(depth)")
            w.reset()
            w.beginArray(); w.int(1); w.int(2); w.endArray()
            XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), "[1,2]", "after reset at depth \(depth)")
        }
    }

    func testXFRMStatParsing() {
        let parsed = parseXFRMStat("XfrmInError             \t0\nXfrmInNoStates          \t17\nbogus line\n")
        XCTAssertEqual(parsed.map(\.name), ["XfrmInError", "XfrmInNoStates"])
        XCTAssertEqual(parsed.map(\.value), [0, 17])
    }

    /// Addresses written in place read as `ip` prints them (dotted quad, RFC 5952), as their
    /// `description` does, with or without a prefix length.
    func testAddressesWrittenInPlaceReadAsIpPrintsThem() throws {
        var cases = try [("192.0.2.1", "192.0.2.1"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
                         ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"), ("2001:db8:0:1:0:0:0:0", "2001:db8:0:1::"),
                         ("0:0:0:0:0:0:0:0", "::"), ("::1", "::1"), ("::ffff:198.51.100.7", "::ffff:198.51.100.7"),
                         ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6"), ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
                         ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1")]
            .map { (try XCTUnwrap(IPAddress($0.0), $0.0), $0.1) }
        cases.append((.zero(.unspecified), "0.0.0.0"))
        for (a, text) in cases {
            XCTAssertEqual(a.description, text)
            for prefix in [nil, 0, 24, 128] as [UInt8?] {
                var w = JSONWriter()
                w.beginArray(); w.address(a, prefixLength: prefix); w.member2(a); w.endArray()
                let withPrefix = text + (prefix.map { "/\($0)" } ?? "")
                XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), "[\"\(withPrefix)\",{\"a\":\"\(text)\"}]")
            }
        }
    }

    func testTextTableAlignsColumns() {
        let t = SnapshotText.table(["A", "LONGER"], [["xxxx", "y"], ["z", "w"]])
        XCTAssertEqual(t, "A     LONGER\nxxxx  y\nz     w\n")
        // Widths are in characters, also for cells that are not ASCII (a kernel security context,
        // a host name): "é" is one column, "e\u{301}" too, "∞" one.
        let u = SnapshotText.table(["A", "B"], [["é", "x"], ["ab", "y"], ["e\u{301}∞", "z"]])
        XCTAssertEqual(u, "A   B\né   x\nab  y\ne\u{301}∞  z\n")
        XCTAssertEqual(SnapshotText.bytes(1536), "1.5 KiB")
        XCTAssertEqual(SnapshotText.bytes(12), "12 B")
    }
}

/// The writer against Foundation's parser: random documents (strings with every escape and
/// non-ASCII text, integers at the edges, doubles, nesting), written whole, streamed in small
/// chunks, and through a copy of a half-written writer.
final class JSONWriterRoundTripTests: XCTestCase {

    func randomString(_ r: inout SplitMix64) -> String {
        let pieces = ["a", "Z", "0", " ", "\"", "\\", "\n", "\r", "\t", "\u{01}", "\u{1f}", "\u{7f}", "é", "→", "🙂", "/", "ipsec"]
        return (0..<r.below(20)).map { _ in pieces[r.below(pieces.count)] }.joined()
    }

    /// Writes a random value and returns what the parser must read back.
    func write(_ w: inout JSONWriter, _ r: inout SplitMix64, depth: Int) -> Any {
        switch depth > 2 ? r.below(4) : r.below(6) {
        case 0:
            let s = randomString(&r); w.string(s); return s
        case 1:
            let v: Int64 = [0, 1, -1, .max, .min + 1, 1_795_000_000, Int64(r.next() >> 12)][r.below(7)]
            w.int(v); return NSNumber(value: v)
        case 2:
            let v = Double(r.below(2_000_000)) / 8 - 100_000
            w.double(v, decimals: 3); return NSNumber(value: (v * 1000).rounded() / 1000)
        case 3:
            if r.below(2) == 0 { w.null(); return NSNull() }
            let b = r.below(2) == 0; w.bool(b); return NSNumber(value: b)
        case 4:
            w.beginArray()
            let items = (0..<r.below(5)).map { _ in write(&w, &r, depth: depth + 1) }
            w.endArray()
            return items
        default:
            w.beginObject()
            var o: [String: Any] = [:]
            for i in 0..<r.below(5) {
                let k = "k\(i)" + randomString(&r)
                w.key(dynamic: k)
                o[k] = write(&w, &r, depth: depth + 1)
            }
            w.endObject()
            return o
        }
    }

    /// Value equality across what the parser returns (Bool, NSNumber, Int, Double...).
    func same(_ a: Any, _ b: Any) -> Bool {
        switch (a, b) {
        case (is NSNull, is NSNull): return true
        case (let x as String, let y as String): return x == y
        case (let x as [Any], let y as [Any]): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (let x as [String: Any], let y as [String: Any]):
            return x.count == y.count && x.allSatisfy { k, v in y[k].map { same(v, $0) } ?? false }
        default:
            return number(a) != nil && number(a) == number(b)
        }
    }

    func number(_ v: Any) -> String? {
        if let b = v as? Bool, type(of: v) == Bool.self { return b ? "true" : "false" }
        if let n = v as? NSNumber {
            if String(cString: n.objCType) == "c" { return n.boolValue ? "true" : "false" }
            let d = n.doubleValue
            return d == d.rounded() && abs(d) < 9e15 ? String(Int64(d)) : (abs(d) >= 9e15 ? n.stringValue : String(d))
        }
        if let i = v as? Int { return String(i) }
        if let i = v as? Int64 { return String(i) }
        if let d = v as? Double { return d == d.rounded() && abs(d) < 9e15 ? String(Int64(d)) : String(d) }
        return nil
    }

    func testRandomDocumentsRoundTrip() throws {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<3000 {
            var r1 = rng, r2 = rng
            _ = rng.next()
            var whole = JSONWriter(reserve: 16)
            whole.beginArray()
            let expected = write(&whole, &r1, depth: 0)
            whole.endArray()
            let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(whole.bytes), options: [.fragmentsAllowed]) as? [Any])
            XCTAssertEqual(parsed.count, 1)
            XCTAssertTrue(same(parsed[0], expected), String(decoding: whole.bytes, as: UTF8.self))
            // Terminal-safe: no raw control character or DEL reaches the output.
            XCTAssertFalse(whole.bytes.contains { $0 < 0x20 || $0 == 0x7f })

            // The same document streamed in tiny chunks is the same bytes.
            var chunks: [UInt8] = []
            var streamed = JSONWriter(chunk: 7) { chunks += $0 }
            streamed.beginArray()
            _ = write(&streamed, &r2, depth: 0)
            streamed.endArray()
            streamed.flush()
            XCTAssertEqual(chunks, whole.bytes)
        }
    }

    func testACopyWritesIntoItsOwnBuffer() {
        var a = JSONWriter(reserve: 8)
        a.beginObject()
        a.member("x", 1)
        var b = a
        a.member("y", "a")
        b.member("z", "b")
        a.endObject(); b.endObject()
        XCTAssertEqual(String(decoding: a.bytes, as: UTF8.self), #"{"x":1,"y":"a"}"#)
        XCTAssertEqual(String(decoding: b.bytes, as: UTF8.self), #"{"x":1,"z":"b"}"#)
    }
}

private extension JSONWriter {
    /// An object with the address as a member (`member(_:address:)`).
    mutating func member2(_ a: IPAddress) { beginObject(); member("a", address: a); endObject() }
}
