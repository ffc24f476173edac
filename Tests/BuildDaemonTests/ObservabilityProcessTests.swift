import AzureSimulator
import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Subprocess
import Synchronization
import Testing

/// Metrics, stale detection and webhooks as a user meets them: the real binary, the simulator, a
/// scrape over HTTP, Debian's promtool, and a webhook receiver on loopback.
@Suite(.serialized) struct ObservabilityProcessTests {
    static func scrape(_ port: Int) async -> String? {
        guard let (data, response) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!),
              (response as? HTTPURLResponse)?.statusCode == 200 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// `name{labels} value` lines as [series: value].
    static func samples(_ exposition: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            result[String(line[..<space])] = value
        }
        return result
    }

    static func promtool(_ exposition: String) async throws -> (Bool, String) {
        let result = try await Subprocess.run(.name("promtool"), arguments: ["check", "metrics"], input: .string(exposition),
                                              output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        return (result.terminationStatus.isSuccess, result.standardOutput + result.standardError)
    }

    /// Successes, failures and timeouts, then a scrape: every per-schedule value equals what
    /// `history --json` says; a restarted daemon shows the same facts; promtool accepts both the
    /// scrape and the textfile.
    @Test func metricsMatchHistoryAndSurviveARestart() async throws {
        // 1.5 s of real time before the first slot (600x): a daemon starting beside thirty other test
        // processes can take most of a second.
        let h = try await DaemonHarness.start(origin: "2027-03-01T00:45:00Z", scale: 600, templates: [
            SeedTemplate(name: "good", behavior: DaemonTests.behavior(.succeed, minutes: 1)),
            SeedTemplate(name: "bad", behavior: DaemonTests.behavior(.fail, minutes: 1)),
            SeedTemplate(name: "hang", behavior: DaemonTests.behavior(.hang, minutes: 5)),
            // Tagged with a cron that does not parse: discovery's error series has a reason to show.
            SeedTemplate(name: "tagged", tags: ["imagebuildd.cron": "61 * * * *"]),
        ])
        defer { Task { try await h.stop() } }
        // A receiver, so that the notification series exist too (the dashboard queries every family).
        let receiver = WebhookReceiver()
        try await receiver.start()
        defer { Task { try await receiver.stop() } }
        let port = try freePort()
        let textfile = h.directory + "/imagebuildd.prom"
        try h.writeConfig("""
            metrics: { listen: "127.0.0.1:\(port)", textfile: \(textfile), textfile_interval: 1s }
            notify: [{ url: "\(receiver.url)", events: [failed] }]
            discover: [{ subscription_id: \(DaemonHarness.subscription), resource_group: images }]
            defaults: { poll: { initial: 1m, max: 2m, multiplier: 2 }, cancel_wait: 10m }
            schedules:
            \(DaemonHarness.schedule("good", template: "good", cron: "0 1-3 * * *"))
            \(DaemonHarness.schedule("bad", template: "bad", cron: "0 1-3 * * *", extra: "stale_after: 90m"))
            \(DaemonHarness.schedule("hang", template: "hang", cron: "0 1-3 * * *", extra: "build_timeout: 10m"))
            """)
        let scraped = Mutex<String?>(nil)
        let statusText = Mutex<String>("")
        let (status, log) = try await h.runDaemon { send in
            try await Task.sleep(for: h.realDelay(until: DaemonTests.date("2027-03-01T03:45:00Z")))
            let text = await Self.scrape(port)
            scraped.withLock { $0 = text }
            let shown = try await ControlTests.cli(h, ["status"])
            statusText.withLock { $0 = shown.stdout }
            try send(.terminate)
        }
        // `status` and its STATUS= line mark the stale schedule.
        let shown = statusText.withLock { $0 }
        #expect(shown.split(separator: "\n").first?.contains("STALE: bad") == true, "\(shown)")
        // Stale 90 minutes after the schedule was first seen (the daemon's start, on the 600x clock).
        let seen = try #require(try await h.records("schedule-seen", schedule: "bad").first?["at"] as? Int64)
        let minutes = [0.0, 1.0].map { String(RFC3339Minute.format(Date(timeIntervalSince1970: Double(seen) / 1000 + 90 * 60 + $0))) }
        let badLine = shown.split(separator: "\n").first { $0.hasPrefix("bad ") } ?? ""
        #expect(minutes.contains { badLine.contains("STALE since " + $0) }, "\(minutes) in \(shown)")
        #expect(shown.split(separator: "\n").first { $0.hasPrefix("good ") }?.contains("STALE") == false, "\(shown)")
        #expect(status.isSuccess, "\(log)")
        let exposition = try #require(scraped.withLock { $0 }, "no scrape answered on port \(port):\n\(log)")
        let (ok, problems) = try await Self.promtool(exposition)
        #expect(ok, "promtool check metrics: \(problems)")
        let values = Self.samples(exposition)
        let history = try await h.history()
        #expect(history.count == 9, "\(history)")
        for schedule in ["good", "bad", "hang"] {
            let runs = history.filter { $0["schedule"] as? String == schedule }
            for outcome in Set(runs.compactMap { $0["outcome"] as? String }) {
                let count = runs.filter { $0["outcome"] as? String == outcome }.count
                #expect(values["imagebuildd_runs_total{schedule=\"\(schedule)\",outcome=\"\(outcome)\"}"] == Double(count), "\(schedule) \(outcome)")
            }
            // history --json prints milliseconds; the metric is the same instant in seconds.
            func same(_ metric: Double?, _ instant: Date?) -> Bool {
                guard let metric, let instant else { return metric == nil && instant == nil }
                return abs(metric - instant.timeIntervalSince1970) < 0.0015
            }
            let finished = runs.compactMap { ($0["finished_at"] as? String).map(DaemonTests.date) }.max()
            let lastRun = values["imagebuildd_schedule_last_run_timestamp_seconds{schedule=\"\(schedule)\"}"]
            #expect(finished != nil && same(lastRun, finished), "\(schedule): \(String(describing: lastRun)) \(String(describing: finished))")
            let success = runs.filter { $0["outcome"] as? String == "succeeded" }.compactMap { ($0["finished_at"] as? String).map(DaemonTests.date) }.max()
            let lastSuccess = values["imagebuildd_schedule_last_success_timestamp_seconds{schedule=\"\(schedule)\"}"]
            #expect(same(lastSuccess, success), "\(schedule): \(String(describing: lastSuccess)) \(String(describing: success))")
        }
        #expect(Set(history.compactMap { $0["outcome"] as? String }) == ["succeeded", "failed", "timedOut"])
        #expect(values["imagebuildd_schedule_stale{schedule=\"bad\"}"] == 1 && values["imagebuildd_schedule_stale{schedule=\"good\"}"] == 0)
        #expect(values["imagebuildd_arm_requests_total{operation=\"Run\",code=\"202\"}"] == 9)
        #expect((values["imagebuildd_journal_appends_total"] ?? 0) > 40)
        #expect(values["imagebuildd_run_duration_seconds_count{schedule=\"good\"}"] == 3)
        #expect(values["imagebuildd_discovery_errors{reason=\"cron\"}"] == 1)
        // Every metric the Grafana dashboard queries is in a real scrape.
        for name in try DashboardTests.metricNames(DashboardTests.dashboard()).sorted() {
            #expect(exposition.contains("# TYPE \(name) "), "the dashboard queries \(name), which the daemon does not export")
        }
        #expect(log.contains("bad (bad) is stale: no successful build since it was added"), "\(log)")
        // The textfile is complete and valid whenever node_exporter reads it.
        let file = try String(contentsOfFile: textfile, encoding: .utf8)
        #expect(try await Self.promtool(file).0)
        #expect(!FileManager.default.fileExists(atPath: textfile + ".tmp"))

        // A new process: the journal's facts are back before the first slot.
        let again = Mutex<String?>(nil)
        let (status2, log2) = try await h.runDaemon { send in
            _ = await eventually(within: 10) {
                let text = await Self.scrape(port)
                again.withLock { $0 = text }
                return text != nil
            }
            try send(.terminate)
        }
        #expect(status2.isSuccess, "\(log2)")
        let after = Self.samples(try #require(again.withLock { $0 }))
        for (series, value) in values where series.hasPrefix("imagebuildd_runs_total") || series.hasPrefix("imagebuildd_schedule_last_")
            || series.hasPrefix("imagebuildd_schedule_stale") {
            #expect(after[series] == value, "\(series) after a restart")
        }
    }
}

/// `2027-03-01 02:25`, as `status` prints an instant (UTC).
enum RFC3339Minute {
    static func format(_ date: Date) -> String {
        let text = ISO8601DateFormatter().string(from: date)
        return String(text.prefix(16)).replacingOccurrences(of: "T", with: " ")
    }
}

/// Webhooks through a failing receiver, a SIGKILL with notifications owed, and an outage longer
/// than `retry_for`.
@Suite(.serialized) struct WebhookProcessTests {
    static let secret = "hook-secret"

    func configure(_ h: DaemonHarness, _ receiver: WebhookReceiver, retryFor: String) throws {
        try h.writeConfig("""
            notify:
              - url: "\(receiver.url)"
                events: [failed, stale]
                secret_file: \(h.directory)/webhook-secret
                retry_for: \(retryFor)
            defaults: { poll: { initial: 1m, max: 2m, multiplier: 2 } }
            schedules:
            \(DaemonHarness.schedule("bad", template: "bad", cron: "*/20 * * * *", extra: "stale_after: 30m"))
            """)
    }

    @Test func everyEventArrivesAtLeastOnceUnderOneKeyAndTheDaemonNeverWaitsForIt() async throws {
        let h = try await DaemonHarness.start(origin: "2027-03-01T00:55:00Z", scale: 600, templates: [
            SeedTemplate(name: "bad", behavior: DaemonTests.behavior(.fail, minutes: 0.5)),
        ])
        defer { Task { try await h.stop() } }
        try Data((Self.secret + "\n").utf8).write(to: URL(fileURLWithPath: h.directory + "/webhook-secret"))
        let receiver = WebhookReceiver()
        try await receiver.start()
        defer { Task { try await receiver.stop() } }
        var logs = ""

        // 1. The receiver answers 500 for a while, then takes everything.
        try configure(h, receiver, retryFor: "2h")
        receiver.answer(500)
        let (status1, log1) = try await h.runDaemon { send in
            _ = await eventually(within: 20) { receiver.deliveries.count >= 3 }
            receiver.answer(200)
            try await Task.sleep(for: h.realDelay(until: DaemonTests.date("2027-03-01T01:50:00Z")))
            try send(.terminate)
        }
        logs += log1
        #expect(status1.isSuccess, "\(log1)")
        #expect(receiver.deliveries.prefix(3).allSatisfy { $0.answered == 500 })

        // 2. SIGKILL while a notification is owed: the next start sends it again, same key.
        receiver.answer(500)
        let owedKey = Mutex<String?>(nil)
        let (status2, log2) = try await h.runDaemon { send in
            let seen = Set(receiver.deliveries.map(\.key))
            _ = await eventually(within: 20) {
                let fresh = receiver.deliveries.first { !seen.contains($0.key) && $0.answered == 500 }
                owedKey.withLock { $0 = fresh?.key }
                return fresh != nil
            }
            try send(.kill)
        }
        logs += log2
        #expect(status2 == .signaled(9))
        let owed = try #require(owedKey.withLock { $0 }, "no notification was owed at the kill")
        receiver.answer(200)
        let (status3, log3) = try await h.runDaemon { send in
            _ = await eventually(within: 20) { receiver.deliveries.contains { $0.key == owed && $0.answered == 200 } }
            try send(.terminate)
        }
        logs += log3
        #expect(status3.isSuccess, "\(log3)")
        #expect(receiver.deliveries.contains { $0.key == owed && $0.answered == 200 }, "\(owed) was not resent after the SIGKILL")

        // 3. The receiver is down for longer than retry_for: those notifications are given up on
        // (and journaled so); the ones after it comes back arrive.
        try configure(h, receiver, retryFor: "10m")
        try await receiver.stop()
        let (status4, log4) = try await h.runDaemon { send in
            _ = await eventually(within: 30) { (try? await h.journalRecords("notify-done").contains { $0["delivered"] == nil }) ?? false }
            try await receiver.start()
            let seen = Set(receiver.deliveries.map(\.key))
            _ = await eventually(within: 30) { receiver.deliveries.contains { !seen.contains($0.key) && $0.answered == 200 } }
            try send(.terminate)
        }
        logs += log4
        #expect(status4.isSuccess, "\(log4)")

        // 4. What was still owed at that stop (in backoff when the receiver came back) is resumed by the next start.
        let doneBefore = Set(try await h.journalRecords("notify-done").compactMap { $0["key"] as? String })
        let owedBefore = Set(try await h.journalRecords("notify-queued").compactMap { $0["key"] as? String }).subtracting(doneBefore)
        let (status5, log5) = try await h.runDaemon { send in
            // Ready (its signal handlers in place) once the control socket answers.
            _ = try await ControlTests.until(h, ["status"]) { $0.status == .exited(0) }
            _ = await eventually(within: 20) { owedBefore.isSubset(of: Set(receiver.deliveries.filter { $0.answered == 200 }.map(\.key))) }
            try send(.terminate)
        }
        logs += log5
        #expect(status5.isSuccess, "\(log5)")
        #expect(owedBefore.isSubset(of: Set(receiver.deliveries.filter { $0.answered == 200 }.map(\.key))), "not resumed: \(owedBefore)")

        // Exactly the expected events: one per failed run and one stale, each under its own key;
        // every one delivered except those given up on during the outage.
        let history = try await h.history(schedule: "bad")
        let failedSlots = history.filter { $0["outcome"] as? String == "failed" }.compactMap { $0["slot"] as? String }.map(DaemonTests.date)
        let expected = Set(failedSlots.map { "bad@\(Int64(($0.timeIntervalSince1970 * 1000).rounded()))/failed" })
        let intents = try await h.journalRecords("notify-queued")
        let queuedKeys = Set(intents.compactMap { $0["key"] as? String })
        #expect(queuedKeys.subtracting(expected).filter { !$0.hasPrefix("bad/stale/") }.isEmpty, "\(queuedKeys.subtracting(expected))")
        #expect(expected.isSubset(of: queuedKeys), "\(expected.subtracting(queuedKeys))")
        #expect(queuedKeys.filter { $0.hasPrefix("bad/stale/") }.count == 1)
        let done = try await h.journalRecords("notify-done")
        let abandoned = Set(done.filter { $0["delivered"] == nil }.compactMap { $0["key"] as? String })
        let delivered = Set(receiver.deliveries.filter { $0.answered == 200 }.map(\.key))
        // Still owed at the last stop: journaled, not done, resumed by the next start (as in step 4).
        let stillOwed = queuedKeys.subtracting(Set(done.compactMap { $0["key"] as? String }))
        #expect(!abandoned.isEmpty)
        #expect(delivered.union(abandoned).union(stillOwed) == queuedKeys,
                "neither delivered, given up nor owed: \(queuedKeys.subtracting(delivered).subtracting(abandoned).subtracting(stillOwed))")
        #expect(delivered.isSubset(of: queuedKeys))
        #expect(abandoned.isDisjoint(with: delivered))
        // Every attempt of one key carries the same body and a valid signature.
        for (key, attempts) in Dictionary(grouping: receiver.deliveries, by: \.key) {
            #expect(Set(attempts.map(\.body)).count == 1, "\(key)")
            for attempt in attempts {
                let mac = HMAC<SHA256>.authenticationCode(for: attempt.body, using: SymmetricKey(data: Array(Self.secret.utf8)))
                #expect(attempt.headers["x-imagebuildd-signature"] == "sha256=" + mac.map { String(format: "%02x", $0) }.joined(), "\(key)")
            }
            let json = attempts[0].json
            #expect(json["event"] as? String == (key.hasSuffix("/failed") ? "failed" : "stale"))
            #expect((json["text"] as? String)?.hasPrefix("imagebuildd: ") == true)
            #expect(json["schedule"] as? String == "bad" && json["template"] as? String == "bad")
        }
        // The daemon never waited for a receiver: every slot of the three runs came due and ended.
        let slots = Set(history.compactMap { $0["slot"] as? String })
        #expect(history.allSatisfy { $0["outcome"] as? String == "failed" }, "\(history)")
        #expect(slots.count == history.count && history.count >= 8, "\(history.count) runs")
        #expect(logs.contains("given up"))
        #expect(!logs.contains("tok3n") && !logs.contains("secret-path") && !logs.contains(Self.secret), "a secret or token in the log")
        let perKey = Dictionary(grouping: receiver.deliveries, by: \.key).mapValues(\.count)
        print("webhook deliveries: \(receiver.deliveries.count) POSTs for \(queuedKeys.count) notifications "
              + "(\(delivered.count) delivered, \(abandoned.count) given up); POSTs per notification max \(perKey.values.max() ?? 0)")
    }
}

extension DaemonHarness {
    /// Every journal record of `type`, via `imagebuildd journal dump --json` (safe while the daemon runs).
    func journalRecords(_ type: String) async throws -> [[String: Any]] {
        let output = try await Subprocess.run(.path(binary), arguments: ["journal", "dump", "--state-dir", stateDirectory, "--json"],
                                              environment: environment, output: .string(limit: 64 << 20), error: .string(limit: 1 << 20))
        return output.standardOutput.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["type"] as? String == type }
    }
}
