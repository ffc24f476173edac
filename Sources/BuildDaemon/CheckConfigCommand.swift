import ArgumentParser
import AzureClient
import Config
import FoundationEssentials
import Orchestration
import Scheduler
import Transport

/// `imagebuildd check-config`: everything that can be checked without Azure.
struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a config file offline and print each schedule's next run (exit 0 valid, 1 not).")

    @Option(help: "The YAML config file.")
    var config = "/etc/imagebuildd/config.yaml"

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
    }
}
