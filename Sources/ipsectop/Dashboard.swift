import ArgumentParser

struct Dashboard: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The live dashboard (default).")
    func run() throws {
        Output.error("ipsectop: the dashboard is not wired yet; use `ipsectop snapshot` or `ipsectop events`")
        throw ExitCode(ExitCodes.failure)
    }
}
