import CMNL
import CXFRM
import Glibc
import XFRMWire

/// One received netlink datagram and its sender.
public struct ReceivedDatagram: Sendable {
    public var bytes: [UInt8]
    /// Sender port id: 0 for the kernel.
    public var senderPortID: UInt32
    /// Multicast group mask the datagram was sent to (0 for unicast replies).
    public var groups: UInt32
    public var time: Double
}

/// Outcome of a non-blocking read on a netlink socket.
public enum ReceiveOutcome {
    case datagram(ReceivedDatagram)
    /// Nothing to read.
    case empty
    /// The kernel dropped multicast messages (ENOBUFS): a re-dump is needed.
    case overrun
}

/// Wall-clock seconds since the epoch.
public func wallClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A NETLINK_XFRM socket opened through libmnl.
public final class NetlinkSocket {
    let handle: OpaquePointer
    public let fd: Int32
    public let portID: UInt32
    /// Receive buffer: 32 KiB, as the kernel sizes dump datagrams to the largest buffer seen.
    var buffer: UnsafeMutableRawBufferPointer
    public static let receiveBufferSize = 32 * 1024

    /// Opens and binds. `groups` is the full multicast mask, bound in one call
    /// (a later bind would overwrite it).
    public init(groups: UInt32 = 0) throws(KernelError) {
        guard let nl = mnl_socket_open2(NETLINK_XFRM, Int32(SOCK_CLOEXEC.rawValue)) else {
            throw .system(operation: "opening NETLINK_XFRM socket", errno: .current)
        }
        if mnl_socket_bind(nl, groups, pid_t(0)) < 0 {
            let e = Errno.current
            mnl_socket_close(nl)
            if e == .permissionDenied || e == .accessDenied {
                throw .missingPrivilege(operation: "subscribing to XFRM events", errno: e)
            }
            throw .system(operation: "binding NETLINK_XFRM socket", errno: e)
        }
        handle = nl
        fd = mnl_socket_get_fd(nl)
        portID = mnl_socket_get_portid(nl)
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: NetlinkSocket.receiveBufferSize, alignment: 8)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        // Extended ACK: the kernel explains its errors. Capped ACK: no echo of our request.
        _ = ipsectop_setsockopt_int(fd, ipsectop_sol_netlink(), ipsectop_netlink_ext_ack(), 1)
        _ = ipsectop_setsockopt_int(fd, ipsectop_sol_netlink(), ipsectop_netlink_cap_ack(), 1)
    }

    deinit {
        ipsectop_explicit_bzero(buffer.baseAddress, buffer.count)
        buffer.deallocate()
        mnl_socket_close(handle)
    }

    /// Raises the receive buffer with SO_RCVBUFFORCE (needs CAP_NET_ADMIN), falling back to SO_RCVBUF.
    @discardableResult
    public func setReceiveBuffer(bytes: Int) -> Int {
        if ipsectop_setsockopt_int(fd, ipsectop_sol_socket(), ipsectop_so_rcvbufforce(), Int32(clamping: bytes)) < 0 {
            _ = ipsectop_setsockopt_int(fd, ipsectop_sol_socket(), ipsectop_so_rcvbuf(), Int32(clamping: bytes))
        }
        var v: Int32 = 0
        _ = ipsectop_getsockopt_int(fd, ipsectop_sol_socket(), ipsectop_so_rcvbuf(), &v)
        return Int(v)
    }

    public func send(_ bytes: [UInt8]) throws(KernelError) {
        let n = bytes.withUnsafeBytes { mnl_socket_sendto(handle, $0.baseAddress, $0.count) }
        if n < 0 {
            let e = Errno.current
            if e == .permissionDenied { throw .missingPrivilege(operation: "sending XFRM request", errno: e) }
            throw .system(operation: "sending XFRM request", errno: e)
        }
    }

    /// Receives one datagram. `wait` blocks; otherwise returns `.empty` when nothing is queued.
    /// The internal buffer is wiped after copying (it may have held key material,
    /// which the caller's decode never keeps).
    public func receive(wait: Bool) throws(KernelError) -> ReceiveOutcome {
        while true {
            var pid: UInt32 = 0, groups: UInt32 = 0
            let n = ipsectop_nl_recvfrom(fd, buffer.baseAddress, buffer.count, wait ? 0 : Int32(MSG_DONTWAIT), &pid, &groups)
            if n < 0 {
                let e = Errno.current
                if e == .interrupted { continue }
                if e == .wouldBlock { return .empty }
                if e == .noBufferSpace { return .overrun }
                throw .system(operation: "receiving from NETLINK_XFRM", errno: e)
            }
            var bytes = Array(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            ipsectop_explicit_bzero(buffer.baseAddress, n)
            XFRMRedaction.redactKeys(&bytes)
            return .datagram(ReceivedDatagram(bytes: bytes, senderPortID: pid, groups: groups, time: wallClock()))
        }
    }
}
