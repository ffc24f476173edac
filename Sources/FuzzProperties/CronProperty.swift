import Scheduler

/// Bytes → `CronParser.parse`. A parsed UTC schedule's `next(after:)` must be strictly later and
/// equal a brute-force walk over the parsed fields; a rejection must point inside the expression.
public enum CronProperty {
    static let maxLength = 256

    public static func check(_ data: [UInt8]) -> PropertyFailure? {
        guard data.count <= maxLength else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        let schedule: CronSchedule
        do {
            schedule = try CronParser.parse(text)
        } catch {
            guard error.column >= 0, error.column <= text.count + 1, !error.message.isEmpty else {
                return PropertyFailure("rejection of \(quoted(text)) points outside it: \(error)")
            }
            return nil
        }
        // 2000-01-01 … 2100-01-01, drawn from the input.
        let after = 946_684_800 + Int(fnv1a(data) % 3_155_760_000)
        let next = schedule.next(after: after)
        if let next, next <= after {
            return PropertyFailure("\(quoted(text)): next(after: \(after)) = \(next) is not later")
        }
        guard schedule.timeZone.identifier == "UTC" else { return nil }
        let expected = bruteForceNext(schedule.fieldSets, after: after, horizon: CronSchedule.horizonSeconds)
        guard next == expected else {
            return PropertyFailure("\(quoted(text)): next(after: \(after)) = \(next.map(String.init) ?? "nil"), a minute walk gives \(expected.map(String.init) ?? "nil")")
        }
        return nil
    }

    /// The first whole minute after `after` (Unix seconds, UTC) that the fields allow, within `horizon`.
    /// Independent of the scheduler's own calendar: days are walked one by one, and civil dates come
    /// from Howard Hinnant's `civil_from_days`.
    static func bruteForceNext(_ f: CronFieldSets, after: Int, horizon: Int) -> Int? {
        let limit = after + horizon
        var day = after >= 0 ? after / 86_400 : (after - 86_399) / 86_400
        while day * 86_400 <= limit {
            let (_, month, dayOfMonth) = civil(day)
            let weekday = ((day % 7) + 11) % 7  // 1970-01-01 was a Thursday (4)
            let domOK = f.daysOfMonth & (1 << dayOfMonth) != 0
            let dowOK = f.daysOfWeek & (1 << weekday) != 0
            let dayOK = f.domRestricted && f.dowRestricted ? (domOK || dowOK)
                : (!f.domRestricted || domOK) && (!f.dowRestricted || dowOK)
            if f.months & (1 << month) != 0, dayOK {
                for hour in 0..<24 where f.hours & (1 << hour) != 0 {
                    for minute in 0..<60 where f.minutes & (1 << minute) != 0 {
                        let instant = day * 86_400 + hour * 3600 + minute * 60
                        if instant > after { return instant <= limit ? instant : nil }
                    }
                }
            }
            day += 1
        }
        return nil
    }

    static func civil(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined() + "\""
    }
}
