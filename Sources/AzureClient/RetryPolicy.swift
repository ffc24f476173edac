import FoundationEssentials

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

    /// The server's requested wait: `retry-after-ms`, else `Retry-After` in seconds or as an HTTP date.
    public static func serverHint(_ response: HTTPResponseData, now: Date = Date()) -> Duration? {
        if let ms = response.header("retry-after-ms").flatMap({ Double($0.trimmedASCIIWhitespace) }), ms >= 0 {
            return .milliseconds(Int64(ms))
        }
        guard let value = response.header("Retry-After")?.trimmedASCIIWhitespace else { return nil }
        if let seconds = Double(value), seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
        if let date = httpDate(value) { return .milliseconds(Int64(max(0, date.timeIntervalSince(now)) * 1000)) }
        return nil
    }

    /// RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
    static func httpDate(_ text: String) -> Date? {
        // Rewritten as RFC 3339 and read by the ISO 8601 parser: the one date parser FoundationEssentials has.
        let parts = text.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let weekdays = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"]
        guard parts.count == 6, weekdays.contains(String(parts[0])), parts[5] == "GMT",
              parts[1].utf8.count == 2, parts[2].utf8.count == 3, parts[3].utf8.count == 4, parts[4].utf8.count == 8,
              let month = months.firstIndex(of: String(parts[2])) else { return nil }
        return try? Date.ISO8601FormatStyle().parse("\(parts[3])-\(String(month + 1).zeroPadded(to: 2))-\(parts[1])T\(parts[4])Z")
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
