import Foundation
import Testing
@testable import JobJournal

@Suite struct ConcurrencyTests {
    @Test func hundredConcurrentAppendersGetAStrictGaplessSequence() async throws {
        let dir = TemporaryDirectory()
        let journal = try Journal(directory: dir.journal)
        let seqs = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for task in 0..<100 {
                group.addTask {
                    var mine: [UInt64] = []
                    for n in 0..<5 { mine.append(try await journal.append(.slotQueued(slot("t\(task)", Int64(n)))).seq) }
                    return mine
                }
            }
            var all: [UInt64] = []
            for try await mine in group {
                #expect(mine == mine.sorted(), "a task's own appends are ordered")
                all += mine
            }
            return all
        }
        #expect(seqs.sorted() == Array(1...500))
        // Group commit: appends that waited during a sync shared the next one.
        #expect(journal.syncCount < 500)
        print("100 tasks x 5 appends: \(journal.syncCount) syncs")
        await journal.close()
        var onDisk: [UInt64] = []
        _ = try JournalInspection.verify(directory: dir.journal) { onDisk.append($0.record.seq) }
        #expect(onDisk == Array(1...500))
    }

    @Test func appendsAfterCloseAreRefused() async throws {
        let dir = TemporaryDirectory()
        let journal = try Journal(directory: dir.journal)
        await journal.close()
        await #expect(throws: JournalError.closed) { try await journal.append(.slotQueued(slot("a", 1))) }
    }
}
