import FoundationEssentials
import Transport

/// Where and how the client talks to ARM.
public struct AzureClientConfiguration: Sendable {
    /// The ARM endpoint (`https://management.azure.com`; sovereign clouds and Azure Stack differ).
    public var resourceManagerEndpoint: URL
    /// The token audience; the scope requested is `<audience>.default`. Not derived from the endpoint.
    public var audience: String
    /// The imageTemplates api-version, 2018-02-01-preview ... 2025-10-01.
    public var apiVersion: String
    /// The bound on one request, from connect to the last byte of the answer.
    public var requestTimeout: Duration
    /// How often to poll a long-running operation when ARM gives no Retry-After.
    public var operationPollInterval: Duration
    public var retry: RetryPolicy
    public var userAgent: String

    public static let defaultAPIVersion = "2024-02-01"
    public static let oldestAPIVersion = "2018-02-01-preview"
    public static let newestAPIVersion = "2025-10-01"

    public init(resourceManagerEndpoint: URL = URL(string: "https://management.azure.com")!,
                audience: String = "https://management.azure.com/",
                apiVersion: String = AzureClientConfiguration.defaultAPIVersion,
                requestTimeout: Duration = .seconds(60), operationPollInterval: Duration = .seconds(10),
                retry: RetryPolicy = RetryPolicy(), userAgent: String = "imagebuildd") {
        self.resourceManagerEndpoint = resourceManagerEndpoint
        self.audience = audience
        self.apiVersion = apiVersion
        self.requestTimeout = requestTimeout
        self.operationPollInterval = operationPollInterval
        self.retry = retry
        self.userAgent = userAgent
    }

    /// The OAuth scope for ARM.
    public var scope: String { (audience.hasSuffix("/") ? audience : audience + "/") + ".default" }

    /// Rejects plain http to anything but loopback, and api-versions outside the supported range.
    public func validate() throws(AzureError) {
        try Self.checkEndpoint(resourceManagerEndpoint, what: "resource manager endpoint")
        guard Self.isAPIVersionSpelling(apiVersion),
              apiVersion.prefix(10) >= Self.oldestAPIVersion.prefix(10), apiVersion.prefix(10) <= Self.newestAPIVersion.prefix(10) else {
            throw .configuration("api-version \"\(apiVersion)\" is not one of \(Self.oldestAPIVersion) ... \(Self.newestAPIVersion) (YYYY-MM-DD[-preview])")
        }
    }

    /// `YYYY-MM-DD` or `YYYY-MM-DD-preview`.
    static func isAPIVersionSpelling(_ text: String) -> Bool {
        let date = Array(text.utf8.prefix(10))
        let digitsAndDashes = date.count == 10 && date.enumerated().allSatisfy { index, byte in
            index == 4 || index == 7 ? byte == UInt8(ascii: "-") : byte.isASCIIDigit
        }
        return digitsAndDashes && (text.utf8.count == 10 || text.dropFirst(10) == "-preview")
    }

    /// https anywhere; http only to a loopback address, where nothing crosses a network.
    public static func checkEndpoint(_ url: URL, what: String) throws(AzureError) {
        guard let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            throw .configuration("\(what) \"\(url)\" is not an absolute URL")
        }
        switch scheme {
        case "https": return
        case "http" where isLoopback(host): return
        case "http": throw .configuration("\(what) \"\(url)\": plain http is refused except to a loopback address; use https")
        default: throw .configuration("\(what) \"\(url)\": scheme must be https")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }
}
