import CMNL
import Glibc

/// A VICI message element tree (strongSwan's versatile IKE control interface).
public indirect enum VICIValue: Equatable, Sendable {
    case string(String)
    case list([String])
    case section([(String, VICIValue)])

    public static func == (a: VICIValue, b: VICIValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x == y
        case (.list(let x), .list(let y)): return x == y
        case (.section(let x), .section(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> VICIValue? {
        if case .section(let items) = self { return items.first { $0.0 == key }?.1 }
        return nil
    }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var items: [(String, VICIValue)] { if case .section(let i) = self { return i }; return [] }
}

/// VICI packet types.
public enum VICIPacketType: UInt8, Sendable {
    case commandRequest = 0, commandResponse = 1, commandUnknown = 2, eventRegister = 3
    case eventUnregister = 4, eventConfirm = 5, eventUnknown = 6, event = 7
}

public enum VICIError: Error, CustomStringConvertible {
    case unreachable(path: String, errno: Errno)
    case io(Errno)
    case malformed(String)
    case unknownCommand(String)
    case failed(String)

    public var description: String {
        switch self {
        case .unreachable(let p, let e): return "VICI socket \(p) not reachable: \(e)"
        case .io(let e): return "VICI I/O error: \(e)"
        case .malformed(let m): return "malformed VICI message: \(m)"
        case .unknownCommand(let c): return "the IKE daemon does not know the VICI command \(c)"
        case .failed(let m): return "the IKE daemon refused: \(m)"
        }
    }
}

/// Encodes and decodes VICI message bodies (pure).
public enum VICICodec {
    public static func encode(_ items: [(String, VICIValue)]) -> [UInt8] {
        var out: [UInt8] = []
        func name(_ s: String) { let u = Array(s.utf8.prefix(255)); out.append(UInt8(u.count)); out += u }
        func value(_ s: String) {
            let u = Array(s.utf8.prefix(65535)); out.append(UInt8(u.count >> 8)); out.append(UInt8(u.count & 0xff)); out += u
        }
        func walk(_ items: [(String, VICIValue)]) {
            for (k, v) in items {
                switch v {
                case .string(let s): out.append(3); name(k); value(s)
                case .list(let l): out.append(4); name(k); for s in l { out.append(5); value(s) }; out.append(6)
                case .section(let inner): out.append(1); name(k); walk(inner); out.append(2)
                }
            }
        }
        walk(items)
        return out
    }

    public static func decode(_ bytes: ArraySlice<UInt8>) throws -> VICIValue {
        var i = bytes.startIndex
        func byte() throws -> UInt8 {
            guard i < bytes.endIndex else { throw VICIError.malformed("truncated") }
            defer { i += 1 }
            return bytes[i]
        }
        func name() throws -> String {
            let n = Int(try byte())
            guard i + n <= bytes.endIndex else { throw VICIError.malformed("name past end") }
            defer { i += n }
            return String(decoding: bytes[i..<(i + n)], as: UTF8.self)
        }
        func value() throws -> String {
            let n = Int(try byte()) << 8 | Int(try byte())
            guard i + n <= bytes.endIndex else { throw VICIError.malformed("value past end") }
            defer { i += n }
            return String(decoding: bytes[i..<(i + n)], as: UTF8.self)
        }
        var stack: [(String, [(String, VICIValue)])] = [("", [])]
        var list: (String, [String])?
        while i < bytes.endIndex {
            let t = try byte()
            switch t {
            case 1: stack.append((try name(), []))
            case 2:
                guard stack.count > 1 else { throw VICIError.malformed("unbalanced section end") }
                let (n, items) = stack.removeLast()
                stack[stack.count - 1].1.append((n, .section(items)))
            case 3:
                let k = try name()
                stack[stack.count - 1].1.append((k, .string(try value())))
            case 4: list = (try name(), [])
            case 5:
                guard list != nil else { throw VICIError.malformed("list item outside list") }
                list!.1.append(try value())
            case 6:
                guard let l = list else { throw VICIError.malformed("list end outside list") }
                stack[stack.count - 1].1.append((l.0, .list(l.1)))
                list = nil
            default: throw VICIError.malformed("unknown element type \(t)")
            }
        }
        guard stack.count == 1 else { throw VICIError.malformed("unterminated section") }
        return .section(stack[0].1)
    }

    /// Frames a packet: u32 big-endian length, type, optional name, body.
    public static func packet(_ type: VICIPacketType, name: String?, body: [UInt8] = []) -> [UInt8] {
        var p: [UInt8] = [type.rawValue]
        if let n = name { let u = Array(n.utf8); p.append(UInt8(u.count)); p += u }
        p += body
        let len = UInt32(p.count)
        return [UInt8(len >> 24), UInt8(len >> 16 & 0xff), UInt8(len >> 8 & 0xff), UInt8(len & 0xff)] + p
    }
}

/// A child SA as strongSwan lists it.
public struct VICIChildSA: Sendable, Equatable {
    public var ikeName: String
    public var name: String
    public var uniqueID: String
    /// Kernel SPIs (host order).
    public var spiIn: UInt32?
    public var spiOut: UInt32?
    public init(ikeName: String, name: String, uniqueID: String, spiIn: UInt32?, spiOut: UInt32?) {
        self.ikeName = ikeName; self.name = name; self.uniqueID = uniqueID; self.spiIn = spiIn; self.spiOut = spiOut
    }
}

/// A VICI client over the daemon's unix socket. Equivalent to `swanctl --list-sas` / `swanctl --rekey`.
public final class VICIClient {
    let fd: Int32
    public let path: String

    public static let defaultPath = "/var/run/charon.vici"

    public init(path: String = VICIClient.defaultPath) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw VICIError.io(.current) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd); throw VICIError.unreachable(path: path, errno: .invalid)
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r < 0 { let e = Errno.current; close(fd); throw VICIError.unreachable(path: path, errno: e) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; throw VICIError.io(.current) }
            off += n
        }
    }

    func readExactly(_ n: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n)
        var off = 0
        while off < n {
            let r = out[off...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if r < 0 { if errno == EINTR { continue }; throw VICIError.io(.current) }
            if r == 0 { throw VICIError.malformed("connection closed") }
            off += r
        }
        return out
    }

    /// Reads one packet: type, name (for named types), body.
    func readPacket() throws -> (VICIPacketType, String?, ArraySlice<UInt8>) {
        let h = try readExactly(4)
        let len = Int(h[0]) << 24 | Int(h[1]) << 16 | Int(h[2]) << 8 | Int(h[3])
        guard len >= 1, len < 16 << 20 else { throw VICIError.malformed("bad packet length \(len)") }
        let p = try readExactly(len)
        guard let type = VICIPacketType(rawValue: p[0]) else { throw VICIError.malformed("packet type \(p[0])") }
        var i = 1
        var name: String?
        if type == .event || type == .commandRequest || type == .eventRegister || type == .eventUnregister {
            guard p.count >= 2 else { throw VICIError.malformed("truncated name") }
            let n = Int(p[1]); guard 2 + n <= p.count else { throw VICIError.malformed("name past end") }
            name = String(decoding: p[2..<(2 + n)], as: UTF8.self)
            i = 2 + n
        }
        return (type, name, p[i...])
    }

    /// Sends a command and returns the response body, collecting events named `stream` meanwhile.
    public func command(_ name: String, _ args: [(String, VICIValue)] = [], stream: String? = nil) throws -> (VICIValue, [VICIValue]) {
        if let s = stream {
            try send(VICICodec.packet(.eventRegister, name: s))
            let (t, _, _) = try readPacket()
            guard t == .eventConfirm else { throw VICIError.unknownCommand("event \(s)") }
        }
        try send(VICICodec.packet(.commandRequest, name: name, body: VICICodec.encode(args)))
        var events: [VICIValue] = []
        while true {
            let (t, n, body) = try readPacket()
            switch t {
            case .event where n == stream: events.append(try VICICodec.decode(body))
            case .commandResponse:
                if let s = stream {
                    try send(VICICodec.packet(.eventUnregister, name: s))
                    _ = try readPacket()
                }
                return (try VICICodec.decode(body), events)
            case .commandUnknown: throw VICIError.unknownCommand(name)
            default: continue
            }
        }
    }

    /// All child SAs with their kernel SPIs. Equivalent to `swanctl --list-sas`.
    public func listChildSAs() throws -> [VICIChildSA] {
        let (_, events) = try command("list-sas", stream: "list-sa")
        return VICIClient.children(from: events)
    }

    /// Extracts child SAs from `list-sa` events.
    public static func children(from events: [VICIValue]) -> [VICIChildSA] {
        var out: [VICIChildSA] = []
        for ev in events {
            for (ikeName, ike) in ev.items {
                for (_, child) in ike["child-sas"]?.items ?? [] {
                    out.append(VICIChildSA(ikeName: ikeName, name: child["name"]?.string ?? "?",
                                           uniqueID: child["uniqueid"]?.string ?? "",
                                           spiIn: child["spi-in"]?.string.flatMap { UInt32($0, radix: 16) },
                                           spiOut: child["spi-out"]?.string.flatMap { UInt32($0, radix: 16) }))
                }
            }
        }
        return out
    }

    /// Rekeys one child SA by unique id. Equivalent to `swanctl --rekey --child-id ID`.
    public func rekeyChild(uniqueID: String) throws {
        let (resp, _) = try command("rekey", [("child-id", .string(uniqueID))])
        if resp["success"]?.string != "yes" {
            throw VICIError.failed(resp["errmsg"]?.string ?? "rekey of child \(uniqueID) failed")
        }
    }
}
