import ArgumentParser
import AzureClient
import Foundation
import Orchestration

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
        do {
            let transport = try AsyncHTTPTransport(caFile: loaded.azure.caFile)
            defer { Task { try? await transport.shutdown() } }
            _ = try AzureWiring.credential(loaded.azure, transport: transport)
        } catch {
            Terminal.failure("\(config): azure: \(error)")
        }
        print("\(config): OK, \(loaded.schedules.count) schedule\(loaded.schedules.count == 1 ? "" : "s"), state directory \(loaded.stateDirectory)")
        let now = Date()
        for schedule in loaded.schedules {
            let next = schedule.cron.next(after: now).map(RFC3339.string) ?? "none within 5 years"
            print("  \(schedule.name): \(schedule.target.name) \"\(schedule.cron.expression)\" \(schedule.timezone) next \(next) overlap \(schedule.overlap.rawValue)")
        }
    }
}
