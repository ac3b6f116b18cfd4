import CMNL
import Glibc
import XFRMWire

/// Enters a network namespace for the calling thread (and every socket it opens afterwards).
public enum NetworkNamespace {
    /// `ip netns exec NAME` equivalent: /run/netns/NAME.
    public static func enter(named name: String) throws(KernelError) {
        guard !name.contains("/"), !name.isEmpty, name != ".", name != ".." else {
            throw .namespaceNotFound(name, errno: .invalid)
        }
        try enter(path: "/run/netns/\(name)", label: name)
    }

    /// Enters the namespace behind a path such as /proc/PID/ns/net.
    public static func enter(path: String, label: String? = nil) throws(KernelError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw .namespaceNotFound(label ?? path, errno: .current) }
        defer { close(fd) }
        if ipsectop_enter_netns(fd) < 0 {
            let e = Errno.current
            if e == .permissionDenied { throw .missingPrivilege(operation: "entering network namespace \(label ?? path)", errno: e) }
            throw .system(operation: "entering network namespace \(label ?? path)", errno: e)
        }
    }
}

/// A complete dump: the decoded records plus the raw datagrams (for recording).
public struct DumpResult<Record> {
    public var records: [Record]
    public var datagrams: [ReceivedDatagram]
    /// Messages that could not be decoded (kept, never fatal).
    public var malformed: [WireError]
}

/// The command side of a NETLINK_XFRM session: dumps and requests, each with its
/// own sequence number, ACK requested, extended ACK on.
public final class XFRMCommandChannel {
    public let socket: NetlinkSocket
    private var sequence: UInt32

    public init() throws(KernelError) {
        socket = try NetlinkSocket(groups: 0)
        sequence = UInt32(truncatingIfNeeded: Int(time(nil)))
    }

    public func nextSequence() -> UInt32 {
        sequence &+= 1
        return sequence
    }

    /// Records of the previous dump of each kind: the next one reserves room for as many.
    private var previousRecordCount: [UInt16: Int] = [:]

    /// Runs a dump and decodes its records with `extract`.
    public func dump<R>(_ request: (UInt32) -> [UInt8], operation: String,
                        extract: (XFRMMessage) -> R?) throws(KernelError) -> DumpResult<R> {
        try dump(request, operation: operation, recordType: nil,
                 record: { (_, _) throws(WireError) -> R? in nil }, extract: extract)
    }

    /// Runs a dump. Messages of `recordType` are decoded by `record` straight into the result (no
    /// `XFRMMessage` in between); every other message is decoded in full and offered to `extract`.
    /// One decoding context serves the whole dump, so its SAs share their algorithm data.
    func dump<R>(_ request: (UInt32) -> [UInt8], operation: String, recordType: UInt16?,
                 record: (UnsafeRawBufferPointer, inout XFRMDecoder.Context) throws(WireError) -> R?,
                 extract: (XFRMMessage) -> R?) throws(KernelError) -> DumpResult<R> {
        var out = DumpResult<R>(records: [], datagrams: [], malformed: [])
        if let t = recordType, let n = previousRecordCount[t] { out.records.reserveCapacity(n + n / 16) }
        try streamDump(request, operation: operation, recordType: recordType, record: record, extract: extract) {
            d, records, malformed in
            out.datagrams.append(d)
            out.records += records
            out.malformed += malformed
        }
        if let t = recordType { previousRecordCount[t] = out.records.count }
        return out
    }

    /// The same dump handed over datagram by datagram as it is received: `each` gets the datagram,
    /// its records and what it could not decode (its framing error first) before the next one is
    /// read. A dump that ends in error throws after handing over the datagrams before the error.
    func streamDump<R>(_ request: (UInt32) -> [UInt8], operation: String, recordType: UInt16?,
                       record: (UnsafeRawBufferPointer, inout XFRMDecoder.Context) throws(WireError) -> R?,
                       extract: (XFRMMessage) -> R?,
                       each: (ReceivedDatagram, [R], [WireError]) -> Void) throws(KernelError) {
        let seq = nextSequence()
        try socket.send(request(seq))
        var context = XFRMDecoder.Context()
        var records: [R] = []
        var failures: [WireError] = []
        while true {
            guard case .datagram(let d) = try socket.receive(wait: true) else { continue }
            var finished = false
            records.removeAll(keepingCapacity: true)
            failures.removeAll(keepingCapacity: true)
            let walk: Result<WireError?, KernelError> = d.bytes.withUnsafeBytes { bytes in
                do throws(KernelError) {
                    return .success(try XFRMDecoder.forEachMessage(in: bytes) { (header, payload) throws(KernelError) in
                        guard header.sequence == seq else { return }
                        if header.type == recordType {
                            do throws(WireError) {
                                if let r = try record(payload, &context) { records.append(r) }
                            } catch {
                                failures.append(error)
                            }
                            return
                        }
                        let body: Result<XFRMMessage, WireError>
                        do throws(WireError) {
                            body = .success(try XFRMDecoder.decodeBody(type: header.type, flags: header.flags,
                                                                       payload: payload, context: &context))
                        } catch {
                            body = .failure(error)
                        }
                        switch body {
                        case .success(let msg):
                            if try XFRMCommandChannel.endsDump(msg, operation: operation) {
                                finished = true
                            } else if let r = extract(msg) {
                                records.append(r)
                            }
                        case .failure(let w):
                            failures.append(w)
                        }
                    })
                } catch {
                    return .failure(error)
                }
            }
            switch walk {
            case .success(let framing):
                // As before: the datagram's framing error first, then its undecodable messages.
                if let fe = framing { failures.insert(fe, at: 0) }
                each(d, records, failures)
            case .failure(let error):
                // The datagram that carries the dump's error: what it held before the error first.
                each(d, records, failures)
                throw error
            }
            if finished { return }
        }
    }

    /// Whether a message of a dump's sequence ends it: NLMSG_DONE, or the ACK. An error (in DONE or
    /// NLMSG_ERROR) is thrown, with the extended-ACK text when the kernel sent one.
    static func endsDump(_ msg: XFRMMessage, operation: String) throws(KernelError) -> Bool {
        switch msg {
        case .done(let e):
            if e != 0 { throw .rejected(operation: operation, errno: Errno(e), message: nil) }
            return true
        case .error(let e):
            if e.isAck { return true }
            if e.errno == EPERM { throw .missingPrivilege(operation: operation, errno: Errno(e.errno)) }
            throw .rejected(operation: operation, errno: Errno(e.errno), message: e.message)
        default:
            return false
        }
    }

    /// All SAs. Equivalent to `ip -s xfrm state`.
    public func dumpSAs() throws(KernelError) -> DumpResult<XFRMState> {
        try dump({ XFRMRequest.dumpSAs(sequence: $0) }, operation: "dumping SAs",
                 recordType: XFRMMessageType.newSA.rawValue,
                 record: { (p, c) throws(WireError) in try XFRMDecoder.decodeState(payload: p, context: &c) },
                 extract: { _ in nil })
    }

    /// All policies. Equivalent to `ip xfrm policy`.
    public func dumpPolicies() throws(KernelError) -> DumpResult<XFRMPolicy> {
        try dump({ XFRMRequest.dumpPolicies(sequence: $0) }, operation: "dumping policies",
                 recordType: XFRMMessageType.newPolicy.rawValue,
                 record: { (p, c) throws(WireError) in try XFRMDecoder.decodePolicy(payload: p, context: &c) },
                 extract: { _ in nil })
    }

    /// All policies, handed over datagram by datagram as received (`each` gets the datagram, its
    /// policies and the records it could not decode), so a dump of 100,000 policies is never held
    /// whole. A dump that ends in error throws after handing over what came before the error.
    public func dumpPolicies(each: (ReceivedDatagram, [XFRMPolicy], [WireError]) -> Void) throws(KernelError) {
        try streamDump({ XFRMRequest.dumpPolicies(sequence: $0) }, operation: "dumping policies",
                       recordType: XFRMMessageType.newPolicy.rawValue,
                       record: { (p, c) throws(WireError) in try XFRMDecoder.decodePolicy(payload: p, context: &c) },
                       extract: { _ in nil }, each: each)
    }

    /// Sends one request and waits for its answer: the reply messages (if any) and the ACK.
    /// Throws `.rejected` with errno and extended-ACK text when the kernel refuses.
    @discardableResult
    public func request(_ build: (UInt32) -> [UInt8], operation: String) throws(KernelError) -> [XFRMMessage] {
        let seq = nextSequence()
        let req = build(seq)
        let wantsAck = Self.expectsAck(req)
        try socket.send(req)
        var replies: [XFRMMessage] = []
        while true {
            guard case .datagram(let d) = try socket.receive(wait: true) else { continue }
            for m in XFRMDecoder.decodeDatagram(d.bytes).messages where m.header.sequence == seq {
                switch m.body {
                case .success(.error(let e)):
                    if e.isAck { return replies }
                    if e.errno == EPERM { throw .missingPrivilege(operation: operation, errno: Errno(e.errno)) }
                    throw .rejected(operation: operation, errno: Errno(e.errno), message: e.message)
                case .success(let msg):
                    replies.append(msg)
                    // Requests without NLM_F_ACK (GET*) answer with one message.
                    if !wantsAck {
                        return replies
                    }
                case .failure(let w):
                    throw .malformed(operation: operation, detail: w.description)
                }
            }
        }
    }

    static func expectsAck(_ req: [UInt8]) -> Bool {
        req.count >= 8 && (UInt16(req[6]) | UInt16(req[7]) << 8) & NetlinkFlags.ack != 0
    }

    /// SA counts. Equivalent to `ip xfrm state count`.
    public func sadInfo() throws(KernelError) -> XFRMSADInfo? {
        for m in try request({ XFRMRequest.getSADInfo(sequence: $0) }, operation: "reading SAD info") {
            if case .sadInfo(let i) = m { return i }
        }
        return nil
    }

    /// Policy counts. Equivalent to `ip xfrm policy count`.
    public func spdInfo() throws(KernelError) -> XFRMSPDInfo? {
        for m in try request({ XFRMRequest.getSPDInfo(sequence: $0) }, operation: "reading SPD info") {
            if case .spdInfo(let i) = m { return i }
        }
        return nil
    }

    /// Deletes one SA. Equivalent to `ip xfrm state delete dst D proto P spi S [mark M]`.
    public func deleteSA(_ identity: SAIdentity) throws(KernelError) {
        try request({ XFRMRequest.deleteSA(sequence: $0, identity: identity) }, operation: "deleting SA \(identity)")
    }

    /// Sends a soft (rekey) or hard EXPIRE for one SA.
    public func expireSA(_ identity: SAIdentity, hard: Bool) throws(KernelError) {
        try request({ XFRMRequest.expireSA(sequence: $0, identity: identity, hard: hard) },
                    operation: "\(hard ? "hard" : "soft") expire of SA \(identity)")
    }

    /// Deletes one policy. Equivalent to `ip xfrm policy delete index I dir D`.
    public func deletePolicy(_ identity: PolicyIdentity) throws(KernelError) {
        try request({ XFRMRequest.deletePolicy(sequence: $0, identity: identity) }, operation: "deleting policy \(identity.index)")
    }
}

/// The event side: a socket bound to every monitored XFRM group (not AEVENTS).
public final class XFRMEventChannel {
    public let socket: NetlinkSocket
    /// Datagrams dropped because they did not come from the kernel (sender port id != 0).
    public private(set) var foreignDatagrams = 0
    public let receiveBufferBytes: Int

    public init(receiveBufferBytes: Int = 8 << 20, groups: [XFRMGroup] = XFRMGroup.monitored) throws(KernelError) {
        let mask = groups.reduce(UInt32(0)) { $0 | $1.bindMask }
        socket = try NetlinkSocket(groups: mask)
        self.receiveBufferBytes = socket.setReceiveBuffer(bytes: receiveBufferBytes)
    }

    public var fd: Int32 { socket.fd }

    /// Reads everything queued without blocking. `overrun` is true when the kernel
    /// reported lost events (ENOBUFS): the caller must re-dump.
    public func drain(limit: Int = 4096) throws(KernelError) -> (datagrams: [ReceivedDatagram], overrun: Bool) {
        var out: [ReceivedDatagram] = []
        var overrun = false
        while out.count < limit {
            switch try socket.receive(wait: false) {
            case .empty: return (out, overrun)
            case .overrun: overrun = true
            case .datagram(let d):
                guard d.senderPortID == 0 else { foreignDatagrams += 1; continue }
                out.append(d)
            }
        }
        return (out, overrun)
    }
}

/// Reads /proc/net/xfrm_stat (world-readable) for the current network namespace.
public func readXFRMStat() -> String? {
    guard let f = fopen("/proc/net/xfrm_stat", "r") else { return nil }
    defer { fclose(f) }
    var out = ""
    var buf = [CChar](repeating: 0, count: 256)
    while fgets(&buf, Int32(buf.count), f) != nil {
        out += String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    return out
}
