import Foundation
import Testing

/// `imagebuildd next` as scripts use it: stdout lines, JSON, exit status 2 with a located error.
@Suite struct NextCommandTests {
    @Test func printsRFC3339InstantsOneALine() async throws {
        let out = try await imagebuildd("next", "--cron", "0 2 * * *", "--timezone", "Europe/Berlin",
                                        "--after", "2027-03-27T12:00:00Z", "--count", "2")
        #expect(out.status == .exited(0))
        #expect(out.stdout == "2027-03-28T01:00:00Z\n2027-03-29T00:00:00Z\n")
    }

    @Test func defaultsAreUTCFiveTimesAfterNow() async throws {
        let out = try await imagebuildd("next", "--cron", "@hourly")
        let lines = out.stdout.split(separator: "\n")
        #expect(lines.count == 5)
        let first = try Date.ISO8601FormatStyle().parse(String(lines[0]))
        #expect(first > Date() && first <= Date().addingTimeInterval(3600))
    }

    @Test func jsonAddsLocalTimeWithOffset() async throws {
        let out = try await imagebuildd("next", "--cron", "CRON_TZ=America/New_York 30 1 * * *", "--after", "2027-11-06T12:00:00Z",
                                        "--count", "2", "--json")
        #expect(out.status == .exited(0))
        let array = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as! [[String: Any]]
        #expect(array.map { $0["utc"] as! String } == ["2027-11-07T05:30:00Z", "2027-11-08T06:30:00Z"])
        #expect(array.map { $0["local"] as! String } == ["2027-11-07T01:30:00-04:00", "2027-11-08T01:30:00-05:00"])
        #expect(array[0]["time_zone"] as? String == "America/New_York")
    }

    @Test func badInputExitsTwoWithTheColumn() async throws {
        let bad = try await imagebuildd("next", "--cron", "0 25 * * *")
        #expect(bad.status == .exited(2))
        #expect(bad.stdout.isEmpty)
        #expect(bad.stderr.contains("column 3, hour field: \"25\": out of range; allowed: 0-23"))

        let zone = try await imagebuildd("next", "--cron", "0 2 * * *", "--timezone", "Europe/Atlantis")
        #expect(zone.status == .exited(2))
        #expect(zone.stderr.contains("unknown time zone"))

        let after = try await imagebuildd("next", "--cron", "0 2 * * *", "--after", "yesterday")
        #expect(after.status == .exited(2))
        #expect(after.stderr.contains("--after"))

        let never = try await imagebuildd("next", "--cron", "0 0 29 2 *", "--after", "2096-03-01T00:00:00Z")
        #expect(never.status == .exited(2))
        #expect(never.stderr.contains("no fire time within 5 years"))
    }
}
