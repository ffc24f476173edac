import AzureSimulator
import Foundation
import Subprocess
import SystemPackage
import Testing

/// The operator commands against the real daemon, over its real control socket.
@Suite struct ControlTests {
    struct Result: Sendable {
        var status: TerminationStatus
        var stdout: String
        var stderr: String
    }

    static func cli(_ h: DaemonHarness, _ arguments: [String]) async throws -> Result {
        let result = try await Subprocess.run(.path(binary), arguments: Arguments(arguments + ["--config", h.configPath]), environment: h.environment,
                                              output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        return Result(status: result.terminationStatus, stdout: result.standardOutput ?? "", stderr: result.standardError ?? "")
    }

    /// Waits (on real time, with a deadline) until `condition` holds for the command's output.
    static func until(_ h: DaemonHarness, _ arguments: [String], seconds: Double = 20, _ condition: (Result) -> Bool) async throws -> Result {
        var last = try await cli(h, arguments)
        _ = try await eventually(within: seconds) {
            if condition(last) { return true }
            last = try await cli(h, arguments)
            return condition(last)
        }
        return last
    }

    @Test func statusTriggerPauseResumeCancelOverTheSocket() async throws {
        let h = try await DaemonHarness.start(origin: "2027-01-01T00:00:00Z", scale: 60, templates: [
            SeedTemplate(name: "golden", behavior: TemplateBehavior(outcome: .succeed, phaseSeconds: [600, 600, 600, 600])),
        ])
        defer { Task { try await h.stop() } }
        try h.writeConfig("""
            defaults:
              poll: { initial: 30s, max: 1m, multiplier: 2 }
            schedules:
            \(DaemonHarness.schedule("nightly", template: "golden", cron: "0 2 * * *"))
            """)
        let (status, log) = try await h.runDaemon { send in
            let ready = try await Self.until(h, ["status", "--json"]) { $0.status == .exited(0) }
            let reply = try JSONSerialization.jsonObject(with: Data(ready.stdout.utf8)) as? [String: Any]
            let daemon = reply?["daemon"] as? [String: Any]
            let schedules = reply?["schedules"] as? [[String: Any]] ?? []
            #expect(daemon?["ready"] as? Bool == true && daemon?["role"] as? String == "single", "\(ready.stdout)")
            #expect(schedules.first?["schedule"] as? String == "nightly" && schedules.first?["state"] as? String == "idle", "\(ready.stdout)")
            #expect(schedules.first?["next"] as? String == "2027-01-01T02:00:00Z")

            let unknown = try await Self.cli(h, ["trigger", "nope"])
            #expect(unknown.status == .exited(1) && unknown.stderr.contains("unknown schedule \"nope\"; known: nightly"), "\(unknown.stderr)")

            let triggered = try await Self.cli(h, ["trigger", "nightly", "--reason", "CVE-2027-0001"])
            #expect(triggered.status == .exited(0) && triggered.stdout.hasPrefix("triggered nightly: manual slot "), "\(triggered.stderr)")
            let running = try await Self.until(h, ["status"]) { $0.stdout.contains("manual Running") }
            #expect(running.stdout.contains("SCHEDULE") && running.stdout.contains("manual Running"), "\(running.stdout)")
            // Overlap skip (the default) while it builds: nothing starts, and the exit status says so.
            let skipped = try await Self.cli(h, ["trigger", "nightly"])
            #expect(skipped.status == .exited(4) && skipped.stderr.contains("not started: overlap"), "\(skipped.stdout) \(skipped.stderr)")

            let cancelled = try await Self.cli(h, ["cancel", "nightly", "--reason", "wrong image"])
            #expect(cancelled.status == .exited(0) && cancelled.stdout.hasPrefix("cancelling nightly"), "\(cancelled.stderr)")
            let idle = try await Self.until(h, ["status", "--json"]) { $0.stdout.contains("\"outcome\":\"canceled\"") }
            #expect(idle.stdout.contains("\"outcome\":\"canceled\""), "\(idle.stdout)")
            let nothing = try await Self.cli(h, ["cancel", "nightly"])
            #expect(nothing.status == .exited(1) && nothing.stderr.contains("has no running build to cancel"))

            let past = try await Self.cli(h, ["pause", "nightly", "--until", "2001-01-01T00:00:00Z"])
            #expect(past.status == .exited(1) && past.stderr.contains("is not in the future"), "\(past.stdout) \(past.stderr)")
            let paused = try await Self.cli(h, ["pause", "nightly", "--reason", "incident 42"])
            #expect(paused.status == .exited(0) && paused.stdout == "paused nightly: incident 42\n", "\(paused.stdout) \(paused.stderr)")
            let shown = try await Self.cli(h, ["status"])
            #expect(shown.stdout.contains("paused since") && shown.stdout.contains("incident 42"), "\(shown.stdout)")

            // Garbage, an oversized message and a half-sent one close those connections only.
            try Self.abuse(socket: h.stateDirectory + "/control.sock")
            let resumed = try await Self.cli(h, ["resume", "nightly"])
            #expect(resumed.status == .exited(0) && resumed.stdout == "resumed nightly\n", "\(resumed.stderr)")
            try send(.terminate)
        }
        #expect(status == .exited(0), "\(log.suffix(3000))")
        #expect(log.contains("manual run of nightly requested by uid 0 (root): CVE-2027-0001"), "\(log.suffix(3000))")

        // History shows the manual run, who asked, and its end.
        let history = try await h.history(schedule: "nightly")
        let manual = history.first { $0["trigger"] as? String == "manual" && $0["outcome"] as? String != "skipped" }
        #expect(history.contains { $0["trigger"] as? String == "manual" && $0["outcome"] as? String == "skipped" }, "the refused trigger is in history")
        #expect(manual?["requested_by"] as? String == "uid 0 (root)" && manual?["outcome"] as? String == "canceled", "\(history)")
        #expect(manual?["cancel_reason"] as? String == "operator")
        #expect(manual?["trigger_reason"] as? String == "CVE-2027-0001", "\(history)")
        #expect(manual?["cancel_requested_by"] as? String == "uid 0 (root)" && manual?["cancel_note"] as? String == "wrong image", "\(history)")

        // The daemon is gone: status says so, shows the journal, and exits 3.
        let down = try await Self.cli(h, ["status"])
        #expect(down.status == .exited(3), "\(down.stdout) \(down.stderr)")
        #expect(down.stdout.contains("imagebuildd is not running (no socket at \(h.stateDirectory)/control.sock") && down.stdout.contains("nightly"),
                "\(down.stdout)")
        let trigger = try await Self.cli(h, ["trigger", "nightly"])
        #expect(trigger.status == .exited(3) && trigger.stderr.contains("imagebuildd is not running"))
    }

    /// Connections that send junk: each is answered with an error or closed; none harms the daemon.
    static func abuse(socket path: String) throws {
        for message in [Array("not json".utf8) + [0], Array(#"{"method":"io.imagebuildd.Control.Nope"}"#.utf8) + [0],
                        [UInt8](repeating: 0x41, count: 2 << 20), Array(#"{"method":"io.imagebuildd.Con"#.utf8)] {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                let bytes = Array(path.utf8)
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            #expect(connected == 0)
            _ = message.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }
}
