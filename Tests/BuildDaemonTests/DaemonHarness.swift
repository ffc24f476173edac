import AzureSimulator
import Foundation
import Subprocess
import SystemPackage
import Testing

/// The `imagebuildd` binary against an in-process simulator, both on one compressed clock.
struct DaemonHarness {
    static let subscription = "00000000-0000-0000-0000-000000000000"
    let simulator: AzureSimulator
    let directory: String
    let origin: Date
    let realOrigin: Date
    let scale: Double

    var configPath: String { directory + "/config.yaml" }
    var stateDirectory: String { directory + "/state" }

    /// Simulated time starts at `origin` now and runs `scale` times faster than real time.
    static func start(origin: String, scale: Double, templates: [SeedTemplate], faults: [FaultRule] = [], pageSize: Int = 50) async throws -> DaemonHarness {
        let realOrigin = Date()
        let start = ISO8601DateFormatter().date(from: origin)!
        let now: @Sendable () -> Date = { start.addingTimeInterval(Date().timeIntervalSince(realOrigin) * scale) }
        // Long-lived tokens: token lifetimes are on the simulated clock.
        let scenario = Scenario(templates: templates, tokenLifetimeSeconds: 10 * 365 * 86_400, pageSize: pageSize, faults: faults)
        let simulator = try await AzureSimulator(scenario: scenario, now: now)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("daemon-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return DaemonHarness(simulator: simulator, directory: directory, origin: start, realOrigin: realOrigin, scale: scale)
    }

    /// Simulated now.
    var now: Date { origin.addingTimeInterval(Date().timeIntervalSince(realOrigin) * scale) }

    /// Real time until simulated `instant`.
    func realDelay(until instant: Date) -> Duration {
        .milliseconds(max(0, Int64(instant.timeIntervalSince(now) / scale * 1000)))
    }

    /// Writes the config: the simulator's endpoints, then `body` (defaults and schedules).
    func writeConfig(_ body: String) throws {
        let principal = simulator.principal
        let text = """
            azure:
              resource_manager_endpoint: \(simulator.baseURL.absoluteString)
              authority_host: \(simulator.baseURL.absoluteString)
              credential: client-secret
              tenant_id: \(principal.tenantId)
              client_id: \(principal.clientId)
            state_directory: \(stateDirectory)
            control: { socket: \(stateDirectory)/control.sock }
            \(body)
            """
        try Data(text.utf8).write(to: URL(fileURLWithPath: configPath))
    }

    /// A schedule entry for template `template` in the simulator's subscription.
    static func schedule(_ name: String, template: String, cron: String, extra: String = "") -> String {
        """
          - name: \(name)
            subscription_id: \(subscription)
            resource_group: images
            template: \(template)
            cron: "\(cron)"
        \(extra.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        """
    }

    var environment: Environment {
        .inherit.updating([
            "STATE_DIRECTORY": nil, "NOTIFY_SOCKET": nil, "AZURE_CLIENT_SECRET": simulator.principal.clientSecret,
            "IMAGEBUILDD_TIME_SCALE": "\(scale)@\(ISO8601DateFormatter().string(from: origin))@\(realOrigin.timeIntervalSince1970)",
        ])
    }

    /// Runs the daemon; `during` gets the execution (to signal it) and returns when the daemon should end.
    /// Returns the exit status and what the daemon logged.
    func runDaemon(_ during: @escaping @Sendable (_ send: @Sendable (Signal) throws -> Void) async throws -> Void) async throws -> (TerminationStatus, String) {
        let result = try await Subprocess.run(.path(binary), arguments: ["run", "--config", configPath], environment: environment,
                                              input: .none, output: .discarded, error: .string(limit: 16 << 20)) { execution in
            try await during { try execution.send(signal: $0) }
        }
        return (result.terminationStatus, result.standardError ?? "")
    }

    /// Runs the daemon until simulated `instant`, then SIGTERM.
    func runDaemon(until instant: Date) async throws -> (TerminationStatus, String) {
        let delay = realDelay(until: instant)
        return try await runDaemon { send in
            try await Task.sleep(for: delay)
            try send(.terminate)
        }
    }

    /// `imagebuildd history --json`, parsed.
    func history(schedule: String? = nil) async throws -> [[String: Any]] {
        var arguments = ["history", "--state-dir", stateDirectory, "--json"]
        if let schedule { arguments += ["--schedule", schedule] }
        let output = try await Subprocess.run(.path(binary), arguments: Arguments(arguments), environment: environment,
                                              output: .string(limit: 16 << 20), error: .string(limit: 1 << 20))
        #expect(output.terminationStatus.isSuccess, "history: \(output.standardError ?? "")")
        return try JSONSerialization.jsonObject(with: Data((output.standardOutput ?? "[]").utf8)) as? [[String: Any]] ?? []
    }

    /// The journal's records of `type` for `schedule`, via `imagebuildd journal dump --json`.
    func records(_ type: String, schedule: String) async throws -> [[String: Any]] {
        let output = try await Subprocess.run(.path(binary), arguments: ["journal", "dump", "--state-dir", stateDirectory, "--json"],
                                              environment: environment, output: .string(limit: 64 << 20), error: .string(limit: 1 << 20))
        return (output.standardOutput ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["type"] as? String == type && $0["schedule"] as? String == schedule }
    }

    func stop() async throws {
        try await simulator.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
