import ArgumentParser

/// The `imagebuildd` command: the daemon and its tools.
@main
struct Imagebuildd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imagebuildd",
        abstract: "Keeps Azure VM Image Builder templates rebuilt on a schedule, as a systemd service.",
        discussion: """
            imagebuildd runs each image template of its configuration on a time-zone-aware cron schedule, calls Run, \
            follows the build to its end, cancels builds that overrun their timeout, and journals every step so that \
            after a crash it resumes its runs and never triggers a slot twice. It runs as imagebuildd.service \
            (Type=notify); `systemctl reload imagebuildd` rereads the configuration.

            Files: /etc/imagebuildd/config.yaml (the configuration; an example is in \
            /usr/share/doc/imagebuildd/examples/), /etc/imagebuildd/client-secret (loaded as a systemd credential), \
            /var/lib/imagebuildd/journal/ (the journal), /run/imagebuildd/control.sock (the operator socket).

            See also: systemctl(1), journalctl(1), systemd.service(5).
            """,
        version: Imagebuildd.version,
        subcommands: [Run.self, Status.self, Trigger.self, Pause.self, Resume.self, Cancel.self, Discover.self, CheckConfig.self, Next.self, History.self,
                      Templates.self, Demo.self, JournalCommand.self, Simulate.self]
    )

    /// The release, as `--version` prints it and the Debian package is numbered.
    static let version = "0.6.0"
}
