import Foundation
@testable import Scheduler

func instant(_ text: String) -> Date {
    try! Date.ISO8601FormatStyle().parse(text)
}

func rfc3339(_ date: Date) -> String {
    date.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!))
}

/// The next `count` fire times after `after`, as RFC 3339 UTC strings.
func fires(_ expression: String, _ zone: String = "UTC", after: String, count: Int = 1) throws -> [String] {
    let schedule = try CronParser.parse(expression, timeZone: zone)
    var cursor = instant(after)
    var out: [String] = []
    for _ in 0..<count {
        guard let next = schedule.next(after: cursor) else { break }
        out.append(rfc3339(next))
        cursor = next
    }
    return out
}
