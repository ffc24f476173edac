import Foundation
import Testing
@testable import Scheduler

@Suite struct CronSyntaxTests {
    @Test func everySyntaxElement() throws {
        let after = "2027-01-01T00:00:00Z"  // a Friday
        #expect(try fires("* * * * *", after: after, count: 2) == ["2027-01-01T00:01:00Z", "2027-01-01T00:02:00Z"])
        #expect(try fires("5,10,50 * * * *", after: after, count: 4) == ["2027-01-01T00:05:00Z", "2027-01-01T00:10:00Z", "2027-01-01T00:50:00Z", "2027-01-01T01:05:00Z"])
        #expect(try fires("10-12 * * * *", after: after, count: 4) == ["2027-01-01T00:10:00Z", "2027-01-01T00:11:00Z", "2027-01-01T00:12:00Z", "2027-01-01T01:10:00Z"])
        #expect(try fires("10-40/15 * * * *", after: after, count: 4) == ["2027-01-01T00:10:00Z", "2027-01-01T00:25:00Z", "2027-01-01T00:40:00Z", "2027-01-01T01:10:00Z"])
        #expect(try fires("*/20 */12 * * *", after: after, count: 4) == ["2027-01-01T00:20:00Z", "2027-01-01T00:40:00Z", "2027-01-01T12:00:00Z", "2027-01-01T12:20:00Z"])
        #expect(try fires("0 0 * jan,Mar *", after: after, count: 1) == ["2027-01-02T00:00:00Z"])
        #expect(try fires("0 0 1 FEB-APR *", after: after, count: 3) == ["2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"])
        #expect(try fires("0 9 * * mon-FRI", after: after, count: 3) == ["2027-01-01T09:00:00Z", "2027-01-04T09:00:00Z", "2027-01-05T09:00:00Z"])
        #expect(try fires("0 0 * * 5-7", after: after, count: 4) == ["2027-01-02T00:00:00Z", "2027-01-03T00:00:00Z", "2027-01-08T00:00:00Z", "2027-01-09T00:00:00Z"])
        #expect(try fires("0  0\t* * *", after: after) == ["2027-01-02T00:00:00Z"])
    }

    @Test func macros() throws {
        let after = "2027-01-01T00:00:00Z"
        #expect(try fires("@yearly", after: after) == ["2028-01-01T00:00:00Z"])
        #expect(try fires("@annually", after: after) == ["2028-01-01T00:00:00Z"])
        #expect(try fires("@monthly", after: after) == ["2027-02-01T00:00:00Z"])
        #expect(try fires("@weekly", after: after) == ["2027-01-03T00:00:00Z"])
        #expect(try fires("@daily", after: after) == ["2027-01-02T00:00:00Z"])
        #expect(try fires("@midnight", after: after) == ["2027-01-02T00:00:00Z"])
        #expect(try fires("@HOURLY", after: after) == ["2027-01-01T01:00:00Z"])
        #expect(try CronParser.parse("@daily").isWallClock)
        #expect(try !CronParser.parse("@hourly").isWallClock)
    }

    @Test func timeZonePrefixWinsOverTheGivenZone() throws {
        #expect(try fires("CRON_TZ=Europe/Berlin 0 2 * * *", "America/New_York", after: "2027-01-01T00:00:00Z") == ["2027-01-01T01:00:00Z"])
        #expect(try fires("TZ=Asia/Tokyo 0 9 * * *", after: "2027-01-01T00:00:00Z") == ["2027-01-02T00:00:00Z"])
        #expect(try CronParser.parse("TZ=Asia/Tokyo @daily").timeZone.identifier == "Asia/Tokyo")
    }

    @Test func wallClockOrInterval() throws {
        for e in ["30 2 * * *", "0,30 1,13 * * *", "0 9-17 * * *", "0-59/15 1 * * *", "@daily"] {
            #expect(try CronParser.parse(e).isWallClock, "\(e)")
        }
        for e in ["*/15 * * * *", "30 * * * *", "0 */6 * * *", "@hourly", "* 2 * * *"] {
            #expect(try !CronParser.parse(e).isWallClock, "\(e)")
        }
    }

    @Test(arguments: [
        // expression, field, token, column, words of the message
        ("@reboot", nil, "@reboot", 1, "@reboot"),
        ("@fortnightly", nil, "@fortnightly", 1, "unknown macro"),
        ("@daily 5", nil, "5", 8, "nothing may follow"),
        ("0 0 0 1 1 *", nil, "*", 11, "seconds and year"),
        ("0 0 1 1 * 2027", nil, "2027", 11, "seconds and year"),
        ("0 0 * *", nil, "*", 7, "found 4"),
        ("", nil, "", 1, "empty expression"),
        ("0 0 L * *", "day-of-month", "L", 5, "Quartz"),
        ("0 0 15W * *", "day-of-month", "15W", 5, "Quartz"),
        ("0 0 * * 5#3", "day-of-week", "5#3", 9, "Quartz"),
        ("0 0 ? * MON", "day-of-month", "?", 5, "Quartz"),
        ("0 22-2 * * *", "hour", "22-2", 3, "wrap-around"),
        ("0 0 * * FRI-MON", "day-of-week", "FRI-MON", 9, "wrap-around"),
        ("*/0 * * * *", "minute", "*/0", 1, "step 0"),
        ("5/15 * * * *", "minute", "5/15", 1, "5-59/15"),
        ("60 * * * *", "minute", "60", 1, "0-59"),
        ("0 24 * * *", "hour", "24", 3, "0-23"),
        ("0 0 0 * *", "day-of-month", "0", 5, "1-31"),
        ("0 0 32 * *", "day-of-month", "32", 5, "1-31"),
        ("0 0 1 13 *", "month", "13", 7, "1-12 or JAN-DEC"),
        ("0 0 * * 8", "day-of-week", "8", 9, "0-7 or SUN-SAT"),
        ("0 0 * * 1-9", "day-of-week", "9", 11, "0-7"),
        ("1,,2 * * * *", "minute", "", 3, "empty list item"),
        ("abc * * * *", "minute", "abc", 1, "not a number or name"),
        ("0 0 * FOO *", "month", "FOO", 7, "not a number or name"),
        ("-5 * * * *", "minute", "", 1, "not a number"),
        ("0 0 30 2 *", "day-of-month", "30", 5, "never fires"),
        ("0 0 31 4,6,9,11 *", "day-of-month", "31", 5, "never fires"),
        ("1/2/3 * * * *", "minute", "1/2/3", 1, "more than one"),
        ("CRON_TZ=Mars/Olympus 0 0 * * *", nil, "Mars/Olympus", 9, "unknown time zone"),
    ] as [(String, String?, String, Int, String)])
    func rejections(expression: String, field: String?, token: String, column: Int, words: String) {
        do {
            _ = try CronParser.parse(expression)
            Issue.record("\(expression) was accepted")
        } catch {
            #expect(error.field == field, "\(expression): \(error)")
            #expect(error.token == token, "\(expression): \(error)")
            #expect(error.column == column, "\(expression): \(error)")
            #expect(error.description.contains(words), "\(expression): \(error)")
        }
    }

    @Test func unknownZoneGivenSeparately() {
        #expect(throws: CronError.self) { try CronParser.parse("0 0 * * *", timeZone: "Nowhere/Special") }
    }
}
