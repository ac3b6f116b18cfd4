/// XFRM message types (`XFRM_MSG_*` in `<linux/xfrm.h>`), plus the netlink
/// control types the codec handles.
public enum XFRMMessageType: UInt16, Sendable, CaseIterable, Codable {
    case noop = 1          // NLMSG_NOOP
    case error = 2         // NLMSG_ERROR
    case done = 3          // NLMSG_DONE
    case overrun = 4       // NLMSG_OVERRUN
    case newSA = 0x10      // XFRM_MSG_NEWSA
    case delSA = 0x11      // XFRM_MSG_DELSA
    case getSA = 0x12      // XFRM_MSG_GETSA
    case newPolicy = 0x13  // XFRM_MSG_NEWPOLICY
    case delPolicy = 0x14  // XFRM_MSG_DELPOLICY
    case getPolicy = 0x15  // XFRM_MSG_GETPOLICY
    case allocSPI = 0x16   // XFRM_MSG_ALLOCSPI
    case acquire = 0x17    // XFRM_MSG_ACQUIRE
    case expire = 0x18     // XFRM_MSG_EXPIRE
    case updPolicy = 0x19  // XFRM_MSG_UPDPOLICY
    case updSA = 0x1a      // XFRM_MSG_UPDSA
    case polExpire = 0x1b  // XFRM_MSG_POLEXPIRE
    case flushSA = 0x1c    // XFRM_MSG_FLUSHSA
    case flushPolicy = 0x1d // XFRM_MSG_FLUSHPOLICY
    case newAE = 0x1e      // XFRM_MSG_NEWAE
    case getAE = 0x1f      // XFRM_MSG_GETAE
    case report = 0x20     // XFRM_MSG_REPORT
    case migrate = 0x21    // XFRM_MSG_MIGRATE
    case newSADInfo = 0x22 // XFRM_MSG_NEWSADINFO
    case getSADInfo = 0x23 // XFRM_MSG_GETSADINFO
    case newSPDInfo = 0x24 // XFRM_MSG_NEWSPDINFO
    case getSPDInfo = 0x25 // XFRM_MSG_GETSPDINFO
    case mapping = 0x26    // XFRM_MSG_MAPPING
    case setDefault = 0x27 // XFRM_MSG_SETDEFAULT
    case getDefault = 0x28 // XFRM_MSG_GETDEFAULT

    /// The name `ip xfrm monitor` style tools use.
    public var name: String {
        switch self {
        case .noop: return "NOOP"
        case .error: return "ERROR"
        case .done: return "DONE"
        case .overrun: return "OVERRUN"
        case .newSA: return "NEWSA"
        case .delSA: return "DELSA"
        case .getSA: return "GETSA"
        case .newPolicy: return "NEWPOLICY"
        case .delPolicy: return "DELPOLICY"
        case .getPolicy: return "GETPOLICY"
        case .allocSPI: return "ALLOCSPI"
        case .acquire: return "ACQUIRE"
        case .expire: return "EXPIRE"
        case .updPolicy: return "UPDPOLICY"
        case .updSA: return "UPDSA"
        case .polExpire: return "POLEXPIRE"
        case .flushSA: return "FLUSHSA"
        case .flushPolicy: return "FLUSHPOLICY"
        case .newAE: return "NEWAE"
        case .getAE: return "GETAE"
        case .report: return "REPORT"
        case .migrate: return "MIGRATE"
        case .newSADInfo: return "NEWSADINFO"
        case .getSADInfo: return "GETSADINFO"
        case .newSPDInfo: return "NEWSPDINFO"
        case .getSPDInfo: return "GETSPDINFO"
        case .mapping: return "MAPPING"
        case .setDefault: return "SETDEFAULT"
        case .getDefault: return "GETDEFAULT"
        }
    }
}

/// XFRM netlink multicast groups (`XFRMNLGRP_*`).
public enum XFRMGroup: UInt32, Sendable, CaseIterable {
    case acquire = 1, expire = 2, sa = 3, policy = 4, aevents = 5, report = 6, migrate = 7, mapping = 8

    /// Bit in a `bind()` group mask (group - 1).
    public var bindMask: UInt32 { 1 << (rawValue - 1) }

    /// The groups ipsectop subscribes to: everything except AEVENTS (see docs).
    public static let monitored: [XFRMGroup] = [.acquire, .expire, .sa, .policy, .report, .migrate, .mapping]
}

/// XFRM attribute numbers (`XFRMA_*`), including those newer than Debian 12's header.
public enum XFRMAttributeType: UInt16, Sendable, CaseIterable {
    case algAuth = 1, algCrypt = 2, algComp = 3, encap = 4, template = 5, sa = 6, policy = 7
    case securityContext = 8, lifetimeValue = 9, replayValue = 10, replayThreshold = 11
    case etimerThreshold = 12, sourceAddress = 13, careOfAddress = 14, lastUsed = 15
    case policyType = 16, migrate = 17, algAEAD = 18, kmAddress = 19, algAuthTrunc = 20
    case mark = 21, tfcPad = 22, replayESNValue = 23, saExtraFlags = 24, proto = 25
    case addressFilter = 26, pad = 27, offloadDevice = 28, setMark = 29, setMarkMask = 30
    case ifID = 31, mtimerThreshold = 32
    /// XFRMA_SA_DIR (kernel >= 6.10), u8: 1 in, 2 out.
    case saDirection = 33
    /// XFRMA_NAT_KEEPALIVE_INTERVAL (kernel >= 6.11), u32 seconds.
    case natKeepaliveInterval = 34
    /// XFRMA_SA_PCPU (kernel >= 6.13), u32 CPU number.
    case saPerCPU = 35
    /// XFRMA_IPTFS_DROP_TIME, u32 microseconds.
    case iptfsDropTime = 36
    /// XFRMA_IPTFS_REORDER_WINDOW, u16.
    case iptfsReorderWindow = 37
    /// XFRMA_IPTFS_DONT_FRAG, flag.
    case iptfsDontFragment = 38
    /// XFRMA_IPTFS_INIT_DELAY, u32 microseconds.
    case iptfsInitialDelay = 39
    /// XFRMA_IPTFS_MAX_QSIZE, u32 octets.
    case iptfsMaxQueueSize = 40
    /// XFRMA_IPTFS_PKT_SIZE, u32 octets.
    case iptfsPacketSize = 41

    /// Highest attribute number this codec knows (ours, not the C header's XFRMA_MAX).
    public static let maximum: UInt16 = 41
}

/// IPsec protocol of an SA (`IPPROTO_ESP`, `IPPROTO_AH`, `IPPROTO_COMP`, ...).
public struct IPsecProtocol: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let esp = IPsecProtocol(rawValue: 50)
    public static let ah = IPsecProtocol(rawValue: 51)
    public static let comp = IPsecProtocol(rawValue: 108)
    public static let routing = IPsecProtocol(rawValue: 43)
    public static let destinationOptions = IPsecProtocol(rawValue: 60)
    /// 255 (IPSEC_PROTO_ANY) in FLUSHSA: AH, ESP and IPcomp.
    public static let anyIPsec = IPsecProtocol(rawValue: 255)
    public var description: String {
        switch rawValue {
        case 50: return "esp"
        case 51: return "ah"
        case 108: return "comp"
        case 43: return "route2"
        case 60: return "hao"
        case 255: return "ipsec-any"
        case 0: return "any"
        default: return String(rawValue)
        }
    }
    public init?(name: String) {
        switch name.lowercased() {
        case "esp": self = .esp
        case "ah": self = .ah
        case "comp", "ipcomp": self = .comp
        default:
            guard let v = UInt8(name) else { return nil }
            self.init(rawValue: v)
        }
    }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// XFRM mode (`XFRM_MODE_*`).
public struct XFRMMode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let transport = XFRMMode(rawValue: 0)
    public static let tunnel = XFRMMode(rawValue: 1)
    public static let routeOptimization = XFRMMode(rawValue: 2)
    public static let inTrigger = XFRMMode(rawValue: 3)
    public static let beet = XFRMMode(rawValue: 4)
    public static let iptfs = XFRMMode(rawValue: 5)
    public var description: String {
        switch rawValue {
        case 0: return "transport"
        case 1: return "tunnel"
        case 2: return "ro"
        case 3: return "in_trigger"
        case 4: return "beet"
        case 5: return "iptfs"
        default: return String(rawValue)
        }
    }
}

/// Traffic selector (`struct xfrm_selector`). Ports are host order here.
public struct XFRMSelector: Hashable, Sendable {
    public var destination: IPAddress
    public var source: IPAddress
    public var destinationPort: UInt16
    public var destinationPortMask: UInt16
    public var sourcePort: UInt16
    public var sourcePortMask: UInt16
    public var family: AddressFamily
    public var destinationPrefixLength: UInt8
    public var sourcePrefixLength: UInt8
    /// Upper-layer protocol (0 = any).
    public var upperProtocol: UInt8
    public var ifindex: Int32
    public var user: UInt32

    public init(destination: IPAddress, source: IPAddress, destinationPort: UInt16 = 0, destinationPortMask: UInt16 = 0,
                sourcePort: UInt16 = 0, sourcePortMask: UInt16 = 0, family: AddressFamily,
                destinationPrefixLength: UInt8, sourcePrefixLength: UInt8, upperProtocol: UInt8 = 0,
                ifindex: Int32 = 0, user: UInt32 = 0) {
        self.destination = destination; self.source = source
        self.destinationPort = destinationPort; self.destinationPortMask = destinationPortMask
        self.sourcePort = sourcePort; self.sourcePortMask = sourcePortMask
        self.family = family; self.destinationPrefixLength = destinationPrefixLength
        self.sourcePrefixLength = sourcePrefixLength; self.upperProtocol = upperProtocol
        self.ifindex = ifindex; self.user = user
    }

    /// `src 10.0.0.0/24 dst 10.0.1.0/24` style text.
    public var summary: String {
        var s = "\(source)/\(sourcePrefixLength) -> \(destination)/\(destinationPrefixLength)"
        if upperProtocol != 0 { s += " proto \(upperProtocol)" }
        if sourcePortMask != 0 { s += " sport \(sourcePort)" }
        if destinationPortMask != 0 { s += " dport \(destinationPort)" }
        return s
    }
}

/// Lifetime limits (`struct xfrm_lifetime_cfg`); `UInt64.max` means infinite (XFRM_INF).
public struct XFRMLifetimeConfig: Hashable, Sendable {
    public var softByteLimit: UInt64
    public var hardByteLimit: UInt64
    public var softPacketLimit: UInt64
    public var hardPacketLimit: UInt64
    public var softAddExpiresSeconds: UInt64
    public var hardAddExpiresSeconds: UInt64
    public var softUseExpiresSeconds: UInt64
    public var hardUseExpiresSeconds: UInt64
    /// No limit at all. Computed and inlinable rather than a stored global: reading a global goes
    /// through its accessor, an opaque call, and a caller holding a value in place (an SA entry read
    /// through a buffer) then copies the whole value before the call.
    @inlinable public static var infinite: XFRMLifetimeConfig {
        XFRMLifetimeConfig(softByteLimit: .max, hardByteLimit: .max, softPacketLimit: .max, hardPacketLimit: .max,
                           softAddExpiresSeconds: 0, hardAddExpiresSeconds: 0, softUseExpiresSeconds: 0,
                           hardUseExpiresSeconds: 0)
    }
    @inlinable public init(softByteLimit: UInt64, hardByteLimit: UInt64, softPacketLimit: UInt64, hardPacketLimit: UInt64,
                softAddExpiresSeconds: UInt64, hardAddExpiresSeconds: UInt64, softUseExpiresSeconds: UInt64,
                hardUseExpiresSeconds: UInt64) {
        self.softByteLimit = softByteLimit; self.hardByteLimit = hardByteLimit
        self.softPacketLimit = softPacketLimit; self.hardPacketLimit = hardPacketLimit
        self.softAddExpiresSeconds = softAddExpiresSeconds; self.hardAddExpiresSeconds = hardAddExpiresSeconds
        self.softUseExpiresSeconds = softUseExpiresSeconds; self.hardUseExpiresSeconds = hardUseExpiresSeconds
    }
}

/// Current lifetime (`struct xfrm_lifetime_cur`). `useTime` is the FIRST use.
public struct XFRMLifetimeCurrent: Hashable, Sendable {
    public var bytes: UInt64
    public var packets: UInt64
    /// Seconds since the epoch when the SA was added.
    public var addTime: UInt64
    /// Seconds since the epoch of the first use (0 = never used).
    public var useTime: UInt64
    public init(bytes: UInt64, packets: UInt64, addTime: UInt64, useTime: UInt64) {
        self.bytes = bytes; self.packets = packets; self.addTime = addTime; self.useTime = useTime
    }
}

/// SA statistics (`struct xfrm_stats`).
public struct XFRMStats: Hashable, Sendable {
    public var replayWindow: UInt32
    public var replay: UInt32
    public var integrityFailed: UInt32
    public init(replayWindow: UInt32, replay: UInt32, integrityFailed: UInt32) {
        self.replayWindow = replayWindow; self.replay = replay; self.integrityFailed = integrityFailed
    }
}

/// SA identity inside the kernel: (family, daddr, SPI, proto) plus the mark.
public struct SAIdentity: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var family: AddressFamily
    public var destination: IPAddress
    /// SPI in host order.
    public var spi: UInt32
    public var proto: IPsecProtocol
    public var mark: XFRMMark?

    public init(family: AddressFamily, destination: IPAddress, spi: UInt32, proto: IPsecProtocol, mark: XFRMMark?) {
        self.family = family; self.destination = destination; self.spi = spi; self.proto = proto
        // A zero mark/mask is the same as no mark for the kernel's lookup.
        self.mark = (mark?.isZero ?? true) ? nil : mark
    }

    public var description: String {
        var s = "\(proto) spi \(SAIdentity.hex(spi)) dst \(destination)"
        if let m = mark { s += " mark \(m)" }
        return s
    }

    /// SPI as `0x%08x`.
    public static func hex(_ spi: UInt32) -> String {
        // Ten bytes: a small (inline) string, no heap allocation.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 10) { buf in
            let digits: StaticString = "0123456789abcdef"
            buf[0] = UInt8(ascii: "0"); buf[1] = UInt8(ascii: "x")
            for i in 0..<8 { buf[2 + i] = digits.utf8Start[Int(spi >> UInt32(28 - 4 * i) & 0xf)] }
            return String(decoding: UnsafeBufferPointer(buf), as: UTF8.self)
        }
    }

    public static func < (a: Self, b: Self) -> Bool {
        if a.destination != b.destination { return a.destination < b.destination }
        if a.spi != b.spi { return a.spi < b.spi }
        if a.proto != b.proto { return a.proto < b.proto }
        return (a.mark?.value ?? 0, a.mark?.mask ?? 0) < (b.mark?.value ?? 0, b.mark?.mask ?? 0)
    }
}

/// A firewall mark and mask (`struct xfrm_mark`).
public struct XFRMMark: Hashable, Sendable, CustomStringConvertible {
    public var value: UInt32
    public var mask: UInt32
    public init(value: UInt32, mask: UInt32) { self.value = value; self.mask = mask }
    public var isZero: Bool { value == 0 && mask == 0 }
    public var description: String { "0x\(String(value, radix: 16))/0x\(String(mask, radix: 16))" }
}

/// An algorithm attribute (`struct xfrm_algo`, `xfrm_algo_auth`, `xfrm_algo_aead`).
/// Only the name and lengths are kept; the key bytes never leave the receive buffer.
public struct XFRMAlgorithm: Hashable, Sendable {
    public var name: String
    public var keyBits: UInt32
    /// ICV length (AEAD) or truncation length (AUTH_TRUNC), in bits.
    public var icvBits: UInt32?
    public init(name: String, keyBits: UInt32, icvBits: UInt32? = nil) {
        self.name = name; self.keyBits = keyBits; self.icvBits = icvBits
    }
}

/// UDP/TCP encapsulation type (`encap_type` of `struct xfrm_encap_tmpl`).
public struct EncapsulationType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// UDP_ENCAP_ESPINUDP_NON_IKE (draft-ietf-ipsec-nat-t-ike-00/01).
    public static let espInUDPNonIKE = EncapsulationType(rawValue: 1)
    /// UDP_ENCAP_ESPINUDP (RFC 3948).
    public static let espInUDP = EncapsulationType(rawValue: 2)
    /// TCP_ENCAP_ESPINTCP (RFC 8229).
    public static let espInTCP = EncapsulationType(rawValue: 7)
    public var description: String {
        switch rawValue {
        case 1: return "espinudp-nonike"
        case 2: return "espinudp"
        case 7: return "espintcp"
        default: return "encap-\(rawValue)"
        }
    }
}

/// NAT-T encapsulation (`struct xfrm_encap_tmpl`); ports in host order.
public struct XFRMEncapsulation: Hashable, Sendable {
    public var type: EncapsulationType
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    /// NAT original address (RFC 3948 NAT-OA); zero when not set.
    public var originalAddress: IPAddress
    public init(type: EncapsulationType, sourcePort: UInt16, destinationPort: UInt16, originalAddress: IPAddress) {
        self.type = type; self.sourcePort = sourcePort; self.destinationPort = destinationPort
        self.originalAddress = originalAddress
    }
}

/// A security context (`struct xfrm_sec_ctx`/`xfrm_user_sec_ctx`) with its string.
public struct XFRMSecurityContext: Hashable, Sendable {
    public var doi: UInt8
    public var algorithm: UInt8
    /// Context string as received; sanitise before drawing.
    public var context: String
    public init(doi: UInt8, algorithm: UInt8, context: String) {
        self.doi = doi; self.algorithm = algorithm; self.context = context
    }
}

/// Legacy replay state (`struct xfrm_replay_state`).
public struct XFRMReplayState: Hashable, Sendable {
    public var outboundSequence: UInt32
    public var inboundSequence: UInt32
    public var bitmap: UInt32
    public init(outboundSequence: UInt32, inboundSequence: UInt32, bitmap: UInt32) {
        self.outboundSequence = outboundSequence; self.inboundSequence = inboundSequence; self.bitmap = bitmap
    }
}

/// Extended-sequence-number replay state (`struct xfrm_replay_state_esn`); bitmap words are counted, not kept.
public struct XFRMReplayStateESN: Hashable, Sendable {
    public var bitmapLength: UInt32
    public var outboundSequence: UInt32
    public var inboundSequence: UInt32
    public var outboundSequenceHigh: UInt32
    public var inboundSequenceHigh: UInt32
    public var replayWindow: UInt32
    public init(bitmapLength: UInt32, outboundSequence: UInt32, inboundSequence: UInt32,
                outboundSequenceHigh: UInt32, inboundSequenceHigh: UInt32, replayWindow: UInt32) {
        self.bitmapLength = bitmapLength; self.outboundSequence = outboundSequence
        self.inboundSequence = inboundSequence; self.outboundSequenceHigh = outboundSequenceHigh
        self.inboundSequenceHigh = inboundSequenceHigh; self.replayWindow = replayWindow
    }
    /// The 64-bit outbound sequence number.
    public var outbound64: UInt64 { UInt64(outboundSequenceHigh) << 32 | UInt64(outboundSequence) }
    /// The 64-bit highest inbound sequence number.
    public var inbound64: UInt64 { UInt64(inboundSequenceHigh) << 32 | UInt64(inboundSequence) }
}

/// Hardware offload (`struct xfrm_user_offload`).
public struct XFRMOffload: Hashable, Sendable {
    public var ifindex: Int32
    public var flags: UInt8
    public init(ifindex: Int32, flags: UInt8) { self.ifindex = ifindex; self.flags = flags }
}

/// SA direction (XFRMA_SA_DIR).
public enum SADirection: UInt8, Hashable, Sendable, Codable {
    case inbound = 1
    case outbound = 2
    public var name: String { self == .inbound ? "in" : "out" }
}

/// IP-TFS parameters (XFRMA_IPTFS_*).
public struct XFRMIPTFS: Hashable, Sendable {
    public var dropTimeMicroseconds: UInt32?
    public var reorderWindow: UInt16?
    public var dontFragment: Bool
    public var initialDelayMicroseconds: UInt32?
    public var maxQueueSize: UInt32?
    public var packetSize: UInt32?
    public init() { dontFragment = false }
}

/// An attribute the codec does not interpret; kept with its bytes.
public struct XFRMUnknownAttribute: Hashable, Sendable {
    public var type: UInt16
    public var payload: [UInt8]
    public init(type: UInt16, payload: [UInt8]) { self.type = type; self.payload = payload }
}

/// Policy template (`struct xfrm_user_tmpl`).
public struct XFRMTemplate: Hashable, Sendable {
    // Declared so that the one-byte fields fill the address's tail: 64 bytes instead of 72.
    public var destination: IPAddress
    public var proto: IPsecProtocol
    public var family: AddressFamily
    public var mode: XFRMMode
    public var share: UInt8
    public var optional: Bool
    public var spi: UInt32
    public var reqid: UInt32
    public var source: IPAddress
    public var authAlgorithms: UInt32
    public var encryptionAlgorithms: UInt32
    public var compressionAlgorithms: UInt32
    public init(destination: IPAddress, spi: UInt32, proto: IPsecProtocol, family: AddressFamily, source: IPAddress,
                reqid: UInt32, mode: XFRMMode, share: UInt8, optional: Bool, authAlgorithms: UInt32,
                encryptionAlgorithms: UInt32, compressionAlgorithms: UInt32) {
        self.destination = destination; self.spi = spi; self.proto = proto; self.family = family
        self.source = source; self.reqid = reqid; self.mode = mode; self.share = share; self.optional = optional
        self.authAlgorithms = authAlgorithms; self.encryptionAlgorithms = encryptionAlgorithms
        self.compressionAlgorithms = compressionAlgorithms
    }
}

/// Attributes that may follow SA and policy bodies. Every field is optional:
/// the kernel sends only what applies.
///
/// Layout: what nearly every SA or policy carries, and what differs from one SA to the next,
/// is stored inline; the algorithms (the same for many SAs: one shared immutable box, see the
/// decoder) and the rarely sent attributes live in boxes that are nil when empty. The boxes are
/// immutable: setting a boxed field builds a new box. Equality and hashing are by value, as if
/// every field were stored inline.
public struct XFRMAttributes: Hashable, Sendable {
    public var encapsulation: XFRMEncapsulation?
    /// XFRMA_LASTUSED: seconds since the epoch of the last use.
    public var lastUsed: UInt64?
    public var templates: [XFRMTemplate] = []
    /// nil when no algorithm attribute is present (never a box of five nils).
    var algorithmBox: ValueBox<XFRMAlgorithmSet>?
    /// nil when no rare attribute is present (never a box of an empty set).
    var rareBox: ValueBox<XFRMRareAttributes>?
    public var replayESN: XFRMReplayStateESN?
    public var replay: XFRMReplayState?
    public var mark: XFRMMark?
    public var ifID: UInt32?
    public var extraFlags: UInt32?
    public var natKeepaliveInterval: UInt32?
    public var direction: SADirection?
    public var policyType: UInt8?

    public init() {}

    // MARK: Algorithms (shared box)

    var algorithms: XFRMAlgorithmSet {
        get { algorithmBox?.value ?? XFRMAlgorithmSet() }
        set {
            if let b = algorithmBox, b.value == newValue { return }
            algorithmBox = newValue.isEmpty ? nil : ValueBox(newValue)
        }
    }
    public var auth: XFRMAlgorithm? {
        get { algorithmBox?.value.auth }
        set { if newValue != auth { algorithms.auth = newValue } }
    }
    public var crypt: XFRMAlgorithm? {
        get { algorithmBox?.value.crypt }
        set { if newValue != crypt { algorithms.crypt = newValue } }
    }
    public var comp: XFRMAlgorithm? {
        get { algorithmBox?.value.comp }
        set { if newValue != comp { algorithms.comp = newValue } }
    }
    public var aead: XFRMAlgorithm? {
        get { algorithmBox?.value.aead }
        set { if newValue != aead { algorithms.aead = newValue } }
    }
    public var authTrunc: XFRMAlgorithm? {
        get { algorithmBox?.value.authTrunc }
        set { if newValue != authTrunc { algorithms.authTrunc = newValue } }
    }

    // MARK: Rare attributes (boxed)

    var rare: XFRMRareAttributes {
        get { rareBox?.value ?? XFRMRareAttributes() }
        set {
            if let b = rareBox, b.value == newValue { return }
            rareBox = newValue.isEmpty ? nil : ValueBox(newValue)
        }
    }
    public var securityContext: XFRMSecurityContext? {
        get { rareBox?.value.securityContext }
        set { if newValue != securityContext { rare.securityContext = newValue } }
    }
    public var lifetimeValue: XFRMLifetimeCurrent? {
        get { rareBox?.value.lifetimeValue }
        set { if newValue != lifetimeValue { rare.lifetimeValue = newValue } }
    }
    public var replayThreshold: UInt32? {
        get { rareBox?.value.replayThreshold }
        set { if newValue != replayThreshold { rare.replayThreshold = newValue } }
    }
    public var etimerThreshold: UInt32? {
        get { rareBox?.value.etimerThreshold }
        set { if newValue != etimerThreshold { rare.etimerThreshold = newValue } }
    }
    public var sourceAddress: IPAddress? {
        get { rareBox?.value.sourceAddress }
        set { if newValue != sourceAddress { rare.sourceAddress = newValue } }
    }
    public var careOfAddress: IPAddress? {
        get { rareBox?.value.careOfAddress }
        set { if newValue != careOfAddress { rare.careOfAddress = newValue } }
    }
    public var tfcPad: UInt32? {
        get { rareBox?.value.tfcPad }
        set { if newValue != tfcPad { rare.tfcPad = newValue } }
    }
    public var offload: XFRMOffload? {
        get { rareBox?.value.offload }
        set { if newValue != offload { rare.offload = newValue } }
    }
    public var setMark: UInt32? {
        get { rareBox?.value.setMark }
        set { if newValue != setMark { rare.setMark = newValue } }
    }
    public var setMarkMask: UInt32? {
        get { rareBox?.value.setMarkMask }
        set { if newValue != setMarkMask { rare.setMarkMask = newValue } }
    }
    public var mtimerThreshold: UInt32? {
        get { rareBox?.value.mtimerThreshold }
        set { if newValue != mtimerThreshold { rare.mtimerThreshold = newValue } }
    }
    /// Raw direction value when it is not 1 or 2.
    public var rawDirection: UInt8? {
        get { rareBox?.value.rawDirection }
        set { if newValue != rawDirection { rare.rawDirection = newValue } }
    }
    public var perCPU: UInt32? {
        get { rareBox?.value.perCPU }
        set { if newValue != perCPU { rare.perCPU = newValue } }
    }
    public var iptfs: XFRMIPTFS? {
        get { rareBox?.value.iptfs }
        set { if newValue != iptfs { rare.iptfs = newValue } }
    }
    public var migrations: [XFRMMigration] {
        get { rareBox?.value.migrations ?? [] }
        set { if newValue != migrations { rare.migrations = newValue } }
    }
    public var kmAddress: XFRMKMAddress? {
        get { rareBox?.value.kmAddress }
        set { if newValue != kmAddress { rare.kmAddress = newValue } }
    }
    public var unknown: [XFRMUnknownAttribute] {
        get { rareBox?.value.unknown ?? [] }
        set { if newValue != unknown { rare.unknown = newValue } }
    }
}

extension XFRMAttributes: CustomReflectable {
    /// Every attribute in XFRMA_* order, as if stored inline (debug output does not show the boxes).
    public var customMirror: Mirror {
        Mirror(self, children: [
            "auth": auth as Any, "crypt": crypt as Any, "comp": comp as Any, "aead": aead as Any,
            "authTrunc": authTrunc as Any, "encapsulation": encapsulation as Any, "templates": templates,
            "securityContext": securityContext as Any, "lifetimeValue": lifetimeValue as Any,
            "replay": replay as Any, "replayESN": replayESN as Any, "replayThreshold": replayThreshold as Any,
            "etimerThreshold": etimerThreshold as Any, "sourceAddress": sourceAddress as Any,
            "careOfAddress": careOfAddress as Any, "lastUsed": lastUsed as Any, "policyType": policyType as Any,
            "mark": mark as Any, "tfcPad": tfcPad as Any, "extraFlags": extraFlags as Any, "offload": offload as Any,
            "setMark": setMark as Any, "setMarkMask": setMarkMask as Any, "ifID": ifID as Any,
            "mtimerThreshold": mtimerThreshold as Any, "direction": direction as Any,
            "rawDirection": rawDirection as Any, "natKeepaliveInterval": natKeepaliveInterval as Any,
            "perCPU": perCPU as Any, "iptfs": iptfs as Any, "migrations": migrations, "kmAddress": kmAddress as Any,
            "unknown": unknown,
        ], displayStyle: .struct)
    }
}

/// An immutable, shareable value box; equal when the values are. Keeps what few values set out of
/// the values that hold them (here the rarer attributes of a state, in the model the rarer fields
/// of an SA entry): an optional reference where the fields inline would take their whole size.
public final class ValueBox<Value: Hashable & Sendable>: Hashable, Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
    public static func == (a: ValueBox, b: ValueBox) -> Bool { a === b || a.value == b.value }
    public func hash(into h: inout Hasher) { h.combine(value) }
}

/// The algorithm attributes of an SA.
struct XFRMAlgorithmSet: Hashable, Sendable {
    var auth: XFRMAlgorithm?
    var crypt: XFRMAlgorithm?
    var comp: XFRMAlgorithm?
    var aead: XFRMAlgorithm?
    var authTrunc: XFRMAlgorithm?
    var isEmpty: Bool { auth == nil && crypt == nil && comp == nil && aead == nil && authTrunc == nil }
}

/// Attributes few SAs or policies carry.
struct XFRMRareAttributes: Hashable, Sendable {
    var securityContext: XFRMSecurityContext?
    var lifetimeValue: XFRMLifetimeCurrent?
    var replayThreshold: UInt32?
    var etimerThreshold: UInt32?
    var sourceAddress: IPAddress?
    var careOfAddress: IPAddress?
    var tfcPad: UInt32?
    var offload: XFRMOffload?
    var setMark: UInt32?
    var setMarkMask: UInt32?
    var mtimerThreshold: UInt32?
    var rawDirection: UInt8?
    var perCPU: UInt32?
    var iptfs: XFRMIPTFS?
    var migrations: [XFRMMigration] = []
    var kmAddress: XFRMKMAddress?
    var unknown: [XFRMUnknownAttribute] = []
    var isEmpty: Bool { self == XFRMRareAttributes() }
}

/// An SA (`struct xfrm_usersa_info` plus attributes).
public struct XFRMState: Hashable, Sendable {
    public var selector: XFRMSelector
    public var destination: IPAddress
    /// SPI in host order.
    public var spi: UInt32
    public var proto: IPsecProtocol
    public var source: IPAddress
    public var lifetimeConfig: XFRMLifetimeConfig
    public var lifetimeCurrent: XFRMLifetimeCurrent
    public var stats: XFRMStats
    public var seq: UInt32
    public var reqid: UInt32
    public var family: AddressFamily
    public var mode: XFRMMode
    public var replayWindow: UInt8
    public var flags: UInt8
    public var attributes: XFRMAttributes

    public init(selector: XFRMSelector, destination: IPAddress, spi: UInt32, proto: IPsecProtocol, source: IPAddress,
                lifetimeConfig: XFRMLifetimeConfig, lifetimeCurrent: XFRMLifetimeCurrent, stats: XFRMStats,
                seq: UInt32, reqid: UInt32, family: AddressFamily, mode: XFRMMode, replayWindow: UInt8, flags: UInt8,
                attributes: XFRMAttributes) {
        self.selector = selector; self.destination = destination; self.spi = spi; self.proto = proto
        self.source = source; self.lifetimeConfig = lifetimeConfig; self.lifetimeCurrent = lifetimeCurrent
        self.stats = stats; self.seq = seq; self.reqid = reqid; self.family = family; self.mode = mode
        self.replayWindow = replayWindow; self.flags = flags; self.attributes = attributes
    }

    public var identity: SAIdentity {
        SAIdentity(family: family, destination: destination, spi: spi, proto: proto, mark: attributes.mark)
    }

    /// Larval SAs (from ALLOCSPI or ACQUIRE) carry no algorithm.
    public var isLarval: Bool {
        attributes.auth == nil && attributes.crypt == nil && attributes.aead == nil
            && attributes.authTrunc == nil && attributes.comp == nil
    }

    /// The effective replay window (ESN window when present).
    public var effectiveReplayWindow: UInt32 {
        attributes.replayESN?.replayWindow ?? UInt32(replayWindow)
    }

    /// XFRM_STATE_ESN flag.
    public var usesESN: Bool { flags & 128 != 0 }

    /// Names of the `XFRM_STATE_*` flags set.
    public var flagNames: [String] {
        let names: [(UInt8, String)] = [(1, "noecn"), (2, "decap-dscp"), (4, "nopmtudisc"), (8, "wildrecv"),
                                        (16, "icmp"), (32, "af-unspec"), (64, "align4"), (128, "esn")]
        return names.filter { flags & $0.0 != 0 }.map(\.1)
    }
}

/// Policy direction (`XFRM_POLICY_IN/OUT/FWD`, plus socket policies).
public struct PolicyDirection: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let inbound = PolicyDirection(rawValue: 0)
    public static let outbound = PolicyDirection(rawValue: 1)
    public static let forward = PolicyDirection(rawValue: 2)
    public var description: String {
        switch rawValue {
        case 0: return "in"
        case 1: return "out"
        case 2: return "fwd"
        case 3: return "in(sock)"
        case 4: return "out(sock)"
        case 5: return "fwd(sock)"
        default: return String(rawValue)
        }
    }
}

/// An SPD entry (`struct xfrm_userpolicy_info` plus attributes).
public struct XFRMPolicy: Hashable, Sendable {
    public var selector: XFRMSelector
    public var lifetimeConfig: XFRMLifetimeConfig
    public var lifetimeCurrent: XFRMLifetimeCurrent
    public var priority: UInt32
    public var index: UInt32
    public var direction: PolicyDirection
    /// 0 allow, 1 block.
    public var action: UInt8
    public var flags: UInt8
    public var share: UInt8
    public var attributes: XFRMAttributes

    public init(selector: XFRMSelector, lifetimeConfig: XFRMLifetimeConfig, lifetimeCurrent: XFRMLifetimeCurrent,
                priority: UInt32, index: UInt32, direction: PolicyDirection, action: UInt8, flags: UInt8, share: UInt8,
                attributes: XFRMAttributes) {
        self.selector = selector; self.lifetimeConfig = lifetimeConfig; self.lifetimeCurrent = lifetimeCurrent
        self.priority = priority; self.index = index; self.direction = direction; self.action = action
        self.flags = flags; self.share = share; self.attributes = attributes
    }

    public var identity: PolicyIdentity {
        PolicyIdentity(index: index, direction: direction, selector: selector, mark: attributes.mark,
                       ifID: attributes.ifID ?? 0, type: attributes.policyType ?? 0)
    }
    public var actionName: String { action == 0 ? "allow" : (action == 1 ? "block" : String(action)) }
}

/// Identifies a policy: its index (unique per policy within a netns) with direction and selector.
public struct PolicyIdentity: Hashable, Sendable {
    public var index: UInt32
    public var direction: PolicyDirection
    public var selector: XFRMSelector
    public var mark: XFRMMark?
    public var ifID: UInt32
    public var type: UInt8
    public init(index: UInt32, direction: PolicyDirection, selector: XFRMSelector, mark: XFRMMark?, ifID: UInt32, type: UInt8) {
        self.index = index; self.direction = direction; self.selector = selector
        self.mark = (mark?.isZero ?? true) ? nil : mark; self.ifID = ifID; self.type = type
    }
}

/// `struct xfrm_user_acquire` plus attributes.
public struct XFRMAcquire: Hashable, Sendable {
    public var destination: IPAddress
    public var spi: UInt32
    public var proto: IPsecProtocol
    public var source: IPAddress
    public var selector: XFRMSelector
    public var policy: XFRMPolicy
    public var authAlgorithms: UInt32
    public var encryptionAlgorithms: UInt32
    public var compressionAlgorithms: UInt32
    public var seq: UInt32
    public var attributes: XFRMAttributes
    public init(destination: IPAddress, spi: UInt32, proto: IPsecProtocol, source: IPAddress, selector: XFRMSelector,
                policy: XFRMPolicy, authAlgorithms: UInt32, encryptionAlgorithms: UInt32, compressionAlgorithms: UInt32,
                seq: UInt32, attributes: XFRMAttributes) {
        self.destination = destination; self.spi = spi; self.proto = proto; self.source = source
        self.selector = selector; self.policy = policy; self.authAlgorithms = authAlgorithms
        self.encryptionAlgorithms = encryptionAlgorithms; self.compressionAlgorithms = compressionAlgorithms
        self.seq = seq; self.attributes = attributes
    }
}

/// `struct xfrm_aevent_id` plus attributes (NEWAE/GETAE).
public struct XFRMAsyncEvent: Hashable, Sendable {
    public var identity: SAIdentity
    public var source: IPAddress
    public var flags: UInt32
    public var reqid: UInt32
    public var attributes: XFRMAttributes
    public init(identity: SAIdentity, source: IPAddress, flags: UInt32, reqid: UInt32, attributes: XFRMAttributes) {
        self.identity = identity; self.source = source; self.flags = flags; self.reqid = reqid; self.attributes = attributes
    }
}

/// `struct xfrm_user_mapping` (MAPPING: NAT rebinding seen on an inbound ESP-in-UDP SA).
public struct XFRMMapping: Hashable, Sendable {
    public var identity: SAIdentity
    public var reqid: UInt32
    public var oldSource: IPAddress
    public var newSource: IPAddress
    public var oldSourcePort: UInt16
    public var newSourcePort: UInt16
    public init(identity: SAIdentity, reqid: UInt32, oldSource: IPAddress, newSource: IPAddress,
                oldSourcePort: UInt16, newSourcePort: UInt16) {
        self.identity = identity; self.reqid = reqid; self.oldSource = oldSource; self.newSource = newSource
        self.oldSourcePort = oldSourcePort; self.newSourcePort = newSourcePort
    }
}

/// `struct xfrm_user_migrate`.
public struct XFRMMigration: Hashable, Sendable {
    public var oldDestination: IPAddress
    public var oldSource: IPAddress
    public var newDestination: IPAddress
    public var newSource: IPAddress
    public var proto: IPsecProtocol
    public var mode: XFRMMode
    public var reqid: UInt32
    public var oldFamily: AddressFamily
    public var newFamily: AddressFamily
    public init(oldDestination: IPAddress, oldSource: IPAddress, newDestination: IPAddress, newSource: IPAddress,
                proto: IPsecProtocol, mode: XFRMMode, reqid: UInt32, oldFamily: AddressFamily, newFamily: AddressFamily) {
        self.oldDestination = oldDestination; self.oldSource = oldSource; self.newDestination = newDestination
        self.newSource = newSource; self.proto = proto; self.mode = mode; self.reqid = reqid
        self.oldFamily = oldFamily; self.newFamily = newFamily
    }
}

/// `struct xfrm_user_kmaddress`.
public struct XFRMKMAddress: Hashable, Sendable {
    public var local: IPAddress
    public var remote: IPAddress
    public var family: AddressFamily
}

/// `struct xfrm_userpolicy_id` (DELPOLICY, MIGRATE).
public struct XFRMPolicyID: Hashable, Sendable {
    public var selector: XFRMSelector
    public var index: UInt32
    public var direction: PolicyDirection
    public init(selector: XFRMSelector, index: UInt32, direction: PolicyDirection) {
        self.selector = selector; self.index = index; self.direction = direction
    }
}

/// NEWSADINFO: SA counts and hash table sizes.
public struct XFRMSADInfo: Hashable, Sendable {
    public var count: UInt32?
    public var hashCount: UInt32?
    public var hashMax: UInt32?
}

/// NEWSPDINFO: policy counts (`struct xfrmu_spdinfo`) and hash information.
public struct XFRMSPDInfo: Hashable, Sendable {
    public var inbound: UInt32?, outbound: UInt32?, forward: UInt32?
    public var inboundSocket: UInt32?, outboundSocket: UInt32?, forwardSocket: UInt32?
    public var hashCount: UInt32?, hashMax: UInt32?
    /// Policies in the three directions (not counting per-socket ones).
    public var policyCount: Int { Int(inbound ?? 0) + Int(outbound ?? 0) + Int(forward ?? 0) }
    public var ipv4Threshold: (local: UInt8, remote: UInt8)? {
        get { v4t.map { ($0 >> 8, $0 & 0xff) }.map { (UInt8($0.0), UInt8($0.1)) } }
        set { v4t = newValue.map { UInt16($0.local) << 8 | UInt16($0.remote) } }
    }
    public var ipv6Threshold: (local: UInt8, remote: UInt8)? {
        get { v6t.map { ($0 >> 8, $0 & 0xff) }.map { (UInt8($0.0), UInt8($0.1)) } }
        set { v6t = newValue.map { UInt16($0.local) << 8 | UInt16($0.remote) } }
    }
    var v4t: UInt16?
    var v6t: UInt16?
}

/// The default policy actions (`struct xfrm_userpolicy_default`): 0 unspec, 1 block, 2 accept.
public struct XFRMDefaultPolicy: Hashable, Sendable {
    public var inbound: UInt8
    public var forward: UInt8
    public var outbound: UInt8
    public init(inbound: UInt8, forward: UInt8, outbound: UInt8) {
        self.inbound = inbound; self.forward = forward; self.outbound = outbound
    }
}

/// A netlink error or acknowledgement (`struct nlmsgerr`), with extended-ACK text.
public struct NetlinkError: Hashable, Sendable {
    /// Positive errno (0 = ACK).
    public var errno: Int32
    /// The header of the request it answers.
    public var requestType: UInt16
    public var requestSequence: UInt32
    /// NLMSGERR_ATTR_MSG: the kernel's explanation.
    public var message: String?
    /// NLMSGERR_ATTR_OFFS: offset of the offending attribute.
    public var offset: UInt32?
    public var isAck: Bool { errno == 0 }
}
