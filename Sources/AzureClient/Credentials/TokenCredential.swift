import FoundationEssentials

/// A bearer token and when it stops working. Its description never shows the token.
public struct AccessToken: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let token: String
    public let expiresOn: Date
    /// When the token was obtained; the refresh point is computed from the lifetime.
    public let obtainedAt: Date

    public init(token: String, expiresOn: Date, obtainedAt: Date = Date()) {
        self.token = token
        self.expiresOn = expiresOn
        self.obtainedAt = obtainedAt
    }

    /// Refresh about 5 minutes early, or at half-life for short-lived tokens.
    public var refreshAt: Date {
        let lifetime = expiresOn.timeIntervalSince(obtainedAt)
        return expiresOn.addingTimeInterval(-min(300, lifetime / 2))
    }

    public var description: String { "AccessToken(expiresOn: \(expiresOn), token: <redacted>)" }
    public var debugDescription: String { description }
}

/// Something that can obtain an access token for a scope (`https://management.azure.com/.default`).
public protocol TokenCredential: Sendable {
    /// A short name for errors and logs (never a secret).
    var name: String { get }
    /// Fetches a fresh token from the identity provider; caching is `TokenCache`'s job.
    func fetchToken(scope: String) async throws -> AccessToken
}

/// Caches tokens per scope, refreshes ahead of expiry, and shares one refresh among concurrent callers.
public actor TokenCache {
    private let credential: any TokenCredential
    private let now: @Sendable () -> Date
    private var tokens: [String: AccessToken] = [:]
    private var inFlight: [String: Task<AccessToken, any Error>] = [:]
    /// How many times the identity provider was asked; tests and metrics read it.
    public private(set) var fetchCount = 0

    public init(_ credential: any TokenCredential, now: @escaping @Sendable () -> Date = { Date() }) {
        self.credential = credential
        self.now = now
    }

    /// A token valid for `scope`. With `replacing`, a cached token equal to it is discarded first:
    /// the server rejected it, so exactly one refresh happens however many callers saw the rejection.
    public func token(scope: String, replacing rejected: String? = nil) async throws -> AccessToken {
        if let rejected, tokens[scope]?.token == rejected { tokens[scope] = nil }
        if let cached = tokens[scope], cached.refreshAt > now() { return cached }
        if let running = inFlight[scope] { return try await running.value }
        let credential = self.credential
        let task = Task { try await credential.fetchToken(scope: scope) }
        inFlight[scope] = task
        fetchCount += 1
        defer { inFlight[scope] = nil }
        do {
            let fresh = try await task.value
            tokens[scope] = fresh
            return fresh
        } catch {
            // A cached token that is still valid beats an outage of the identity provider.
            if let cached = tokens[scope], cached.expiresOn > now().addingTimeInterval(30) { return cached }
            throw error
        }
    }
}
