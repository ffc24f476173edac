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
        let h = try await DaemonHarness.start(origin: "2027-03-01T00:55:00Z", scale: 600, templates: [
            SeedTemplate(name: "good", behavior: DaemonTests.behavior(.succeed, minutes: 1)),
            SeedTemplate(name: "bad", behavior: DaemonTests.behavior(.fail, minutes: 1)),
            SeedTemplate(name: "hang", behavior: DaemonTests.behavior(.hang, minutes: 5)),
        ])
        defer { Task { try await h.stop() } }
        let port = try freePort()
        let textfile = h.directory + "/imagebuildd.prom"
        try h.writeConfig("""
            metrics: { listen: "127.0.0.1:\(port)", textfile: \(textfile), textfile_interval: 1s }
            defaults: { poll: { initial: 1m, max: 2m, multiplier: 2 }, cancel_wait: 10m }
            schedules:
            \(DaemonHarness.schedule("good", template: "good", cron: "0 1-3 * * *"))
            \(DaemonHarness.schedule("bad", template: "bad", cron: "0 1-3 * * *", extra: "stale_after: 90m"))
            \(DaemonHarness.schedule("hang", template: "hang", cron: "0 1-3 * * *", extra: "build_timeout: 10m"))
            """)
        let scraped = Mutex<String?>(nil)
        let (status, log) = try await h.runDaemon { send in
            try await Task.sleep(for: h.realDelay(until: DaemonTests.date("2027-03-01T03:45:00Z")))
            scraped.withLock { _ = $0 }
            let text = await Self.scrape(port)
            scraped.withLock { $0 = text }
            try send(.terminate)
        }
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
            let finished = runs.compactMap { ($0["finished_at"] as? String).map(DaemonTests.date) }.max()
            #expect(values["imagebuildd_schedule_last_run_timestamp_seconds{schedule=\"\(schedule)\"}"] == finished?.timeIntervalSince1970, "\(schedule)")
            let success = runs.filter { $0["outcome"] as? String == "succeeded" }.compactMap { ($0["finished_at"] as? String).map(DaemonTests.date) }.max()
            #expect(values["imagebuildd_schedule_last_success_timestamp_seconds{schedule=\"\(schedule)\"}"] == success?.timeIntervalSince1970, "\(schedule)")
        }
        #expect(Set(history.compactMap { $0["outcome"] as? String }) == ["succeeded", "failed", "timedOut"])
        #expect(values["imagebuildd_schedule_stale{schedule=\"bad\"}"] == 1 && values["imagebuildd_schedule_stale{schedule=\"good\"}"] == 0)
        #expect(values["imagebuildd_arm_requests_total{operation=\"Run\",code=\"202\"}"] == 9)
        #expect((values["imagebuildd_journal_appends_total"] ?? 0) > 40)
        #expect(values["imagebuildd_run_duration_seconds_count{schedule=\"good\"}"] == 3)
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
