import Glibc

/// A positive errno value with its symbolic name (`EPERM`, `ENOENT`, ...).
public struct Errno: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// The current thread's errno.
    public static var current: Errno { Errno(errno) }

    public static let permissionDenied = Errno(EPERM)
    public static let noEntry = Errno(ENOENT)
    public static let noSuchProcess = Errno(ESRCH)
    public static let noBufferSpace = Errno(ENOBUFS)
    public static let wouldBlock = Errno(EAGAIN)
    public static let interrupted = Errno(EINTR)
    public static let invalid = Errno(EINVAL)
    public static let accessDenied = Errno(EACCES)

    /// Symbolic name, e.g. "ESRCH".
    public var name: String {
        switch rawValue {
        case EPERM: return "EPERM"
        case ENOENT: return "ENOENT"
        case ESRCH: return "ESRCH"
        case EINTR: return "EINTR"
        case EIO: return "EIO"
        case EBADF: return "EBADF"
        case EAGAIN: return "EAGAIN"
        case ENOMEM: return "ENOMEM"
        case EACCES: return "EACCES"
        case EFAULT: return "EFAULT"
        case EBUSY: return "EBUSY"
        case EEXIST: return "EEXIST"
        case ENODEV: return "ENODEV"
        case EINVAL: return "EINVAL"
        case ENOSPC: return "ENOSPC"
        case ENOSYS: return "ENOSYS"
        case EMSGSIZE: return "EMSGSIZE"
        case EPROTONOSUPPORT: return "EPROTONOSUPPORT"
        case EOPNOTSUPP: return "EOPNOTSUPP"
        case EAFNOSUPPORT: return "EAFNOSUPPORT"
        case ENOBUFS: return "ENOBUFS"
        case ETIMEDOUT: return "ETIMEDOUT"
        case ECONNREFUSED: return "ECONNREFUSED"
        case ENOTSUP: return "ENOTSUP"
        default: return "E\(rawValue)"
        }
    }

    /// strerror text.
    public var message: String { String(cString: strerror(rawValue)) }
    public var description: String { "\(name) (\(message))" }
}

/// Errors from the kernel I/O layer.
public enum KernelError: Error, CustomStringConvertible, Sendable {
    /// The operation needs CAP_NET_ADMIN (or CAP_NET_RAW for capture) in the network namespace.
    case missingPrivilege(operation: String, errno: Errno)
    /// A system call failed.
    case system(operation: String, errno: Errno)
    /// The kernel rejected a request: errno plus its extended-ACK explanation.
    case rejected(operation: String, errno: Errno, message: String?)
    /// A named network namespace could not be opened.
    case namespaceNotFound(String, errno: Errno)
    /// A dump reply could not be decoded.
    case malformed(operation: String, detail: String)

    public var description: String {
        switch self {
        case .missingPrivilege(let op, let e): return "\(op): \(e)"
        case .system(let op, let e): return "\(op): \(e)"
        case .rejected(let op, let e, let m):
            return "\(op): \(e)" + (m.map { ": \($0)" } ?? "")
        case .namespaceNotFound(let n, let e): return "network namespace \(n): \(e)"
        case .malformed(let op, let d): return "\(op): malformed reply: \(d)"
        }
    }

    /// The one-paragraph explanation shown when privileges are missing.
    public static let privilegeHelp = """
        ipsectop needs the CAP_NET_ADMIN capability in the network namespace it watches: \
        the kernel refuses every XFRM netlink request and event subscription without it (EPERM). \
        Run it as root (for example `sudo ipsectop`), or grant the capability to the binary once with \
        `sudo setcap cap_net_admin,cap_net_raw+ep "$(command -v ipsectop)"` (CAP_NET_RAW enables \
        NAT keepalive capture). Without any privilege, `ipsectop --replay FILE` still shows a recording.
        """
}
