import ArgumentParser
import AzureClient
import Config
import FoundationEssentials
import Glibc
import JobJournal
import Logging
import Orchestration
import Scheduler
import Transport

/// `imagebuildd check-config`: everything that can be checked without Azure.
struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a config file offline and print each schedule's next run (exit 0 valid, 1 not).",
        discussion: """
            With --discover it also lists the templates of every discover: source (read-only: nothing is journaled or changed)             and prints the schedules their tags describe and the tags it would ignore; exit 1 when a source cannot be listed or a tag is bad.
            """)

    @Option(help: "The YAML config file.")
    var config = "/etc/imagebuildd/config.yaml"

    @Flag(help: "Also list the discover: sources (needs Azure) and show what discovery would find.")
    var discover = false

    func run() async throws {
        let loaded: DaemonConfig
        do { loaded = try ConfigLoader(file: config).load() } catch { Terminal.failure("\(error)") }
        let transport: AsyncHTTPTransport
        do { transport = try AsyncHTTPTransport(caFile: loaded.azure.caFile) } catch { Terminal.failure("\(config): azure: \(error)") }
        do {
            _ = try AzureWiring.credential(loaded.azure, transport: transport)
            try? await transport.shutdown()
        } catch {
            // Shut down before the exit: its event loop must not be torn down under a pending task.
            try? await transport.shutdown()
            Terminal.failure("\(config): azure: \(error)")
        }
        do {
            _ = try Reporting.webhooks(loaded.notify, environment: ProcessInfo.processInfo.environment)
        } catch {
            Terminal.failure("\(config): \(error)")
        }
        print("\(config): OK, \(loaded.schedules.count) schedule\(loaded.schedules.count == 1 ? "" : "s"), state directory \(loaded.stateDirectory)")
        let now = Date()
        for schedule in loaded.schedules {
            let next = schedule.cron.next(after: now).map(RFC3339.string) ?? "none within 5 years"
            print("  \(schedule.name): \(schedule.target.name) \"\(schedule.cron.expression)\" \(schedule.timezone) next \(next) overlap \(schedule.overlap.rawValue)"
                  + (schedule.staleAfter.map { " stale_after \($0.configText)" } ?? ""))
        }
        if let listen = loaded.metrics.listen { print("  metrics: http://\(listen.host):\(listen.port)/metrics") }
        if let textfile = loaded.metrics.textfile { print("  metrics textfile: \(textfile) every \(loaded.metrics.textfileInterval.configText)") }
        for sink in loaded.notify {
            print("  notify: \(sink.redactedURL) on \(sink.events.map(\.rawValue).sorted().joined(separator: ","))"
                  + (sink.secret.map { ", signed (\($0))" } ?? ", unsigned") + ", retry_for \(sink.retryFor.configText)")
        }
        if let discovery = loaded.discovery {
            print("  discover: \(discovery.sources.map(\.description).joined(separator: ", ")) every \(discovery.interval.configText), tags \(discovery.tagPrefix)*")
        }
        if discover { await discoverNow(loaded) }
    }

    /// What a discovery pass would find, read-only.
    private func discoverNow(_ loaded: DaemonConfig) async {
        guard let settings = loaded.discovery else { Terminal.failure("\(config): --discover needs a discover: section") }
        var logger = Logger(label: "imagebuildd") { _ in StderrLogHandler() }
        logger.logLevel = .error
        let transport: AsyncHTTPTransport
        do { transport = try AsyncHTTPTransport(caFile: loaded.azure.caFile) } catch { Terminal.failure("\(config): azure: \(error)") }
        let client: ImageTemplatesClient
        do { client = try AzureWiring.client(loaded.azure, transport: transport, logger: logger) } catch {
            try? await transport.shutdown()
            Terminal.failure("\(config): azure: \(error)")
        }
        let (listed, failures) = await client.templates(in: settings.sources)
        try? await transport.shutdown()
        for failure in failures { print("  discover: listing \(failure)") }
        let failed = !failures.isEmpty
        let result = TagDiscovery.find(listed, config: loaded)
        let now = Date()
        print("  discover: \(listed.count) template\(listed.count == 1 ? "" : "s") listed, \(result.found.count) scheduled by tags")
        for found in result.found {
            guard case .success(let schedule) = TagDiscovery.schedule(found, config: loaded) else { continue }
            let next = schedule.cron.next(after: now).map(RFC3339.string) ?? "none within 5 years"
            print("  \(schedule.name): \(schedule.target.name) \"\(schedule.cron.expression)\" \(schedule.timezone) next \(next) overlap \(schedule.overlap.rawValue) (\(schedule.source))")
        }
        for problem in result.ignored { print("  ignored: \(problem.template): \(problem.message)") }
        if failed || result.ignored.contains(where: { $0.reason != "in-config" }) { Glibc.exit(1) }
    }
}
