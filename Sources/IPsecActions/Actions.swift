import XFRMWire

/// What an action does to an SA.
public enum ActionKind: String, Sendable, CaseIterable {
    /// XFRM_MSG_DELSA. Equivalent to `ip xfrm state delete dst D proto P spi S [mark M]`.
    case delete
    /// Soft expire (XFRM_MSG_EXPIRE hard=0) or VICI `rekey`: the IKE daemon negotiates a successor.
    case rekey

    public var verb: String { self == .delete ? "delete" : "rekey" }
}

/// Which SAs a command-line action selects. Every given criterion must match.
public struct SASelection: Sendable, Equatable {
    public var spi: UInt32?
    public var destination: IPAddress?
    public var source: IPAddress?
    public var proto: IPsecProtocol?
    public var mark: XFRMMark?
    public var reqid: UInt32?
    /// A peer address: matches SAs whose source or destination is it (both directions).
    public var peer: IPAddress?

    public init(spi: UInt32? = nil, destination: IPAddress? = nil, source: IPAddress? = nil, proto: IPsecProtocol? = nil,
                mark: XFRMMark? = nil, reqid: UInt32? = nil, peer: IPAddress? = nil) {
        self.spi = spi; self.destination = destination; self.source = source; self.proto = proto
        self.mark = mark; self.reqid = reqid; self.peer = peer
    }

    /// True when nothing narrows the selection (refused: it would hit every SA).
    public var isEmpty: Bool {
        spi == nil && destination == nil && source == nil && mark == nil && reqid == nil && peer == nil
    }

    public func matches(_ s: XFRMState) -> Bool {
        if let v = spi, s.spi != v { return false }
        if let v = destination, s.destination != v { return false }
        if let v = source, s.source != v { return false }
        if let v = proto, s.proto != v { return false }
        if let v = mark, (s.attributes.mark ?? XFRMMark(value: 0, mask: 0)) != v { return false }
        if let v = reqid, s.reqid != v { return false }
        if let v = peer, s.source != v && s.destination != v { return false }
        return true
    }
}

/// One SA an action will be sent to, or the reason it will not.
public struct PlannedAction: Sendable {
    public var kind: ActionKind
    public var target: XFRMState
    /// Why nothing will be sent for this SA (nil = will be sent).
    public var refusal: String?

    public var identity: SAIdentity { target.identity }
}

/// Plans, describes and validates actions (pure).
public enum ActionPlanner {
    /// Checks one SA for an action; returns the refusal reason, if any.
    public static func refusal(_ kind: ActionKind, for s: XFRMState) -> String? {
        switch kind {
        case .delete:
            return nil
        case .rekey:
            if s.isLarval {
                return "SA is larval (reserved by ALLOCSPI or ACQUIRE, no keys yet); the kernel only expires VALID SAs, so nothing is sent"
            }
            return nil
        }
    }

    public static func plan(_ kind: ActionKind, targets: [XFRMState]) -> [PlannedAction] {
        targets.map { PlannedAction(kind: kind, target: $0, refusal: refusal(kind, for: $0)) }
    }

    public static func plan(_ kind: ActionKind, states: [XFRMState], selection: SASelection) -> [PlannedAction] {
        plan(kind, targets: states.filter(selection.matches))
    }

    /// Names the exact target: protocol, SPI, destination, source, mark, direction, reqid.
    public static func describe(_ s: XFRMState) -> String {
        var t = "\(s.proto) SPI \(SAIdentity.hex(s.spi)) dst \(s.destination) src \(s.source)"
        if let m = s.attributes.mark, !m.isZero { t += " mark \(m)" }
        if let d = s.attributes.direction { t += " dir \(d.name)" }
        t += " reqid \(s.reqid)"
        return t
    }

    /// The exact operation, as the kernel will receive it.
    public static func operation(_ kind: ActionKind, on s: XFRMState) -> String {
        switch kind {
        case .delete:
            var t = "XFRM_MSG_DELSA {family \(s.family.name), daddr \(s.destination), spi \(SAIdentity.hex(s.spi)), proto \(s.proto)}"
            if let m = s.attributes.mark, !m.isZero { t += " + XFRMA_MARK \(m)" }
            return t
        case .rekey:
            var t = "XFRM_MSG_EXPIRE {hard 0, daddr \(s.destination), spi \(SAIdentity.hex(s.spi)), proto \(s.proto)}"
            if let m = s.attributes.mark, !m.isZero { t += " + XFRMA_MARK \(m)" }
            return t
        }
    }

    /// iproute2 command with the same effect, where one exists.
    public static func iprouteEquivalent(_ kind: ActionKind, on s: XFRMState) -> String? {
        guard kind == .delete else { return nil }
        var t = "ip xfrm state delete src \(s.source) dst \(s.destination) proto \(s.proto) spi \(SAIdentity.hex(s.spi))"
        if let m = s.attributes.mark, !m.isZero { t += " mark 0x\(String(m.value, radix: 16)) mask 0x\(String(m.mask, radix: 16))" }
        return t
    }

    /// Confirmation text: the operation, every target, refusals, and how many tagged SAs the current filter hides.
    public static func confirmation(_ plans: [PlannedAction], hiddenByFilter: Int = 0) -> [String] {
        guard let kind = plans.first?.kind else { return ["Nothing selected."] }
        let sendable = plans.filter { $0.refusal == nil }
        var lines = ["\(kind == .delete ? "Delete" : "Rekey") \(sendable.count) SA\(sendable.count == 1 ? "" : "s")?"]
        for p in plans {
            lines.append((p.refusal == nil ? "  " : "  (skipped) ") + describe(p.target))
            if let r = p.refusal { lines.append("      \(r)") }
        }
        if hiddenByFilter > 0 {
            lines.append("  \(hiddenByFilter) tagged SA\(hiddenByFilter == 1 ? " is" : "s are") hidden by the current filter and included.")
        }
        if kind == .delete {
            lines.append("The IKE daemon is not told: it will not notice a kernel-side delete.")
        }
        return lines
    }
}

/// The outcome of one action.
public struct ActionOutcome: Sendable {
    public var kind: ActionKind
    public var target: SAIdentity
    /// "kernel" or "vici".
    public var path: String
    public var ok: Bool
    /// Errno name (e.g. "ESRCH") when it failed in the kernel.
    public var errnoName: String?
    /// Kernel extended-ACK text or VICI error message.
    public var message: String?

    public init(kind: ActionKind, target: SAIdentity, path: String, ok: Bool, errnoName: String? = nil, message: String? = nil) {
        self.kind = kind; self.target = target; self.path = path; self.ok = ok
        self.errnoName = errnoName; self.message = message
    }

    public var summary: String {
        var t = "\(kind.verb) \(target) via \(path): " + (ok ? "ok" : "failed")
        if let e = errnoName { t += " \(e)" }
        if let m = message { t += ": \(m)" }
        return t
    }
}
