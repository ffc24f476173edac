import Foundation
import Subprocess
import SystemPackage
import Testing
@testable import JobJournal

/// Real child processes appending (or compacting) with real fsync, SIGKILLed at random moments.
@Suite(.serialized) struct CrashTests {
    /// The options the torture child uses; history kept whole so that every finished run stays visible.
    let tortureOptions = JournalOptions(segmentSize: 16 << 10, maxSegments: 1000, historyLimit: 1 << 30)

    struct Ack: Hashable {
        var seq: UInt64
        var key: SlotKey
        var kind: String
    }

    /// Runs the torture child until a random moment after its first acknowledgement, then SIGKILLs it.
    func runUntilKilled(_ mode: String, _ directory: String) async throws -> [Ack] {
        let delay = Duration.milliseconds(Int.random(in: 0...60))
        let result = try await Subprocess.run(
            .path(FilePath(productsDirectory + "/JournalTorture")), arguments: [mode, directory],
            input: .none, output: .sequence, error: .string(limit: 1 << 16)
        ) { execution in
            var acks: [Ack] = []
            var killer: Task<Void, Never>?
            for try await line in execution.standardOutput.strings() {
                let f = line.split(separator: " ")
                guard f.count == 5, f[0] == "ack", let seq = UInt64(f[1]), let slot = Int64(f[3]) else { continue }
                acks.append(Ack(seq: seq, key: SlotKey(schedule: String(f[2]), slotMillis: slot), kind: String(f[4])))
                if killer == nil {
                    killer = Task {
                        try? await Task.sleep(for: delay)
                        try? execution.send(signal: .kill)
                    }
                }
            }
            await killer?.value
            return acks
        }
        #expect(result.terminationStatus == .signaled(SIGKILL), "child stderr: \(result.standardError)")
        return result.closureResult
    }

    @Test func sigkillDuringAppendsNeverLosesOrDuplicatesAnAcknowledgedRecord() async throws {
        let dir = TemporaryDirectory()
        var acked: [Ack] = []
        var tornRounds = 0
        for round in 0..<50 {
            acked += try await runUntilKilled("append", dir.journal)
            let journal = try Journal(directory: dir.journal, options: tortureOptions)
            if journal.recovery.tornTailBytes > 0 { tornRounds += 1 }
            await journal.close()

            var onDisk: [UInt64: JournalRecord] = [:]
            var identities = Set<String>()
            _ = try JournalInspection.verify(directory: dir.journal) { entry in
                onDisk[entry.record.seq] = entry.record
                #expect(identities.insert("\(entry.record.event.typeName) \(entry.record.event.slot!)").inserted,
                        "duplicate record \(entry.record) after round \(round)")
            }
            for ack in acked {
                let record = try #require(onDisk[ack.seq], "acknowledged seq \(ack.seq) lost after round \(round)")
                #expect(record.event.slot == ack.key)
                #expect(record.event.typeName == (ack.kind == "open" ? "slot-due" : "finished"))
            }
        }
        #expect(Set(acked.map(\.seq)).count == acked.count)
        #expect(acked.count >= 50, "the child acknowledged too little to prove anything")
        print("crash test: \(acked.count) acknowledged records over 50 SIGKILLs, \(tornRounds) rounds with a torn tail")
    }

    @Test func sigkillDuringCompactionNeverLosesAnOpenRun() async throws {
        let dir = TemporaryDirectory()
        var open = Set<SlotKey>()
        var done = Set<SlotKey>()
        var compactedRounds = 0
        for round in 0..<50 {
            for ack in try await runUntilKilled("compact", dir.journal) {
                if ack.kind == "open" { open.insert(ack.key) } else { done.insert(ack.key) }
            }
            let journal = try Journal(directory: dir.journal, options: tortureOptions)
            let state = journal.state
            if !journal.recovery.supersededSegments.isEmpty || !journal.recovery.temporaries.isEmpty { compactedRounds += 1 }
            await journal.close()
            // A `finished` can be durable yet unacknowledged (killed before the ack line): such a run
            // is rightly no longer open, and shows in the history instead.
            let finished = Set(state.history.values.joined().map(\.key))
            let missing = open.subtracting(done).subtracting(state.openRuns.keys).subtracting(finished)
            #expect(missing.isEmpty, "round \(round): open runs lost: \(missing.sorted().prefix(5))")
            let reopened = done.intersection(state.openRuns.keys)
            #expect(reopened.isEmpty, "round \(round): finished runs reappeared as open")
            #expect(state.counters.finished[.succeeded, default: 0] >= done.count)
        }
        #expect(open.count >= 50)
        print("compaction crash test: \(open.count) open runs, \(done.count) finished; \(compactedRounds) kills landed mid-compaction")
    }
}
