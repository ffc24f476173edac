import Foundation
import Testing
@testable import Scheduler

/// The DST contract of ARCHITECTURE.md, zone by zone. Instants cross-checked with Python's zoneinfo.
@Suite struct DSTTests {
    @Test func berlin() throws {
        // Spring: 02:00-03:00 does not exist on 2027-03-28. Wall-clock slots in it fire once at 03:00.
        #expect(try fires("0 2 * * *", "Europe/Berlin", after: "2027-03-27T00:00:00Z", count: 3) == ["2027-03-27T01:00:00Z", "2027-03-28T01:00:00Z", "2027-03-29T00:00:00Z"])
        #expect(try fires("30 2 * * *", "Europe/Berlin", after: "2027-03-27T12:00:00Z") == ["2027-03-28T01:00:00Z"])
        #expect(try fires("0,30 2,3 * * *", "Europe/Berlin", after: "2027-03-27T12:00:00Z", count: 3) == ["2027-03-28T01:00:00Z", "2027-03-28T01:30:00Z", "2027-03-29T00:00:00Z"])
        // Interval: gap times never occur.
        #expect(try fires("*/30 * * * *", "Europe/Berlin", after: "2027-03-28T00:15:00Z", count: 3) == ["2027-03-28T00:30:00Z", "2027-03-28T01:00:00Z", "2027-03-28T01:30:00Z"])
        // Autumn: 02:00-03:00 happens twice on 2027-10-31. Wall-clock fires at the first; interval at both.
        #expect(try fires("30 2 * * *", "Europe/Berlin", after: "2027-10-30T12:00:00Z", count: 2) == ["2027-10-31T00:30:00Z", "2027-11-01T01:30:00Z"])
        #expect(try fires("*/30 * * * *", "Europe/Berlin", after: "2027-10-30T23:45:00Z", count: 5) == ["2027-10-31T00:00:00Z", "2027-10-31T00:30:00Z", "2027-10-31T01:00:00Z", "2027-10-31T01:30:00Z", "2027-10-31T02:00:00Z"])
    }

    @Test func newYork() throws {
        #expect(try fires("30 2 * * *", "America/New_York", after: "2027-03-13T12:00:00Z", count: 2) == ["2027-03-14T07:00:00Z", "2027-03-15T06:30:00Z"])
        #expect(try fires("30 1 * * *", "America/New_York", after: "2027-11-06T00:00:00Z", count: 3) == ["2027-11-06T05:30:00Z", "2027-11-07T05:30:00Z", "2027-11-08T06:30:00Z"])
        #expect(try fires("*/30 * * * *", "America/New_York", after: "2027-11-07T04:00:00Z", count: 6) == ["2027-11-07T04:30:00Z", "2027-11-07T05:00:00Z", "2027-11-07T05:30:00Z", "2027-11-07T06:00:00Z", "2027-11-07T06:30:00Z", "2027-11-07T07:00:00Z"])
        // Asking from inside the repeated hour (first pass) still finds the second pass of an interval schedule.
        #expect(try fires("15 * * * *", "America/New_York", after: "2027-11-07T05:20:00Z", count: 2) == ["2027-11-07T06:15:00Z", "2027-11-07T07:15:00Z"])
    }

    @Test func lordHoweThirtyMinuteShift() throws {
        // Spring 2027-10-03: 02:00-02:30 (+10:30) does not exist; the clock reads 02:30 (+11) at 15:30Z.
        #expect(try fires("0 2 * * *", "Australia/Lord_Howe", after: "2027-10-02T00:00:00Z") == ["2027-10-02T15:30:00Z"])
        #expect(try fires("15 2 * * *", "Australia/Lord_Howe", after: "2027-10-02T00:00:00Z") == ["2027-10-02T15:30:00Z"])
        #expect(try fires("*/15 * * * *", "Australia/Lord_Howe", after: "2027-10-02T15:05:00Z", count: 3) == ["2027-10-02T15:15:00Z", "2027-10-02T15:30:00Z", "2027-10-02T15:45:00Z"])
        // Autumn 2027-04-04: 01:30-02:00 happens twice.
        #expect(try fires("45 1 * * *", "Australia/Lord_Howe", after: "2027-04-03T00:00:00Z", count: 2) == ["2027-04-03T14:45:00Z", "2027-04-04T15:15:00Z"])
        #expect(try fires("*/15 * * * *", "Australia/Lord_Howe", after: "2027-04-03T14:20:00Z", count: 5) == ["2027-04-03T14:30:00Z", "2027-04-03T14:45:00Z", "2027-04-03T15:00:00Z", "2027-04-03T15:15:00Z", "2027-04-03T15:30:00Z"])
    }

    @Test func dublinNegativeDST() throws {
        #expect(try fires("30 1 * * *", "Europe/Dublin", after: "2027-03-27T12:00:00Z") == ["2027-03-28T01:00:00Z"])
        #expect(try fires("30 1 * * *", "Europe/Dublin", after: "2027-10-30T12:00:00Z", count: 2) == ["2027-10-31T00:30:00Z", "2027-11-01T01:30:00Z"])
    }

    @Test func chatham() throws {
        // +12:45 / +13:45. Spring 2027-09-26 at 02:45 -> 03:45; autumn 2027-04-04 at 03:45 -> 02:45.
        #expect(try fires("0 3 * * *", "Pacific/Chatham", after: "2027-09-25T00:00:00Z") == ["2027-09-25T14:00:00Z"])
        #expect(try fires("0 3 * * *", "Pacific/Chatham", after: "2027-04-03T00:00:00Z", count: 2) == ["2027-04-03T13:15:00Z", "2027-04-04T14:15:00Z"])
        #expect(try fires("0 * * * *", "Pacific/Chatham", after: "2027-04-03T13:00:00Z", count: 2) == ["2027-04-03T13:15:00Z", "2027-04-03T14:15:00Z"])
    }

    @Test func saoPauloHistoricMidnightTransitions() throws {
        // 2018-11-04: midnight did not exist (00:00 -> 01:00). The nightly build runs at 01:00.
        #expect(try fires("0 0 * * *", "America/Sao_Paulo", after: "2018-11-03T00:00:00Z", count: 3) == ["2018-11-03T03:00:00Z", "2018-11-04T03:00:00Z", "2018-11-05T02:00:00Z"])
        // 2019-02-16: 23:00-24:00 happened twice.
        #expect(try fires("30 23 * * *", "America/Sao_Paulo", after: "2019-02-16T12:00:00Z", count: 2) == ["2019-02-17T01:30:00Z", "2019-02-18T02:30:00Z"])
        #expect(try fires("30 * * * *", "America/Sao_Paulo", after: "2019-02-17T01:00:00Z", count: 3) == ["2019-02-17T01:30:00Z", "2019-02-17T02:30:00Z", "2019-02-17T03:30:00Z"])
    }

    @Test func calendarCorners() throws {
        #expect(try fires("0 0 29 2 *", after: "2027-01-01T00:00:00Z", count: 3) == ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z", "2036-02-29T00:00:00Z"])
        #expect(try fires("0 0 31 * *", after: "2027-01-01T00:00:00Z", count: 4) == ["2027-01-31T00:00:00Z", "2027-03-31T00:00:00Z", "2027-05-31T00:00:00Z", "2027-07-31T00:00:00Z"])
        #expect(try fires("0 0 * * 7", after: "2027-01-01T00:00:00Z", count: 2) == fires("0 0 * * SUN", after: "2027-01-01T00:00:00Z", count: 2))
        #expect(try fires("0 0 * * 0", after: "2027-01-01T00:00:00Z") == ["2027-01-03T00:00:00Z"])
        // Both day fields restricted: either matches (the 1st, the 15th, and every Friday).
        #expect(try fires("0 0 1,15 * 5", after: "2027-01-01T00:00:00Z", count: 5) == ["2027-01-08T00:00:00Z", "2027-01-15T00:00:00Z", "2027-01-22T00:00:00Z", "2027-01-29T00:00:00Z", "2027-02-01T00:00:00Z"])
        // Only one restricted: that one alone.
        #expect(try fires("0 0 1,15 * *", after: "2027-01-01T00:00:00Z", count: 2) == ["2027-01-15T00:00:00Z", "2027-02-01T00:00:00Z"])
        // 2100 is no leap year: after 2096-02-29 the next 29 February is in 2104, beyond five years.
        #expect(try fires("0 0 29 2 *", after: "2096-03-01T00:00:00Z").isEmpty)
        // Strictly after, also for fractional seconds.
        let s = try CronParser.parse("0 0 * * *")
        #expect(s.next(after: instant("2027-01-02T00:00:00Z")) == instant("2027-01-03T00:00:00Z"))
        #expect(s.next(after: instant("2027-01-01T23:59:59Z").addingTimeInterval(0.999)) == instant("2027-01-02T00:00:00Z"))
    }
}
