import Transport
import Foundation
import JobJournal
import Observability
import Orchestration
import Testing

/// The exposition as Prometheus reads it: names, values from the journal's facts, and the real
/// `promtool check metrics`.
@Suite struct DaemonMetricsTests {
    static let t0 = Date(timeIntervalSince1970: 1_798_761_600)

    static func row(_ name: String, runs: [RunOutcome: Int], lastSuccess: Date?, stale: Bool = false, paused: Bool = false) -> ScheduleRow {
        var facts = ScheduleFacts()
        facts.firstSeen = t0
        facts.lastRun = t0.addingTimeInterval(3600)
        facts.lastSuccess = lastSuccess
        facts.staleSince = stale ? t0.addingTimeInterval(7200) : nil
        facts.runs = runs
        return ScheduleRow(
            name: name, target: BuildTarget(subscriptionID: "00000000-0000-0000-0000-000000000000", resourceGroup: "images", template: name + "-tmpl"),
            cron: "0 2 * * MON-FRI", timezone: "Europe/Berlin", next: t0.addingTimeInterval(86_400), facts: facts, paused: paused)
    }

    static func lines(_ metrics: DaemonMetrics) -> [String] {
        String(decoding: metrics.render(), as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test func factsBecomeSeriesAndCountersOnlyMoveForward() throws {
        let metrics = DaemonMetrics()
        var inputs = DaemonMetrics.Inputs()
        inputs.armRequests = [.init(operation: "Run", code: "202"): 3, .init(operation: "Get", code: "429"): 2, .init(operation: "Get", code: "transport"): 1]
        inputs.tokenRefreshes = 1
        inputs.notificationsDelivered = ["failed": 2]
        metrics.observeCommit(records: 3, duration: .milliseconds(2))
        metrics.observeRunEnded(schedule: "ubuntu", seconds: 1500)
        metrics.refresh(schedules: [Self.row("ubuntu", runs: [.succeeded: 4, .failed: 1], lastSuccess: Self.t0.addingTimeInterval(1800)),
                                    Self.row("win", runs: [.timedOut: 2], lastSuccess: nil, stale: true, paused: true)],
                        running: 1, waiting: 2, inputs: inputs)
        let text = Self.lines(metrics)
        func has(_ line: String) -> Bool { text.contains(line) }
        #expect(has(#"imagebuildd_schedule_info{schedule="ubuntu",template="ubuntu-tmpl",subscription_id="00000000-0000-0000-0000-000000000000",resource_group="images",cron="0 2 * * MON-FRI",timezone="Europe/Berlin"} 1.0"#), "\(text)")
        #expect(has(#"imagebuildd_schedule_last_success_timestamp_seconds{schedule="ubuntu"} 1798763400.0"#))
        #expect(!text.contains { $0.hasPrefix(#"imagebuildd_schedule_last_success_timestamp_seconds{schedule="win"}"#) }, "absent until a success")
        #expect(has(#"imagebuildd_schedule_last_run_timestamp_seconds{schedule="win"} 1798765200.0"#))
        #expect(has(#"imagebuildd_schedule_next_run_timestamp_seconds{schedule="win"} 1798848000.0"#))
        #expect(has(#"imagebuildd_schedule_stale{schedule="win"} 1.0"#) && has(#"imagebuildd_schedule_stale{schedule="ubuntu"} 0.0"#))
        #expect(has(#"imagebuildd_schedule_paused{schedule="win"} 1.0"#))
        #expect(has(#"imagebuildd_runs_total{schedule="ubuntu",outcome="succeeded"} 4"#) && has(#"imagebuildd_runs_total{schedule="win",outcome="timedOut"} 2"#))
        #expect(has(#"imagebuildd_runs_total{schedule="win",outcome="succeeded"} 0"#), "succeeded and failed exist from the start, for rate()")
        #expect(has(#"imagebuildd_arm_requests_total{operation="Get",code="429"} 2"#) && has("imagebuildd_arm_throttled_total 2"))
        #expect(has("imagebuildd_builds_running 1.0") && has("imagebuildd_slots_waiting 2.0") && has("imagebuildd_token_refreshes_total 1"))
        #expect(has("imagebuildd_journal_appends_total 3") && has("imagebuildd_journal_fsync_seconds_count 1"))
        #expect(has(#"imagebuildd_run_duration_seconds_bucket{schedule="ubuntu",le="1800.0"} 1"#), "\(text.filter { $0.contains("duration") })")
        #expect(has(#"imagebuildd_notifications_total{event="failed",result="delivered"} 2"#))
        #expect(text.contains { $0.hasPrefix("process_resident_memory_bytes ") } && text.contains { $0.hasPrefix("process_cpu_seconds_total ") })
        // The next scrape sees the journal's totals again: counters advance by the difference only.
        metrics.refresh(schedules: [Self.row("ubuntu", runs: [.succeeded: 5, .failed: 1], lastSuccess: Self.t0.addingTimeInterval(5400))],
                        running: 0, waiting: 0, inputs: inputs)
        let again = Self.lines(metrics)
        #expect(again.contains(#"imagebuildd_runs_total{schedule="ubuntu",outcome="succeeded"} 5"#))
        #expect(again.contains(#"imagebuildd_arm_requests_total{operation="Run",code="202"} 3"#))
        #expect(!again.contains { $0.contains(#"schedule="win""#) && !$0.contains("duration") }, "a schedule removed from the config leaves")
    }

    @Test func promtoolAcceptsTheExposition() throws {
        let metrics = DaemonMetrics()
        metrics.observeRunEnded(schedule: "ubuntu", seconds: 900)
        metrics.observeCommit(records: 1, duration: .microseconds(700))
        var inputs = DaemonMetrics.Inputs()
        inputs.armRequests = [.init(operation: "Run", code: "202"): 1]
        inputs.notificationsAbandoned = ["stale": 1]
        metrics.refresh(schedules: [Self.row("ubuntu", runs: [.succeeded: 1], lastSuccess: Self.t0),
                                    Self.row("odd \"name\"\\", runs: [:], lastSuccess: nil)], running: 0, waiting: 0, inputs: inputs)
        let (status, output) = try Promtool.run(["check", "metrics"], input: metrics.render())
        #expect(status == 0, "promtool check metrics:\n\(output)")
    }

    /// Per-schedule lines come from the rows, rendered again only for a schedule whose row changed;
    /// a scrape of unchanged facts renders nothing and writes the same bytes.
    @Test func aScheduleIsRenderedAgainOnlyWhenItsFactsChange() throws {
        let metrics = DaemonMetrics()
        let rows = (0..<100).map { Self.row("s\($0)", runs: [.succeeded: $0], lastSuccess: Self.t0) }
        metrics.refresh(schedules: rows, running: 0, waiting: 0, inputs: .init())
        #expect(metrics.scheduleRenders == 100)
        let first = Self.lines(metrics).filter { $0.contains("schedule=") }
        metrics.refresh(schedules: rows, running: 0, waiting: 0, inputs: .init())
        #expect(metrics.scheduleRenders == 100, "nothing changed, nothing rendered")
        #expect(Self.lines(metrics).filter { $0.contains("schedule=") } == first)
        var changed = rows
        changed[7].facts.runs[.failed] = 1
        changed[42].paused = true
        metrics.refresh(schedules: changed, running: 0, waiting: 0, inputs: .init())
        #expect(metrics.scheduleRenders == 102)
        let text = Self.lines(metrics)
        #expect(text.contains(#"imagebuildd_runs_total{schedule="s7",outcome="failed"} 1"#) && text.contains(#"imagebuildd_schedule_paused{schedule="s42"} 1.0"#))
        // One HELP and TYPE per family, every family's series together (what promtool and Prometheus require).
        #expect(text.filter { $0 == "# TYPE imagebuildd_runs_total counter" }.count == 1)
        let families = text.filter { !$0.hasPrefix("#") }.map { String($0.prefix { $0 != "{" && $0 != " " }) }
        var seen: [String] = []
        for family in families where seen.last != family {
            #expect(!seen.contains(family), "\(family) is split in two")
            seen.append(family)
        }
    }

    /// What the real `gzip -dc` makes of `bytes`: its exit status and output.
    static func gunzip(_ bytes: [UInt8]) throws -> (Int32, [UInt8]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-dc"]
        let stdin = Pipe(), out = Pipe()
        process.standardInput = stdin
        process.standardOutput = out
        try process.run()
        stdin.fileHandleForWriting.write(Data(bytes))
        try stdin.fileHandleForWriting.close()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, Array(output))
    }

    /// A scrape that asks for gzip gets gzip: what `gzip -d` reads back is the exposition.
    @Test func gzipRoundTripsThroughTheRealGzip() throws {
        let metrics = DaemonMetrics()
        metrics.refresh(schedules: (0..<500).map { Self.row("s\($0)", runs: [.succeeded: 1], lastSuccess: Self.t0) }, running: 0, waiting: 0, inputs: .init())
        let plain = metrics.render()
        let compressed = try #require(Gzip.member(.empty, then: plain))
        #expect(compressed.count * 5 < plain.count, "\(compressed.count) of \(plain.count) bytes")
        let (status, output) = try Self.gunzip(compressed)
        #expect(status == 0 && output == plain)
        // A scrape's gzip: the schedules' section as deflated at its last change, then the registry's
        // series deflated now, in one member that gzip reads back as the whole exposition.
        let (joined, bytes) = try Self.gunzip(try #require(metrics.renderGzip()))
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(joined == 0, "gzip -d refused the joined member")
        #expect(text.contains(#"imagebuildd_runs_total{schedule="s499",outcome="succeeded"} 1"#) && text.contains("process_cpu_seconds_total"))
        #expect(text.split(separator: "\n").count == String(decoding: metrics.render(), as: UTF8.self).split(separator: "\n").count)
        #expect(Gzip.accepted(by: "gzip") && Gzip.accepted(by: "identity, gzip;q=0.5") && Gzip.accepted(by: "*"))
        #expect(!Gzip.accepted(by: "identity") && !Gzip.accepted(by: "gzip;q=0") && !Gzip.accepted(by: ""))
    }

    /// The shipped alerting rules: valid, and each alert fires when it should (promtool's rule tests).
    @Test func theShippedAlertRulesPassPromtool() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("packaging/prometheus").path
        let (checked, checkOutput) = try Promtool.run(["check", "rules", directory + "/imagebuildd.rules.yml"])
        #expect(checked == 0, "\(checkOutput)")
        #expect(checkOutput.contains("3 rules found"))
        let (tested, testOutput) = try Promtool.run(["test", "rules", directory + "/imagebuildd.rules.test.yml"])
        #expect(tested == 0, "\(testOutput)")
    }
}

/// Debian's `promtool` (package prometheus), which `make deps` installs.
enum Promtool {
    static func run(_ arguments: [String], input: [UInt8]? = nil) throws -> (Int32, String) {
        let path = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else {
            Issue.record("promtool is not installed: `make deps` installs Debian's prometheus package")
            return (-1, "")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let stdin = Pipe(), out = Pipe()
        process.standardInput = stdin
        process.standardOutput = out
        process.standardError = out
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input)) }
        try stdin.fileHandleForWriting.close()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
