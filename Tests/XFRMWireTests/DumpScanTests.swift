import Foundation
import CXFRM
import XCTest
@testable import XFRMWire

/// `SAScan` (identity, configuration hash and counters read without a full decode) against the
/// full decoder, on the real NEWSA records of the lab fixtures.
final class DumpScanTests: XCTestCase {
    static let fixtures = ["manual-esp-6.1", "manual-esp-6.12", "strongswan-natt-6.1", "strongswan-natt-6.12",
                           "kernel-lifetimes-6.1", "kernel-lifetimes-6.12"]

    /// Every NEWSA payload of a fixture's dumps, in order.
    func dumpPayloads(_ name: String) throws -> [[UInt8]] {
        guard let url = Bundle.module.url(forResource: name, withExtension: "xfrmrec", subdirectory: "Fixtures") else {
            XCTFail("fixture \(name).xfrmrec missing")
            return []
        }
        var raw = RawSADump()
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n").dropFirst() {
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  o["kind"] as? String == "dump", o["what"] as? String != "policy", let hex = o["hex"] as? String else { continue }
            var bytes: [UInt8] = []
            var it = hex.utf8.makeIterator()
            while let h = it.next(), let l = it.next() {
                bytes.append(UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16)!)
            }
            raw.append(bytes)
        }
        var out: [[UInt8]] = []
        raw.forEachPayload { out.append(Array($0)) }
        return out
    }

    /// The state with its counters replaced by fixed values: what the hash must summarise.
    func configurationOnly(_ st: XFRMState) -> XFRMState {
        var c = st
        c.lifetimeCurrent = XFRMLifetimeCurrent(bytes: 0, packets: 0, addTime: 0, useTime: 0)
        c.stats = XFRMStats(replayWindow: 0, replay: 0, integrityFailed: 0)
        c.attributes.replay = nil
        c.attributes.replayESN = nil
        c.attributes.lastUsed = nil
        return c
    }

    func testScanAgreesWithTheDecoderOnEveryDumpedSA() throws {
        var checked = 0
        for name in Self.fixtures {
            for p in try dumpPayloads(name) {
                let st = try XCTUnwrap(p.withUnsafeBytes { XFRMDecoder.decodeState(payload: $0) }, name)
                let scan = try XCTUnwrap(p.withUnsafeBytes { SAScan(payload: $0) }, name)
                XCTAssertEqual(scan.identity, st.identity, name)
                XCTAssertEqual(scan.counters, SACounters(st), name)
                XCTAssertNotEqual(scan.configurationHash, 0)
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 20, "the fixtures hold dumped SAs")
    }

    /// Across all dumps of a fixture: two records of the same SA have the same hash exactly when
    /// their configurations (everything but counters) are equal. The fixtures have SAs whose
    /// counters move between dumps (traffic) and SAs re-added with a new configuration.
    func testHashChangesWithConfigurationAndNotWithCounters() throws {
        var sameConfigDifferentCounters = 0
        var differentConfig = 0
        for name in Self.fixtures {
            var seen: [SAIdentity: [(XFRMState, UInt64)]] = [:]
            for p in try dumpPayloads(name) {
                guard let st = p.withUnsafeBytes({ XFRMDecoder.decodeState(payload: $0) }),
                      let scan = p.withUnsafeBytes({ SAScan(payload: $0) }) else { continue }
                for (other, hash) in seen[st.identity] ?? [] {
                    if configurationOnly(other) == configurationOnly(st) {
                        XCTAssertEqual(hash, scan.configurationHash, "\(name): same configuration, different hash")
                        if SACounters(other) != SACounters(st) { sameConfigDifferentCounters += 1 }
                    } else {
                        XCTAssertNotEqual(hash, scan.configurationHash, "\(name): changed configuration, same hash")
                        differentConfig += 1
                    }
                }
                seen[st.identity, default: []].append((st, scan.configurationHash))
            }
        }
        XCTAssertGreaterThan(sameConfigDifferentCounters, 0, "the fixtures have SAs whose counters moved")
    }

    func testEveryConfigurationByteCountsAndNoCounterByteDoes() throws {
        let size = MemoryLayout<xfrm_usersa_info>.size
        let p = try XCTUnwrap(dumpPayloads("strongswan-natt-6.1").first { $0.count > size })
        let base = try XCTUnwrap(p.withUnsafeBytes { SAScan(payload: $0) })
        let c0 = MemoryLayout<xfrm_usersa_info>.offset(of: \.curlft)!
        let s0 = MemoryLayout<xfrm_usersa_info>.offset(of: \.stats)!
        let curlft = c0..<(c0 + MemoryLayout<xfrm_lifetime_cur>.size)
        let stats = s0..<(s0 + MemoryLayout<xfrm_stats>.size)
        // Every byte of the fixed part (padding included: the kernel zeroes it) and of the attributes.
        for i in 0..<p.count {
            var q = p
            q[i] ^= 0x01
            guard let scan = q.withUnsafeBytes({ SAScan(payload: $0) }) else { continue }
            if curlft.contains(i) || stats.contains(i) {
                XCTAssertEqual(scan.configurationHash, base.configurationHash, "counter byte \(i) changed the hash")
                XCTAssertNotEqual(scan.counters, base.counters, "counter byte \(i) not read")
            } else if i < size {
                XCTAssertNotEqual(scan.configurationHash, base.configurationHash, "byte \(i) did not change the hash")
            }
        }
    }

    func testMalformedRecordsAreRefused() throws {
        let p = try XCTUnwrap(dumpPayloads("manual-esp-6.1").first)
        // Truncated fixed part.
        XCTAssertNil(Array(p.prefix(100)).withUnsafeBytes { SAScan(payload: $0) })
        // An attribute whose length runs past the end.
        var q = p
        let attrStart = (MemoryLayout<xfrm_usersa_info>.size + 3) & ~3
        XCTAssertGreaterThan(q.count, attrStart + 4)
        q[attrStart] = 0xff; q[attrStart + 1] = 0x7f
        XCTAssertNil(q.withUnsafeBytes { SAScan(payload: $0) })
        XCTAssertNil(q.withUnsafeBytes { XFRMDecoder.decodeState(payload: $0) }, "the decoder refuses it too")
        // Trailing garbage shorter than an attribute header.
        XCTAssertNil((p + [1, 2]).withUnsafeBytes { SAScan(payload: $0) })
    }

    func testRawDumpKeepsOnlyNewSAOfTheRequestedSequence() throws {
        // Two NEWSA records (sequence 7 and 8) and a DONE (sequence 7) in one datagram.
        let p = try XCTUnwrap(dumpPayloads("manual-esp-6.1").first)
        func message(type: UInt16, seq: UInt32, payload: [UInt8]) -> [UInt8] {
            var m: [UInt8] = []
            let len = UInt32(16 + payload.count)
            withUnsafeBytes(of: len.littleEndian) { m += $0 }
            withUnsafeBytes(of: type.littleEndian) { m += $0 }
            m += [2, 0]
            withUnsafeBytes(of: seq.littleEndian) { m += $0 }
            m += [0, 0, 0, 0]
            m += payload
            while m.count % 4 != 0 { m.append(0) }
            return m
        }
        let datagram = message(type: XFRMMessageType.newSA.rawValue, seq: 7, payload: p)
            + message(type: XFRMMessageType.newSA.rawValue, seq: 8, payload: p)
            + message(type: 3, seq: 7, payload: [0, 0, 0, 0])
        var raw = RawSADump()
        let others = raw.append(datagram, sequence: 7)
        XCTAssertEqual(raw.count, 1)
        XCTAssertEqual(others.count, 1)
        var kept: [[UInt8]] = []
        raw.forEachPayload { kept.append(Array($0)) }
        XCTAssertEqual(kept, [p])
        var all = RawSADump()
        all.append(datagram)
        XCTAssertEqual(all.count, 2)
    }
}
