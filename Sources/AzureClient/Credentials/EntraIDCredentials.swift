import FoundationEssentials
import Transport

/// Posts an OAuth 2.0 client-credentials request to `{authority}/{tenant}/oauth2/v2.0/token`.
struct TokenEndpoint: Sendable {
    var authorityHost: URL
    var tenantID: String
    var transport: any HTTPTransport

    func requestToken(form: [(String, String)], credential: String) async throws -> AccessToken {
        guard tenantID.isASCII(count: 1...100, { $0.isASCIIAlphanumeric || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }) else {
            throw AzureError.configuration("\(credential): tenant id \"\(tenantID)\" is not a tenant GUID or domain")
        }
        let url = authorityHost.appendingPathComponent(tenantID).appendingPathComponent("oauth2/v2.0/token")
        let body = form.map { "\(formEncode($0.0))=\(formEncode($0.1))" }.joined(separator: "&")
        let request = HTTPRequestData(method: "POST", url: url,
                                      headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
                                      body: Array(body.utf8))
        return try await TokenResponse.fetch(request, transport: transport, credential: credential)
    }
}

/// The JSON a token endpoint answers, in the variants Entra ID, IMDS and App Service use.
struct TokenResponse: Decodable {
    var access_token: String
    var expires_in: FlexibleNumber?
    var expires_on: FlexibleNumber?

    /// `expires_in` is a number from Entra ID and a string from IMDS; `expires_on` may be a date.
    struct FlexibleNumber: Decodable {
        var seconds: Double?
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Double.self) { seconds = number }
            else {
                let text = try container.decode(String.self)
                seconds = Double(text) ?? HTTPResponseData.httpDate(text).map { $0.timeIntervalSince1970 }
                    ?? (try? Date(text, strategy: .iso8601))?.timeIntervalSince1970
                    ?? Self.appServiceDate(text)
            }
        }
        /// App Service's `11/22/2026 12:00:00 AM +00:00`.
        static func appServiceDate(_ text: String) -> Double? {
            // MM/dd/yyyy hh:mm:ss AM|PM ±hh:mm, rewritten as RFC 3339 for the ISO 8601 parser.
            let parts = text.split(separator: " ")
            guard parts.count == 4 else { return nil }
            let day = parts[0].split(separator: "/", omittingEmptySubsequences: false)
            let clock = parts[1].split(separator: ":", omittingEmptySubsequences: false)
            guard day.count == 3, clock.count == 3, let hour12 = Int(clock[0]), (1...12).contains(hour12),
                  parts[2] == "AM" || parts[2] == "PM" else { return nil }
            let hour = hour12 % 12 + (parts[2] == "PM" ? 12 : 0)
            let iso = "\(day[2])-\(day[0])-\(day[1])T\(String(hour).zeroPadded(to: 2)):\(clock[1]):\(clock[2])\(parts[3])"
            return (try? Date.ISO8601FormatStyle().parse(iso))?.timeIntervalSince1970
        }
    }

    /// Attempts for a token request: identity endpoints throttle and fail transiently too.
    static let attempts = 4

    static func fetch(_ request: HTTPRequestData, transport: any HTTPTransport, credential: String) async throws -> AccessToken {
        var attempt = 0
        while true {
            attempt += 1
            let obtainedAt = Date()
            let response: HTTPResponseData
            do {
                response = try await transport.send(request, timeout: .seconds(30))
            } catch {
                // Token requests have no side effects, so any transport failure may be retried.
                guard attempt < attempts else {
                    throw AzureError.authentication(credential: credential, reason: "\(request.url.host ?? "token endpoint"): \(error)")
                }
                try await Task.sleep(for: .milliseconds(200 << attempt))
                continue
            }
            if RetryPolicy.retryableStatuses.contains(response.status), attempt < attempts {
                try await Task.sleep(for: response.retryAfter() ?? .milliseconds(200 << attempt))
                continue
            }
            guard response.status == 200 else {
                throw AzureError.authentication(credential: credential, reason: "HTTP \(response.status): \(oauthError(response.body))")
            }
            guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(response.body)) else {
                throw AzureError.authentication(credential: credential, reason: "token endpoint answered without access_token")
            }
            let expiresOn: Date
            if let seconds = decoded.expires_in?.seconds { expiresOn = obtainedAt.addingTimeInterval(seconds) }
            else if let epoch = decoded.expires_on?.seconds { expiresOn = Date(timeIntervalSince1970: epoch) }
            else { expiresOn = obtainedAt.addingTimeInterval(3600) }
            return AccessToken(token: decoded.access_token, expiresOn: expiresOn, obtainedAt: obtainedAt)
        }
    }

    /// `error: error_description` from an OAuth error body; neither ever echoes the secret.
    static func oauthError(_ body: [UInt8]) -> String {
        struct OAuthError: Decodable { var error: String?; var error_description: String? }
        guard let parsed = try? JSONDecoder().decode(OAuthError.self, from: Data(body)) else { return "(no OAuth error body)" }
        let description = parsed.error_description?.split(separator: "\r\n").first.map(String.init)
        return [parsed.error, description].compactMap { $0 }.joined(separator: ": ")
    }
}

/// `application/x-www-form-urlencoded` escaping: only unreserved characters stay as they are.
func formEncode(_ text: String) -> String {
    text.percentEncoded(keeping: "-._~")
}

/// A service principal with a client secret.
public struct ClientSecretCredential: TokenCredential {
    public let name = "client-secret"
    private let endpoint: TokenEndpoint
    private let clientID: String
    private let secret: SecretSource

    public init(tenantID: String, clientID: String, secret: SecretSource,
                authorityHost: URL = URL(string: "https://login.microsoftonline.com")!, transport: any HTTPTransport) {
        endpoint = TokenEndpoint(authorityHost: authorityHost, tenantID: tenantID, transport: transport)
        self.clientID = clientID
        self.secret = secret
    }

    public func fetchToken(scope: String) async throws -> AccessToken {
        let value = try secret.read()
        return try await endpoint.requestToken(form: [
            ("grant_type", "client_credentials"), ("client_id", clientID), ("client_secret", value), ("scope", scope),
        ], credential: name)
    }
}

/// Workload identity federation: a projected service-account token presented as `client_assertion`.
public struct WorkloadIdentityCredential: TokenCredential {
    public let name = "workload-identity"
    private let endpoint: TokenEndpoint
    private let clientID: String
    private let tokenFile: String

    public init(tenantID: String, clientID: String, tokenFile: String,
                authorityHost: URL = URL(string: "https://login.microsoftonline.com")!, transport: any HTTPTransport) {
        endpoint = TokenEndpoint(authorityHost: authorityHost, tenantID: tenantID, transport: transport)
        self.clientID = clientID
        self.tokenFile = tokenFile
    }

    public func fetchToken(scope: String) async throws -> AccessToken {
        // Re-read every time: the kubelet rotates the projected token.
        let assertion = try SecretSource.file(tokenFile).read()
        return try await endpoint.requestToken(form: [
            ("grant_type", "client_credentials"), ("client_id", clientID),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion), ("scope", scope),
        ], credential: name)
    }
}

/// A managed identity: Azure IMDS, or the `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` variant
/// (App Service, Functions, Arc).
public struct ManagedIdentityCredential: TokenCredential {
    public let name = "managed-identity"
    /// Which endpoint family answers.
    public enum Endpoint: Sendable {
        /// IMDS; the base URL is overridable (`AZURE_POD_IDENTITY_AUTHORITY_HOST`, tests).
        case imds(URL)
        /// `IDENTITY_ENDPOINT` with its `IDENTITY_HEADER` value.
        case identityEndpoint(URL, header: String)

        /// The endpoint the standard variables name, as Azure's SDKs read them: `IDENTITY_ENDPOINT` +
        /// `IDENTITY_HEADER` when both are set, else IMDS (at `AZURE_POD_IDENTITY_AUTHORITY_HOST` if set).
        public static func fromEnvironment(_ environment: [String: String]) -> Endpoint {
            if let url = environment["IDENTITY_ENDPOINT"].flatMap(URL.init(string:)), let header = environment["IDENTITY_HEADER"] {
                return .identityEndpoint(url, header: header)
            }
            return .imds(environment["AZURE_POD_IDENTITY_AUTHORITY_HOST"].flatMap(URL.init(string:)) ?? URL(string: "http://169.254.169.254")!)
        }
    }
    private let endpoint: Endpoint
    private let clientID: String?
    private let transport: any HTTPTransport

    public init(endpoint: Endpoint = .imds(URL(string: "http://169.254.169.254")!), clientID: String? = nil,
                transport: any HTTPTransport) {
        self.endpoint = endpoint
        self.clientID = clientID
        self.transport = transport
    }

    public func fetchToken(scope: String) async throws -> AccessToken {
        // Managed identity endpoints take a resource, not a v2 scope.
        let resource = scope.hasSuffix("/.default") ? String(scope.dropLast("/.default".count)) : scope
        var request: HTTPRequestData
        switch endpoint {
        case .imds(let base):
            var components = URLComponents(url: base.appendingPathComponent("metadata/identity/oauth2/token"), resolvingAgainstBaseURL: false)!
            components.queryItems = [URLQueryItem(name: "api-version", value: "2018-02-01"), URLQueryItem(name: "resource", value: resource)]
                + (clientID.map { [URLQueryItem(name: "client_id", value: $0)] } ?? [])
            request = HTTPRequestData(method: "GET", url: components.url!, headers: [("Metadata", "true")])
        case .identityEndpoint(let url, let header):
            var components = URLComponents(url: url, resolvingAgainstBaseURL: false)!
            components.queryItems = (components.queryItems ?? []) + [URLQueryItem(name: "api-version", value: "2019-08-01"),
                                                                   URLQueryItem(name: "resource", value: resource)]
                + (clientID.map { [URLQueryItem(name: "client_id", value: $0)] } ?? [])
            request = HTTPRequestData(method: "GET", url: components.url!, headers: [("X-IDENTITY-HEADER", header)])
        }
        return try await TokenResponse.fetch(request, transport: transport, credential: name)
    }
}
