import FoundationEssentials
import Transport

/// When and how long to retry ARM requests: exponential backoff with full jitter, overridden by
/// the server's `Retry-After` / `retry-after-ms`, within a bounded budget.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// The backoff cap for attempt 1; doubles each attempt.
    public var baseDelay: Duration
    /// The largest computed backoff.
    public var maxDelay: Duration
    /// The most time spent waiting between attempts for one call; a longer server hint ends the call.
    public var maxTotalDelay: Duration

    public init(maxAttempts: Int = 6, baseDelay: Duration = .milliseconds(800), maxDelay: Duration = .seconds(60),
                maxTotalDelay: Duration = .seconds(300)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxTotalDelay = maxTotalDelay
    }

    /// HTTP statuses worth another attempt.
    public static let retryableStatuses: Set<Int> = [408, 429, 500, 502, 503, 504]

    /// The wait before attempt `attempt + 1` (attempt counts from 1).
    func delay(afterAttempt attempt: Int, serverHint: Duration?) -> Duration {
        if let serverHint { return serverHint }
        let exponent = min(attempt - 1, 30)
        let cap = min(baseDelay * (1 << exponent), maxDelay)
        let capNanos = max(cap.nanoseconds, 1)
        return .nanoseconds(Int64.random(in: 0...capNanos))
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
