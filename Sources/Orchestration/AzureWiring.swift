import AzureClient
import Config
import FoundationEssentials
import Logging
import Transport

/// Builds the ARM client the config describes.
public enum AzureWiring {
    /// The credential for `azure.credential`, checking offline that its inputs exist.
    public static func credential(_ azure: AzureSettings, transport: any HTTPTransport,
                           environment: [String: String] = ProcessInfo.processInfo.environment) throws(AzureError) -> any TokenCredential {
        switch azure.credential {
        case .clientSecret:
            let source: SecretSource
            if let file = azure.clientSecretFile { source = .file(file) }
            else if environment["AZURE_CLIENT_SECRET"].map({ !$0.isEmpty }) == true { source = .environment("AZURE_CLIENT_SECRET") }
            else if environment["CREDENTIALS_DIRECTORY"] != nil { source = .systemdCredential("client-secret") }
            else {
                throw .configuration("credential client-secret: set azure.client_secret_file, AZURE_CLIENT_SECRET, or LoadCredential=client-secret:... in the unit")
            }
            _ = try source.read(environment: environment)
            return ClientSecretCredential(tenantID: azure.tenantID ?? "", clientID: azure.clientID ?? "", secret: source,
                                          authorityHost: azure.authorityHost, transport: transport)
        case .workloadIdentity:
            guard let file = environment["AZURE_FEDERATED_TOKEN_FILE"], !file.isEmpty else {
                throw .configuration("credential workload-identity: AZURE_FEDERATED_TOKEN_FILE is not set")
            }
            return WorkloadIdentityCredential(tenantID: azure.tenantID ?? "", clientID: azure.clientID ?? "", tokenFile: file,
                                              authorityHost: azure.authorityHost, transport: transport)
        case .managedIdentity:
            return ManagedIdentityCredential(endpoint: .fromEnvironment(environment), clientID: azure.clientID, transport: transport)
        case .default:
            var env = environment
            if let tenant = azure.tenantID { env["AZURE_TENANT_ID"] = tenant }
            if let client = azure.clientID { env["AZURE_CLIENT_ID"] = client }
            return DefaultAzureCredential(environment: env, authorityHost: azure.authorityHost, transport: transport)
        }
    }

    public static func client(_ azure: AzureSettings, transport: any HTTPTransport, logger: Logger,
                       clock: any DaemonClock = SystemClock()) throws(AzureError) -> ImageTemplatesClient {
        let configuration = AzureClientConfiguration(resourceManagerEndpoint: azure.resourceManagerEndpoint, audience: azure.audience,
                                                     apiVersion: azure.apiVersion, userAgent: "imagebuildd")
        return try ImageTemplatesClient(configuration: configuration, credential: credential(azure, transport: transport),
                                        transport: transport, logger: logger, sleep: { try await clock.sleep(for: $0) })
    }
}
