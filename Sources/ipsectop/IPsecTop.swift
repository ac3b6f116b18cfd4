import ArgumentParser

@main
struct IPsecTop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipsectop",
        abstract: "A live terminal dashboard for Linux IPsec (XFRM).",
        discussion: """
            Without a subcommand, ipsectop opens the dashboard. It needs CAP_NET_ADMIN \
            (run as root or `setcap cap_net_admin,cap_net_raw+ep`); `--replay FILE` works without it.
            Exit codes: 0 ok, 1 error, 2 usage, 3 missing privilege (CAP_NET_ADMIN), \
            4 network namespace not found, 5 bad input file, 6 action refused, 7 declined, 8 no SA matched.
            """,
        subcommands: [Dashboard.self, Snapshot.self, Events.self, Delete.self, Rekey.self],
        defaultSubcommand: Dashboard.self)

    /// Runs the command; usage errors exit with 2 (EX_USAGE 64 is remapped, as documented).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                Output.error(fullMessage(for: error))
                Output.error("Run `ipsectop --help` for usage.")
                exit(withError: ExitCode(ExitCodes.usage))
            }
            exit(withError: error)
        }
    }
}
