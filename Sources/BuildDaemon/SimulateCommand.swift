import ArgumentParser
import AzureSimulator
import FoundationEssentials
import Orchestration

/// `imagebuildd simulate`: the in-tree ARM simulator as a standalone server for users' own tooling.
struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a simulated Azure Resource Manager and token endpoint on 127.0.0.1.",
        discussion: """
            Serves the ten imageTemplates operations, Entra ID client-credentials and managed-identity token \
            endpoints, with builds that progress on their own. --tls-dir DIR serves https with DIR/cert.pem \
            and DIR/key.pem (scripts/gen-test-ca.sh writes a CA and such a pair). --scenario FILE (JSON) \
            seeds templates, the accepted principal, token lifetime, time scale, page size and faults.
            """)

    @Option(help: "TCP port on 127.0.0.1 (0 picks a free one).")
    var port: Int = 8443

    @Option(name: .customLong("tls-dir"), help: "Directory holding cert.pem and key.pem; serve https.")
    var tlsDirectory: String?

    @Option(help: "Scenario file (JSON).")
    var scenario: String?

    func run() async throws {
        var loaded = Scenario()
        if let scenario {
            guard let data = FileManager.default.contents(atPath: scenario) else {
                Terminal.usage("cannot read scenario file \(scenario)")
            }
            do {
                loaded = try JSONDecoder().decode(Scenario.self, from: data)
            } catch {
                Terminal.usage("scenario file \(scenario): \(describe(error))")
            }
        }
        // The same compressed clock as a daemon started with IMAGEBUILDD_TIME_SCALE (tests, e2e).
        var now: @Sendable () -> Date = { Date() }
        if let scaled = ProcessInfo.processInfo.environment["IMAGEBUILDD_TIME_SCALE"] {
            guard let clock = ScaledClock.parse(scaled) else { Terminal.usage("IMAGEBUILDD_TIME_SCALE=\(scaled): expected SCALE[@RFC3339[@UNIX]]") }
            now = { clock.now() }
        }
        let simulator: AzureSimulator
        do {
            simulator = try await AzureSimulator(scenario: loaded, port: port,
                                                 tls: tlsDirectory.map { AzureSimulator.TLSFiles(directory: $0) }, now: now)
        } catch {
            Terminal.failure("cannot start the simulator on 127.0.0.1:\(port): \(error)")
        }
        let principal = simulator.principal
        let banner = """
            simulator listening on \(simulator.baseURL.absoluteString)
              resource manager endpoint: \(simulator.baseURL.absoluteString)
              authority host:            \(simulator.baseURL.absoluteString)
              tenant id:                 \(principal.tenantId)
              client id:                 \(principal.clientId)
              templates:                 \(loaded.templates.count)

            """
        // Written unbuffered: scripts wait for this line before they start their clients.
        StandardStreams.output(banner)
        try await simulator.waitUntilClosed()
    }
}

/// Where in the scenario JSON decoding failed, and why.
private func describe(_ error: any Error) -> String {
    func path(_ context: DecodingError.Context) -> String {
        context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
    switch error as? DecodingError {
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return "at \(path(context).isEmpty ? "top level" : path(context)): \(context.debugDescription)"
    case .keyNotFound(let key, let context):
        return "at \(path(context).isEmpty ? "top level" : path(context)): missing \"\(key.stringValue)\""
    default:
        return "\(error)"
    }
}
