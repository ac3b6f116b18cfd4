import CXFRM
import TestSupport
import XCTest
@testable import XFRMWire

/// Builds kernel-shaped messages from the C structs (the same layout the kernel writes).
enum Build {
    static func addr(_ s: String) -> xfrm_address_t {
        var a = xfrm_address_t()
        let b = IPAddress(s)!.xfrmBytes
        withUnsafeMutableBytes(of: &a) { for i in 0..<16 { $0[i] = b[i] } }
        return a
    }

    static func algo(name: String, key: [UInt8], extra: UInt32? = nil) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 64)
        for (i, c) in name.utf8.enumerated() { out[i] = c }
        withUnsafeBytes(of: UInt32(key.count * 8)) { out.append(contentsOf: $0) }
        if let e = extra { withUnsafeBytes(of: e) { out.append(contentsOf: $0) } }
        return out + key
    }

    static let key: [UInt8] = Array(repeating: 0xA5, count: 20) + [0x5A, 0xC3, 0x3C, 0x99]

    /// A NEWSA like the kernel sends for an ESP-in-UDP tunnel SA.
    static func newSA(type: XFRMMessageType = .newSA, spi: UInt32 = 0xc0ffee01, mark: (UInt32, UInt32)? = nil) -> [UInt8] {
        var b = XFRMRequestBuilder(type: type, flags: 0, sequence: 0)
        var i = xfrm_usersa_info()
        i.sel.daddr = addr("198.51.100.0"); i.sel.saddr = addr("192.0.2.0")
        i.sel.family = UInt16(AF_INET); i.sel.prefixlen_d = 24; i.sel.prefixlen_s = 24
        i.id.daddr = addr("203.0.113.2"); i.id.spi = spi.bigEndian; i.id.proto = 50
        i.saddr = addr("203.0.113.1")
        i.lft.soft_byte_limit = .max; i.lft.hard_byte_limit = .max
        i.lft.soft_packet_limit = .max; i.lft.hard_packet_limit = 1_000_000
        i.lft.soft_add_expires_seconds = 3000; i.lft.hard_add_expires_seconds = 3600
        i.curlft.bytes = 123_456; i.curlft.packets = 789; i.curlft.add_time = 1_790_000_000
        i.stats.replay = 2; i.stats.integrity_failed = 1
        i.reqid = 42; i.family = UInt16(AF_INET); i.mode = 1; i.replay_window = 32; i.flags = 0
        b.appendStruct(i)
        b.appendAttribute(.algAEAD, algo(name: "rfc4106(gcm(aes))", key: key, extra: 128))
        var e = xfrm_encap_tmpl()
        e.encap_type = 2; e.encap_sport = UInt16(4500).bigEndian; e.encap_dport = UInt16(44500).bigEndian
        b.appendAttribute(.encap, value: e)
        var r = xfrm_replay_state(); r.oseq = 17; r.seq = 19; r.bitmap = 0xff
        b.appendAttribute(.replayValue, value: r)
        b.appendAttribute(.lastUsed, value: UInt64(1_790_000_100))
        if let (v, m) = mark { var xm = xfrm_mark(); xm.v = v; xm.m = m; b.appendAttribute(.mark, value: xm) }
        b.appendAttribute(.ifID, value: UInt32(7))
        b.appendAttribute(.saDirection, [2])
        b.appendAttribute(.natKeepaliveInterval, value: UInt32(20))
        return b.bytes
    }
}

final class StructSizeTests: XCTestCase {
    /// Sizes from docs/xfrm-facts.md (x86-64); a change here means the kernel ABI view changed.
    func testStructSizesArePinned() {
        XCTAssertEqual(MemoryLayout<xfrm_usersa_info>.size, 224)
        XCTAssertEqual(MemoryLayout<xfrm_usersa_id>.size, 24)
        XCTAssertEqual(MemoryLayout<xfrm_userpolicy_info>.size, 168)
        XCTAssertEqual(MemoryLayout<xfrm_userpolicy_id>.size, 64)
        XCTAssertEqual(MemoryLayout<xfrm_user_acquire>.size, 280)
        XCTAssertEqual(MemoryLayout<xfrm_user_expire>.size, 232)
        XCTAssertEqual(ipsectop_offsetof_expire_hard(), 224)
        XCTAssertEqual(MemoryLayout<xfrm_user_polexpire>.size, 176)
        XCTAssertEqual(MemoryLayout<xfrm_aevent_id>.size, 48)
        XCTAssertEqual(MemoryLayout<xfrm_user_mapping>.size, 64)
        XCTAssertEqual(MemoryLayout<xfrm_user_tmpl>.size, 64)
        XCTAssertEqual(MemoryLayout<xfrm_encap_tmpl>.size, 24)
        XCTAssertEqual(MemoryLayout<xfrm_user_report>.size, 60)
        XCTAssertEqual(ipsectop_sizeof_algo(), 68)
        XCTAssertEqual(ipsectop_sizeof_algo_aead(), 72)
        XCTAssertEqual(ipsectop_sizeof_replay_esn(), 24)
    }
}

final class DecoderTests: XCTestCase {
    func decodeOne(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> XFRMMessage? {
        let d = XFRMDecoder.decodeDatagram(bytes)
        XCTAssertNil(d.framingError, file: file, line: line)
        XCTAssertEqual(d.messages.count, 1, file: file, line: line)
        guard case .success(let m)? = d.messages.first?.body else {
            XCTFail("decode failed: \(String(describing: d.messages.first?.body))", file: file, line: line)
            return nil
        }
        return m
    }

    func testNewSAFieldByField() throws {
        guard case .newSA(let s)? = decodeOne(Build.newSA(mark: (0x10, 0xff))) else { return XCTFail("not NEWSA") }
        XCTAssertEqual(s.source.description, "203.0.113.1")
        XCTAssertEqual(s.destination.description, "203.0.113.2")
        XCTAssertEqual(s.spi, 0xc0ffee01)
        XCTAssertEqual(s.proto, .esp)
        XCTAssertEqual(s.mode, .tunnel)
        XCTAssertEqual(s.reqid, 42)
        XCTAssertEqual(s.replayWindow, 32)
        XCTAssertEqual(s.selector.summary, "192.0.2.0/24 -> 198.51.100.0/24")
        XCTAssertEqual(s.lifetimeCurrent.bytes, 123_456)
        XCTAssertEqual(s.lifetimeCurrent.packets, 789)
        XCTAssertEqual(s.lifetimeConfig.hardPacketLimit, 1_000_000)
        XCTAssertEqual(s.lifetimeConfig.hardAddExpiresSeconds, 3600)
        XCTAssertEqual(s.stats.replay, 2)
        XCTAssertEqual(s.stats.integrityFailed, 1)
        let a = s.attributes
        XCTAssertEqual(a.aead, XFRMAlgorithm(name: "rfc4106(gcm(aes))", keyBits: UInt32(Build.key.count * 8), icvBits: 128))
        XCTAssertEqual(a.encapsulation?.type, .espInUDP)
        XCTAssertEqual(a.encapsulation?.sourcePort, 4500)
        XCTAssertEqual(a.encapsulation?.destinationPort, 44500)
        XCTAssertEqual(a.encapsulation?.originalAddress.description, "0.0.0.0")
        XCTAssertEqual(a.replay, XFRMReplayState(outboundSequence: 17, inboundSequence: 19, bitmap: 0xff))
        XCTAssertEqual(a.lastUsed, 1_790_000_100)
        XCTAssertEqual(a.mark, XFRMMark(value: 0x10, mask: 0xff))
        XCTAssertEqual(a.ifID, 7)
        XCTAssertEqual(a.direction, .outbound)
        XCTAssertEqual(a.natKeepaliveInterval, 20)
        XCTAssertFalse(s.isLarval)
        XCTAssertEqual(s.identity.mark, XFRMMark(value: 0x10, mask: 0xff))
    }

    func testUnknownAttributesAndTypesAreKept() {
        var bytes = Build.newSA(type: .updSA)
        // Append attribute 99 with 4 bytes of payload.
        bytes += [8, 0, 99, 0, 1, 2, 3, 4]
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: UInt32($0.count), as: UInt32.self) }
        guard case .updateSA(let s)? = decodeOne(bytes) else { return XCTFail("not UPDSA") }
        XCTAssertEqual(s.attributes.unknown, [XFRMUnknownAttribute(type: 99, payload: [1, 2, 3, 4])])
        var other = XFRMRequestBuilder(type: .newSA, flags: 0, sequence: 0)
        other.put(UInt16(0x77), at: 4)
        guard case .unknown(let t, _)? = decodeOne(other.bytes) else { return XCTFail("not unknown") }
        XCTAssertEqual(t, 0x77)
    }

    func testDeleteSAWithBody() {
        var b = XFRMRequestBuilder(type: .delSA, flags: 0, sequence: 0)
        var id = xfrm_usersa_id()
        id.daddr = Build.addr("2001:db8::2"); id.spi = UInt32(0x1234).bigEndian; id.family = UInt16(AF_INET6); id.proto = 50
        b.appendStruct(id)
        var info = xfrm_usersa_info()
        info.id = xfrm_id(daddr: Build.addr("2001:db8::2"), spi: UInt32(0x1234).bigEndian, proto: 50)
        info.saddr = Build.addr("2001:db8::1"); info.family = UInt16(AF_INET6); info.reqid = 9
        b.appendAttribute(.sa, value: info)
        var xm = xfrm_mark(); xm.v = 3; xm.m = 0xffffffff
        b.appendAttribute(.mark, value: xm)
        guard case .deleteSA(let ident, let src, let st)? = decodeOne(b.bytes) else { return XCTFail("not DELSA") }
        XCTAssertEqual(ident.destination.description, "2001:db8::2")
        XCTAssertEqual(ident.spi, 0x1234)
        XCTAssertEqual(ident.mark, XFRMMark(value: 3, mask: 0xffffffff))
        XCTAssertEqual(src?.description, "2001:db8::1")
        XCTAssertEqual(st?.reqid, 9)
    }

    func testMappingAndExpireAndFlush() {
        var m = xfrm_user_mapping()
        m.id.daddr = Build.addr("203.0.113.2"); m.id.spi = UInt32(0xabcd).bigEndian; m.id.family = UInt16(AF_INET); m.id.proto = 50
        m.reqid = 1; m.old_saddr = Build.addr("203.0.113.1"); m.new_saddr = Build.addr("203.0.113.1")
        m.old_sport = UInt16(44500).bigEndian; m.new_sport = UInt16(44501).bigEndian
        var b = XFRMRequestBuilder(type: .mapping, flags: 0, sequence: 0)
        b.appendStruct(m)
        guard case .mapping(let mp)? = decodeOne(b.bytes) else { return XCTFail("not MAPPING") }
        XCTAssertEqual(mp.oldSourcePort, 44500)
        XCTAssertEqual(mp.newSourcePort, 44501)
        XCTAssertEqual(mp.identity.spi, 0xabcd)

        var e = XFRMRequestBuilder(type: .expire, flags: 0, sequence: 0)
        var ue = xfrm_user_expire()
        ue.state.id.spi = UInt32(5).bigEndian; ue.state.family = UInt16(AF_INET); ue.hard = 1
        e.appendStruct(ue)
        guard case .expire(let s, let hard)? = decodeOne(e.bytes) else { return XCTFail("not EXPIRE") }
        XCTAssertTrue(hard)
        XCTAssertEqual(s.spi, 5)

        var f = XFRMRequestBuilder(type: .flushSA, flags: 0, sequence: 0)
        f.appendStruct(xfrm_usersa_flush(proto: 255))
        XCTAssertEqual(decodeOne(f.bytes), .flushSA(.anyIPsec))
    }

    func testErrorWithExtendedAck() {
        // NLMSG_ERROR, capped, with NLMSGERR_ATTR_MSG.
        var b = XFRMRequestBuilder(type: .error, flags: NetlinkFlags.capped | NetlinkFlags.ackTLVs, sequence: 9)
        var err = [UInt8]()
        withUnsafeBytes(of: Int32(-22)) { err += $0 }
        withUnsafeBytes(of: UInt32(16)) { err += $0 }
        withUnsafeBytes(of: UInt16(0x18)) { err += $0 }
        err += [0, 0]
        withUnsafeBytes(of: UInt32(9)) { err += $0 }
        withUnsafeBytes(of: UInt32(0)) { err += $0 }
        b.bytes += err
        b.updateLength()
        b.appendAttribute(XFRMAttributeType(rawValue: 1)!, Array("SA must be in VALID state\0".utf8))
        guard case .error(let e)? = decodeOne(b.bytes) else { return XCTFail("not ERROR") }
        XCTAssertEqual(e.errno, 22)
        XCTAssertEqual(e.requestType, 0x18)
        XCTAssertEqual(e.message, "SA must be in VALID state")
    }

    func testSeveralMessagesAndDoneInOneDatagram() {
        let done: [UInt8] = [20, 0, 0, 0, 3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        let d = XFRMDecoder.decodeDatagram(Build.newSA(spi: 1) + Build.newSA(spi: 2) + done)
        XCTAssertNil(d.framingError)
        XCTAssertEqual(d.messages.count, 3)
        if case .success(.done(0)) = d.messages[2].body {} else { XCTFail("last is not DONE") }
    }

    func testRequestsDecodeBackToTheirIdentity() {
        let id = SAIdentity(family: .inet6, destination: IPAddress("2001:db8::2")!, spi: 0x4242, proto: .esp,
                            mark: XFRMMark(value: 1, mask: 0xf))
        let del = XFRMRequest.deleteSA(sequence: 5, identity: id)
        guard case .deleteSA(let back, _, _)? = decodeOne(del) else { return XCTFail("DELSA request does not decode") }
        XCTAssertEqual(back, id)
        let h = XFRMDecoder.decodeDatagram(del).messages[0].header
        XCTAssertEqual(h.flags, NetlinkFlags.request | NetlinkFlags.ack)
        XCTAssertEqual(h.sequence, 5)
        let exp = XFRMRequest.expireSA(sequence: 6, identity: id, hard: false)
        guard case .expire(let s, let hard)? = decodeOne(exp) else { return XCTFail("EXPIRE request does not decode") }
        XCTAssertFalse(hard)
        XCTAssertEqual(s.identity, id)
        let dump = XFRMRequest.dumpSAs(sequence: 1)
        XCTAssertEqual(dump.count, 16)
        XCTAssertEqual(XFRMDecoder.decodeDatagram(dump).messages[0].header.flags, NetlinkFlags.request | NetlinkFlags.dump)
    }
}

final class MalformedInputTests: XCTestCase {
    func testEveryTruncationGivesTypedErrorNeverTrap() {
        let full = Build.newSA()
        for n in 0..<full.count {
            var cut = Array(full[0..<n])
            // Keep the header's length consistent with the cut so the payload decoder sees short input.
            if n >= 16 { cut.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(n), as: UInt32.self) } }
            let d = XFRMDecoder.decodeDatagram(cut)
            if n == 0 { XCTAssertTrue(d.messages.isEmpty); continue }
            let failed = d.framingError != nil || d.messages.contains { if case .failure = $0.body { return true }; return false }
            // Cuts that end exactly on an attribute boundary are valid shorter messages.
            if !failed, case .success(.newSA)? = d.messages.first?.body { continue }
            XCTAssertTrue(failed, "cut at \(n) decoded without error")
        }
    }

    func testBadAttributeLengths() {
        var bytes = Build.newSA()
        let attrStart = 16 + 224
        // Attribute length 2 (< 4).
        bytes[attrStart] = 2; bytes[attrStart + 1] = 0
        guard case .failure(let e)? = XFRMDecoder.decodeDatagram(bytes).messages.first?.body else { return XCTFail("accepted") }
        if case .badAttributeLength = e {} else { XCTFail("wrong error \(e)") }
        var past = Build.newSA()
        past[attrStart] = 0xff; past[attrStart + 1] = 0x7f
        guard case .failure(let e2)? = XFRMDecoder.decodeDatagram(past).messages.first?.body else { return XCTFail("accepted") }
        if case .badAttributeLength = e2 {} else { XCTFail("wrong error \(e2)") }
    }

    func testMessageLengthPastEnd() {
        var bytes = Build.newSA()
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(10_000), as: UInt32.self) }
        XCTAssertEqual(XFRMDecoder.decodeDatagram(bytes).framingError,
                       .messageLengthPastEnd(declared: 10_000, available: bytes.count))
        XCTAssertEqual(XFRMDecoder.decodeDatagram([1, 2, 3]).framingError, .truncatedHeader(available: 3))
    }

    func testMisalignedPayloadDecodes() {
        // The same message starting at an odd address inside a larger buffer.
        let msg = Build.newSA()
        let buffer = [0xEE] + msg
        buffer.withUnsafeBytes { raw in
            let d = XFRMDecoder.decodeDatagram(UnsafeRawBufferPointer(rebasing: raw[1...]))
            guard case .success(.newSA(let s))? = d.messages.first?.body else { return XCTFail("misaligned decode failed") }
            XCTAssertEqual(s.spi, 0xc0ffee01)
        }
    }

    /// Found by the fuzzer: NLMSG_DONE carrying Int32.min as its error code.
    func testDoneWithMinimumErrorCode() {
        let bytes: [UInt8] = [20, 0, 0, 0, 3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]
        guard case .success(.done(let e))? = XFRMDecoder.decodeDatagram(bytes).messages.first?.body else {
            return XCTFail("DONE not decoded")
        }
        XCTAssertEqual(e, Int32.max)
    }

    func testRandomGarbageNeverTraps() {
        var rng = SplitMix64(seed: 0x1b5ec7)
        var decoded = 0
        for _ in 0..<20_000 {
            var bytes = Build.newSA()
            let flips = Int(rng.next() % 8) + 1
            for _ in 0..<flips { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            decoded += XFRMDecoder.decodeDatagram(bytes).messages.count
            var copy = bytes
            XFRMRedaction.redactKeys(&copy)
        }
        XCTAssertGreaterThan(decoded, 0)
    }
}

final class RedactionTests: XCTestCase {
    func testKeysAreZeroedAndEverythingElseKept() {
        var bytes = Build.newSA()
        let before = XFRMDecoder.decodeDatagram(bytes).messages[0].body
        let zeroed = XFRMRedaction.redactKeys(&bytes)
        XCTAssertEqual(zeroed, Build.key.count)
        // No 4-byte window of the key remains anywhere.
        let probe = Array(Build.key.suffix(4))
        XCTAssertFalse(bytes.indices.dropLast(3).contains { Array(bytes[$0..<($0 + 4)]) == probe })
        let after = XFRMDecoder.decodeDatagram(bytes).messages[0].body
        XCTAssertEqual(try? before.get(), try? after.get())
    }
}


final class AddressTests: XCTestCase {
    func testFormatting() {
        XCTAssertEqual(IPAddress("2001:db8:0:0:1:0:0:1")?.description, "2001:db8::1:0:0:1")
        XCTAssertEqual(IPAddress("2001:db8::")?.description, "2001:db8::")
        XCTAssertEqual(IPAddress("::")?.description, "::")
        XCTAssertEqual(IPAddress("::1")?.description, "::1")
        XCTAssertEqual(IPAddress("2001:db8:1:2:3:4:5:6")?.description, "2001:db8:1:2:3:4:5:6")
        XCTAssertEqual(IPAddress("2001:0:0:1::1")?.description, "2001:0:0:1::1")
        XCTAssertEqual(IPAddress("192.0.2.255")?.description, "192.0.2.255")
        XCTAssertNil(IPAddress("192.0.2"))
    }
}
