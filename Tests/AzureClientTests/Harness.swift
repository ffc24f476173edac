import AzureClient
import AzureSimulator
import Foundation
import Logging
import Synchronization
import Transport

/// A simulator on loopback and a client wired to it, as the daemon would wire them.
struct Harness {
    static let subscription = "00000000-0000-0000-0000-000000000000"
    let simulator: AzureSimulator
    let client: ImageTemplatesClient
    let transport: AsyncHTTPTransport
    let logs: CapturedLogs

    static func template(_ name: String) -> ImageTemplateID {
        ImageTemplateID(subscriptionID: subscription, resourceGroup: "images", name: name)
    }

    static func start(_ scenario: Scenario = Scenario(), tls: AzureSimulator.TLSFiles? = nil, caFile: String? = nil,
                      apiVersion: String = AzureClientConfiguration.defaultAPIVersion,
                      retry: RetryPolicy = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(20), maxDelay: .milliseconds(200), maxTotalDelay: .seconds(10)),
                      credential: ((URL, any HTTPTransport, SimulatedPrincipal) -> any TokenCredential)? = nil) async throws -> Harness {
        let simulator = try await AzureSimulator(scenario: scenario, tls: tls)
        let transport = try AsyncHTTPTransport(caFile: caFile)
        let principal = simulator.principal
        let chosen = credential?(simulator.baseURL, transport, principal)
            ?? ClientSecretCredential(tenantID: principal.tenantId, clientID: principal.clientId, secret: .literal(principal.clientSecret),
                                      authorityHost: simulator.baseURL, transport: transport)
        let logs = CapturedLogs()
        var logger = Logger(label: "test") { _ in CapturingHandler(sink: logs) }
        logger.logLevel = .trace
        let configuration = AzureClientConfiguration(resourceManagerEndpoint: simulator.baseURL, apiVersion: apiVersion,
                                                     requestTimeout: .seconds(5), operationPollInterval: .milliseconds(100), retry: retry)
        let client = try ImageTemplatesClient(configuration: configuration, credential: chosen, transport: transport, logger: logger)
        return Harness(simulator: simulator, client: client, transport: transport, logs: logs)
    }

    func stop() async throws {
        try await transport.shutdown()
        try await simulator.shutdown()
    }
}

/// Every log line and its metadata, rendered as text.
final class CapturedLogs: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

struct CapturingHandler: LogHandler {
    let sink: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        let merged = self.metadata.merging(metadata ?? [:]) { $1 }
        sink.append("\(level) \(message) \(merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
    }
}
