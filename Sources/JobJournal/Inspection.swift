import FoundationEssentials
import Glibc

/// One intact record as it lies on disk.
public struct JournalEntry: Sendable {
    public var segment: String
    public var offset: Int
    public var record: JournalRecord
    /// The payload exactly as stored.
    public var payload: String
}

/// Read-only access for `journal verify` and `journal dump`: the same checks as opening, no changes.
public enum JournalInspection {
    /// Verifies every segment, calling `visit` per record in order; throws the first damage found.
    /// A torn tail is not damage: it is reported, and opening the journal truncates it.
    public static func verify(directory: String, historyLimit: Int = 50,
                              visit: ((JournalEntry) throws -> Void)? = nil) throws -> (report: RecoveryReport, state: JournalState) {
        let scan = try DirectoryScan(directory: directory, historyLimit: historyLimit, visit: visit.map { visit in
            { segment, offset, payload, record in
                try visit(JournalEntry(segment: segment, offset: offset, record: record,
                                       payload: String(decoding: payload, as: UTF8.self)))
            }
        })
        return (scan.report, scan.state)
    }
}

/// What `journal repair` did to one damaged segment.
public struct RepairAction: Sendable, CustomStringConvertible {
    /// The damage that was found.
    public var error: JournalError
    /// Where the damaged segment now lies, untouched.
    public var movedTo: String
    /// The segment rewritten with the intact records before the damage.
    public var segment: String
    public var keptBytes: Int
    public var droppedBytes: Int

    public var description: String {
        "\(error)\n  moved the damaged segment to \(movedTo)\n  rewrote \(segment) with the \(keptBytes) intact bytes before the damage; \(droppedBytes) bytes dropped"
    }
}

/// Explicit repair: a damaged segment is moved aside (kept for inspection, outside the journal's
/// name space) and replaced by the intact records before the damage.
public enum JournalRepair {
    /// Repairs until the journal verifies; returns what was done (nothing for a sound journal).
    public static func repair(directory: String, now: Date = Date()) throws -> [RepairAction] {
        var actions: [RepairAction] = []
        while true {
            do {
                _ = try JournalInspection.verify(directory: directory)
                return actions
            } catch let error as JournalError {
                let (segment, offset): (String, Int)
                switch error {
                case .corrupt(let s, let o, _), .invalidPayload(let s, let o, _), .sequenceRegression(let s, let o, _, _):
                    (segment, offset) = (s, o)
                case .missingSegment, .io, .writerFailed, .closed:
                    throw error
                }
                let bytes = try SegmentFiles.read(segment)
                let aside = segment + ".damaged-\(Int(now.timeIntervalSince1970))"
                let temporary = segment + ".tmp"
                let fd = try SegmentFiles.create(temporary)
                defer { close(fd) }
                try SegmentFiles.write(fd, Array(bytes[0..<offset]), at: 0, path: temporary)
                try SegmentFiles.syncData(fd, temporary)
                try SegmentFiles.rename(segment, aside)
                try SegmentFiles.rename(temporary, segment)
                try SegmentFiles.syncDirectory(URL(fileURLWithPath: segment).deletingLastPathComponent().path)
                actions.append(RepairAction(error: error, movedTo: aside, segment: segment,
                                            keptBytes: offset, droppedBytes: bytes.count - offset))
            }
        }
    }
}
