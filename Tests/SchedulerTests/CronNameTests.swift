import Foundation
import Testing
@testable import Scheduler

/// Month and day names in any case and in every form (issue 11: upper-case names with L or W were
/// taken for Quartz syntax).
@Suite struct CronNameTests {
    static let months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let days = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    /// "WED" → ["WED", "wed", "Wed", "wED"]
    static func spellings(_ name: String) -> [String] {
        let lower = name.lowercased()
        let capitalised = name.prefix(1) + lower.dropFirst()
        let inverted = lower.prefix(1) + name.dropFirst()
        return [name, lower, String(capitalised), String(inverted)]
    }

    /// The field's bit set parsed from `text`, in the month or day-of-week position.
    func bits(month text: String) throws -> UInt16 { try CronParser.parse("0 0 1 \(text) *").months }
    func bits(dow text: String) throws -> UInt8 { try CronParser.parse("0 0 * * \(text)").daysOfWeek }

    @Test(arguments: Array(months.enumerated()))
    func everyMonthNameInEveryCase(index: Int, name: String) throws {
        let month = index + 1
        for spelling in Self.spellings(name) {
            #expect(try bits(month: spelling) == bits(month: "\(month)"), "\(spelling)")
            // In a list with numbers, as the end of a range, and as a range with a step.
            #expect(try bits(month: "\(spelling),\(month == 1 ? 12 : 1)") == bits(month: "\(month),\(month == 1 ? 12 : 1)"), "\(spelling)")
            #expect(try bits(month: "1-\(spelling)") == bits(month: "1-\(month)"), "\(spelling)")
            #expect(try bits(month: "\(spelling)-DEC/2") == bits(month: "\(month)-12/2"), "\(spelling)")
        }
    }

    @Test(arguments: Array(days.enumerated()))
    func everyDayNameInEveryCase(index: Int, name: String) throws {
        for spelling in Self.spellings(name) {
            #expect(try bits(dow: spelling) == bits(dow: "\(index)"), "\(spelling)")
            #expect(try bits(dow: "\(spelling),6") == bits(dow: "\(index),6"), "\(spelling)")
            #expect(try bits(dow: "SUN-\(spelling)") == bits(dow: "0-\(index)"), "\(spelling)")
            #expect(try bits(dow: "\(spelling)-sat/2") == bits(dow: "\(index)-6/2"), "\(spelling)")
        }
    }

    /// The expressions of issue 11's "done when"; the same instants are in the oracle table,
    /// where croniter gives them too.
    @Test func theReportedExpressions() throws {
        let after = "2027-01-01T00:00:00Z"  // a Friday
        #expect(try fires("0 2 * * WED", after: after, count: 2) == ["2027-01-06T02:00:00Z", "2027-01-13T02:00:00Z"])
        #expect(try fires("0 2 * JUL *", after: after, count: 2) == ["2027-07-01T02:00:00Z", "2027-07-02T02:00:00Z"])
        #expect(try fires("0 3 1 JAN-MAR *", after: after, count: 3) == ["2027-01-01T03:00:00Z", "2027-02-01T03:00:00Z", "2027-03-01T03:00:00Z"])
        #expect(try fires("30 4 * jun-aug Sat", after: after, count: 2) == ["2027-06-05T04:30:00Z", "2027-06-12T04:30:00Z"])
        // Both day fields restricted: the 1st of no month matters here (`*`), so Thursdays in April, July, October.
        #expect(try fires("0 2 * APR,JUL,OCT THU", after: after, count: 2) == ["2027-04-01T02:00:00Z", "2027-04-08T02:00:00Z"])
        #expect(try fires("0 2 * JUL-SEP/1 MON-WED", after: after, count: 3) == ["2027-07-05T02:00:00Z", "2027-07-06T02:00:00Z", "2027-07-07T02:00:00Z"])
    }

    @Test(arguments: [
        ("0 2 * * 5L", "day-of-week", "5L", "'L'"),
        ("0 2 ? * *", "day-of-month", "?", "'?'"),
        ("0 0 LW * *", "day-of-month", "LW", "'L'"),
        ("0 0 15W * *", "day-of-month", "15W", "'W'"),
        ("0 0 15w * *", "day-of-month", "15w", "'W'"),
        ("0 0 * * 1#2", "day-of-week", "1#2", "'#'"),
        ("0 0 L-3 * *", "day-of-month", "L", "'L'"),
        ("0 0 * * MON,5L", "day-of-week", "5L", "'L'"),
        ("0 0 * * WEDL", "day-of-week", "WEDL", "'W'"),
    ] as [(String, String, String, String)])
    func quartzStaysRejected(expression: String, field: String, token: String, quoted: String) {
        do {
            _ = try CronParser.parse(expression)
            Issue.record("\(expression) was accepted")
        } catch {
            #expect(error.field == field, "\(expression): \(error)")
            #expect(error.token == token, "\(expression): \(error)")
            #expect(error.description.contains("Quartz syntax \(quoted)"), "\(expression): \(error)")
        }
    }

    @Test func namesAreASCIIAndNumbersAreDigits() {
        // 'ſ' (U+017F) upper-cases to 'S'; "+5" is an Int to Swift but no cron engine's number.
        for e in ["0 0 * * ſun", "0 0 * * ſat", "+5 * * * *", "0 0 * * MONDAY", "0 0 * * 1.0"] {
            #expect(throws: CronError.self, "\(e)") { try CronParser.parse(e) }
        }
    }
}
