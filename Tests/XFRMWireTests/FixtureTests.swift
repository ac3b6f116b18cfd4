import Foundation
import XCTest
@testable import XFRMWire

/// Real kernel messages captured in the full-IPsec lab (Lab/capture-fixtures.sh), decoded and
/// checked field by field against what each lab scenario configured (Lab/scenarios/*.sh).
final class LabFixtureTests: XCTestCase {
    struct Record {
        var kind: String
        var bytes: [UInt8]
        var messages: [XFRMMessage]
    }

    func load(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [Record] {
        guard let url = Bundle.module.url(forResource: name, withExtension: "xfrmrec", subdirectory: "Fixtures") else {
            XCTFail("fixture \(name).xfrmrec missing", file: file, line: line)
            return []
        }
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        let header = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        XCTAssertEqual(header?["format"] as? String, "ipsectop-recording", file: file, line: line)
        var out: [Record] = []
        for l in lines.dropFirst() {
            guard let o = try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any],
                  let hex = o["hex"] as? String else { continue }
            var bytes: [UInt8] = []
            var it = hex.utf8.makeIterator()
            while let h = it.next(), let l = it.next() {
                bytes.append(UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16)!)
            }
            let d = XFRMDecoder.decodeDatagram(bytes)
            XCTAssertNil(d.framingError, "framing error in \(name)", file: file, line: line)
            var msgs: [XFRMMessage] = []
            for m in d.messages {
                switch m.body {
                case .success(let msg): msgs.append(msg)
                case .failure(let e): XCTFail("\(name): undecodable message type \(m.header.type): \(e)", file: file, line: line)
                }
            }
            // The recording holds no key bytes: redacting again changes nothing.
            var copy = bytes
            XCTAssertEqual(XFRMRedaction.redactKeys(&copy), 0, "key bytes in \(name)", file: file, line: line)
            out.append(Record(kind: o["kind"] as? String ?? "", bytes: bytes, messages: msgs))
        }
        return out
    }

    func events(_ r: [Record]) -> [XFRMMessage] { r.filter { $0.kind == "event" }.flatMap(\.messages) }
    func dumpedSAs(_ r: [Record]) -> [XFRMState] {
        r.filter { $0.kind == "dump" }.flatMap(\.messages).compactMap { if case .newSA(let s) = $0 { return s }; return nil }
    }
    func newSA(_ msgs: [XFRMMessage], spi: UInt32) -> [XFRMState] {
        msgs.compactMap { if case .newSA(let s) = $0, s.spi == spi { return s }; return nil }
    }

    func checkManualESP(_ kernel: String) throws {
        let rec = try load("manual-esp-\(kernel)")
        let ev = events(rec)
        // 1. IPv4 ESP-in-UDP tunnel with AES-GCM (left's outbound SA).
        let c001 = try XCTUnwrap(newSA(ev, spi: 0xc001).first)
        XCTAssertEqual(c001.family, .inet)
        XCTAssertEqual(c001.source.description, "192.0.2.2")
        XCTAssertEqual(c001.destination.description, "203.0.113.2")
        XCTAssertEqual(c001.proto, .esp)
        XCTAssertEqual(c001.mode, .tunnel)
        XCTAssertEqual(c001.reqid, 1)
        XCTAssertEqual(c001.attributes.aead, XFRMAlgorithm(name: "rfc4106(gcm(aes))", keyBits: 160, icvBits: 128))
        XCTAssertNil(c001.attributes.crypt)
        XCTAssertEqual(c001.attributes.encapsulation,
                       XFRMEncapsulation(type: .espInUDP, sourcePort: 4500, destinationPort: 4500, originalAddress: IPAddress("0.0.0.0")!))
        XCTAssertEqual(c001.lifetimeConfig.hardByteLimit, .max)
        XCTAssertEqual(c001.lifetimeConfig.hardAddExpiresSeconds, 0)
        // Traffic went through: a later dump shows counters moving.
        XCTAssertGreaterThan(dumpedSAs(rec).filter { $0.spi == 0xc001 }.map(\.lifetimeCurrent.bytes).max() ?? 0, 0)
        // 2. IPv6 ESP-in-UDP with cbc(aes) + hmac(sha256) truncated to 128 bits.
        let c601 = try XCTUnwrap(newSA(ev, spi: 0xc601).first)
        XCTAssertEqual(c601.family, .inet6)
        XCTAssertEqual(c601.source.description, "2001:db8:1::2")
        XCTAssertEqual(c601.destination.description, "2001:db8:2::2")
        XCTAssertEqual(c601.reqid, 2)
        XCTAssertEqual(c601.attributes.crypt, XFRMAlgorithm(name: "cbc(aes)", keyBits: 128))
        XCTAssertEqual(c601.attributes.authTrunc, XFRMAlgorithm(name: "hmac(sha256)", keyBits: 256, icvBits: 128))
        XCTAssertEqual(c601.attributes.encapsulation?.sourcePort, 4500)
        XCTAssertEqual(c601.attributes.encapsulation?.originalAddress.description, "::")
        XCTAssertEqual(c601.selector.family, .inet6)
        // 3. Two SAs sharing SPI and destination, told apart by mark (and if_id).
        let marked = newSA(ev, spi: 0xc010)
        XCTAssertEqual(marked.count, 2)
        XCTAssertEqual(Set(marked.map { $0.attributes.mark }), [XFRMMark(value: 0x10, mask: 0xff), XFRMMark(value: 0x20, mask: 0xff)])
        XCTAssertEqual(Set(marked.compactMap { $0.attributes.ifID }), [7, 8])
        XCTAssertNotEqual(marked[0].identity, marked[1].identity)
        // 4. Kernel NAT keepalive: kept on 6.12 with SA_DIR=out, silently dropped by 6.1.
        let c0a1 = try XCTUnwrap(newSA(ev, spi: 0xc0a1).first)
        if kernel == "6.12" {
            XCTAssertEqual(c0a1.attributes.direction, .outbound)
            XCTAssertEqual(c0a1.attributes.natKeepaliveInterval, 2)
        } else {
            XCTAssertNil(c0a1.attributes.direction)
            XCTAssertNil(c0a1.attributes.natKeepaliveInterval)
        }
        // 5. DELSA carries the deleted SA's body.
        let del = ev.compactMap { m -> (SAIdentity, XFRMState?)? in
            if case .deleteSA(let id, _, let s) = m { return (id, s) }; return nil
        }
        XCTAssertEqual(del.count, 1)
        XCTAssertEqual(del.first?.0.spi, 0x9fff)
        XCTAssertEqual(del.first?.0.destination.description, "203.0.113.99")
        XCTAssertEqual(del.first?.1?.reqid, 99)
        // Policies with templates.
        let pols = ev.compactMap { if case .newPolicy(let p) = $0 { return p }; return nil }
        XCTAssertEqual(pols.count, 5)
        XCTAssertTrue(pols.allSatisfy { !$0.attributes.templates.isEmpty })
        XCTAssertTrue(pols.contains { $0.attributes.mark == XFRMMark(value: 0x10, mask: 0xff) && $0.attributes.ifID == 7 })
    }

    func testManualESPOn61() throws { try checkManualESP("6.1") }
    func testManualESPOn612() throws { try checkManualESP("6.12") }

    func checkStrongSwan(_ kernel: String) throws {
        let rec = try load("strongswan-natt-\(kernel)")
        let ev = events(rec)
        // Right's SAs: inbound from the NAT's public address with the NAT-chosen source port.
        let inbound = ev.compactMap { m -> XFRMState? in
            switch m { case .newSA(let s), .updateSA(let s): return s.destination.description == "203.0.113.2" ? s : nil
            default: return nil }
        }
        XCTAssertFalse(inbound.isEmpty)
        for s in inbound {
            XCTAssertEqual(s.source.description, "203.0.113.1")
            XCTAssertEqual(s.attributes.encapsulation?.type, .espInUDP)
            XCTAssertEqual(s.attributes.encapsulation?.destinationPort, 4500)
            XCTAssertNotEqual(s.attributes.encapsulation?.sourcePort, 4500, "the NAT did not change the port")
            XCTAssertEqual(s.lifetimeConfig.hardAddExpiresSeconds, 3960)
            XCTAssertNotNil(s.attributes.aead ?? s.attributes.crypt)
        }
        // The conntrack flush: one MAPPING, then charon re-adds the SA with the new port.
        let mappings = ev.compactMap { if case .mapping(let m) = $0 { return m }; return nil }
        XCTAssertEqual(mappings.count, 1)
        let m = try XCTUnwrap(mappings.first)
        XCTAssertEqual(m.identity.destination.description, "203.0.113.2")
        XCTAssertEqual(m.oldSource.description, "203.0.113.1")
        XCTAssertEqual(m.newSource.description, "203.0.113.1")
        XCTAssertNotEqual(m.oldSourcePort, m.newSourcePort)
        XCTAssertTrue(inbound.contains { $0.spi == m.identity.spi && $0.attributes.encapsulation?.sourcePort == m.oldSourcePort })
        XCTAssertTrue(inbound.contains { $0.spi == m.identity.spi && $0.attributes.encapsulation?.sourcePort == m.newSourcePort })
        // Rekey: at least two generations of SPIs for reqid 1 in each direction.
        let outSPIs = Set(ev.compactMap { m -> UInt32? in
            if case .newSA(let s) = m, s.destination.description == "203.0.113.1" { return s.spi }; return nil })
        XCTAssertGreaterThanOrEqual(outSPIs.count, 2)
    }

    func testStrongSwanNATTOn61() throws { try checkStrongSwan("6.1") }
    func testStrongSwanNATTOn612() throws { try checkStrongSwan("6.12") }

    func testKernelLifetimesSoftThenHard() throws {
        let ev = events(try load("kernel-lifetimes-6.1"))
        let expires = ev.compactMap { m -> (UInt32, Bool, UInt64)? in
            if case .expire(let s, let hard) = m { return (s.spi, hard, s.lifetimeCurrent.bytes) }; return nil
        }
        // Time limits: soft 3 s then hard 6 s.
        let e001 = try XCTUnwrap(newSA(ev, spi: 0xe001).first)
        XCTAssertEqual(e001.lifetimeConfig.softAddExpiresSeconds, 3)
        XCTAssertEqual(e001.lifetimeConfig.hardAddExpiresSeconds, 6)
        XCTAssertEqual(expires.filter { $0.0 == 0xe001 }.map(\.1), [false, true])
        // Byte limit: the soft expire fires once the counter passed 1000 bytes.
        let e002 = try XCTUnwrap(newSA(ev, spi: 0xe002).first)
        XCTAssertEqual(e002.lifetimeConfig.softByteLimit, 1000)
        let soft2 = try XCTUnwrap(expires.first { $0.0 == 0xe002 && !$0.1 })
        XCTAssertGreaterThanOrEqual(soft2.2, 1000)
        // An ACQUIRE and a flush of every protocol.
        let acq = ev.compactMap { if case .acquire(let a) = $0 { return a }; return nil }
        XCTAssertEqual(acq.count, 1)
        XCTAssertEqual(acq.first?.destination.description, "203.0.113.2")
        XCTAssertEqual(acq.first?.proto, .esp)
        XCTAssertTrue(ev.contains(.flushSA(IPsecProtocol(rawValue: 0))))
    }
}
