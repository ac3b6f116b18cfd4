import Foundation
import IPsecExport
import IPsecModel
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

    func testXFRMStatParsing() {
        let parsed = parseXFRMStat("XfrmInError             \t0\nXfrmInNoStates          \t17\nbogus line\n")
        XCTAssertEqual(parsed.map(\.name), ["XfrmInError", "XfrmInNoStates"])
        XCTAssertEqual(parsed.map(\.value), [0, 17])
    }

    func testTextTableAlignsColumns() {
        let t = SnapshotText.table(["A", "LONGER"], [["xxxx", "y"], ["z", "w"]])
        XCTAssertEqual(t, "A     LONGER\nxxxx  y\nz     w\n")
        XCTAssertEqual(SnapshotText.bytes(1536), "1.5 KiB")
        XCTAssertEqual(SnapshotText.bytes(12), "12 B")
    }
}
