import AzureClient
import FoundationEssentials
import Transport

/// RFC 3339 instants as the CLI prints and reads them.
public enum RFC3339 {
    /// UTC with a `Z`, with milliseconds only when there are some.
    public static func string(_ date: Date) -> String {
        let millis = Int((date.timeIntervalSince1970 * 1000).rounded()) % 1000
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: millis != 0, timeZone: .gmt)
        return date.formatted(style)
    }

    /// Local time with its numeric offset, e.g. `2027-03-28T03:00:00+02:00`.
    public static func local(_ date: Date, offsetSeconds: Int) -> String {
        let shifted = string(date.addingTimeInterval(Double(offsetSeconds)))
        let sign = offsetSeconds < 0 ? "-" : "+"
        let a = abs(offsetSeconds)
        return String(shifted.dropLast()) + sign + String(a / 3600).zeroPadded(to: 2) + ":" + String((a % 3600) / 60).zeroPadded(to: 2)
    }

    /// Accepts `Z` or a numeric offset, with or without fractional seconds.
    public static func parse(_ text: String) -> Date? {
        for fractional in [false, true] {
            if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: fractional).parse(text) { return date }
        }
        return nil
    }
}
