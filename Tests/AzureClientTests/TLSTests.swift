import AzureClient
import AzureSimulator
import Foundation
import Subprocess
import SystemPackage
import Testing
import Transport

/// The whole conversation over TLS with a CA generated for the test; verification stays on.
@Suite struct TLSTests {
    static func makeCA() async throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ca-\(UUID().uuidString)").path
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/gen-test-ca.sh").path
        let result = try await Subprocess.run(.path(FilePath(script)), arguments: [directory], output: .discarded, error: .string(limit: 4096))
        #expect(result.terminationStatus.isSuccess, "gen-test-ca.sh: \(result.standardError ?? "")")
        return directory
    }

    @Test func everyCallVerifiesTheServerAgainstTheExtraCA() async throws {
        let ca = try await Self.makeCA()
        // Seconds per phase: the get after the Run must find it running even on a loaded machine.
        let h = try await Harness.start(Scenario(templates: [SeedTemplate(name: "tls", behavior: TemplateBehavior(phaseSeconds: [1, 1, 1, 1]))]),
                                        tls: .init(directory: ca), caFile: ca + "/ca.pem")
        defer { Task { try await h.stop() } }
        #expect(h.simulator.baseURL.scheme == "https")
        let id = Harness.template("tls")
        _ = try await h.client.run(id)
        #expect(try await h.client.get(id).properties?.lastRunStatus?.runState == .running)
        #expect(try await h.client.list(subscriptionID: Harness.subscription).count == 1)

        // The same server without the extra trust anchor: the handshake fails and nothing is sent.
        let untrusting = try await Harness.start(caFile: nil)
        defer { Task { try await untrusting.stop() } }
        let transport = try AsyncHTTPTransport(connectTimeout: .seconds(1))
        defer { Task { try await transport.shutdown() } }
        let credential = ClientSecretCredential(tenantID: h.simulator.principal.tenantId, clientID: h.simulator.principal.clientId,
                                                secret: .literal(h.simulator.principal.clientSecret), authorityHost: h.simulator.baseURL, transport: transport)
        let client = try ImageTemplatesClient(configuration: AzureClientConfiguration(resourceManagerEndpoint: h.simulator.baseURL), credential: credential, transport: transport)
        await #expect { _ = try await client.get(id) } throws: {
            "\($0)".contains("authentication with client-secret failed") && "\($0)".contains("certificate for 127.0.0.1 not trusted: set azure.ca_file")
        }
        #expect(h.simulator.tokensIssued == 1)
    }

    /// A host without a system CA bundle (no ca-certificates): the CA file alone is trusted, and
    /// without one every https request says what is missing instead of `unknownError([])`.
    @Test func withoutASystemBundleTheCAFileIsEnoughAndItsAbsenceIsNamed() async throws {
        let ca = try await Self.makeCA()
        let h = try await Harness.start(Scenario(templates: [SeedTemplate(name: "tls")]), tls: .init(directory: ca), caFile: nil)
        defer { Task { try await h.stop() } }
        let missing = ["/nonexistent/ca-certificates.crt", "/nonexistent/certs"]
        let request = HTTPRequestData(method: "GET", url: h.simulator.baseURL.appendingPathComponent("subscriptions"), headers: [], body: nil)
        let withCA = try AsyncHTTPTransport(caFile: ca + "/ca.pem", systemTrustStores: missing)
        defer { Task { try await withCA.shutdown() } }
        let answer = try await withCA.send(request, timeout: .seconds(5))
        #expect(answer.status > 0)
        let without = try AsyncHTTPTransport(systemTrustStores: missing)
        defer { Task { try await without.shutdown() } }
        await #expect { _ = try await without.send(request, timeout: .seconds(5)) } throws: {
            "\($0)".contains("cannot load the system CA bundle (/nonexistent/ca-certificates.crt, /nonexistent/certs missing): install ca-certificates")
        }
    }

    @Test func anUnreadableCAFileIsAConfigurationError() throws {
        #expect { _ = try AsyncHTTPTransport(caFile: "/nonexistent/ca.pem") } throws: { "\($0)".contains("/nonexistent/ca.pem") }
    }
}
