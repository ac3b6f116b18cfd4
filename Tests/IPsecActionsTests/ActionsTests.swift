import XCTest
import IPsecActions
import XFRMKernel
import XFRMWire

func state(spi: UInt32, src: String, dst: String, mark: XFRMMark? = nil, larval: Bool = false, reqid: UInt32 = 1) -> XFRMState {
    let s = IPAddress(src)!, d = IPAddress(dst)!
    var attrs = XFRMAttributes()
    if !larval { attrs.aead = XFRMAlgorithm(name: "rfc4106(gcm(aes))", keyBits: 160, icvBits: 128) }
    attrs.mark = mark
    return XFRMState(selector: XFRMSelector(destination: d, source: s, family: s.family, destinationPrefixLength: 32, sourcePrefixLength: 32),
                     destination: d, spi: spi, proto: .esp, source: s, lifetimeConfig: .infinite,
                     lifetimeCurrent: XFRMLifetimeCurrent(bytes: 0, packets: 0, addTime: 0, useTime: 0),
                     stats: XFRMStats(replayWindow: 0, replay: 0, integrityFailed: 0), seq: 0, reqid: reqid,
                     family: s.family, mode: .tunnel, replayWindow: 32, flags: 0, attributes: attrs)
}

final class ActionPlannerTests: XCTestCase {
    let sas = [
        state(spi: 0x100, src: "203.0.113.1", dst: "203.0.113.2"),
        state(spi: 0x101, src: "203.0.113.2", dst: "203.0.113.1"),
        state(spi: 0x100, src: "198.51.100.1", dst: "203.0.113.2", mark: XFRMMark(value: 5, mask: 0xff)),
        state(spi: 0x200, src: "203.0.113.1", dst: "203.0.113.9", larval: true),
    ]

    func testSelectionBySPIAndMark() {
        let plain = ActionPlanner.plan(.delete, states: sas, selection: SASelection(spi: 0x100, mark: XFRMMark(value: 0, mask: 0)))
        XCTAssertEqual(plain.map(\.target.source.description), ["203.0.113.1"])
        let marked = ActionPlanner.plan(.delete, states: sas, selection: SASelection(spi: 0x100, mark: XFRMMark(value: 5, mask: 0xff)))
        XCTAssertEqual(marked.map(\.target.source.description), ["198.51.100.1"])
        XCTAssertEqual(marked.first?.identity.mark, XFRMMark(value: 5, mask: 0xff))
        XCTAssertEqual(ActionPlanner.plan(.delete, states: sas, selection: SASelection(spi: 0x100)).count, 2)
    }

    func testPeerSelectsBothDirections() {
        let p = ActionPlanner.plan(.rekey, states: sas, selection: SASelection(peer: IPAddress("203.0.113.2")!))
        XCTAssertEqual(p.map(\.target.spi), [0x100, 0x101, 0x100])
    }

    func testLarvalRekeyIsRefusedWithReasonButDeleteIsNot() {
        let r = ActionPlanner.plan(.rekey, states: sas, selection: SASelection(spi: 0x200))
        XCTAssertEqual(r.count, 1)
        XCTAssertTrue(r[0].refusal?.contains("larval") ?? false)
        XCTAssertNil(ActionPlanner.plan(.delete, states: sas, selection: SASelection(spi: 0x200))[0].refusal)
    }

    func testConfirmationNamesExactTargetsAndHiddenCount() {
        let plans = ActionPlanner.plan(.delete, targets: [sas[2]])
        let text = ActionPlanner.confirmation(plans, hiddenByFilter: 3).joined(separator: "\n")
        XCTAssertTrue(text.contains("Delete 1 SA?"), text)
        XCTAssertTrue(text.contains("esp SPI 0x00000100 dst 203.0.113.2 src 198.51.100.1 mark 0x5/0xff"), text)
        XCTAssertTrue(text.contains("3 tagged SAs are hidden by the current filter"), text)
        XCTAssertEqual(ActionPlanner.operation(.delete, on: sas[2]),
                       "XFRM_MSG_DELSA {family inet, daddr 203.0.113.2, spi 0x00000100, proto esp} + XFRMA_MARK 0x5/0xff")
        XCTAssertEqual(ActionPlanner.iprouteEquivalent(.delete, on: sas[2]),
                       "ip xfrm state delete src 198.51.100.1 dst 203.0.113.2 proto esp spi 0x00000100 mark 0x5 mask 0xff")
    }
}

final class VICICodecTests: XCTestCase {
    func testRoundTripAndFraming() throws {
        let msg: [(String, VICIValue)] = [("child-id", .string("7")), ("sec", .section([("k", .string("v")), ("l", .list(["a", "b"]))]))]
        let bytes = VICICodec.encode(msg)
        XCTAssertEqual(Array(bytes.prefix(11)), [3, 8] + Array("child-id".utf8) + [0])
        let back = try VICICodec.decode(bytes[...])
        XCTAssertEqual(back, .section(msg))
        let pkt = VICICodec.packet(.commandRequest, name: "rekey", body: bytes)
        XCTAssertEqual(Array(pkt.prefix(4)), [0, 0, 0, UInt8(1 + 1 + 5 + bytes.count)])
        XCTAssertThrowsError(try VICICodec.decode([2][...]))
        XCTAssertThrowsError(try VICICodec.decode([3, 5, 65][...]))
    }

    func testChildrenFromListSAEvent() {
        let child: VICIValue = .section([("name", .string("net")), ("uniqueid", .string("3")),
                                         ("spi-in", .string("c1a2b3c4")), ("spi-out", .string("0000beef"))])
        let ev: VICIValue = .section([("gw", .section([("uniqueid", .string("1")), ("child-sas", .section([("net-3", child)]))]))])
        XCTAssertEqual(VICIClient.children(from: [ev]),
                       [VICIChildSA(ikeName: "gw", name: "net", uniqueID: "3", spiIn: 0xc1a2b3c4, spiOut: 0xbeef)])
    }
}
