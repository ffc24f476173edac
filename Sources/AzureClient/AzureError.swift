import FoundationEssentials
import Transport

/// ARM's error envelope: `{"error": {"code", "message", "target", "details": [...]}}`.
public struct ARMErrorDetail: Codable, Sendable, Equatable, CustomStringConvertible {
    public var code: String?
    public var message: String?
    public var target: String?
    public var details: [ARMErrorDetail]?

    public init(code: String?, message: String?, target: String? = nil, details: [ARMErrorDetail]? = nil) {
        self.code = code
        self.message = message
        self.target = target
        self.details = details
    }

    public var description: String {
        var text = "\(code ?? "UnknownError"): \(message ?? "(no message)")"
        if let target { text += " [target \(target)]" }
        if let details, !details.isEmpty { text += " (" + details.map(\.description).joined(separator: "; ") + ")" }
        return text
    }

    /// Parses a response body; nil when it is not ARM's envelope.
    static func parse(_ body: [UInt8]) -> ARMErrorDetail? {
        struct Envelope: Decodable { var error: ARMErrorDetail }
        return try? JSONDecoder().decode(Envelope.self, from: Data(body)).error
    }
}

/// The request identifiers ARM and the client attach, for support cases and log correlation.
public struct RequestIDs: Sendable, Equatable, CustomStringConvertible {
    public var clientRequestID: String
    public var requestID: String?
    public var correlationRequestID: String?

    public init(clientRequestID: String, requestID: String? = nil, correlationRequestID: String? = nil) {
        self.clientRequestID = clientRequestID
        self.requestID = requestID
        self.correlationRequestID = correlationRequestID
    }

    public var description: String {
        "x-ms-client-request-id \(clientRequestID), x-ms-request-id \(requestID ?? "-"), x-ms-correlation-request-id \(correlationRequestID ?? "-")"
    }
}

/// Everything that can go wrong talking to ARM or the token endpoint.
///
/// Descriptions never contain credentials: tokens and secrets are not stored in any case.
public enum AzureError: Error, Sendable, CustomStringConvertible {
    /// ARM answered with an error status.
    case http(status: Int, operation: String, error: ARMErrorDetail?, ids: RequestIDs)
    /// Retryable failures continued until the retry budget ran out; `last` is the final one.
    case retriesExhausted(operation: String, attempts: Int, last: String)
    /// A Run or Cancel whose outcome is unknown: the request may have reached ARM and been acted on.
    /// The caller must reconcile (e.g. read `lastRunStatus`) before trying again.
    case ambiguous(operation: String, underlying: String, ids: RequestIDs)
    /// The token endpoint refused or failed.
    case authentication(credential: String, reason: String)
    /// A name or argument was rejected before any request was made.
    case invalidArgument(String)
    /// Configuration (endpoint, CA file, credential source) is unusable.
    case configuration(String)
    /// ARM's answer could not be decoded.
    case decoding(operation: String, reason: String, ids: RequestIDs)
    /// A network failure on a request that is safe to report as plain failure (retries exhausted
    /// or not retryable).
    case transport(operation: String, reason: String)
    /// A long-running operation ended in Failed or Canceled.
    case operationFailed(operation: String, status: String, error: ARMErrorDetail?)

    public var description: String {
        switch self {
        case .http(let status, let operation, let error, let ids):
            "\(operation): HTTP \(status)" + (error.map { ": \($0)" } ?? "") + " (\(ids))"
        case .retriesExhausted(let operation, let attempts, let last):
            "\(operation): gave up after \(attempts) attempts; last: \(last)"
        case .ambiguous(let operation, let underlying, let ids):
            "\(operation): outcome unknown (\(underlying)); the request may have been processed, reconcile before retrying (\(ids))"
        case .authentication(let credential, let reason):
            "authentication with \(credential) failed: \(reason)"
        case .invalidArgument(let reason): "invalid argument: \(reason)"
        case .configuration(let reason): "configuration: \(reason)"
        case .decoding(let operation, let reason, let ids): "\(operation): undecodable answer: \(reason) (\(ids))"
        case .transport(let operation, let reason): "\(operation): \(reason)"
        case .operationFailed(let operation, let status, let error):
            "\(operation): long-running operation ended \(status)" + (error.map { ": \($0)" } ?? "")
        }
    }

    /// The HTTP status, when ARM answered.
    public var status: Int? {
        if case .http(let status, _, _, _) = self { return status }
        return nil
    }

    /// ARM's error code, when ARM answered with its envelope.
    public var armCode: String? {
        if case .http(_, _, let error, _) = self { return error?.code }
        return nil
    }
}
