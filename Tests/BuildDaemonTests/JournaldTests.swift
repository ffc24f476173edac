import AzureSimulator
import Foundation
import Subprocess
import SystemPackage
import Testing

/// journald's native protocol as the daemon speaks it: in a private mount namespace the test binds
/// its own socket at /run/systemd/journal/socket and decodes every datagram.
@Suite struct JournaldTests {
    /// `unshare -m` needs CAP_SYS_ADMIN; without it there is no private journald socket to bind.
    static let canUnshare: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["-m", "true"]
        do { try process.run() } catch { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    /// Decodes one native-protocol datagram: `KEY=value\n`, or `KEY\n<u64le length><bytes>\n`.
    static func decode(_ data: [UInt8]) -> [String: String] {
        var fields: [String: String] = [:]
        var i = 0
        while i < data.count {
            guard let end = data[i...].firstIndex(where: { $0 == 0x0A || $0 == 0x3D }) else { break }
            let key = String(decoding: data[i..<end], as: UTF8.self)
            if data[end] == 0x3D {
                let valueEnd = data[(end + 1)...].firstIndex(of: 0x0A) ?? data.count
                fields[key] = String(decoding: data[(end + 1)..<valueEnd], as: UTF8.self)
                i = valueEnd + 1
            } else {
                var length = 0
                for k in 0..<8 { length |= Int(data[end + 1 + k]) << (8 * k) }
                let start = end + 9
                fields[key] = String(decoding: data[start..<(start + length)], as: UTF8.self)
                i = start + length + 1
            }
        }
        return fields
    }

    @Test(.enabled(if: canUnshare, "needs `unshare -m` (root with CAP_SYS_ADMIN) to bind a private journald socket"))
    func nativeDatagramsCarryPriorityMessageIDAndFields() async throws {
        let h = try await DaemonHarness.start(origin: "2027-01-01T00:00:00Z", scale: 600, templates: [
            SeedTemplate(name: "golden", runOutputNames: ["img"], behavior: TemplateBehavior(outcome: .succeed, phaseSeconds: [120, 120, 120, 120])),
        ])
        defer { Task { try await h.stop() } }
        try h.writeConfig("""
            defaults:
              poll: { initial: 1m, max: 2m, multiplier: 2 }
            schedules:
            \(DaemonHarness.schedule("golden-nightly", template: "golden", cron: "*/20 * * * *"))
            """)
        let out = h.directory + "/datagrams.b64"
        let receiver = """
            import base64, socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind("/run/systemd/journal/socket")
            s.settimeout(0.2)
            with open(sys.argv[1], "w") as f:
                while True:
                    try:
                        d = s.recv(1 << 20)
                    except socket.timeout:
                        continue
                    f.write(base64.b64encode(d).decode() + "\\n"); f.flush()
            """
        try Data(receiver.utf8).write(to: URL(fileURLWithPath: h.directory + "/receiver.py"))
        // stderr goes to a file whose dev:ino is JOURNAL_STREAM, so the daemon knows journald is listening.
        let script = """
            set -e
            mkdir -p /run/systemd/journal
            mount -t tmpfs tmpfs /run/systemd/journal
            python3 "$1/receiver.py" "$2" & receiver=$!
            for _ in $(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
            : > "$1/stderr"
            JOURNAL_STREAM=$(stat -c %d:%i "$1/stderr") timeout -s TERM 4 "$3" run --config "$1/config.yaml" 2>> "$1/stderr" || true
            sleep 0.3
            kill $receiver
            """
        let result = try await Subprocess.run(.path("/usr/bin/unshare"), arguments: ["-m", "--propagation", "private", "sh", "-c", script, "sh", h.directory, out, binary.string],
                                              environment: h.environment, output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        #expect(result.terminationStatus.isSuccess, "\(result.standardError ?? "")")
        let stderrText = (try? String(contentsOfFile: h.directory + "/stderr", encoding: .utf8)) ?? ""
        #expect(!stderrText.contains("<5>"), "with JOURNAL_STREAM matching, nothing goes to stderr: \(stderrText.prefix(500))")

        let lines = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n")
        let records = lines.compactMap { Data(base64Encoded: String($0)) }.map { Self.decode(Array($0)) }
        #expect(records.count > 5, "\(records.count) datagrams")
        #expect(records.allSatisfy { $0["SYSLOG_IDENTIFIER"] == "imagebuildd" && $0["PRIORITY"] != nil && $0["MESSAGE"] != nil })
        func find(_ id: String) -> [String: String]? { records.first { $0["MESSAGE_ID"] == id } }
        let fired = try #require(find("a6e508072d804b34a743c1dfe3b1bdf4"), "no slot-fired record")
        #expect(fired["TEMPLATE"] == "golden" && fired["SCHEDULE"] == "golden-nightly" && fired["SLOT"] == "2027-01-01T00:20:00Z" && fired["PRIORITY"] == "5")
        let accepted = try #require(find("2ffd5cbf53c24b1691d937bc84c817f8"))
        #expect(accepted["X_MS_CORRELATION_REQUEST_ID"]?.count == 36)
        let state = try #require(records.first { $0["MESSAGE_ID"] == "9eb0410c61a54e51a047b6d61d983cf0" && $0["RUN_SUBSTATE"] != nil })
        #expect(state["RUN_STATE"] == "Running" && state["PRIORITY"] == "6")
        let outputs = try #require(find("8def757424e844db956669759ea2d311"))
        #expect(outputs["ARTIFACT_ID"]?.hasSuffix("/images/golden-img") == true)
        let finished = try #require(find("0e2b35762adb41f6bc942d29b08c7964"))
        #expect(finished["OUTCOME"] == "succeeded")
        // Every field name is a valid journal field name.
        let valid = try Regex("^[A-Z][A-Z0-9_]{0,63}$")
        #expect(records.flatMap(\.keys).allSatisfy { $0.wholeMatch(of: valid) != nil })
    }
}
