import AzureClient
import Foundation
import JobJournal
import Orchestration
import RunLifecycle
import Synchronization
import Testing

/// What operator commands say and do, on the real orchestrator and a manual clock: every answer
/// must be true at the moment it is given, and every fact it promises must reach the journal.
@Suite struct OperatorTests {
    typealias World = DriverTests.World
    static func date(_ minutes: Double) -> Date { DriverTests.date(minutes) }
    static func schedule(_ name: String, _ template: String, _ cron: String, _ extra: String = "") -> String {
        DriverTests.schedule(name, template, cron, extra)
    }

    /// Resumes recorded by a `pause --until` running out.
    static func untilResumes(_ world: World) throws -> [String] {
        try world.records().compactMap { if case .resumed(let schedule, RunTable.untilResumer) = $0 { schedule } else { nil } }
    }

    /// `pause --until T`: at T the schedule is resumed everywhere (status, metrics, journal), not
    /// weeks later at its next slot.
    @Test func pauseUntilLiftsThePauseAtItsInstant() async throws {
        let world = try World(yaml: """
            schedules:
            \(Self.schedule("weekly", "golden", "0 2 * * 0"))
            """, templates: ["golden": FakeARM.Template()])
        let until = Self.date(30)
        let thrown = try await world.run(until: Self.date(31), steps: [
            (Self.date(1), { orchestrator in
                _ = try await orchestrator.pause("weekly", until: until, reason: "maintenance", by: "uid 0 (root)")
                #expect(await orchestrator.snapshot().first?.pause != nil)
                #expect(await orchestrator.metricsSnapshot().schedules.first?.paused == true)
            }),
            (Self.date(29.9), { orchestrator in
                #expect(await orchestrator.snapshot().first?.pause != nil, "still paused just before its until")
            }),
        ], atEnd: { orchestrator in
            #expect(await orchestrator.snapshot().first?.pause == nil, "resumed at its until")
            #expect(await orchestrator.metricsSnapshot().schedules.first?.paused == false)
        })
        #expect(thrown == nil)
        #expect(try Self.untilResumes(world) == ["weekly"])
        let resumedAt = try JournalInspection.verify(directory: world.directory).state.paused["weekly"]
        #expect(resumedAt == nil)
    }

    /// A pause whose `until` passed while the daemon was down is lifted as the daemon starts.
    @Test func pauseUntilThatRanOutWhileDownIsLiftedAtStart() async throws {
        let world = try World(yaml: """
            schedules:
            \(Self.schedule("weekly", "golden", "0 2 * * 0"))
            """, templates: ["golden": FakeARM.Template()])
        let thrown = try await world.run(until: Self.date(5), steps: [
            (Self.date(1), { _ = try await $0.pause("weekly", until: Self.date(30), reason: nil, by: "uid 0 (root)") }),
        ])
        #expect(thrown == nil)
        #expect(try Self.untilResumes(world).isEmpty)
        world.clock.advance(to: Self.date(60))
        let restarted = try await world.run(until: Self.date(61), atEnd: { orchestrator in
            #expect(await orchestrator.snapshot().first?.pause == nil)
        })
        #expect(restarted == nil)
        #expect(try Self.untilResumes(world) == ["weekly"])
    }

    /// An `--until` at or before the daemon's now is refused, and nothing is journaled.
    @Test func pauseUntilInThePastIsRefused() async throws {
        let world = try World(yaml: """
            schedules:
            \(Self.schedule("nightly", "golden", "0 2 * * *"))
            """, templates: ["golden": FakeARM.Template()])
        let thrown = try await world.run(until: Self.date(2), steps: [
            (Self.date(1), { orchestrator in
                await #expect(throws: Orchestrator.ControlFailure.self) {
                    _ = try await orchestrator.pause("nightly", until: Self.date(0.5), reason: nil, by: "uid 0 (root)")
                }
                #expect(await orchestrator.snapshot().first?.pause == nil)
            }),
        ])
        #expect(thrown == nil)
        #expect(!(try world.records().contains { if case .paused = $0 { true } else { false } }))
    }

    /// What `trigger` answers under each overlap policy while the template builds, and on a paused
    /// schedule: the words match what the daemon does.
    @Test func triggerSaysWhatHappens() async throws {
        let world = try World(yaml: """
            defaults: { poll: { initial: 30s, max: 1m, multiplier: 2 } }
            schedules:
            \(Self.schedule("nightly", "golden", "0 0 * * *"))
            \(Self.schedule("other", "spare", "0 3 * * *"))
            """, templates: ["golden": FakeARM.Template(buildMinutes: 60), "spare": FakeARM.Template(buildMinutes: 5)], start: Self.date(-1))
        let decisions = DecisionLog()
        let thrown = try await world.run(until: Self.date(20), steps: [
            (Self.date(10), { orchestrator in
                // The 00:00 build is running.
                let skip = try await orchestrator.trigger("nightly", reason: "hotfix", overlap: .skip, requestID: "a", by: "uid 0 (root)")
                decisions.append("skip", skip.decision)
                let queue = try await orchestrator.trigger("nightly", reason: nil, overlap: .queue, requestID: "b", by: "uid 0 (root)")
                decisions.append("queue", queue.decision)
                let replace = try await orchestrator.trigger("nightly", reason: nil, overlap: .replace, requestID: "c", by: "uid 0 (root)")
                decisions.append("replace", replace.decision)
                let again = try await orchestrator.trigger("nightly", reason: nil, overlap: .replace, requestID: "c", by: "uid 0 (root)")
                decisions.append("retry", again.decision)
                _ = try await orchestrator.pause("other", until: nil, reason: nil, by: "uid 0 (root)")
                let paused = try await orchestrator.trigger("other", reason: nil, overlap: nil, requestID: "d", by: "uid 0 (root)")
                decisions.append("paused", paused.decision)
            }),
        ])
        #expect(thrown == nil)
        let d = decisions.all
        #expect(d["skip"]?.outcome == .skipped && d["skip"]?.text.hasPrefix("not started: overlap") == true, "\(d)")
        #expect(d["queue"]?.outcome == .queued && d["queue"]?.text.contains("queued behind the running build") == true, "\(d)")
        #expect(d["replace"]?.outcome == .replacing && d["replace"]?.text.contains("cancelling the running build") == true, "\(d)")
        #expect(d["replace"]?.text.contains("queued") == false, "\(d)")
        #expect(d["retry"]?.outcome == .duplicate, "\(d)")
        #expect(d["paused"]?.outcome == .started && d["paused"]?.text.contains("paused") == true, "\(d)")
        // The replace really cancelled the running build.
        #expect(try world.records().contains { if case .cancelRequested(_, .replace, _) = $0 { true } else { false } })
    }

    /// The trigger's and the cancel's `--reason` reach `history` and `history --json` (new keys).
    @Test func triggerAndCancelReasonsReachHistory() async throws {
        let world = try World(yaml: """
            defaults: { poll: { initial: 30s, max: 1m, multiplier: 2 } }
            schedules:
            \(Self.schedule("nightly", "golden", "0 2 * * *"))
            """, templates: ["golden": FakeARM.Template(buildMinutes: 60)])
        let thrown = try await world.run(until: Self.date(30), steps: [
            (Self.date(1), { _ = try await $0.trigger("nightly", reason: "CVE-2027-0001", overlap: nil, requestID: "t1", by: "uid 1000 (alice)") }),
            (Self.date(5), { _ = try await $0.cancel("nightly", reason: "wrong base image", by: "uid 1001 (bob)") }),
        ])
        #expect(thrown == nil)
        let run = try #require(try world.history().first)
        #expect(run.outcome == .canceled)
        #expect(run.trigger?.reason == "CVE-2027-0001")
        #expect(run.cancelReason == .operator && run.cancelRequest == CancelRequest(requestedBy: "uid 1001 (bob)", note: "wrong base image"))
        let json = HistoryJSON.object(run)
        #expect(json.contains(#""trigger_reason": "CVE-2027-0001""#), "\(json)")
        #expect(json.contains(#""cancel_requested_by": "uid 1001 (bob)""#) && json.contains(#""cancel_note": "wrong base image""#), "\(json)")
        #expect(json.contains(#""cancel_reason": "operator""#))
    }
}

/// Decisions collected from inside a step, read after the run.
final class DecisionLog: Sendable {
    private let decisions = Mutex<[String: Orchestrator.TriggerDecision]>([:])
    func append(_ name: String, _ decision: Orchestrator.TriggerDecision) { decisions.withLock { $0[name] = decision } }
    var all: [String: Orchestrator.TriggerDecision] { decisions.withLock { $0 } }
}
