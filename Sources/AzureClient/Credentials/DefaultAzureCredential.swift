import FoundationEssentials
import Transport

/// The credential chain Azure's SDKs use, from the standard `AZURE_*` variables: environment
/// (client secret), workload identity, then managed identity. The first that yields a token is
/// kept for later calls.
public actor DefaultAzureCredential: TokenCredential {
    public nonisolated let name = "default"
    private let chain: [any TokenCredential]
    private var chosen: (any TokenCredential)?

    /// The chain for `environment`, skipping members whose variables are not set (managed identity
    /// needs none, so it is always last).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                authorityHost: URL? = nil, transport: any HTTPTransport) {
        let env = environment.filter { !$0.value.isEmpty }
        let authority = authorityHost ?? env["AZURE_AUTHORITY_HOST"].flatMap(URL.init(string:))
            ?? URL(string: "https://login.microsoftonline.com")!
        var chain: [any TokenCredential] = []
        if let tenant = env["AZURE_TENANT_ID"], let client = env["AZURE_CLIENT_ID"], let secret = env["AZURE_CLIENT_SECRET"] {
            chain.append(ClientSecretCredential(tenantID: tenant, clientID: client, secret: .literal(secret),
                                                authorityHost: authority, transport: transport))
        }
        if let tenant = env["AZURE_TENANT_ID"], let client = env["AZURE_CLIENT_ID"], let file = env["AZURE_FEDERATED_TOKEN_FILE"] {
            chain.append(WorkloadIdentityCredential(tenantID: tenant, clientID: client, tokenFile: file,
                                                    authorityHost: authority, transport: transport))
        }
        chain.append(ManagedIdentityCredential(endpoint: .fromEnvironment(env), clientID: env["AZURE_CLIENT_ID"], transport: transport))
        self.chain = chain
    }

    /// The members' names in order, for diagnostics.
    public nonisolated var memberNames: [String] { chain.map(\.name) }

    public func fetchToken(scope: String) async throws -> AccessToken {
        if let chosen { return try await chosen.fetchToken(scope: scope) }
        var failures: [String] = []
        for credential in chain {
            do {
                let token = try await credential.fetchToken(scope: scope)
                chosen = credential
                return token
            } catch {
                failures.append("\(credential.name): \(error)")
            }
        }
        throw AzureError.authentication(credential: name, reason: "no credential in the chain worked: " + failures.joined(separator: "; "))
    }
}
