import Foundation
import Testing
@testable import JobJournal

@Suite struct StateTests {
    /// Schedule facts outlive the bounded history and compaction: metrics and stale detection read them.
    @Test func scheduleFactsAndTheOutboxSurviveTrimmingAndCompaction() async throws {
        let dir = TemporaryDirectory()
        let t0 = Date(journalMillis: 1_800_000_000_000)
        do {
            let journal = try Journal(directory: dir.journal, options: JournalOptions(historyLimit: 2))
            _ = try await journal.append(.scheduleSeen(schedule: "nightly"), at: t0)
            _ = try await journal.append(.scheduleSeen(schedule: "nightly"), at: t0.addingTimeInterval(5))
            for n in 0..<5 {
                let key = slot("nightly", Int64(n))
                _ = try await journal.append(.slotDue(key, target: target), at: t0)
                _ = try await journal.append(.finished(key, outcome: n < 2 ? .succeeded : .failed, message: nil), at: t0.addingTimeInterval(Double(n * 100)))
            }
            _ = try await journal.append(.slotSkipped(slot("nightly", 9), reason: "paused"), at: t0.addingTimeInterval(900))
            _ = try await journal.append(.stale(schedule: "nightly"), at: t0.addingTimeInterval(950))
            let pending = PendingNotification(key: "k", event: "stale", schedule: "nightly", body: "{}", sinks: ["s1", "s2"], queuedAt: t0)
            _ = try await journal.append(.notifyQueued(pending), at: t0)
            _ = try await journal.append(.notifyDone(key: "k", sink: "s1", delivered: true, attempts: 1), at: t0)
            try await journal.compact()
            await journal.close()
        }
        let journal = try Journal(directory: dir.journal, options: JournalOptions(historyLimit: 2))
        let facts = try #require(journal.state.schedules["nightly"])
        #expect(facts.firstSeen == t0, "the first schedule-seen counts")
        #expect(facts.lastSuccess == t0.addingTimeInterval(100))
        #expect(facts.lastRun == t0.addingTimeInterval(400), "a skipped slot is no run")
        #expect(facts.runs == [.succeeded: 2, .failed: 3, .skipped: 1], "counts beyond the two runs of history")
        #expect(facts.staleSince == t0.addingTimeInterval(950))
        #expect(journal.state.outbox["k"]?.sinks == ["s2"])
        // A success clears stale; the last sink's notify-done empties the outbox.
        _ = try await journal.append(.finished(slot("nightly", 10), outcome: .partiallySucceeded, message: nil), at: t0.addingTimeInterval(1000))
        _ = try await journal.append(.notifyDone(key: "k", sink: "s2", delivered: false, attempts: 4), at: t0)
        #expect(journal.state.schedules["nightly"]?.staleSince == nil)
        #expect(journal.state.schedules["nightly"]?.lastSuccess == t0.addingTimeInterval(1000))
        #expect(journal.state.outbox.isEmpty)
        await journal.close()
    }

    /// A snapshot written before schedule facts existed: they are derived from its history.
    @Test func anOlderSnapshotGetsFactsFromItsHistory() {
        var old = JournalState()
        var run = RunRecord(key: slot("win", 1))
        run.outcome = .succeeded
        run.finishedAt = Date(journalMillis: 1_800_000_000_000)
        old.history["win"] = [run]
        var state = JournalState()
        state.apply(JournalRecord(seq: 1, at: Date(), event: .snapshot(old)))
        #expect(state.schedules["win"]?.lastSuccess == run.finishedAt)
        #expect(state.schedules["win"]?.runs == [.succeeded: 1])
    }
    @Test func replayBuildsOpenRunsHistoryLastSlotAndCounters() async throws {
        let dir = TemporaryDirectory()
        let journal = try Journal(directory: dir.journal, options: JournalOptions(historyLimit: 3))
        let t0 = Date(journalMillis: 1_800_000_000_000)
        for n in 0..<5 {
            let key = slot("nightly", Int64(n))
            _ = try await journal.append(.slotDue(key, target: target), at: t0)
            _ = try await journal.append(.runRequested(key, clientRequestID: "id-\(n)"), at: t0)
            _ = try await journal.append(.runAccepted(key, buildTimeoutSeconds: 600), at: t0.addingTimeInterval(1))
            _ = try await journal.append(.outputsRecorded(key, [RunOutputRecord(name: "img", artifactID: "a\(n)")]))
            _ = try await journal.append(.finished(key, outcome: n == 4 ? .failed : .succeeded, message: nil))
        }
        let open = slot("nightly", 5)
        _ = try await journal.append(.slotDue(open, target: target))
        _ = try await journal.append(.runRequested(open, clientRequestID: nil), at: t0)
        _ = try await journal.append(.statusObserved(open, RunStatus(runState: "Running", runSubState: "Distributing", startedAt: t0)))
        _ = try await journal.append(.cancelRequested(open, reason: .timeout), at: t0.addingTimeInterval(600))
        _ = try await journal.append(.slotDue(slot("weekly", 0), target: target))
        _ = try await journal.append(.slotSkipped(slot("weekly", 0), reason: "overlap"))
        await journal.close()

        let state = try Journal(directory: dir.journal, options: JournalOptions(historyLimit: 3)).state
        #expect(state.openRuns.keys.sorted() == [open])
        let run = state.openRuns[open]!
        #expect(run.requestedAt == t0)
        #expect(run.lastStatus?.runSubState == "Distributing")
        #expect(run.cancelReason == .timeout && run.cancelRequestedAt == t0.addingTimeInterval(600))
        #expect(state.lastSlot == ["nightly": open.slot, "weekly": slot("weekly", 0).slot])
        #expect(state.history["nightly"]!.map(\.key) == [slot("nightly", 2), slot("nightly", 3), slot("nightly", 4)])
        #expect(state.history["nightly"]!.last!.outcome == .failed)
        #expect(state.history["nightly"]!.first!.outputs == [RunOutputRecord(name: "img", artifactID: "a2")])
        #expect(state.counters.slotsDue == 7)
        #expect(state.counters.slotsSkipped == 1)
        #expect(state.counters.finished == [.succeeded: 4, .failed: 1])
        // A skipped slot is history too (outcome skipped, its reason as the message), and the newest here.
        #expect(state.history["weekly"]!.map(\.outcome) == [.skipped] && state.history["weekly"]!.first!.message == "overlap")
        #expect(state.recentRuns.map(\.key).prefix(2) == [slot("weekly", 0), slot("nightly", 4)])
    }

    @Test func compactionKeepsTheStateAndDropsOldSegments() async throws {
        let dir = TemporaryDirectory()
        let options = JournalOptions(segmentSize: 1024, maxSegments: 1000, historyLimit: 4)
        let journal = try Journal(directory: dir.journal, options: options)
        for n in 0..<60 {
            let key = slot("s\(n % 3)", Int64(n))
            _ = try await journal.append(.slotDue(key, target: target))
            if n % 4 != 0 { _ = try await journal.append(.finished(key, outcome: .succeeded, message: "ok \(n)")) }
        }
        let before = journal.state
        let oldSegments = try SegmentFiles.list(dir.journal).segments
        #expect(journal.segmentCount > 3)
        try await journal.compact()
        #expect(journal.segmentCount == 1)
        let after = try await journal.append(.slotQueued(slot("s0", 999)))
        await journal.close()
        // Every old segment is gone; the snapshot alone may fill a segment, so the append may have rotated.
        #expect(try SegmentFiles.list(dir.journal).segments.allSatisfy { $0 > oldSegments.last! })

        let reopened = try Journal(directory: dir.journal, options: options)
        var expected = before
        expected.apply(after)
        #expect(reopened.state == expected)
        #expect(reopened.lastSeq == after.seq)
    }

    @Test func rotationBeyondMaxSegmentsCompactsAutomatically() async throws {
        let dir = TemporaryDirectory()
        let journal = try Journal(directory: dir.journal, options: JournalOptions(segmentSize: 512, maxSegments: 3))
        for n in 0..<200 { _ = try await journal.append(.slotDue(slot("x", Int64(n)), target: target)) }
        #expect(journal.segmentCount <= 4)
        #expect(journal.compactionError == nil)
        #expect(journal.state.openRuns.count == 200)
        await journal.close()
        #expect(try Journal(directory: dir.journal).state.openRuns.count == 200)
    }

    @Test func leftoversOfAnInterruptedCompactionAreCleanedUp() async throws {
        let dir = TemporaryDirectory()
        let options = JournalOptions(segmentSize: 512, maxSegments: 1000)
        let journal = try Journal(directory: dir.journal, options: options)
        for n in 0..<30 { _ = try await journal.append(.slotDue(slot("x", Int64(n)), target: target)) }
        await journal.close()
        let old = try SegmentFiles.list(dir.journal).segments
        // Simulate a crash after the snapshot's rename: copy the old segments back beside it.
        let saved = try old.map { try SegmentFiles.read(SegmentFiles.path(dir.journal, $0)) }
        let compacting = try Journal(directory: dir.journal, options: options)
        try await compacting.compact()
        await compacting.close()
        for (number, bytes) in zip(old, saved) {
            try Data(bytes).write(to: URL(fileURLWithPath: SegmentFiles.path(dir.journal, number)))
        }
        try Data("half a snapshot".utf8).write(to: URL(fileURLWithPath: dir.journal + "/00000099.log.tmp"))
        let recovered = try Journal(directory: dir.journal, options: options)
        #expect(recovered.recovery.supersededSegments.count == old.count)
        #expect(recovered.recovery.temporaries == ["00000099.log.tmp"])
        #expect(recovered.state.openRuns.count == 30)
        #expect(try SegmentFiles.list(dir.journal) == ([old.last! + 1], []))
    }
}
