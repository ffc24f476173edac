import ArgumentParser

/// The `imagebuildd` command: the daemon and its tools.
@main
struct Imagebuildd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imagebuildd",
        abstract: "Keeps Azure VM Image Builder templates rebuilt on a schedule, as a systemd service.",
        subcommands: [Run.self, CheckConfig.self, Next.self, History.self, Demo.self, JournalCommand.self, Simulate.self]
    )
}

/// A subcommand whose issue has not landed yet; says so instead of pretending.
struct NotYetImplemented: Error, CustomStringConvertible {
    var command: String
    var issue: String
    var description: String { "`imagebuildd \(command)` is not implemented yet (planned in \"\(issue)\")" }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon against the built-in Azure simulator.")
    func run() async throws { throw NotYetImplemented(command: "demo", issue: "systemd-native: notify, watchdog, journald, hardened unit, demo") }
}
