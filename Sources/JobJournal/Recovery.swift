/// What opening or verifying a journal found.
public struct RecoveryReport: Sendable, Equatable {
    /// Segments read, oldest first.
    public var segments: [String] = []
    /// Intact records read.
    public var records = 0
    /// Bytes of torn tail dropped from the last segment (or, read-only, that would be dropped).
    public var tornTailBytes = 0
    /// Where the torn tail started and why it is not a record.
    public var tornTail: TornTail?
    /// Segments superseded by a newer snapshot: a compaction was interrupted before removing them.
    public var supersededSegments: [String] = []
    /// Temporary files of an interrupted compaction.
    public var temporaries: [String] = []
    /// The highest sequence number read (0 for an empty journal).
    public var lastSeq: UInt64 = 0
}

/// The damaged end of the last segment: bytes of a write that was never acknowledged.
public struct TornTail: Sendable, Equatable {
    public var segment: String
    public var offset: Int
    public var damage: FrameDamage
}

/// One pass over a journal directory: verifies every checksum and sequence number, folds the
/// records into a state view, and classifies damage. It never modifies anything.
struct DirectoryScan {
    var report = RecoveryReport()
    var state: JournalState
    /// Segment numbers present, ascending.
    var segmentNumbers: [Int] = []
    /// The newest segment that begins with a snapshot; older ones are superseded.
    var baseSegment: Int?
    /// Length of the intact prefix of the last segment.
    var lastSegmentValidSize = 0

    /// Reads `directory`, calling `visit` with each intact record and where it lies.
    init(directory: String, historyLimit: Int,
         visit: ((_ segment: String, _ offset: Int, _ payload: UnsafeRawBufferPointer, _ record: JournalRecord) throws -> Void)? = nil) throws {
        state = JournalState(historyLimit: historyLimit)
        let listing = try SegmentFiles.list(directory)
        report.temporaries = listing.temporaries
        segmentNumbers = listing.segments
        for (a, b) in zip(segmentNumbers, segmentNumbers.dropFirst()) where b != a + 1 {
            throw JournalError.missingSegment(directory: directory, number: a + 1)
        }
        for (index, number) in segmentNumbers.enumerated() {
            let path = SegmentFiles.path(directory, number)
            let isLast = index == segmentNumbers.count - 1
            let bytes = try SegmentFiles.read(path)
            report.segments.append(path)
            try bytes.withUnsafeBytes { raw in
                var scanner = FrameScanner(raw)
                while true {
                    let offset = scanner.offset
                    guard let next = scanner.next() else { break }
                    switch next {
                    case .success(let payload):
                        let record: JournalRecord
                        do {
                            record = try RecordCodec.decode(payload)
                        } catch {
                            throw JournalError.invalidPayload(segment: path, offset: offset, reason: "\(error)")
                        }
                        guard record.seq > report.lastSeq else {
                            throw JournalError.sequenceRegression(segment: path, offset: offset,
                                                                  previous: report.lastSeq, found: record.seq)
                        }
                        if offset == 0, case .snapshot = record.event { baseSegment = number }
                        report.lastSeq = record.seq
                        report.records += 1
                        state.apply(record)
                        try visit?(path, offset, payload, record)
                    case .failure(let damage):
                        guard isLast, scanner.intactRecordAfter(offset) == nil else {
                            throw JournalError.corrupt(segment: path, offset: offset, damage: damage)
                        }
                        report.tornTail = TornTail(segment: path, offset: offset, damage: damage)
                        report.tornTailBytes = raw.count - offset
                        lastSegmentValidSize = offset
                        return
                    }
                }
                lastSegmentValidSize = raw.count
            }
        }
        if let base = baseSegment {
            report.supersededSegments = segmentNumbers.filter { $0 < base }.map { SegmentFiles.path(directory, $0) }
        }
    }
}
