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
        let stuckAll = try await h.history(schedule: "stuck")
        let stuck = stuckAll.filter { $0["outcome"] as? String != "skipped" }
        // Skipped slots are in the history too, with their reason as the message.
        #expect(stuckAll.filter { $0["outcome"] as? String == "skipped" }.allSatisfy { ($0["message"] as? String)?.contains("OperationNotAllowed") == true })
        #expect(stuck.map { $0["slot"] as? String } == [slots[2]])
        let stuckSkipped = try await h.records("slot-skipped", schedule: "stuck")
        #expect(stuckSkipped.count == 2 && stuckSkipped.allSatisfy { ($0["reason"] as? String)?.contains("OperationNotAllowed") == true }, "\(stuckSkipped)")
        #expect(h.simulator.requests.filter { $0.operation == .run && $0.template == "stuck" }.map(\.status) == [202, 409, 409])
        for name in ["good", "bad", "hang", "stuck"] {
            let runs = try await h.history(schedule: name).filter { $0["outcome"] as? String != "skipped" }
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
}

extension ISO8601DateFormatter {
    /// RFC 3339 with optional fractional seconds, as `history --json` prints instants.
    nonisolated(unsafe) static let withFraction: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}
