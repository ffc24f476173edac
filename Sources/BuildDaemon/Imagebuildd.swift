import ArgumentParser

/// The `imagebuildd` command: the daemon and its tools.
@main
struct Imagebuildd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imagebuildd",
        abstract: "Keeps Azure VM Image Builder templates rebuilt on a schedule, as a systemd service.",
        subcommands: [Run.self, Status.self, Trigger.self, Pause.self, Resume.self, Cancel.self, CheckConfig.self, Next.self, History.self,
                      Templates.self, Demo.self, JournalCommand.self, Simulate.self]
    )
}
