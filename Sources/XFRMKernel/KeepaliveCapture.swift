import CMNL
import Glibc
import XFRMWire

/// A one-byte 0xFF UDP datagram (RFC 3948 NAT-keepalive) seen on the wire.
public struct CapturedKeepalive: Sendable, Equatable {
    public var outgoing: Bool
    public var source: IPAddress
    public var sourcePort: UInt16
    public var destination: IPAddress
    public var destinationPort: UInt16
    public var time: Double
}

/// Watches every interface of the current network namespace for NAT keepalives
/// through an AF_PACKET socket with a classic BPF filter (UDP length 9, payload 0xFF,
/// IPv4 unfragmented or IPv6 with UDP as the first next header). Needs CAP_NET_RAW.
public final class KeepaliveCapture {
    public let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 2048)

    /// The BPF program. Offsets are relative to the network header (SOCK_DGRAM).
    static func program() -> [sock_filter] {
        func stmt(_ code: Int32, _ k: UInt32) -> sock_filter { sock_filter(code: UInt16(code), jt: 0, jf: 0, k: k) }
        func jump(_ code: Int32, _ k: UInt32, _ jt: UInt8, _ jf: UInt8) -> sock_filter {
            sock_filter(code: UInt16(code), jt: jt, jf: jf, k: k)
        }
        let ldAbsH = BPF_LD | BPF_H | BPF_ABS, ldAbsB = BPF_LD | BPF_B | BPF_ABS, jeq = BPF_JMP | BPF_JEQ | BPF_K
        let proto = UInt32(bitPattern: SKF_AD_OFF + SKF_AD_PROTOCOL)
        let drop: UInt8 = 19, accept: UInt8 = 18
        // Jump offsets are relative: target = index + 1 + offset.
        func to(_ target: UInt8, from index: UInt8) -> UInt8 { target - index - 1 }
        return [
            /* 0 */ stmt(ldAbsH, proto),                                  // A = ethertype
            /* 1 */ jump(jeq, 0x0800, 0, to(11, from: 1)),                // IPv4, else IPv6 test
            /* 2 */ stmt(ldAbsB, 9),                                      // IP protocol
            /* 3 */ jump(jeq, 17, 0, to(drop, from: 3)),                  // UDP
            /* 4 */ stmt(ldAbsH, 6),                                      // flags + fragment offset
            /* 5 */ jump(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, to(drop, from: 5), 0), // no fragments
            /* 6 */ stmt(BPF_LDX | BPF_B | BPF_MSH, 0),                   // X = IHL * 4
            /* 7 */ stmt(BPF_LD | BPF_H | BPF_IND, 4),                    // UDP length
            /* 8 */ jump(jeq, 9, 0, to(drop, from: 8)),                   // 8 header + 1 payload byte
            /* 9 */ stmt(BPF_LD | BPF_B | BPF_IND, 8),                    // payload byte
            /*10 */ jump(jeq, 0xff, to(accept, from: 10), to(drop, from: 10)),
            /*11 */ jump(jeq, 0x86dd, 0, to(drop, from: 11)),             // IPv6
            /*12 */ stmt(ldAbsB, 6),                                      // next header
            /*13 */ jump(jeq, 17, 0, to(drop, from: 13)),
            /*14 */ stmt(ldAbsH, 44),                                     // UDP length
            /*15 */ jump(jeq, 9, 0, to(drop, from: 15)),
            /*16 */ stmt(ldAbsB, 48),                                     // payload byte
            /*17 */ jump(jeq, 0xff, to(accept, from: 17), to(drop, from: 17)),
            /*18 */ stmt(BPF_RET | BPF_K, 0xffff),                        // accept
            /*19 */ stmt(BPF_RET | BPF_K, 0),                             // drop
        ]
    }

    public init() throws(KernelError) {
        var prog = KeepaliveCapture.program()
        let fd = prog.withUnsafeMutableBufferPointer {
            ipsectop_packet_socket_with_filter($0.baseAddress, UInt16($0.count))
        }
        if fd < 0 {
            let e = Errno.current
            if e == .permissionDenied { throw .missingPrivilege(operation: "opening the keepalive capture (needs CAP_NET_RAW)", errno: e) }
            throw .system(operation: "opening the keepalive capture", errno: e)
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Reads every queued keepalive without blocking.
    public func drain(limit: Int = 1024) -> [CapturedKeepalive] {
        var out: [CapturedKeepalive] = []
        while out.count < limit {
            var outgoing: Int32 = 0
            var proto: UInt16 = 0
            let n = buffer.withUnsafeMutableBytes { ipsectop_packet_recv(fd, $0.baseAddress, $0.count, &outgoing, &proto) }
            if n <= 0 { break }
            if let k = KeepaliveCapture.parse(Array(buffer[0..<n]), outgoing: outgoing != 0, time: wallClock()) { out.append(k) }
        }
        return out
    }

    /// Parses an IPv4 or IPv6 packet holding a one-byte 0xFF UDP datagram (pure; the filter already matched).
    public static func parse(_ p: [UInt8], outgoing: Bool, time: Double) -> CapturedKeepalive? {
        guard let first = p.first else { return nil }
        func port(_ at: Int) -> UInt16 { UInt16(p[at]) << 8 | UInt16(p[at + 1]) }
        switch first >> 4 {
        case 4:
            let ihl = Int(first & 0x0f) * 4
            guard ihl >= 20, p.count >= ihl + 9, p[9] == 17, p[ihl + 8] == 0xff else { return nil }
            let src = p[12..<16].withUnsafeBytes { raw -> IPAddress in
                var b = [UInt8](raw) + [UInt8](repeating: 0, count: 12)
                return b.withUnsafeMutableBytes { IPAddress(xfrmBytes: UnsafeRawBufferPointer($0), family: .inet) }
            }
            let dst = p[16..<20].withUnsafeBytes { raw -> IPAddress in
                var b = [UInt8](raw) + [UInt8](repeating: 0, count: 12)
                return b.withUnsafeMutableBytes { IPAddress(xfrmBytes: UnsafeRawBufferPointer($0), family: .inet) }
            }
            return CapturedKeepalive(outgoing: outgoing, source: src, sourcePort: port(ihl), destination: dst,
                                     destinationPort: port(ihl + 2), time: time)
        case 6:
            guard p.count >= 49, p[6] == 17, p[48] == 0xff else { return nil }
            let src = Array(p[8..<24]).withUnsafeBytes { IPAddress(xfrmBytes: $0, family: .inet6) }
            let dst = Array(p[24..<40]).withUnsafeBytes { IPAddress(xfrmBytes: $0, family: .inet6) }
            return CapturedKeepalive(outgoing: outgoing, source: src, sourcePort: port(40), destination: dst,
                                     destinationPort: port(42), time: time)
        default:
            return nil
        }
    }
}
