/// Parses the cron dialect of ARCHITECTURE.md ("Scheduling semantics").
public enum CronParser {
    struct Field {
        let name: String
        let range: ClosedRange<Int>
        let names: [String]
        let nameBase: Int

        var allowed: String {
            var s = "\(range.lowerBound)-\(range.upperBound)"
            if !names.isEmpty { s += " or \(names.first!)-\(names.last!)" }
            return s + "; forms: *, N, A-B, A-B/S, */S and comma lists"
        }
    }

    static let fields = [
        Field(name: "minute", range: 0...59, names: [], nameBase: 0),
        Field(name: "hour", range: 0...23, names: [], nameBase: 0),
        Field(name: "day-of-month", range: 1...31, names: [], nameBase: 1),
        Field(name: "month", range: 1...12, names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], nameBase: 1),
        Field(name: "day-of-week", range: 0...7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], nameBase: 0),
    ]

    static let macros = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// Parses `expression`; its `CRON_TZ=`/`TZ=` prefix, if any, overrides `timeZone`.
    public static func parse(_ expression: String, timeZone: String = "UTC") throws(CronError) -> CronSchedule {
        var tokens = tokenize(expression)
        var zoneName = timeZone
        var zoneColumn = 0
        if let first = tokens.first, let eq = first.text.firstIndex(of: "="),
           ["CRON_TZ", "TZ"].contains(first.text[..<eq]) {
            zoneName = String(first.text[first.text.index(after: eq)...])
            zoneColumn = first.column + first.text.distance(from: first.text.startIndex, to: eq) + 1
            tokens.removeFirst()
        }
        guard let zone = ZoneTimeline.named(zoneName), !zoneName.isEmpty else {
            throw CronError(field: nil, token: zoneName, column: zoneColumn,
                            message: "unknown time zone; expected an IANA name such as Europe/Berlin or UTC")
        }
        guard !tokens.isEmpty else {
            throw CronError(field: nil, token: expression, column: 1, message: "empty expression; expected five fields (minute hour day-of-month month day-of-week) or a macro such as @daily")
        }
        if tokens[0].text.hasPrefix("@") {
            let macro = tokens[0]
            guard let body = macros[macro.text.lowercased()] else {
                let why = macro.text.lowercased() == "@reboot" ? "@reboot has no fire times for a daemon to schedule" : "unknown macro"
                throw CronError(field: nil, token: macro.text, column: macro.column,
                                message: "\(why); allowed: \(macros.keys.sorted().joined(separator: ", "))")
            }
            guard tokens.count == 1 else {
                throw CronError(field: nil, token: tokens[1].text, column: tokens[1].column, message: "nothing may follow a macro")
            }
            return try build(expression: expression, tokens: tokenize(body).map { Token(text: $0.text, column: macro.column) }, zone: zone)
        }
        guard tokens.count == 5 else {
            let extra = tokens.count > 5 ? tokens[5] : tokens.last!
            let message = tokens.count > 5
                ? "expected exactly five fields; seconds and year fields are not supported"
                : "expected five fields (minute hour day-of-month month day-of-week), found \(tokens.count)"
            throw CronError(field: nil, token: extra.text, column: extra.column, message: message)
        }
        return try build(expression: expression, tokens: tokens, zone: zone)
    }

    struct Token {
        var text: String
        var column: Int
    }

    static func tokenize(_ s: String) -> [Token] {
        var tokens: [Token] = []
        var current = ""
        var start = 0
        for (i, ch) in s.enumerated() {
            if ch == " " || ch == "\t" {
                if !current.isEmpty { tokens.append(Token(text: current, column: start + 1)) }
                current = ""
            } else {
                if current.isEmpty { start = i }
                current.append(ch)
            }
        }
        if !current.isEmpty { tokens.append(Token(text: current, column: start + 1)) }
        return tokens
    }

    private static func build(expression: String, tokens: [Token], zone: ZoneTimeline) throws(CronError) -> CronSchedule {
        var sets: [UInt64] = []
        for (field, token) in zip(fields, tokens) {
            sets.append(try parseField(token, field))
        }
        // Day-of-week 7 is Sunday, like 0.
        var dow = sets[4]
        if dow & (1 << 7) != 0 { dow = (dow | 1) & ~(1 << 7) }
        let schedule = CronSchedule(
            expression: expression, minutes: sets[0], hours: UInt32(sets[1]), daysOfMonth: UInt32(sets[2]),
            months: UInt16(sets[3]), daysOfWeek: UInt8(dow),
            domRestricted: tokens[2].text != "*", dowRestricted: tokens[4].text != "*",
            isWallClock: !tokens[0].text.contains("*") && !tokens[1].text.contains("*"),
            timeZone: zone)
        try checkDaysExist(schedule, dayToken: tokens[2])
        return schedule
    }

    /// Rejects day-of-month/month combinations that never occur (`0 0 30 2 *`), which would
    /// otherwise only surface as a schedule that silently never fires.
    private static func checkDaysExist(_ s: CronSchedule, dayToken: Token) throws(CronError) {
        guard s.domRestricted, !s.dowRestricted else { return }
        for month in 1...12 where s.months & (1 << month) != 0 {
            let longest = month == 2 ? 29 : CivilCalendar.daysInMonth(year: 2001, month: month)
            if UInt64(s.daysOfMonth) & ((UInt64(1) << (longest + 1)) - 2) != 0 { return }
        }
        throw CronError(field: "day-of-month", token: dayToken.text, column: dayToken.column,
                        message: "no such day in any of the months allowed, so this never fires")
    }

    private static func parseField(_ token: Token, _ field: Field) throws(CronError) -> UInt64 {
        var bits: UInt64 = 0
        var offset = 0
        for item in token.text.split(separator: ",", omittingEmptySubsequences: false) {
            let column = token.column + offset
            offset += item.count + 1
            bits |= try parseItem(String(item), column: column, field)
        }
        return bits
    }

    private static func parseItem(_ item: String, column: Int, _ field: Field) throws(CronError) -> UInt64 {
        func fail(_ message: String, _ token: String? = nil) -> CronError {
            CronError(field: field.name, token: token ?? item, column: column, message: message)
        }
        guard !item.isEmpty else { throw fail("empty list item; allowed: \(field.allowed)") }
        // `#` and `?` never occur in this dialect; L and W only inside names (JUL, WED), so those
        // two are judged per value, in `value(_:_:column:)`, once a name has had its chance.
        if let quartz = item.first(where: { $0 == "#" || $0 == "?" }) {
            throw fail("Quartz syntax '\(quartz)' is not supported; allowed: \(field.allowed)")
        }
        let parts = item.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw fail("more than one '/'; allowed: \(field.allowed)") }
        var step = 1
        if parts.count == 2 {
            guard let s = Int(parts[1]), s >= 0 else { throw fail("step must be a positive integer; allowed: \(field.allowed)") }
            guard s > 0 else { throw fail("step 0 never advances; use a step of 1 or more") }
            step = s
        }
        let rangeText = String(parts[0])
        var low: Int, high: Int
        if rangeText == "*" {
            (low, high) = (field.range.lowerBound, field.range.upperBound)
            if field.name == "day-of-week" { high = 6 }
        } else {
            let bounds = rangeText.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count <= 2 else { throw fail("malformed range; allowed: \(field.allowed)") }
            low = try value(String(bounds[0]), field, column: column)
            high = bounds.count == 2 ? try value(String(bounds[1]), field, column: column + bounds[0].count + 1) : low
            if bounds.count == 1, parts.count == 2 {
                throw fail("a step after a single value is ambiguous (engines disagree); write \(low)-\(field.range.upperBound)/\(step) instead")
            }
            guard low <= high else {
                throw fail("wrap-around range \(rangeText) is not supported; split it into two ranges, e.g. \(rangeText.split(separator: "-")[0])-\(field.range.upperBound),\(field.range.lowerBound)-\(rangeText.split(separator: "-")[1])")
            }
        }
        var bits: UInt64 = 0
        for v in stride(from: low, through: high, by: step) { bits |= 1 << v }
        return bits
    }

    private static func value(_ text: String, _ field: Field, column: Int) throws(CronError) -> Int {
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let n = Int(text), field.range.contains(n) else {
                throw CronError(field: field.name, token: text, column: column, message: "out of range; allowed: \(field.allowed)")
            }
            return n
        }
        // Names match in any ASCII case, as in Vixie cron, croniter and systemd; `uppercased()`
        // alone would also fold non-ASCII letters such as 'ſ' into a name.
        if text.utf8.allSatisfy({ $0 < 0x80 }), let index = field.names.firstIndex(of: text.uppercased()) {
            return index + field.nameBase
        }
        if let quartz = text.uppercased().first(where: { $0 == "L" || $0 == "W" }) {
            throw CronError(field: field.name, token: text, column: column,
                            message: "Quartz syntax '\(quartz)' is not supported; allowed: \(field.allowed)")
        }
        throw CronError(field: field.name, token: text, column: column, message: "not a number or name; allowed: \(field.allowed)")
    }
}
