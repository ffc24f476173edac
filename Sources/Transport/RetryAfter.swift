import FoundationEssentials

extension HTTPResponseData {
    /// The server's requested wait: `retry-after-ms`, else `Retry-After` in seconds or as an HTTP date.
    public func retryAfter(now: Date = Date()) -> Duration? {
        if let ms = header("retry-after-ms").flatMap({ Double($0.trimmedASCIIWhitespace) }), ms >= 0 {
            return .milliseconds(Int64(ms))
        }
        guard let value = header("Retry-After")?.trimmedASCIIWhitespace else { return nil }
        if let seconds = Double(value), seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
        if let date = Self.httpDate(value) { return .milliseconds(Int64(max(0, date.timeIntervalSince(now)) * 1000)) }
        return nil
    }

    /// RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
    public static func httpDate(_ text: String) -> Date? {
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
