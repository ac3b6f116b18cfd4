/// The netlink message header (`struct nlmsghdr`).
public struct NetlinkHeader: Hashable, Sendable {
    public var length: UInt32
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    public var portID: UInt32
    public init(length: UInt32, type: UInt16, flags: UInt16, sequence: UInt32, portID: UInt32) {
        self.length = length; self.type = type; self.flags = flags; self.sequence = sequence; self.portID = portID
    }
    public static let size = 16
}

/// Netlink header flags.
public enum NetlinkFlags {
    public static let request: UInt16 = 0x1
    public static let multi: UInt16 = 0x2
    public static let ack: UInt16 = 0x4
    public static let root: UInt16 = 0x100
    public static let match: UInt16 = 0x200
    public static let dump: UInt16 = 0x300
    /// NLM_F_CAPPED (in NLMSG_ERROR): the request payload was not echoed.
    public static let capped: UInt16 = 0x100
    /// NLM_F_ACK_TLVS (in NLMSG_ERROR): extended-ACK attributes follow.
    public static let ackTLVs: UInt16 = 0x200
    /// NLM_F_DUMP_INTR
    public static let dumpInterrupted: UInt16 = 0x10
}

/// A decoded XFRM netlink message body.
public enum XFRMMessage: Hashable, Sendable {
    /// NEWSA (also every GETSA dump record).
    case newSA(XFRMState)
    case updateSA(XFRMState)
    /// DELSA: the identity, and the deleted SA when the kernel included it.
    indirect case deleteSA(SAIdentity, source: IPAddress?, state: XFRMState?)
    case expire(XFRMState, hard: Bool)
    indirect case acquire(XFRMAcquire)
    case newPolicy(XFRMPolicy)
    case updatePolicy(XFRMPolicy)
    /// DELPOLICY: the id, and the deleted policy when the kernel included it.
    indirect case deletePolicy(XFRMPolicyID, policy: XFRMPolicy?, attributes: XFRMAttributes)
    case policyExpire(XFRMPolicy, hard: Bool)
    /// FLUSHSA: 0 = all protocols, 255 = AH, ESP and IPcomp.
    case flushSA(IPsecProtocol)
    case flushPolicy(type: UInt8?)
    case asyncEvent(XFRMAsyncEvent)
    case report(proto: IPsecProtocol, selector: XFRMSelector, careOfAddress: IPAddress?)
    case mapping(XFRMMapping)
    case migrate(XFRMPolicyID, attributes: XFRMAttributes)
    case sadInfo(XFRMSADInfo)
    case spdInfo(XFRMSPDInfo)
    case defaultPolicy(XFRMDefaultPolicy)
    case error(NetlinkError)
    /// NLMSG_DONE, with the dump's final error code (0 normally).
    case done(errno: Int32)
    /// A request type echoed back (e.g. GETSA) or a type this codec does not know.
    case unknown(type: UInt16, payload: [UInt8])

    /// Short type name for logs and event streams.
    public var kindName: String {
        switch self {
        case .newSA: return "NEWSA"
        case .updateSA: return "UPDSA"
        case .deleteSA: return "DELSA"
        case .expire: return "EXPIRE"
        case .acquire: return "ACQUIRE"
        case .newPolicy: return "NEWPOLICY"
        case .updatePolicy: return "UPDPOLICY"
        case .deletePolicy: return "DELPOLICY"
        case .policyExpire: return "POLEXPIRE"
        case .flushSA: return "FLUSHSA"
        case .flushPolicy: return "FLUSHPOLICY"
        case .asyncEvent: return "NEWAE"
        case .report: return "REPORT"
        case .mapping: return "MAPPING"
        case .migrate: return "MIGRATE"
        case .sadInfo: return "NEWSADINFO"
        case .spdInfo: return "NEWSPDINFO"
        case .defaultPolicy: return "GETDEFAULT"
        case .error(let e): return e.isAck ? "ACK" : "ERROR"
        case .done: return "DONE"
        case .unknown(let t, _): return XFRMMessageType(rawValue: t)?.name ?? "TYPE-\(t)"
        }
    }
}

/// One message of a datagram: its header and decoded body (or the reason it could not be decoded).
public struct DecodedMessage: Sendable {
    public var header: NetlinkHeader
    public var body: Result<XFRMMessage, WireError>
    public init(header: NetlinkHeader, body: Result<XFRMMessage, WireError>) {
        self.header = header; self.body = body
    }
}

/// The result of walking one datagram: every message that could be framed,
/// plus a framing error if the walk had to stop early.
public struct DecodedDatagram: Sendable {
    public var messages: [DecodedMessage]
    public var framingError: WireError?
}

/// Typed decoding errors. The codec never traps on input.
public enum WireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Fewer bytes than a netlink header, or a header length below 16.
    case truncatedHeader(available: Int)
    /// `nlmsg_len` runs past the end of the datagram.
    case messageLengthPastEnd(declared: UInt32, available: Int)
    /// The fixed payload of a message type is shorter than its C struct.
    case truncatedPayload(type: UInt16, needed: Int, available: Int)
    /// An attribute header with a length below 4 or past the end of the message.
    case badAttributeLength(type: UInt16, length: UInt16, available: Int)
    /// A known attribute whose payload is shorter than its C struct.
    case truncatedAttribute(type: UInt16, needed: Int, available: Int)

    public var description: String {
        switch self {
        case .truncatedHeader(let n): return "truncated netlink header (\(n) bytes)"
        case .messageLengthPastEnd(let d, let a): return "message length \(d) past end of datagram (\(a) bytes left)"
        case .truncatedPayload(let t, let need, let have):
            let name = XFRMMessageType(rawValue: t)?.name ?? "type \(t)"
            return "\(name) payload truncated: need \(need) bytes, have \(have)"
        case .badAttributeLength(let t, let l, let a): return "attribute \(t) has bad length \(l) (\(a) bytes left)"
        case .truncatedAttribute(let t, let need, let have): return "attribute \(t) truncated: need \(need) bytes, have \(have)"
        }
    }
}
