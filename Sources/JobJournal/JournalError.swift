#if canImport(Glibc)
import Glibc
#endif

/// Everything that can go wrong with a journal, each naming the file and, for damage, the offset.
public enum JournalError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A system call failed.
    case io(operation: String, path: String, errno: Int32)
    /// A record that is not the torn tail of the last segment is damaged.
    case corrupt(segment: String, offset: Int, damage: FrameDamage)
    /// A record's checksum holds but its payload is not a record this version can read.
    case invalidPayload(segment: String, offset: Int, reason: String)
    /// Sequence numbers must rise strictly; this one does not.
    case sequenceRegression(segment: String, offset: Int, previous: UInt64, found: UInt64)
    /// Segment numbers after the newest snapshot must be contiguous.
    case missingSegment(directory: String, number: Int)
    /// A sync failed earlier; what reached the disk is unknown, so nothing more is accepted until reopened.
    case writerFailed(String)
    /// The journal was closed.
    case closed

    public var description: String {
        switch self {
        case .io(let op, let path, let err):
            "\(op) \(path): \(String(cString: strerror(err)))"
        case .corrupt(let segment, let offset, let damage):
            "journal segment \(segment) is damaged at offset \(offset): \(damage)"
        case .invalidPayload(let segment, let offset, let reason):
            "journal segment \(segment), record at offset \(offset): \(reason)"
        case .sequenceRegression(let segment, let offset, let previous, let found):
            "journal segment \(segment), record at offset \(offset): sequence \(found) does not follow \(previous)"
        case .missingSegment(let dir, let number):
            "journal \(dir): segment \(SegmentFiles.name(number)) is missing"
        case .writerFailed(let why):
            "journal refuses writes after an earlier failure (\(why)); restart to recover"
        case .closed:
            "journal is closed"
        }
    }

    /// Whether `journal repair` can help: damage inside a segment.
    public var isDamage: Bool {
        switch self {
        case .corrupt, .invalidPayload, .sequenceRegression, .missingSegment: true
        default: false
        }
    }
}
