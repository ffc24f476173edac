import Foundation
import Testing
@testable import JobJournal

@Suite struct RecoveryTests {
    /// Writes `count` records and returns them with the byte offset of each.
    func write(_ count: Int, to dir: TemporaryDirectory, options: JournalOptions = JournalOptions()) async throws -> [JournalRecord] {
        let journal = try Journal(directory: dir.journal, options: options)
        var records: [JournalRecord] = []
        for n in 0..<count {
            records.append(try await journal.append(.statusObserved(slot("s", Int64(n)), RunStatus(runState: "Running", runSubState: "Building"))))
        }
        await journal.close()
        return records
    }

    func offsets(_ dir: TemporaryDirectory) throws -> [(segment: String, offset: Int)] {
        var result: [(String, Int)] = []
        _ = try JournalInspection.verify(directory: dir.journal) { result.append(($0.segment, $0.offset)) }
        return result
    }

    func size(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as! NSNumber).intValue
    }

    @Test func tornTailCutAtEveryByteOfTheLastRecordIsTruncated() async throws {
        let dir = TemporaryDirectory()
        let records = try await write(5, to: dir)
        let segment = SegmentFiles.path(dir.journal, 1)
        let original = try SegmentFiles.read(segment)
        let lastOffset = try offsets(dir).last!.offset
        for cut in lastOffset..<original.count {
            try Data(original[0..<cut]).write(to: URL(fileURLWithPath: segment))
            let journal = try Journal(directory: dir.journal)
            #expect(journal.recovery.tornTailBytes == cut - lastOffset, "cut at \(cut)")
            #expect(journal.recovery.records == 4)
            #expect(journal.lastSeq == records[3].seq)
            #expect(try size(segment) == lastOffset)
            // The journal carries on after the truncation point.
            let next = try await journal.append(.slotQueued(slot("s", 99)))
            #expect(next.seq == records[3].seq + 1)
            await journal.close()
            var read: [JournalRecord] = []
            _ = try JournalInspection.verify(directory: dir.journal) { read.append($0.record) }
            #expect(read == Array(records[0..<4]) + [next])
        }
    }

    @Test func zeroFilledTailIsTorn() async throws {
        let dir = TemporaryDirectory()
        _ = try await write(3, to: dir)
        let segment = SegmentFiles.path(dir.journal, 1)
        let original = try SegmentFiles.read(segment)
        try Data(original + [UInt8](repeating: 0, count: 4096)).write(to: URL(fileURLWithPath: segment))
        let journal = try Journal(directory: dir.journal)
        #expect(journal.recovery.tornTailBytes == 4096)
        #expect(journal.recovery.tornTail?.damage == .zeroLength)
        #expect(journal.recovery.records == 3)
    }

    @Test func flippedBitInAMiddleRecordIsReportedWithItsOffset() async throws {
        let dir = TemporaryDirectory()
        _ = try await write(6, to: dir)
        let segment = SegmentFiles.path(dir.journal, 1)
        let original = try SegmentFiles.read(segment)
        let middle = try offsets(dir)[2].offset
        for (what, byte) in [("payload", middle + Framing.headerSize + 10), ("length", middle + 1), ("checksum", middle + 5)] {
            var damaged = original
            damaged[byte] ^= 0x10
            try Data(damaged).write(to: URL(fileURLWithPath: segment))
            #expect(throws: JournalError.self, "\(what)") {
                do {
                    _ = try Journal(directory: dir.journal)
                } catch let error as JournalError {
                    guard case .corrupt(let s, let o, _) = error else { throw error }
                    #expect(s == segment && o == middle, "\(what): \(error)")
                    #expect("\(error)".contains("offset \(middle)"))
                    throw error
                }
            }
            // Opening refused and changed nothing.
            #expect(try SegmentFiles.read(segment) == damaged)
        }
    }

    @Test func damageInAnEarlierSegmentIsCorruptionEvenAtItsEnd() async throws {
        let dir = TemporaryDirectory()
        _ = try await write(40, to: dir, options: JournalOptions(segmentSize: 1024, maxSegments: 100))
        let first = SegmentFiles.path(dir.journal, 1)
        var bytes = try SegmentFiles.read(first)
        #expect(try SegmentFiles.list(dir.journal).segments.count > 2)
        bytes.removeLast(3)
        try Data(bytes).write(to: URL(fileURLWithPath: first))
        #expect { try Journal(directory: dir.journal) } throws: { error in
            guard case .corrupt(let s, _, .truncatedPayload) = error as? JournalError else { return false }
            return s == first
        }
    }

    @Test func repairMovesTheDamagedSegmentAsideAndKeepsTheIntactPrefix() async throws {
        let dir = TemporaryDirectory()
        let records = try await write(6, to: dir)
        let segment = SegmentFiles.path(dir.journal, 1)
        var bytes = try SegmentFiles.read(segment)
        let third = try offsets(dir)[2].offset
        bytes[third + 20] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
        let actions = try JournalRepair.repair(directory: dir.journal, now: Date(timeIntervalSince1970: 1000))
        #expect(actions.count == 1)
        #expect(actions[0].movedTo == segment + ".damaged-1000")
        #expect(try SegmentFiles.read(actions[0].movedTo) == bytes)
        let journal = try Journal(directory: dir.journal)
        #expect(journal.recovery.records == 2)
        #expect(journal.lastSeq == records[1].seq)
        #expect(try JournalRepair.repair(directory: dir.journal).isEmpty)
    }

    @Test func filesAre0600InA0700Directory() async throws {
        let dir = TemporaryDirectory()
        let journal = try Journal(directory: dir.journal, options: JournalOptions(segmentSize: 256, maxSegments: 2))
        for n in 0..<20 { _ = try await journal.append(.slotQueued(slot("m", Int64(n)))) }
        await journal.close()
        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
        }
        #expect(try mode(dir.journal) == 0o700)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.journal)
        #expect(!names.isEmpty)
        for name in names { #expect(try mode(dir.journal + "/" + name) == 0o600, "\(name)") }
    }

    @Test func rotationSpreadsRecordsOverSegmentsAndRecoveryReadsThemAll() async throws {
        let dir = TemporaryDirectory()
        let records = try await write(100, to: dir, options: JournalOptions(segmentSize: 2048, maxSegments: 1000))
        let segments = try SegmentFiles.list(dir.journal).segments
        #expect(segments.count > 5)
        #expect(segments == Array(1...segments.count))
        let journal = try Journal(directory: dir.journal)
        #expect(journal.recovery.records == 100)
        #expect(journal.lastSeq == records.last!.seq)
    }

    @Test func aMissingSegmentIsReported() async throws {
        let dir = TemporaryDirectory()
        _ = try await write(60, to: dir, options: JournalOptions(segmentSize: 1024, maxSegments: 1000))
        try SegmentFiles.remove(SegmentFiles.path(dir.journal, 2))
        #expect { try Journal(directory: dir.journal) } throws: {
            ($0 as? JournalError) == .missingSegment(directory: dir.journal, number: 2)
        }
    }

    @Test func verifyIsReadOnly() async throws {
        let dir = TemporaryDirectory()
        _ = try await write(3, to: dir)
        let segment = SegmentFiles.path(dir.journal, 1)
        let original = try SegmentFiles.read(segment)
        try Data(original.dropLast(5)).write(to: URL(fileURLWithPath: segment))
        let (report, _) = try JournalInspection.verify(directory: dir.journal)
        #expect(report.tornTailBytes > 0)
        #expect(try size(segment) == original.count - 5)
    }
}
