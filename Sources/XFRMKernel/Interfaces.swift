import Glibc
import XFRMWire

/// Addresses configured on the current network namespace's interfaces (`getifaddrs`): the model
/// uses them to tell an SA's direction.
public func interfaceAddresses() -> [IPAddress] {
    var head: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&head) == 0 else { return [] }
    defer { freeifaddrs(head) }
    var out: [IPAddress] = []
    var p = head
    while let cur = p {
        if let sa = cur.pointee.ifa_addr {
            var raw = (UInt64(0), UInt64(0))
            switch Int32(sa.pointee.sa_family) {
            case AF_INET:
                sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    withUnsafeMutableBytes(of: &raw) { r in withUnsafeBytes(of: sin.pointee.sin_addr) { r.copyMemory(from: $0) } }
                }
                out.append(withUnsafeBytes(of: raw) { IPAddress(xfrmBytes: $0, family: .inet) })
            case AF_INET6:
                sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                    withUnsafeMutableBytes(of: &raw) { r in withUnsafeBytes(of: sin.pointee.sin6_addr) { r.copyMemory(from: $0) } }
                }
                out.append(withUnsafeBytes(of: raw) { IPAddress(xfrmBytes: $0, family: .inet6) })
            default:
                break
            }
        }
        p = cur.pointee.ifa_next
    }
    return out
}
