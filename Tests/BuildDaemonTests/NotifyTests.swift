import AzureSimulator
import Foundation
import Subprocess
import Testing

/// The sd_notify conversation, received on a socket bound by the test, with the real binary.
@Suite struct NotifyTests {
    @Test func readyOnlyAfterAdoptionThenStatusWatchdogReloadingStopping() async throws {
        let h = try await DaemonHarness.start(origin: "2027-01-01T00:00:00Z", scale: 600, templates: [
            SeedTemplate(name: "long", behavior: TemplateBehavior(outcome: .succeed, phaseSeconds: Array(repeating: 30 * 60, count: 4))),
        ])
        defer { Task { try await h.stop() } }
        try h.writeConfig("""
            defaults:
              poll: { initial: 1m, max: 2m, multiplier: 2 }
            schedules:
            \(DaemonHarness.schedule("long", template: "long", cron: "*/30 * * * *"))
            """)
        // First run: a build starts at 00:30 and is still running when the daemon stops at 00:40.
        let (first, firstLog) = try await h.runDaemon(until: DaemonTests.date("2027-01-01T00:40:00Z"))
        #expect(first == .exited(0), "\(firstLog.suffix(2000))")
        #expect(try await h.history().first?["outcome"] is NSNull)

        let recorder = try DatagramRecorder(path: "/tmp/ibd-notify-\(UUID().uuidString.prefix(8)).sock")
        defer { recorder.stop() }
        var environment = h.environment
        environment = environment.updating(["NOTIFY_SOCKET": recorder.path, "WATCHDOG_USEC": "1000000"])
        let started = Date()
        let result = try await Subprocess.run(.path(binary), arguments: ["run", "--config", h.configPath], environment: environment,
                                              input: .none, output: .discarded, error: .string(limit: 8 << 20)) { execution in
            let deadline = Date().addingTimeInterval(10)
            while !recorder.messages.contains(where: { $0.text.contains("READY=1") }), Date() < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            try await Task.sleep(for: .seconds(3))
            try execution.send(signal: Signal(rawValue: SIGHUP))
            try await Task.sleep(for: .seconds(1))
            try execution.send(signal: .terminate)
        }
        #expect(result.terminationStatus == .exited(0), "\(result.standardError ?? "")")
        try await Task.sleep(for: .milliseconds(200))
        let messages = recorder.messages
        let texts = messages.map(\.text)

        // READY=1 comes only after the open run was adopted (polled once).
        let readyIndex = try #require(texts.firstIndex { $0.contains("READY=1") }, "no READY=1 in \(texts)")
        let adoptionPoll = try #require(h.simulator.requests.first { $0.operation == .get && $0.at > h.origin.addingTimeInterval(40 * 60) })
        let adoptionReal = h.realOrigin.addingTimeInterval(adoptionPoll.at.timeIntervalSince(h.origin) / h.scale)
        #expect(messages[readyIndex].at >= adoptionReal, "READY=1 before the adoption poll")
        #expect(texts[..<readyIndex].allSatisfy { !$0.contains("READY=1") && !$0.contains("WATCHDOG=1") })
        #expect(texts[..<readyIndex].contains { $0.contains("EXTEND_TIMEOUT_USEC=") })
        #expect(texts[readyIndex].contains("STATUS=1 build running; next: long (long) at"), "\(texts[readyIndex])")

        // Watchdog pings at half of WATCHDOG_USEC (0.5 s) while running: never a gap near the 1 s limit.
        let pings = messages.filter { $0.text == "WATCHDOG=1" }.map(\.at)
        #expect(pings.count >= 5, "\(pings.count) pings")
        let gaps = zip(pings.dropFirst(), pings).map { $0.timeIntervalSince($1) }
        #expect(gaps.allSatisfy { $0 > 0.2 && $0 < 1.0 }, "gaps \(gaps)")

        // SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1 again.
        let reloading = try #require(texts.firstIndex { $0.contains("RELOADING=1") })
        #expect(texts[reloading].range(of: #"MONOTONIC_USEC=\d+"#, options: .regularExpression) != nil)
        #expect(texts[(reloading + 1)...].contains { $0.contains("READY=1") })
        // SIGTERM: STOPPING=1 last of the lifecycle messages.
        let stopping = try #require(texts.lastIndex { $0.contains("STOPPING=1") })
        #expect(stopping > reloading && !texts[(stopping + 1)...].contains { $0.contains("READY=1") })
        #expect(texts.contains { $0.hasPrefix("STATUS=") }, "status lines are sent on changes")
        print("notify test: \(messages.count) datagrams in \(String(format: "%.1f", Date().timeIntervalSince(started))) s, \(pings.count) watchdog pings")
    }
}
