import FoundationEssentials

/// A parsed cron schedule in an IANA zone, with the DST semantics of ARCHITECTURE.md.
///
/// Fields are bit sets (bit n set = value n allowed). `next(after:)` finds the next matching local
/// (civil) time field by field, then maps it to an instant through the zone's offset timeline.
public struct CronSchedule: Sendable, Hashable {
    public let expression: String
    let minutes: UInt64
    let hours: UInt32
    let daysOfMonth: UInt32
    let months: UInt16
    let daysOfWeek: UInt8
    /// Each is false when its field is exactly `*`; both true means day matching is OR (Vixie cron).
    let domRestricted: Bool
    let dowRestricted: Bool
    /// Wall-clock schedules fire once per matching local time whatever DST does; interval
    /// schedules fire at every instant whose local time matches.
    public let isWallClock: Bool
    public let timeZone: ZoneTimeline

    public static func == (a: CronSchedule, b: CronSchedule) -> Bool {
        a.expression == b.expression && a.timeZone.identifier == b.timeZone.identifier
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(expression)
        hasher.combine(timeZone.identifier)
    }

    init(expression: String, minutes: UInt64, hours: UInt32, daysOfMonth: UInt32, months: UInt16, daysOfWeek: UInt8,
         domRestricted: Bool, dowRestricted: Bool, isWallClock: Bool, timeZone: ZoneTimeline) {
        self.expression = expression
        self.minutes = minutes
        self.hours = hours
        self.daysOfMonth = daysOfMonth
        self.months = months
        self.daysOfWeek = daysOfWeek
        self.domRestricted = domRestricted
        self.dowRestricted = dowRestricted
        self.isWallClock = isWallClock
        self.timeZone = timeZone
    }

    /// How far ahead `next` looks before giving up.
    public static let horizonSeconds = 5 * 366 * 86_400

    /// The first fire time strictly after `date`, or nil if there is none within five years.
    public func next(after date: Date) -> Date? {
        next(after: Int(date.timeIntervalSince1970.rounded(.down))).map { Date(timeIntervalSince1970: Double($0)) }
    }

    /// `next(after:)` on Unix seconds. A whole-second instant `u` is after `t` iff `u > floor(t)`.
    public func next(after t: Int) -> Int? {
        let zone = timeZone
        let shift = zone.maxShift
        let limit = t + Self.horizonSeconds
        let offset = zone.offset(at: t)
        // Fast path: no offset change anywhere near, so local time is t + offset throughout.
        guard let first = nextLocal(atOrAfter: t + offset + 1, limit: limit + offset) else { return nil }
        if shift == 0 || !zone.hasTransition(after: t - shift, through: first - offset + shift) {
            return first - offset
        }
        // Near a transition: walk local candidates from early enough to catch a repeated hour,
        // keep the earliest instant after t, and stop once no later local time can beat it.
        var best: Int?
        var local = nextLocal(atOrAfter: t + offset - shift, limit: limit + offset)
        while let l = local {
            if let b = best, l > b + zone.offset(at: b) + shift { break }
            for u in fireInstants(local: l) where u > t {
                best = min(best ?? u, u)
            }
            local = nextLocal(atOrAfter: l + 60, limit: limit + offset + shift)
        }
        return best.flatMap { $0 <= limit ? $0 : nil }
    }

    /// The instants a matching local time fires at, by the wall-clock or interval rule.
    private func fireInstants(local: Int) -> [Int] {
        let (first, second, gapEnd) = timeZone.instants(local: local)
        if isWallClock {
            // Once: the first occurrence of a repeated time, or the end of the gap that skipped it.
            return [first ?? gapEnd].compactMap { $0 }
        }
        return [first, second].compactMap { $0 }
    }

    // MARK: - civil search

    @inline(__always)
    private static func next<T: FixedWidthInteger>(_ set: T, atOrAfter value: Int) -> Int? {
        guard value < T.bitWidth else { return nil }
        let masked = set & (T.max << value)
        return masked == 0 ? nil : masked.trailingZeroBitCount
    }

    /// The first local (civil) minute at or after `local` (seconds, as if the local clock were UTC)
    /// that matches every field, or nil past `limit`.
    func nextLocal(atOrAfter local: Int, limit: Int) -> Int? {
        var days = CivilCalendar.floorDiv(local, 86_400)
        let minuteOfDay = (local - days * 86_400 + 59) / 60
        var (year, month, day) = CivilCalendar.date(days: days)
        var hour = minuteOfDay / 60
        var minute = minuteOfDay % 60
        if hour == 24 {
            (days, hour, minute) = (days + 1, 0, 0)
            (year, month, day) = CivilCalendar.date(days: days)
        }
        while days * 86_400 <= limit {
            if months & (1 << month) == 0 {
                if let m = Self.next(months, atOrAfter: month + 1) {
                    month = m
                } else {
                    year += 1
                    month = months.trailingZeroBitCount
                }
                day = 1
                days = CivilCalendar.days(year: year, month: month, day: 1)
                (hour, minute) = (0, 0)
                continue
            }
            let dim = CivilCalendar.daysInMonth(year: year, month: month)
            guard let d = nextDay(year: year, month: month, from: day, days: days, daysInMonth: dim) else {
                // Nothing left this month: the first day of the next one.
                days += dim - day + 1
                (year, month, day) = CivilCalendar.date(days: days)
                (hour, minute) = (0, 0)
                continue
            }
            if d != day {
                days += d - day
                day = d
                (hour, minute) = (0, 0)
            }
            guard let h = Self.next(hours, atOrAfter: hour) else {
                days += 1
                (year, month, day) = CivilCalendar.date(days: days)
                (hour, minute) = (0, 0)
                continue
            }
            if h != hour { (hour, minute) = (h, 0) }
            guard let m = Self.next(minutes, atOrAfter: minute) else {
                (hour, minute) = (hour + 1, 0)
                if hour == 24 {
                    days += 1
                    (year, month, day) = CivilCalendar.date(days: days)
                    hour = 0
                }
                continue
            }
            let result = days * 86_400 + hour * 3600 + m * 60
            return result <= limit ? result : nil
        }
        return nil
    }

    /// The first day from `day` in this month that the day fields allow (OR when both are restricted).
    private func nextDay(year: Int, month: Int, from day: Int, days: Int, daysInMonth dim: Int) -> Int? {
        var candidate: Int?
        if domRestricted || !dowRestricted {
            if domRestricted {
                if let d = Self.next(daysOfMonth, atOrAfter: day), d <= dim { candidate = d }
            } else {
                candidate = day
            }
        }
        if dowRestricted {
            let weekday = CivilCalendar.weekday(days: days)
            for k in 0..<7 where day + k <= dim && candidate.map({ day + k < $0 }) ?? true {
                if daysOfWeek & (1 << ((weekday + k) % 7)) != 0 {
                    candidate = day + k
                    break
                }
            }
        }
        return candidate
    }
}

/// The parsed fields as bit sets (bit n set = value n allowed; day-of-week 0 = Sunday), so a checker
/// written apart from `next(after:)` can walk time itself and compare.
public struct CronFieldSets: Sendable, Equatable {
    public var minutes: UInt64
    public var hours: UInt32
    public var daysOfMonth: UInt32
    public var months: UInt16
    public var daysOfWeek: UInt8
    /// Both true: a day matches when either day field does (Vixie cron's OR).
    public var domRestricted: Bool
    public var dowRestricted: Bool
}

extension CronSchedule {
    /// The fields this schedule was parsed into.
    public var fieldSets: CronFieldSets {
        CronFieldSets(minutes: minutes, hours: hours, daysOfMonth: daysOfMonth, months: months, daysOfWeek: daysOfWeek,
                      domRestricted: domRestricted, dowRestricted: dowRestricted)
    }
}
