import AzureClient
import AzureSimulator
import Foundation
import Testing
import Transport

/// Workload identity, managed identity, secret sources and the default chain against the simulator.
@Suite struct CredentialTests {
    let scope = "https://management.azure.com/.default"

    func withSimulator(_ body: (AzureSimulator, AsyncHTTPTransport) async throws -> Void) async throws {
        let simulator = try await AzureSimulator()
        let transport = try AsyncHTTPTransport()
        do { try await body(simulator, transport) } catch { try await transport.shutdown(); try await simulator.shutdown(); throw error }
        try await transport.shutdown()
        try await simulator.shutdown()
    }

    func temporaryFile(_ contents: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cred-\(UUID().uuidString)").path
        try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func workloadIdentityPresentsTheProjectedToken() async throws {
        try await withSimulator { simulator, transport in
            let p = simulator.principal
            let file = try temporaryFile(p.federatedToken + "\n")
            let credential = WorkloadIdentityCredential(tenantID: p.tenantId, clientID: p.clientId, tokenFile: file, authorityHost: simulator.baseURL, transport: transport)
            let asked = Date()
            let token = try await credential.fetchToken(scope: scope)
            #expect(token.expiresOn > asked.addingTimeInterval(3000))
            try Data("stale".utf8).write(to: URL(fileURLWithPath: file))
            await #expect { _ = try await credential.fetchToken(scope: scope) } throws: { "\($0)".contains("AADSTS700211") }
        }
    }

    @Test func managedIdentityOverIMDSAndIdentityEndpoint() async throws {
        try await withSimulator { simulator, transport in
            let imds = ManagedIdentityCredential(endpoint: .imds(simulator.baseURL), transport: transport)
            // Counted from before the request: on a busy machine the answer may take minutes to be read.
            let asked = Date()
            let token = try await imds.fetchToken(scope: scope)
            // IMDS sends expires_in as a string.
            #expect(token.expiresOn.timeIntervalSince(asked) > 3500)
            let appService = ManagedIdentityCredential(endpoint: .identityEndpoint(simulator.baseURL.appendingPathComponent("msi/token"), header: "h"), transport: transport)
            _ = try await appService.fetchToken(scope: scope)
            #expect(simulator.count(.managedIdentityToken) == 2)
            #expect(simulator.requests.allSatisfy { $0.path.contains("token") })
        }
    }

    @Test func secretSourcesReadEnvironmentFilesAndSystemdCredentials() throws {
        let file = try temporaryFile("from-file\n")
        let directory = (file as NSString).deletingLastPathComponent
        let name = (file as NSString).lastPathComponent
        #expect(try SecretSource.environment("AZURE_CLIENT_SECRET").read(environment: ["AZURE_CLIENT_SECRET": "from-env"]) == "from-env")
        #expect(try SecretSource.file(file).read() == "from-file")
        #expect(try SecretSource.systemdCredential(name).read(environment: ["CREDENTIALS_DIRECTORY": directory]) == "from-file")
        #expect { try SecretSource.systemdCredential("client-secret").read(environment: [:]) } throws: { "\($0)".contains("LoadCredential=") }
        #expect { try SecretSource.environment("AZURE_CLIENT_SECRET").read(environment: [:]) } throws: { "\($0)".contains("AZURE_CLIENT_SECRET is not set") }
        #expect { try SecretSource.file("/nonexistent/secret").read() } throws: { "\($0)".contains("/nonexistent/secret") }
    }

    @Test func defaultChainFollowsTheSDKOrder() async throws {
        try await withSimulator { simulator, transport in
            let p = simulator.principal
            let all = DefaultAzureCredential(environment: [
                "AZURE_TENANT_ID": p.tenantId, "AZURE_CLIENT_ID": p.clientId, "AZURE_CLIENT_SECRET": "wrong",
                "AZURE_FEDERATED_TOKEN_FILE": try temporaryFile(p.federatedToken), "AZURE_AUTHORITY_HOST": simulator.baseURL.absoluteString,
                "AZURE_POD_IDENTITY_AUTHORITY_HOST": simulator.baseURL.absoluteString,
            ], transport: transport)
            #expect(all.memberNames == ["client-secret", "workload-identity", "managed-identity"])
            // The secret is wrong, so the chain falls through to workload identity and keeps it.
            _ = try await all.fetchToken(scope: scope)
            _ = try await all.fetchToken(scope: scope)
            #expect(simulator.count(.token) == 3)
            let bare = DefaultAzureCredential(environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": simulator.baseURL.absoluteString], transport: transport)
            #expect(bare.memberNames == ["managed-identity"])
            _ = try await bare.fetchToken(scope: scope)
            #expect(simulator.count(.managedIdentityToken) == 1)
        }
    }

    @Test func tokenRefreshPointIsFiveMinutesEarlyOrHalfLife() {
        let now = Date()
        #expect(AccessToken(token: "a", expiresOn: now.addingTimeInterval(3600), obtainedAt: now).refreshAt == now.addingTimeInterval(3300))
        #expect(AccessToken(token: "a", expiresOn: now.addingTimeInterval(120), obtainedAt: now).refreshAt == now.addingTimeInterval(60))
        #expect(!"\(AccessToken(token: "abc123", expiresOn: now))".contains("abc123"))
    }
}
