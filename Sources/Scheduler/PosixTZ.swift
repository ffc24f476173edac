/// A POSIX TZ string such as `CET-1CEST,M3.5.0,M10.5.0/3`, with RFC 8536's extensions (hours up to
/// ±167 in rule times): the rule a TZif footer gives for every year after the file's last transition.
struct PosixTZ: Equatable {
    /// Standard time's offset, seconds east of UTC (POSIX writes it west: `EST5` is -18,000).
    let standard: Int
    let daylight: Daylight?

    /// When daylight time holds; `start` is in standard local time, `end` in daylight local time.
    struct Daylight: Equatable {
        let offset: Int
        let start: DateRule
        let startTime: Int
        let end: DateRule
        let endTime: Int
    }

    /// A day of the year in one of POSIX's three spellings.
    enum DateRule: Equatable {
        /// `Jn`: 1…365, February 29 never counted.
        case julianNoLeap(Int)
        /// `n`: 0…365, February 29 counted in leap years.
        case zeroBased(Int)
        /// `Mm.w.d`: day `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
        case monthWeekDay(month: Int, week: Int, weekday: Int)

        /// Days since 1970-01-01 of this rule's day in `year`.
        func day(in year: Int) -> Int {
            let january1 = CivilCalendar.days(year: year, month: 1, day: 1)
            switch self {
            case .julianNoLeap(let n):
                return january1 + n - 1 + (CivilCalendar.isLeap(year) && n >= 60 ? 1 : 0)
            case .zeroBased(let n):
                return january1 + n
            case .monthWeekDay(let month, let week, let weekday):
                let first = CivilCalendar.days(year: year, month: month, day: 1)
                var day = first + (weekday - CivilCalendar.weekday(days: first) + 7) % 7 + (week - 1) * 7
                let limit = first + CivilCalendar.daysInMonth(year: year, month: month)
                while day >= limit { day -= 7 }
                return day
            }
        }
    }

    /// The offset changes this rule makes in the given years, in the order they happen.
    func events(years: ClosedRange<Int>) -> [(at: Int, offset: Int)] {
        guard let daylight else { return [] }
        var events: [(at: Int, offset: Int)] = []
        for year in years {
            let start = daylight.start.day(in: year) * 86_400 + daylight.startTime - standard
            let end = daylight.end.day(in: year) * 86_400 + daylight.endTime - daylight.offset
            let pair = start <= end
                ? [(at: start, offset: daylight.offset), (at: end, offset: standard)]
                : [(at: end, offset: standard), (at: start, offset: daylight.offset)]
            events.append(contentsOf: pair)
        }
        return events
    }

    static func parse(_ text: String) throws(TZifError) -> PosixTZ {
        var scanner = Scanner(bytes: Array(text.utf8))
        try scanner.name()
        let standard = -(try scanner.offset(maxHours: 24))
        guard !scanner.atEnd else { return PosixTZ(standard: standard, daylight: nil) }
        try scanner.name()
        var daylightOffset = standard + 3_600
        if let byte = scanner.peek, byte != UInt8(ascii: ",") {
            daylightOffset = -(try scanner.offset(maxHours: 24))
        }
        // Without a rule POSIX leaves the dates to the implementation; tzcode uses the US rule.
        guard !scanner.atEnd else {
            return PosixTZ(standard: standard, daylight: Daylight(
                offset: daylightOffset, start: .monthWeekDay(month: 3, week: 2, weekday: 0), startTime: 7_200,
                end: .monthWeekDay(month: 11, week: 1, weekday: 0), endTime: 7_200))
        }
        try scanner.expect(UInt8(ascii: ","))
        let (start, startTime) = try scanner.dateAndTime()
        try scanner.expect(UInt8(ascii: ","))
        let (end, endTime) = try scanner.dateAndTime()
        guard scanner.atEnd else { throw .badRule("unexpected text after the end rule in \"\(text)\"") }
        return PosixTZ(standard: standard, daylight: Daylight(offset: daylightOffset, start: start, startTime: startTime,
                                                               end: end, endTime: endTime))
    }

    /// Reads a TZ string left to right.
    struct Scanner {
        let bytes: [UInt8]
        var position = 0

        var atEnd: Bool { position == bytes.count }
        var peek: UInt8? { atEnd ? nil : bytes[position] }

        mutating func expect(_ byte: UInt8) throws(TZifError) {
            guard peek == byte else { throw .badRule("expected '\(Character(Unicode.Scalar(byte)))' at offset \(position)") }
            position += 1
        }

        /// `<+0530>` or three or more letters.
        mutating func name() throws(TZifError) {
            if peek == UInt8(ascii: "<") {
                guard let close = bytes[position...].firstIndex(of: UInt8(ascii: ">")), close - position >= 4 else {
                    throw .badRule("unterminated or short <name> at offset \(position)")
                }
                position = close + 1
                return
            }
            let start = position
            while let byte = peek, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ||
                    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) { position += 1 }
            guard position - start >= 3 else { throw .badRule("expected a zone abbreviation at offset \(start)") }
        }

        mutating func number(maxDigits: Int) throws(TZifError) -> Int {
            let start = position
            var value = 0
            while let byte = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte), position - start < maxDigits {
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                position += 1
            }
            guard position > start else { throw .badRule("expected a number at offset \(start)") }
            return value
        }

        /// `[+-]hh[:mm[:ss]]` in seconds, as written (west positive for zone offsets).
        mutating func offset(maxHours: Int) throws(TZifError) -> Int {
            var sign = 1
            if peek == UInt8(ascii: "+") { position += 1 } else if peek == UInt8(ascii: "-") { sign = -1; position += 1 }
            let hours = try number(maxDigits: 3)
            guard hours <= maxHours else { throw .badRule("hours out of range at offset \(position)") }
            var seconds = hours * 3_600
            if peek == UInt8(ascii: ":") {
                position += 1
                let minutes = try number(maxDigits: 2)
                seconds += minutes * 60
                if peek == UInt8(ascii: ":") {
                    position += 1
                    seconds += try number(maxDigits: 2)
                }
            }
            return sign * seconds
        }

        /// A date rule and its optional `/time` (default 02:00).
        mutating func dateAndTime() throws(TZifError) -> (DateRule, Int) {
            let rule: DateRule
            switch peek {
            case UInt8(ascii: "J"):
                position += 1
                let n = try number(maxDigits: 3)
                guard (1...365).contains(n) else { throw .badRule("Jn day out of range at offset \(position)") }
                rule = .julianNoLeap(n)
            case UInt8(ascii: "M"):
                position += 1
                let month = try number(maxDigits: 2)
                try expect(UInt8(ascii: "."))
                let week = try number(maxDigits: 1)
                try expect(UInt8(ascii: "."))
                let weekday = try number(maxDigits: 1)
                guard (1...12).contains(month), (1...5).contains(week), (0...6).contains(weekday) else {
                    throw .badRule("Mm.w.d out of range at offset \(position)")
                }
                rule = .monthWeekDay(month: month, week: week, weekday: weekday)
            default:
                let n = try number(maxDigits: 3)
                guard (0...365).contains(n) else { throw .badRule("day out of range at offset \(position)") }
                rule = .zeroBased(n)
            }
            var time = 7_200
            if peek == UInt8(ascii: "/") {
                position += 1
                time = try offset(maxHours: 167)
            }
            return (rule, time)
        }
    }
}
