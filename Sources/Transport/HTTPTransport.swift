import FoundationEssentials

/// One HTTP request as the client builds it.
public struct HTTPRequestData: Sendable {
    public var method: String
    public var url: URL
    public var headers: [(String, String)]
    public var body: [UInt8]?

    public init(method: String, url: URL, headers: [(String, String)] = [], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// One HTTP response, fully read.
public struct HTTPResponseData: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header named `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        let folded = name.lowercased()
        return headers.first { $0.0.lowercased() == folded }?.1
    }
}

/// A failure below HTTP, split by whether the server can have seen the request.
public enum TransportFailure: Error, Sendable, CustomStringConvertible {
    /// The request never left (connection refused, DNS, TLS handshake, connect timeout).
    case notSent(String)
    /// The request may have been received and acted on (reset or timeout after sending).
    case maybeSent(String)

    public var description: String {
        switch self {
        case .notSent(let reason): "request not sent: \(reason)"
        case .maybeSent(let reason): "no response: \(reason)"
        }
    }
}

/// Sends HTTP requests. The real one is `AsyncHTTPTransport`; tests may wrap it to count requests.
public protocol HTTPTransport: Sendable {
    /// Sends `request`, waiting at most `timeout` for the whole response. Throws `TransportFailure`.
    func send(_ request: HTTPRequestData, timeout: Duration) async throws(TransportFailure) -> HTTPResponseData
}
