import ArgumentParser
import Glibc
import IPsecActions
import XFRMKernel
import XFRMWire

/// Performs planned actions through the kernel or strongSwan's VICI.
final class ActionExecutor {
    enum RekeyPath: String, ExpressibleByArgument, CaseIterable {
        case auto, vici, kernel
    }

    let command: XFRMCommandChannel
    let viciPath: String
    let rekeyPath: RekeyPath
    private var viciChildren: [VICIChildSA]?
    private var rekeyedChildren: Set<String> = []

    init(command: XFRMCommandChannel, viciPath: String, rekeyPath: RekeyPath) {
        self.command = command; self.viciPath = viciPath; self.rekeyPath = rekeyPath
    }

    func perform(_ plan: PlannedAction) -> ActionOutcome {
        let id = plan.identity
        if let r = plan.refusal {
            return ActionOutcome(kind: plan.kind, target: id, path: "none", ok: false, message: r)
        }
        switch plan.kind {
        case .delete:
            return kernel(plan.kind, id) { try command.deleteSA(id) }
        case .rekey:
            var viciNote: String?
            if rekeyPath != .kernel {
                switch viciRekey(plan.target) {
                case .done(let outcome): return outcome
                case .unavailable(let why):
                    if rekeyPath == .vici { return ActionOutcome(kind: .rekey, target: id, path: "vici", ok: false, message: why) }
                    viciNote = why
                }
            }
            var outcome = kernel(.rekey, id) { try command.expireSA(id, hard: false) }
            if let n = viciNote { outcome.path = "kernel (\(n))" }
            return outcome
        }
    }

    private func kernel(_ kind: ActionKind, _ id: SAIdentity, _ body: () throws -> Void) -> ActionOutcome {
        do {
            try body()
            return ActionOutcome(kind: kind, target: id, path: "kernel", ok: true)
        } catch KernelError.rejected(_, let e, let m) {
            return ActionOutcome(kind: kind, target: id, path: "kernel", ok: false, errnoName: e.name, message: m ?? e.message)
        } catch KernelError.missingPrivilege(_, let e) {
            return ActionOutcome(kind: kind, target: id, path: "kernel", ok: false, errnoName: e.name,
                                 message: "CAP_NET_ADMIN is needed")
        } catch {
            return ActionOutcome(kind: kind, target: id, path: "kernel", ok: false, message: "\(error)")
        }
    }

    enum VICIResult { case done(ActionOutcome), unavailable(String) }

    private func viciRekey(_ s: XFRMState) -> VICIResult {
        let id = s.identity
        do {
            let client = try VICIClient(path: viciPath)
            if viciChildren == nil { viciChildren = try client.listChildSAs() }
            guard let child = viciChildren?.first(where: { $0.spiIn == s.spi || $0.spiOut == s.spi }) else {
                return .unavailable("no CHILD_SA with SPI \(SAIdentity.hex(s.spi)) in \(viciPath)")
            }
            if rekeyedChildren.contains(child.uniqueID) {
                return .done(ActionOutcome(kind: .rekey, target: id, path: "vici", ok: true,
                                           message: "CHILD_SA \(child.name){\(child.uniqueID)} already rekeyed for its other SA"))
            }
            try client.rekeyChild(uniqueID: child.uniqueID)
            rekeyedChildren.insert(child.uniqueID)
            return .done(ActionOutcome(kind: .rekey, target: id, path: "vici", ok: true,
                                       message: "CHILD_SA \(child.ikeName)/\(child.name){\(child.uniqueID)}"))
        } catch let e as VICIError {
            if case .failed(let m) = e {
                return .done(ActionOutcome(kind: .rekey, target: id, path: "vici", ok: false, message: m))
            }
            return .unavailable(e.description)
        } catch {
            return .unavailable("\(error)")
        }
    }
}

/// Selection options shared by `delete` and `rekey`.
struct SelectionOptions: ParsableArguments {
    @Option(help: "SPI (hex with 0x, or decimal).") var spi: String?
    @Option(help: "Outer destination address.") var dst: String?
    @Option(help: "Outer source address.") var src: String?
    @Option(help: "Protocol: esp, ah or comp.") var proto: String?
    @Option(help: "Mark as VALUE/MASK (e.g. 0x10/0xff).") var mark: String?
    @Option(help: "Request id.") var reqid: UInt32?
    @Option(help: "Peer address: both directions' SAs with this source or destination.") var peer: String?
    @Flag(name: .customLong("dry-run"), help: "Show what would be sent; send nothing.") var dryRun = false
    @Flag(help: "Do not ask for confirmation.") var yes = false

    func selection() throws -> SASelection {
        func addr(_ s: String?, _ flag: String) throws -> IPAddress? {
            guard let s else { return nil }
            guard let a = IPAddress(s) else { throw ValidationError("--\(flag): not an IPv4 or IPv6 address: \(s)") }
            return a
        }
        var sel = SASelection()
        if let s = spi {
            let v = s.lowercased().hasPrefix("0x") ? UInt32(s.dropFirst(2), radix: 16) : UInt32(s)
            guard let v else { throw ValidationError("--spi: not a 32-bit number: \(s)") }
            sel.spi = v
        }
        sel.destination = try addr(dst, "dst")
        sel.source = try addr(src, "src")
        sel.peer = try addr(peer, "peer")
        if let p = proto {
            guard let v = IPsecProtocol(name: p) else { throw ValidationError("--proto: unknown protocol \(p)") }
            sel.proto = v
        }
        if let m = mark {
            let parts = m.split(separator: "/")
            func num(_ x: Substring) -> UInt32? { x.lowercased().hasPrefix("0x") ? UInt32(x.dropFirst(2), radix: 16) : UInt32(x) }
            guard let v = parts.first.flatMap(num) else { throw ValidationError("--mark: expected VALUE/MASK, got \(m)") }
            let mask = parts.count > 1 ? num(parts[1]) : 0xffff_ffff
            guard let mask else { throw ValidationError("--mark: bad mask in \(m)") }
            sel.mark = XFRMMark(value: v, mask: mask)
        }
        sel.reqid = reqid
        if sel.isEmpty { throw ValidationError("select at least one of --spi, --dst, --src, --mark, --reqid or --peer") }
        return sel
    }
}

/// Shared body of `delete` and `rekey`.
enum ActionCommand {
    static func run(_ kind: ActionKind, options: SelectionOptions, namespace: NamespaceOptions,
                    viciPath: String, rekeyPath: ActionExecutor.RekeyPath) throws {
        ignoreSIGPIPE()
        let selection = try options.selection()
        do {
            try namespace.enter()
            let cmd = try XFRMCommandChannel()
            let plans = ActionPlanner.plan(kind, states: try cmd.dumpSAs().records, selection: selection)
            guard !plans.isEmpty else {
                Output.error("ipsectop: no SA matches the selection")
                throw ExitCode(ExitCodes.noMatch)
            }
            for line in ActionPlanner.confirmation(plans) { Output.write(line + "\n") }
            if options.dryRun {
                for p in plans where p.refusal == nil {
                    Output.write("would send: \(ActionPlanner.operation(kind, on: p.target))\n")
                    if kind == .rekey && rekeyPath != .kernel {
                        Output.write("  (or VICI `rekey` by child unique id via \(viciPath) when reachable)\n")
                    }
                    if let ip = ActionPlanner.iprouteEquivalent(kind, on: p.target) { Output.write("  equivalent: \(ip)\n") }
                }
                return
            }
            if !options.yes {
                guard isatty(0) == 1 else {
                    Output.error("ipsectop: refusing to \(kind.verb) without confirmation: standard input is not a terminal; pass --yes")
                    throw ExitCode(ExitCodes.declined)
                }
                Output.write("Proceed? [y/N] ")
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    Output.error("ipsectop: declined, nothing sent")
                    throw ExitCode(ExitCodes.declined)
                }
            }
            let exec = ActionExecutor(command: cmd, viciPath: viciPath, rekeyPath: rekeyPath)
            var failed = false
            for p in plans {
                let o = exec.perform(p)
                Output.write(o.summary + "\n")
                if !o.ok { failed = true }
            }
            if failed { throw ExitCode(ExitCodes.actionFailed) }
        } catch let e as ExitCode {
            throw e
        } catch {
            throw fail(error)
        }
    }
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete SAs (XFRM_MSG_DELSA, with the mark when the SA has one).",
        discussion: "Equivalent to `ip xfrm state delete ...`. The IKE daemon is not told. Exit codes: 0 all deleted, 6 a delete failed, 7 declined, 8 no match.")
    @OptionGroup var select: SelectionOptions
    @OptionGroup var namespace: NamespaceOptions
    func run() throws {
        try ActionCommand.run(.delete, options: select, namespace: namespace, viciPath: VICIClient.defaultPath, rekeyPath: .kernel)
    }
}

struct Rekey: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the IKE daemon to rekey SAs (VICI `rekey` when reachable, else a soft XFRM_MSG_EXPIRE).",
        discussion: "strongSwan and libreswan answer a soft expire by rekeying the CHILD_SA. Larval SAs are refused. Exit codes: 0 ok, 6 failed, 7 declined, 8 no match.")
    @OptionGroup var select: SelectionOptions
    @OptionGroup var namespace: NamespaceOptions
    @Option(help: "strongSwan VICI socket.") var vici: String = VICIClient.defaultPath
    @Option(help: "auto (VICI, then kernel), vici or kernel.") var via: ActionExecutor.RekeyPath = .auto
    func run() throws {
        try ActionCommand.run(.rekey, options: select, namespace: namespace, viciPath: vici, rekeyPath: via)
    }
}
