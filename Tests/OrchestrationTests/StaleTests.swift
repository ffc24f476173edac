import Foundation
import JobJournal
import Orchestration
import Testing

/// Stale detection and the notifications it and run outcomes imply, on a manual clock.
@Suite struct StaleTests {
    typealias World = DriverTests.World

    static func date(_ minutes: Double) -> Date { DriverTests.date(minutes) }

    static let notify = """
        notify:
          - url: "https://chat.example.com/hooks/T000/B000/XXXX?token=abc"
            events: [failed, stale, recovered, paused, succeeded]
        """

    /// A schedule that never succeeded is stale `stale_after` after it was first seen; one that
    /// succeeds within it never is. Each is journaled once, with its notification's intent before it.
    @Test func aScheduleThatNeverSucceededTurnsStaleCountingFromWhenItWasFirstSeen() async throws {
        let world = try World(yaml: """
            \(Self.notify)
            defaults: { stale_after: 2h, poll: { initial: 1m, max: 2m, multiplier: 2 } }
            schedules:
            \(DriverTests.schedule("bad", "bad", "0 * * * *"))
            \(DriverTests.schedule("good", "good", "30 * * * *"))
            """, templates: ["bad": FakeARM.Template(buildMinutes: 5, outcome: "Failed", message: "customizer exited 3"),
                             "good": FakeARM.Template(buildMinutes: 5)], start: Self.date(-1))
        #expect(try await world.run(until: Self.date(4 * 60 + 10)) == nil)
        var timed: [(Date, JournalEvent)] = []
        _ = try JournalInspection.verify(directory: world.directory) { timed.append(($0.record.at, $0.record.event)) }
        let seen = timed.filter { if case .scheduleSeen = $0.1 { true } else { false } }
        #expect(seen.count == 2 && seen.allSatisfy { $0.0 == Self.date(-1) })
        let stale = timed.filter { if case .stale = $0.1 { true } else { false } }
        #expect(stale.count == 1)
        #expect(stale.first.map { if case .stale("bad") = $0.1 { true } else { false } } == true)
        // Strictly past first seen + 2h, at the first instant the clock allows.
        let at = try #require(stale.first?.0)
        #expect(at > Self.date(-1 + 120) && at < Self.date(-1 + 120).addingTimeInterval(1), "\(at)")
        let intents = timed.compactMap { if case .notifyQueued(let p) = $0.1 { p } else { nil } }
        let staleIntent = try #require(intents.first { $0.event == "stale" })
        #expect(staleIntent.schedule == "bad" && staleIntent.key == "bad/stale/\(Self.date(-1 + 120).journalMillis)")
        #expect(staleIntent.body.contains("no successful build since it was added"), "\(staleIntent.body)")
        let body = try #require(try JSONSerialization.jsonObject(with: Data(staleIntent.body.utf8)) as? [String: Any])
        #expect(body["event"] as? String == "stale" && body["schedule"] as? String == "bad" && body["template"] as? String == "bad")
        #expect((body["run"] as? [String: Any])?["outcome"] as? String == "failed", "the run is the history --json object of the last run")
        // The intent precedes the fact.
        let intentIndex = try #require(timed.firstIndex { if case .notifyQueued(let p) = $0.1 { p.event == "stale" } else { false } })
        let factIndex = try #require(timed.firstIndex { if case .stale = $0.1 { true } else { false } })
        #expect(intentIndex < factIndex)
        // Five failures of bad, four successes of good: one notification intent each, keyed by slot and event.
        #expect(intents.filter { $0.event == "failed" }.map(\.key) == (0..<5).map { "bad@\(Self.date(Double($0 * 60)).journalMillis)/failed" })
        #expect(intents.filter { $0.event == "succeeded" }.count == 4)
        #expect(!intents.contains { $0.schedule == "good" && $0.event == "stale" })
        let warning = world.lines.all.first { $0.1.contains("is stale") }
        #expect(warning?.0 == .warning)
        // A restart while stale does not announce it again.
        #expect(try await world.run(until: Self.date(5 * 60)) == nil)
        #expect(try world.records().filter { if case .stale = $0 { true } else { false } }.count == 1)
    }

    /// A success after stale clears it, with a `recovered` notification; a later lapse is a new stale.
    @Test func aSuccessRecoversAStaleSchedule() async throws {
        let world = try World(yaml: """
            \(Self.notify)
            defaults: { poll: { initial: 1m, max: 2m, multiplier: 2 } }
            schedules:
            \(DriverTests.schedule("nightly", "golden", "0 */2 * * *", "stale_after: 3h"))
            """, templates: ["golden": FakeARM.Template(buildMinutes: 5, outcome: "Failed")], start: Self.date(-1))
        #expect(try await world.run(until: Self.date(3 * 60 + 30)) == nil)
        #expect(try world.records().contains(.stale(schedule: "nightly")))
        world.arm.setOutcome("golden", "Succeeded")
        #expect(try await world.run(until: Self.date(4 * 60 + 30)) == nil)
        let state = try JournalInspection.verify(directory: world.directory).state
        #expect(state.schedules["nightly"]?.staleSince == nil)
        #expect(state.schedules["nightly"]?.lastSuccess != nil)
        let intents = try world.records().compactMap { if case .notifyQueued(let p) = $0 { p } else { nil } }
        #expect(intents.filter { $0.event == "recovered" }.count == 1)
        #expect(world.lines.all.contains { $0.1.contains("recovered: built successfully") })
        // No success for 3h after the recovery: stale again, under a new key.
        world.arm.setOutcome("golden", "Failed")
        #expect(try await world.run(until: Self.date(8 * 60)) == nil)
        let stales = try world.records().compactMap { if case .notifyQueued(let p) = $0, p.event == "stale" { p.key } else { nil } }
        #expect(stales.count == 2 && Set(stales).count == 2, "\(stales)")
    }

    /// Without `stale_after` nothing is ever stale, and without `notify` nothing is queued.
    @Test func offByDefault() async throws {
        let world = try World(yaml: """
            schedules:
            \(DriverTests.schedule("bad", "bad", "0 * * * *"))
            """, templates: ["bad": FakeARM.Template(buildMinutes: 5, outcome: "Failed")], start: Self.date(-1))
        #expect(try await world.run(until: Self.date(72 * 60)) == nil)
        let records = try world.records()
        #expect(!records.contains { if case .stale = $0 { true } else if case .notifyQueued = $0 { true } else { false } })
    }
}
