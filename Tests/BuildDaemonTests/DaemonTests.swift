import AzureSimulator
import Foundation
import Subprocess
import Testing

/// The daemon binary end to end against the simulator, on a compressed clock.
@Suite(.serialized) struct DaemonTests {
    /// RFC 3339 with or without fractional seconds.
    static func date(_ text: String) -> Date {
        ISO8601DateFormatter().date(from: text) ?? ISO8601DateFormatter.withFraction.date(from: text)!
    }

    /// Phases of `minutes` simulated minutes each.
    static func behavior(_ outcome: TemplateBehavior.Outcome, minutes: Double = 5, cancelMinutes: Double? = 2) -> TemplateBehavior {
        TemplateBehavior(outcome: outcome, phaseSeconds: Array(repeating: minutes * 60, count: 4),
                         failureMessage: "customizer 'patch' exited 3", cancelSeconds: cancelMinutes.map { $0 * 60 })
    }

    @Test func nightlyOverThreeDaysAcrossSpringForwardRunsEachTemplateThreeTimes() async throws {
        // 2027-03-28 is the spring-forward night in Berlin: 02:00 does not exist and runs at 03:00 CEST.
        let h = try await DaemonHarness.start(origin: "2027-03-27T12:00:00Z", scale: 21_600, templates: [
            SeedTemplate(name: "good", runOutputNames: ["managed", "gallery"], behavior: Self.behavior(.succeed)),
            SeedTemplate(name: "bad", behavior: Self.behavior(.fail)),
            SeedTemplate(name: "hang", behavior: Self.behavior(.hang)),
            SeedTemplate(name: "stuck", behavior: Self.behavior(.hang, cancelMinutes: nil)),
        ])
        defer { Task { try await h.stop() } }
        let nightly = "0 2 * * *"
        try h.writeConfig("""
            defaults:
              timezone: Europe/Berlin
              poll: { initial: 2m, max: 10m, multiplier: 2 }
              cancel_wait: 20m
            schedules:
            \(DaemonHarness.schedule("good", template: "good", cron: nightly))
            \(DaemonHarness.schedule("bad", template: "bad", cron: nightly))
            \(DaemonHarness.schedule("hang", template: "hang", cron: nightly, extra: "build_timeout: 1h"))
            \(DaemonHarness.schedule("stuck", template: "stuck", cron: nightly, extra: "build_timeout: 1h"))
            """)
        let (status, log) = try await h.runDaemon(until: Self.date("2027-03-30T04:00:00Z"))
        #expect(status == .exited(0), "daemon log:\n\(log.suffix(3000))")
        let slots = ["2027-03-30T00:00:00Z", "2027-03-29T00:00:00Z", "2027-03-28T01:00:00Z"]
        // A cancel that never completes leaves "stuck" Canceling in Azure: the next nights' Runs get
        // 409 and, with overlap skip, those slots are skipped.
        let stuck = try await h.history(schedule: "stuck")
        #expect(stuck.map { $0["slot"] as? String } == [slots[2]])
        let stuckSkipped = try await h.records("slot-skipped", schedule: "stuck")
        #expect(stuckSkipped.count == 2 && stuckSkipped.allSatisfy { ($0["reason"] as? String)?.contains("OperationNotAllowed") == true }, "\(stuckSkipped)")
        #expect(h.simulator.requests.filter { $0.operation == .run && $0.template == "stuck" }.map(\.status) == [202, 409, 409])
        for name in ["good", "bad", "hang", "stuck"] {
            let runs = try await h.history(schedule: name)
            if name != "stuck" {
                #expect(runs.map { $0["slot"] as? String } == slots, "\(name): \(runs)")
                #expect(h.simulator.count(.run, template: name) == 3, "\(name): Run reached the simulator \(h.simulator.count(.run, template: name)) times")
            }
            for run in runs {
                switch name {
                case "good":
                    #expect(run["outcome"] as? String == "succeeded")
                    let outputs = run["outputs"] as? [[String: Any]] ?? []
                    #expect(Set(outputs.compactMap { $0["name"] as? String }) == ["managed", "gallery"])
                    #expect(outputs.allSatisfy { ($0["artifact_id"] as? String)?.contains("Microsoft.Compute/images/good-") == true })
                case "bad":
                    #expect(run["outcome"] as? String == "failed" && run["message"] as? String == "customizer 'patch' exited 3")
                case "hang":
                    #expect(run["outcome"] as? String == "timedOut" && run["cancel_requested_at"] is String)
                    #expect(run["last_run_state"] as? String == "Canceled")
                default:
                    #expect(run["outcome"] as? String == "timedOut")
                    #expect((run["message"] as? String)?.contains("cancel_wait") == true && run["last_run_state"] as? String == "Canceling")
                }
                #expect(run["started_at"] is String && run["ended_at"] is String && run["requested_at"] is String)
            }
        }
        // Timeouts count from the build's start: cancel at start + 1h (polls are at most 10m apart).
        for run in try await h.history(schedule: "hang") {
            let started = Self.date(run["started_at"] as! String)
            let cancelled = Self.date(run["cancel_requested_at"] as! String)
            #expect(cancelled.timeIntervalSince(started) >= 3600 && cancelled.timeIntervalSince(started) <= 3600 + 11 * 60)
        }
    }

    @Test func throttlingAndServerErrorStormsStillReachTheRightEnd() async throws {
        let storm = [
            FaultRule(.status(429, retryAfterSeconds: 0), on: .get, count: 25),
            FaultRule(.status(503, retryAfterSeconds: nil), on: nil, count: 15),
            FaultRule(.status(503, retryAfterSeconds: nil), on: .run, count: 2),
            FaultRule(.status(429, retryAfterSeconds: 1), on: .run, count: 1),
            FaultRule(.dropAfterProcessing, on: .run, count: 1),
        ]
        let h = try await DaemonHarness.start(origin: "2027-01-01T00:00:00Z", scale: 3600, templates: [
            SeedTemplate(name: "good", behavior: Self.behavior(.succeed, minutes: 3)),
            SeedTemplate(name: "bad", behavior: Self.behavior(.fail, minutes: 3)),
        ], faults: storm)
        defer { Task { try await h.stop() } }
        try h.writeConfig("""
            defaults:
              poll: { initial: 1m, max: 2m, multiplier: 2 }
            schedules:
            \(DaemonHarness.schedule("good", template: "good", cron: "0 * * * *"))
            \(DaemonHarness.schedule("bad", template: "bad", cron: "30 * * * *"))
            """)
        let (status, log) = try await h.runDaemon(until: Self.date("2027-01-01T03:50:00Z"))
        #expect(status == .exited(0), "daemon log:\n\(log.suffix(3000))")
        let good = try await h.history(schedule: "good")
        let bad = try await h.history(schedule: "bad")
        #expect(good.count == 3 && good.allSatisfy { $0["outcome"] as? String == "succeeded" }, "\(good)")
        #expect(bad.count == 4 && bad.allSatisfy { $0["outcome"] as? String == "failed" && $0["message"] as? String == "customizer 'patch' exited 3" }, "\(bad)")
        // Ambiguous Runs were reconciled, not repeated: one build per slot.
        let builds = h.simulator.requests.filter { $0.operation == .run && ($0.status == 202 || $0.status == nil) }
        #expect(builds.count == 7, "builds started: \(builds.count)")
        #expect(h.simulator.requests.contains { $0.status == 429 } && h.simulator.requests.contains { $0.status == 503 })
    }

    @Test func overlapPoliciesSkipQueueAndReplace() async throws {
        // Hourly slots, 80-minute builds: every slot finds the previous build still running.
        let h = try await DaemonHarness.start(origin: "2027-01-01T00:00:00Z", scale: 3600, templates: [
            SeedTemplate(name: "skip", behavior: Self.behavior(.succeed, minutes: 20)),
            SeedTemplate(name: "queue", behavior: Self.behavior(.succeed, minutes: 20)),
            SeedTemplate(name: "replace", behavior: Self.behavior(.succeed, minutes: 20, cancelMinutes: 1)),
        ])
        defer { Task { try await h.stop() } }
        try h.writeConfig("""
            defaults:
              poll: { initial: 1m, max: 2m, multiplier: 2 }
            schedules:
            \(DaemonHarness.schedule("skip", template: "skip", cron: "0 * * * *", extra: "overlap: skip"))
            \(DaemonHarness.schedule("queue", template: "queue", cron: "0 * * * *", extra: "overlap: queue"))
            \(DaemonHarness.schedule("replace", template: "replace", cron: "0 * * * *", extra: "overlap: replace"))
            """)
        let (status, log) = try await h.runDaemon(until: Self.date("2027-01-01T04:30:00Z"))
        #expect(status == .exited(0), "daemon log:\n\(log.suffix(3000))")

        let skipRuns = try await h.history(schedule: "skip").map { $0["slot"] as? String }
        // 01:00 runs until 02:20, so 02:00 is skipped; 03:00 runs, 04:00 is skipped.
        #expect(skipRuns == ["2027-01-01T03:00:00Z", "2027-01-01T01:00:00Z"], "\(skipRuns)")
        let skipped = try await h.records("slot-skipped", schedule: "skip").count
        #expect(skipped == 2, "skip: \(skipped) slots skipped")

        let queued = try await h.history(schedule: "queue")
        let queueSkipped = try await h.records("slot-skipped", schedule: "queue")
        #expect(queued.count == 4 && queueSkipped.isEmpty, "queue: \(queued.map { $0["slot"] ?? "" })")
        // Each queued build starts when the previous one ends, never alongside it.
        let intervals = queued.compactMap { run -> (Date, Date)? in
            guard let s = run["started_at"] as? String, let e = run["ended_at"] as? String else { return nil }
            return (Self.date(s), Self.date(e))
        }.sorted { $0.0 < $1.0 }
        #expect(zip(intervals, intervals.dropFirst()).allSatisfy { $0.1 <= $1.0 })

        let replaced = try await h.history(schedule: "replace")
        #expect(replaced.count == 4, "replace: \(replaced.map { $0["slot"] ?? "" })")
        #expect(replaced.dropFirst().allSatisfy { $0["outcome"] as? String == "canceled" && $0["cancel_reason"] as? String == "replace" })
        #expect(h.simulator.count(.cancel, template: "replace") == 3)
    }

    @Test func afterDowntimeOnlyTheLatestMissedSlotRuns() async throws {
        let h = try await DaemonHarness.start(origin: "2027-01-01T00:00:00Z", scale: 3600, templates: [
            SeedTemplate(name: "hourly", behavior: Self.behavior(.succeed, minutes: 2)),
        ])
        defer { Task { try await h.stop() } }
        try h.writeConfig("""
            defaults:
              catch_up: 3h
              poll: { initial: 1m, max: 2m, multiplier: 2 }
            schedules:
            \(DaemonHarness.schedule("hourly", template: "hourly", cron: "0 * * * *"))
            """)
        var (status, log) = try await h.runDaemon(until: Self.date("2027-01-01T01:30:00Z"))
        #expect(status == .exited(0), "\(log.suffix(2000))")
        // Down from 01:30 to 06:20: slots 02:00 ... 06:00 are missed; only 06:00 runs.
        try await Task.sleep(for: h.realDelay(until: Self.date("2027-01-01T06:20:00Z")))
        (status, log) = try await h.runDaemon(until: Self.date("2027-01-01T06:50:00Z"))
        #expect(status == .exited(0), "\(log.suffix(2000))")
        let slots = try await h.history(schedule: "hourly").map { $0["slot"] as? String }
        #expect(slots == ["2027-01-01T06:00:00Z", "2027-01-01T01:00:00Z"], "\(slots)")
        #expect(log.contains("running the latest missed slot"))
    }

    @Test func sigkillAtRandomMomentsNeverDoublesOrLosesARun() async throws {
        // Slots every 10 simulated minutes, 4-minute builds; some Run answers are lost on the way back.
        let h = try await DaemonHarness.start(origin: "2027-01-01T00:00:00Z", scale: 1800, templates: [
            SeedTemplate(name: "a", behavior: Self.behavior(.succeed, minutes: 1)),
            SeedTemplate(name: "b", behavior: Self.behavior(.fail, minutes: 1)),
        ], faults: [FaultRule(.dropAfterProcessing, on: .run, count: 3)])
        defer { Task { try await h.stop() } }
        try h.writeConfig("""
            defaults:
              poll: { initial: 30s, max: 1m, multiplier: 2 }
            schedules:
            \(DaemonHarness.schedule("a", template: "a", cron: "*/10 * * * *"))
            \(DaemonHarness.schedule("b", template: "b", cron: "5-59/10 * * * *"))
            """)
        var kills = 0
        for _ in 0..<30 {
            let (status, _) = try await h.runDaemon { send in
                try await Task.sleep(for: .milliseconds(Int.random(in: 50...600)))
                try send(.kill)
            }
            if status == .signaled(SIGKILL) { kills += 1 }
        }
        // A last, graceful run with no slot due adopts whatever is still open and lets it finish.
        try h.writeConfig("""
            defaults:
              poll: { initial: 30s, max: 1m, multiplier: 2 }
            schedules:
            \(DaemonHarness.schedule("a", template: "a", cron: "0 0 1 1 *"))
            \(DaemonHarness.schedule("b", template: "b", cron: "0 0 1 1 *"))
            """)
        let end = h.now.addingTimeInterval(60 * 60)
        let (status, log) = try await h.runDaemon(until: end)
        #expect(status == .exited(0), "\(log.suffix(2000))")
        #expect(kills >= 30)
        for name in ["a", "b"] {
            let runs = try await h.history(schedule: name)
            let started = runs.filter { $0["accepted_at"] is String }
            let builds = h.simulator.requests.filter { $0.operation == .run && $0.template == name && ($0.status == 202 || $0.status == nil) }.count
            let attempts = h.simulator.count(.run, template: name)
            #expect(builds == started.count, "\(name): \(builds) builds in Azure for \(started.count) slots with a run")
            #expect(attempts == builds, "\(name): \(attempts) Run requests, \(builds) builds (a 409 means a second Run for a slot)")
            #expect(Set(runs.compactMap { $0["slot"] as? String }).count == runs.count)
            let open = runs.filter { $0["outcome"] is NSNull || $0["outcome"] == nil }
            #expect(open.isEmpty, "\(name): runs without a final state: \(open.map { $0["slot"] ?? "" })")
        }
        print("daemon crash test: \(kills) SIGKILLs, \(h.simulator.count(.run)) Run requests")
    }

    @Test func sighupWithABrokenConfigKeepsTheOldOne() async throws {
        let h = try await DaemonHarness.start(origin: "2027-01-01T00:00:00Z", scale: 600, templates: [
            SeedTemplate(name: "t", behavior: Self.behavior(.succeed, minutes: 1)),
        ])
        defer { Task { try await h.stop() } }
        let good = """
            schedules:
            \(DaemonHarness.schedule("t", template: "t", cron: "*/5 * * * *"))
            """
        try h.writeConfig(good)
        let config = h.configPath
        let (status, log) = try await h.runDaemon { send in
            try await Task.sleep(for: .seconds(1))
            try Data("schedules:\n  - name: [unclosed\n".utf8).write(to: URL(fileURLWithPath: config))
            try send(Signal(rawValue: SIGHUP))
            try await Task.sleep(for: .seconds(2))
            try send(.terminate)
        }
        #expect(status == .exited(0), "\(log.suffix(2000))")
        #expect(log.contains("configuration rejected, keeping the previous one") && log.contains("config.yaml:3:1: invalid YAML"))
        // The old schedule kept firing after the rejected reload (every 5 simulated minutes = 0.5 s).
        let runs = try await h.history(schedule: "t")
        #expect(runs.count >= 4)
    }

    @Test func maxConcurrentBuildsHoldsSlotsAsQueued() async throws {
        let h = try await DaemonHarness.start(origin: "2027-01-01T00:00:00Z", scale: 3600, templates: [
            SeedTemplate(name: "one", behavior: Self.behavior(.succeed, minutes: 3)),
            SeedTemplate(name: "two", behavior: Self.behavior(.succeed, minutes: 3)),
            SeedTemplate(name: "three", behavior: Self.behavior(.succeed, minutes: 3)),
        ])
        defer { Task { try await h.stop() } }
        try h.writeConfig("""
            defaults:
              poll: { initial: 1m, max: 2m, multiplier: 2 }
              max_concurrent_builds: 1
            schedules:
            \(DaemonHarness.schedule("one", template: "one", cron: "0 * * * *"))
            \(DaemonHarness.schedule("two", template: "two", cron: "0 * * * *"))
            \(DaemonHarness.schedule("three", template: "three", cron: "0 * * * *"))
            """)
        let (status, log) = try await h.runDaemon(until: Self.date("2027-01-01T01:50:00Z"))
        #expect(status == .exited(0), "\(log.suffix(2000))")
        let runs = try await h.history()
        #expect(runs.count == 3 && runs.allSatisfy { $0["outcome"] as? String == "succeeded" }, "\(runs)")
        var queued = 0
        for name in ["one", "two", "three"] { queued += try await h.records("slot-queued", schedule: name).count }
        #expect(queued == 2)
        let spans = runs.compactMap { run -> (Date, Date)? in
            guard let s = run["started_at"] as? String, let e = run["ended_at"] as? String else { return nil }
            return (Self.date(s), Self.date(e))
        }.sorted { $0.0 < $1.0 }
        #expect(spans.count == 3 && zip(spans, spans.dropFirst()).allSatisfy { $0.1 <= $1.0 }, "never two at once: \(spans)")
    }

    @Test func aLaggingLastRunStatusIsNotMistakenForTheNewRun() async throws {
        // For 20 simulated minutes after Run, ARM still reports the previous build (Succeeded).
        var lagging = Self.behavior(.succeed, minutes: 5)
        lagging.statusLagSeconds = 20 * 60
        let h = try await DaemonHarness.start(origin: "2027-01-01T00:00:00Z", scale: 3600, templates: [SeedTemplate(name: "lag", behavior: lagging)])
        defer { Task { try await h.stop() } }
        try h.writeConfig("""
            defaults:
              poll: { initial: 1m, max: 2m, multiplier: 2 }
            schedules:
            \(DaemonHarness.schedule("lag", template: "lag", cron: "0 * * * *"))
            """)
        let (status, log) = try await h.runDaemon(until: Self.date("2027-01-01T03:50:00Z"))
        #expect(status == .exited(0), "\(log.suffix(2000))")
        let runs = try await h.history()
        #expect(runs.count == 3 && runs.allSatisfy { $0["outcome"] as? String == "succeeded" }, "\(runs)")
        for run in runs {
            let requested = Self.date(run["requested_at"] as! String)
            let started = Self.date(run["started_at"] as! String)
            // Each run's state is its own build's: started after its request, ended 20 minutes later.
            #expect(started >= requested.addingTimeInterval(-60), "\(run)")
            #expect(Self.date(run["ended_at"] as! String).timeIntervalSince(started) >= 20 * 60 - 1, "\(run)")
        }
    }
}

extension ISO8601DateFormatter {
    /// RFC 3339 with optional fractional seconds, as `history --json` prints instants.
    nonisolated(unsafe) static let withFraction: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}
