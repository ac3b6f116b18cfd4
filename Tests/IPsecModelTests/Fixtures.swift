import XCTest
@testable import IPsecModel
import XFRMWire

/// Test data: documentation addresses only (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).
enum Fx {
    static let t0: ModelTime = 1_795_000_000

    static func ip(_ s: String) -> IPAddress { IPAddress(s)! }

    static let local = ip("192.0.2.1")
    static let remote = ip("198.51.100.2")
    static let remote2 = ip("203.0.113.9")

    static func anySelector(_ family: AddressFamily = .inet) -> XFRMSelector {
        XFRMSelector(destination: .zero(family), source: .zero(family), family: family,
                     destinationPrefixLength: 0, sourcePrefixLength: 0)
    }

    static func subnetSelector(from: String, to: String) -> XFRMSelector {
        XFRMSelector(destination: ip(to), source: ip(from), family: .inet, destinationPrefixLength: 24,
                     sourcePrefixLength: 24)
    }

    // swiftlint:disable:next function_parameter_count
    static func sa(src: IPAddress, dst: IPAddress, spi: UInt32, reqid: UInt32 = 1, proto: IPsecProtocol = .esp,
                   dir: SADirection? = nil, bytes: UInt64 = 0, packets: UInt64 = 0, addTime: UInt64 = 1_794_999_000,
                   encap: (UInt16, UInt16)? = nil, larval: Bool = false, replayWindow: UInt8 = 32,
                   lifetime: XFRMLifetimeConfig = .infinite, esn: Bool = false, outboundSequence: UInt32? = nil,
                   lastUsed: UInt64? = nil, keepaliveInterval: UInt32? = nil, perCPU: UInt32? = nil,
                   replayFailures: UInt32 = 0, integrityFailures: UInt32 = 0,
                   selector: XFRMSelector? = nil, mark: XFRMMark? = nil) -> XFRMState {
        var attrs = XFRMAttributes()
        if !larval { attrs.aead = XFRMAlgorithm(name: "rfc4106(gcm(aes))", keyBits: 160, icvBits: 128) }
        if let (s, d) = encap {
            attrs.encapsulation = XFRMEncapsulation(type: .espInUDP, sourcePort: s, destinationPort: d,
                                                    originalAddress: .zero(src.family))
        }
        attrs.direction = dir
        attrs.lastUsed = lastUsed
        attrs.natKeepaliveInterval = keepaliveInterval
        attrs.perCPU = perCPU
        attrs.mark = mark
        if let o = outboundSequence {
            if esn {
                attrs.replayESN = XFRMReplayStateESN(bitmapLength: 4, outboundSequence: o, inboundSequence: 0,
                                                     outboundSequenceHigh: 0, inboundSequenceHigh: 0,
                                                     replayWindow: UInt32(replayWindow))
            } else {
                attrs.replay = XFRMReplayState(outboundSequence: o, inboundSequence: 0, bitmap: 0)
            }
        }
        return XFRMState(selector: selector ?? anySelector(src.family), destination: dst, spi: spi, proto: proto,
                         source: src, lifetimeConfig: lifetime,
                         lifetimeCurrent: XFRMLifetimeCurrent(bytes: bytes, packets: packets, addTime: addTime,
                                                              useTime: bytes > 0 ? addTime : 0),
                         stats: XFRMStats(replayWindow: 0, replay: replayFailures, integrityFailed: integrityFailures),
                         seq: 0, reqid: reqid, family: src.family, mode: .tunnel, replayWindow: replayWindow,
                         flags: esn ? 128 : 0, attributes: attrs)
    }

    /// An outbound SA local -> remote and its inbound partner remote -> local.
    static func out(_ spi: UInt32, bytes: UInt64 = 0, packets: UInt64 = 0, reqid: UInt32 = 1,
                    encap: (UInt16, UInt16)? = nil, addTime: UInt64 = 1_794_999_000) -> XFRMState {
        sa(src: local, dst: remote, spi: spi, reqid: reqid, dir: .outbound, bytes: bytes, packets: packets,
           addTime: addTime, encap: encap)
    }

    static func inb(_ spi: UInt32, bytes: UInt64 = 0, packets: UInt64 = 0, reqid: UInt32 = 1,
                    encap: (UInt16, UInt16)? = nil, addTime: UInt64 = 1_794_999_000) -> XFRMState {
        sa(src: remote, dst: local, spi: spi, reqid: reqid, dir: .inbound, bytes: bytes, packets: packets,
           addTime: addTime, encap: encap)
    }

    static func template(src: IPAddress, dst: IPAddress, reqid: UInt32, mode: XFRMMode = .tunnel) -> XFRMTemplate {
        XFRMTemplate(destination: dst, spi: 0, proto: .esp, family: src.family, source: src, reqid: reqid, mode: mode,
                     share: 0, optional: false, authAlgorithms: .max, encryptionAlgorithms: .max,
                     compressionAlgorithms: .max)
    }

    static func policy(dir: PolicyDirection, index: UInt32, selector: XFRMSelector,
                       templates: [XFRMTemplate]) -> XFRMPolicy {
        var attrs = XFRMAttributes()
        attrs.templates = templates
        return XFRMPolicy(selector: selector, lifetimeConfig: .infinite,
                          lifetimeCurrent: XFRMLifetimeCurrent(bytes: 0, packets: 0, addTime: 0, useTime: 0),
                          priority: 1000, index: index, direction: dir, action: 0, flags: 0, share: 0,
                          attributes: attrs)
    }

    /// A model that has completed its first SA and policy dumps at `t0`.
    static func model(_ states: [XFRMState], policies: [XFRMPolicy] = [], configure: (inout ModelConfiguration) -> Void = { _ in })
        -> LiveModel {
        var c = ModelConfiguration()
        configure(&c)
        var m = LiveModel(configuration: c)
        m.apply(.dumpBegan(.policy), at: t0)
        m.apply(.policyDump(policies), at: t0)
        m.apply(.dumpBegan(.sa), at: t0)
        m.apply(.saDump(states), at: t0)
        return m
    }

    /// Raw XFRM_MSG_MAPPING datagram (nlmsghdr + struct xfrm_user_mapping), for the real decode path.
    static func mappingDatagram(daddr: IPAddress, spi: UInt32, reqid: UInt32, oldSource: IPAddress, oldPort: UInt16,
                                newSource: IPAddress, newPort: UInt16) -> [UInt8] {
        var body: [UInt8] = []
        body += daddr.xfrmBytes
        body += withUnsafeBytes(of: spi.bigEndian) { Array($0) }
        body += withUnsafeBytes(of: AddressFamily.inet.rawValue) { Array($0) }
        body += [IPsecProtocol.esp.rawValue, 0]
        body += withUnsafeBytes(of: reqid) { Array($0) }
        body += oldSource.xfrmBytes
        body += newSource.xfrmBytes
        body += withUnsafeBytes(of: oldPort.bigEndian) { Array($0) }
        body += withUnsafeBytes(of: newPort.bigEndian) { Array($0) }
        var header: [UInt8] = []
        header += withUnsafeBytes(of: UInt32(16 + body.count)) { Array($0) }
        header += withUnsafeBytes(of: XFRMMessageType.mapping.rawValue) { Array($0) }
        header += withUnsafeBytes(of: UInt16(0)) { Array($0) }
        header += [UInt8](repeating: 0, count: 8)
        return header + body
    }

    static func decodeOne(_ bytes: [UInt8]) throws -> XFRMMessage {
        let d = XFRMDecoder.decodeDatagram(bytes)
        XCTAssertNil(d.framingError)
        return try XCTUnwrap(try d.messages.first?.body.get())
    }
}

extension LiveModel {
    /// One periodic refresh: dumpBegan + complete dump at `t`.
    mutating func refresh(_ states: [XFRMState], at t: ModelTime) {
        apply(.dumpBegan(.sa), at: t)
        apply(.saDump(states), at: t)
    }
}
