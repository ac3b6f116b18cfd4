import ArgumentParser
import Glibc
import IPsecExport
import XFRMKernel
import XFRMWire

/// Documented exit codes (README "Exit codes").
enum ExitCodes {
    static let ok: Int32 = 0
    static let failure: Int32 = 1
    /// Usage errors (unknown flag, bad value): swift-argument-parser's convention.
    static let usage: Int32 = 2
    /// CAP_NET_ADMIN (or another privilege) is missing.
    static let privilege: Int32 = 3
    /// The network namespace does not exist.
    static let namespace: Int32 = 4
    /// Input file (recording, theme) is unreadable or malformed.
    static let badInput: Int32 = 5
    /// An action was refused by the kernel or by the IKE daemon.
    static let actionFailed: Int32 = 6
    /// The user declined a confirmation.
    static let declined: Int32 = 7
    /// No SA matched the selection of delete/rekey.
    static let noMatch: Int32 = 8
}

/// Options shared by every command that talks to the kernel.
struct NamespaceOptions: ParsableArguments {
    @Option(name: .customLong("netns"), help: "Watch the named network namespace (/run/netns/NAME).")
    var netns: String?

    @Option(name: .customLong("netns-path"), help: "Watch the network namespace behind PATH (e.g. /proc/PID/ns/net).")
    var netnsPath: String?

    func validate() throws {
        if netns != nil && netnsPath != nil {
            throw ValidationError("--netns and --netns-path cannot be used together")
        }
    }

    /// Enters the requested namespace, if any.
    func enter() throws(KernelError) {
        if let n = netns { try NetworkNamespace.enter(named: n) }
        if let p = netnsPath { try NetworkNamespace.enter(path: p) }
    }

    var label: String? { netns ?? netnsPath }
}

/// Writes to stdout without buffering surprises; exits quietly when the reader went away (EPIPE).
enum Output {
    static func write(_ bytes: [UInt8]) { bytes.withUnsafeBytes { write($0) } }

    /// Writes all of `bytes` to stdout (retrying on EINTR; a closed pipe ends the program quietly).
    static func write(_ bytes: UnsafeRawBufferPointer) {
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(1, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                exit(errno == EPIPE ? ExitCodes.ok : ExitCodes.failure)
            }
            off += n
        }
    }
    static func write(_ s: String) { write(Array(s.utf8)) }
    static func error(_ s: String) {
        let b = Array((s.hasSuffix("\n") ? s : s + "\n").utf8)
        _ = b.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

/// Maps kernel errors to the documented exit codes with a clear message.
func fail(_ e: Error) -> ExitCode {
    switch e {
    case let k as KernelError:
        switch k {
        case .missingPrivilege(let op, let errno):
            Output.error("ipsectop: \(op): \(errno)\n\n\(KernelError.privilegeHelp)")
            return ExitCode(ExitCodes.privilege)
        case .namespaceNotFound:
            Output.error("ipsectop: \(k)")
            return ExitCode(ExitCodes.namespace)
        case .rejected:
            Output.error("ipsectop: \(k)")
            return ExitCode(ExitCodes.actionFailed)
        default:
            Output.error("ipsectop: \(k)")
            return ExitCode(ExitCodes.failure)
        }
    case let r as RecordingError:
        Output.error("ipsectop: \(r)")
        return ExitCode(ExitCodes.badInput)
    default:
        Output.error("ipsectop: \(e)")
        return ExitCode(ExitCodes.failure)
    }
}

/// Host facts for headers.
enum LocalHost {
    static var hostname: String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, 255)
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    static var kernel: String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

/// Ignore SIGPIPE so a closed pipe shows up as EPIPE on write.
func ignoreSIGPIPE() { signal(SIGPIPE, SIG_IGN) }
