import Foundation
import JobJournal
import Subprocess
import SystemPackage
import Testing

/// `imagebuildd journal …` run as users run it: the real binary, real files, exit codes and output.
@Suite struct JournalCommandTests {
    /// A state directory whose journal holds `count` records.
    func stateDirectory(records count: Int) async throws -> String {
        let state = NSTemporaryDirectory() + "/imagebuildd-cli-\(UUID().uuidString)"
        let journal = try Journal(directory: state + "/journal")
        let key = SlotKey(schedule: "ubuntu-nightly", slotMillis: 1_800_000_000_000)
        _ = try await journal.append(.slotDue(key, target: BuildTarget(subscriptionID: "s", resourceGroup: "images", template: "ubuntu")))
        for n in 1..<count {
            _ = try await journal.append(.statusObserved(key, RunStatus(runState: "Running", runSubState: "Building", message: "poll \(n)")))
        }
        await journal.close()
        return state
    }

    @Test func verifyAndDumpASoundJournal() async throws {
        let state = try await stateDirectory(records: 4)
        defer { try? FileManager.default.removeItem(atPath: state) }
        let verify = try await imagebuildd("journal", "verify", "--state-dir", state)
        #expect(verify.status == .exited(0))
        #expect(verify.stdout.contains("4 record(s), last sequence 4"))
        #expect(verify.stdout.contains("open runs: 1"))

        let dump = try await imagebuildd("journal", "dump", "--state-dir", state)
        #expect(dump.status == .exited(0))
        let lines = dump.stdout.split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("#1 ") && lines[0].contains("slot-due ubuntu-nightly 2027-01-15T08:00:00Z s/images/ubuntu"))
        #expect(lines[3].contains("Running/Building message=poll 3"))

        let json = try await imagebuildd("journal", "dump", "--state-dir", state, "--json")
        let objects = try json.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(objects.map { $0["seq"] as! Int } == [1, 2, 3, 4])
        #expect(objects[0]["template"] as? String == "ubuntu")
    }

    @Test func damageFailsVerifyNamesTheOffsetAndRepairMovesItAside() async throws {
        let state = try await stateDirectory(records: 5)
        defer { try? FileManager.default.removeItem(atPath: state) }
        let segment = state + "/journal/00000001.log"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        bytes[20] ^= 0x01  // inside the first record's payload
        try bytes.write(to: URL(fileURLWithPath: segment))

        let verify = try await imagebuildd("journal", "verify", "--state-dir", state)
        #expect(verify.status == .exited(1))
        #expect(verify.stderr.contains("\(segment) is damaged at offset 0: checksum mismatch"))
        #expect(verify.stderr.contains("journal repair"))

        let repair = try await imagebuildd("journal", "repair", "--state-dir", state)
        #expect(repair.status == .exited(0))
        #expect(repair.stdout.contains("moved the damaged segment to \(segment).damaged-"))
        let after = try await imagebuildd("journal", "verify", "--state-dir", state)
        #expect(after.status == .exited(0))
        #expect(after.stdout.contains("0 record(s)"))
    }

    @Test func aMissingStateDirectoryIsAClearError() async throws {
        let result = try await imagebuildd("journal", "verify", "--state-dir", "/nonexistent/imagebuildd")
        #expect(result.status == .exited(1))
        #expect(result.stderr.contains("/nonexistent/imagebuildd/journal: No such file or directory"))
    }
}
