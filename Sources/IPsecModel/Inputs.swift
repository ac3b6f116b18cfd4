import XFRMWire

/// Seconds since the Unix epoch, as reported by the caller's clock. The model never reads a clock:
/// every input is applied "at" a time the caller passes in.
public typealias ModelTime = Double

/// Tunables of the live model. Defaults follow `top -d 1` and the kernel's defaults.
public struct ModelConfiguration: Sendable, Hashable {
    /// Expected interval between periodic GETSA dumps, in seconds (`top -d`). Sizes the rate rings.
    public var refreshInterval: Double = 1
    /// How much per-peer traffic history to keep for sparklines, in seconds (at least 600).
    public var historyDuration: Double = 600
    /// At most this many peers keep a history ring (8 bytes per point: 4.8 KB for 10 minutes at 1 s).
    public var historyPeerLimit: Int = 4096
    /// Capacity of the global event timeline ring.
    public var timelineCapacity: Int = 4096
    /// How long an ACQUIRE stays pending without a matching SA (`net.core.xfrm_acq_expires`, 30 s).
    public var acquireTimeout: Double = 30
    /// How long a tunnel's stitched totals survive after its last SA went away.
    public var tunnelRetention: Double = 600
    /// Keepalive status turns LATE after this many intervals without a keepalive (or traffic).
    public var keepaliveLateFactor: Double = 1.5
    /// With capture running, no kernel interval and nothing seen for this long, status is NONE.
    public var keepaliveNoneAfter: Double = 60
    /// Mapping changes remembered per peer.
    public var mappingHistoryLimit: Int = 32
    /// Rekey links (old -> new SPI) remembered in total.
    public var rekeyLinkLimit: Int = 1024
    /// Addresses known to be local (e.g. from the interfaces); added to the inferred ones.
    public var localAddresses: Set<IPAddress> = []

    public init() {}
}

/// Which table a dump refreshes.
public enum DumpKind: String, Sendable, Hashable, Codable {
    case sa
    case policy
}

/// A one-byte 0xFF NAT-T keepalive datagram seen on the wire (AF_PACKET capture).
public struct KeepaliveObservation: Sendable, Hashable {
    /// `.outbound`: sent by this host; `.inbound`: received from the peer.
    public var direction: SADirection
    public var source: IPAddress
    public var sourcePort: UInt16
    public var destination: IPAddress
    public var destinationPort: UInt16
    /// When the datagram was captured.
    public var time: ModelTime

    public init(direction: SADirection, source: IPAddress, sourcePort: UInt16, destination: IPAddress,
                destinationPort: UInt16, time: ModelTime) {
        self.direction = direction; self.source = source; self.sourcePort = sourcePort
        self.destination = destination; self.destinationPort = destinationPort; self.time = time
    }
}

/// Whether keepalives can be observed on the wire.
public enum CaptureAvailability: Sendable, Hashable {
    /// Not yet reported by the executable.
    case unknown
    /// The AF_PACKET capture is running.
    case active
    /// No capture (no CAP_NET_RAW, disabled, replay without capture data...): keepalive status
    /// falls back to the kernel interval and XFRMA_LASTUSED.
    case unavailable(reason: String)
}

/// How an action ended.
public enum ActionOutcome: Sendable, Hashable {
    case succeeded
    /// `errno` positive; `message` is the kernel's extended-ACK text when it sent one.
    case failed(errno: Int32, message: String?)
}

/// The result of an action (delete, rekey, ...) performed by the executor, for the timeline.
public struct ActionResult: Sendable, Hashable {
    /// Short verb, e.g. "delete", "rekey", "vici-rekey".
    public var kind: String
    /// Human target, e.g. "esp spi 0x0000c001 dst 198.51.100.2".
    public var target: String
    /// The SA acted upon, when it was one.
    public var sa: SAIdentity?
    /// The policy acted upon, when it was one.
    public var policy: PolicyIdentity?
    public var outcome: ActionOutcome

    public init(kind: String, target: String, sa: SAIdentity? = nil, policy: PolicyIdentity? = nil,
                outcome: ActionOutcome) {
        self.kind = kind; self.target = target; self.sa = sa; self.policy = policy; self.outcome = outcome
    }
}

/// Everything the model can be fed. Apply with `LiveModel.apply(_:at:)`, where `at` is the receive time.
public enum ModelInput: Sendable {
    /// A decoded multicast event from the XFRM event socket.
    case kernel(XFRMMessage)
    /// A GETSA / GETPOLICY dump request was just sent: events from now on are also queued and
    /// re-applied after the dump completes (a dump is a cursor walk, not a snapshot).
    case dumpBegan(DumpKind)
    /// A complete GETSA dump (every NEWSA record up to NLMSG_DONE). The first initialises the table;
    /// later ones refresh counters and reconcile (stale SAs removed, missing ones added).
    case saDump([XFRMState])
    /// A complete GETSA dump as received, not yet decoded: same meaning as `saDump`, but the model
    /// decodes only the records whose configuration changed since the previous dump (the others
    /// cost a hash and a lookup: see `SAScan`).
    case saDumpRaw(RawSADump)
    /// Part of a GETSA dump as it is received (the records of one datagram, in dump order): applied
    /// at once, so that a large dump is never held whole. `saDumpEnd` completes the dump; the
    /// result is that of `saDumpRaw` with every part's records, at the time of the first part.
    /// Between the parts and the end nothing else should be fed (a dump in progress is a cursor).
    case saDumpPart(RawSADump)
    /// The end of a GETSA dump fed as `saDumpPart`s (NLMSG_DONE): reconciles the table.
    case saDumpEnd
    /// How many SAs or policies the kernel holds (XFRM_MSG_GETSADINFO / GETSPDINFO), fed just
    /// before a streamed dump of that kind: the dump makes room for that many at once, instead of
    /// growing its tables by doubling as the parts arrive (which left the SA table and its indexes
    /// up to twice the size needed, and moved them on the way).
    case dumpSizeHint(DumpKind, Int)
    /// A complete GETPOLICY dump; reconciles the policy table the same way.
    case policyDump([XFRMPolicy])
    /// Part of a GETPOLICY dump as it is received (the policies of one datagram, in dump order),
    /// applied at once; `policyDumpEnd` completes it with the result of `policyDump` of every
    /// part's policies. As for SA parts, nothing else should be fed between the parts and the end.
    case policyDumpPart([XFRMPolicy])
    /// The end of a GETPOLICY dump fed as `policyDumpPart`s: policies it did not list are gone.
    case policyDumpEnd
    /// A dump ended in error (NLMSG_ERROR / DONE with errno); the dump is abandoned.
    case dumpFailed(DumpKind, errno: Int32)
    /// The event socket overran (ENOBUFS) or the model is otherwise in doubt: emits re-dump effects.
    case resyncNeeded(reason: String)
    /// The text of `/proc/net/xfrm_stat`.
    case xfrmStat(String)
    /// A NAT-T keepalive seen on the wire.
    case keepalive(KeepaliveObservation)
    /// Whether the keepalive capture runs.
    case capture(CaptureAvailability)
    /// An action finished (for the timeline).
    case action(ActionResult)
    /// Addresses configured on this host's interfaces (helps infer SA direction).
    case localAddresses([IPAddress])
    /// The refresh interval changed (`+`/`-`).
    case setRefreshInterval(Double)
    /// Display paused or resumed (the model keeps applying inputs; the header reports it).
    case setPaused(Bool)
    /// Time passed without other input: re-evaluates time-dependent status (keepalive, lifetimes, acquires).
    case tick
}

/// What the model asks the executor to do.
public enum ModelEffect: Sendable, Hashable {
    /// Start a GETSA dump (then feed `.dumpBegan(.sa)` and, when done, `.saDump`).
    case dumpSAs
    /// Start a GETPOLICY dump (then `.dumpBegan(.policy)` and `.policyDump`).
    case dumpPolicies
    /// The set of UDP encapsulation ports in use changed: update the keepalive capture filter.
    case setKeepaliveCapturePorts([UInt16])
}
