import Foundation
import JobJournal

/// Segment bytes → recovered state, or damage named by segment and offset. A changed byte inside a
/// checksummed record is always noticed: an error, or a reported torn tail; never a different state
/// that looks whole.
public enum JournalProperty {
    static let maxLength = 1 << 16

    /// One scratch directory per process; each input overwrites its single segment.
    nonisolated(unsafe) static var scratch: String?

    public static func check(_ data: [UInt8]) -> PropertyFailure? {
        guard data.count <= maxLength else { return nil }
        guard let directory = scratchDirectory() else { return PropertyFailure("cannot create a scratch directory") }
        let segment = directory + "/00000001.log"
        let first: (report: RecoveryReport, state: JournalState)
        switch verify(data, segment: segment, directory: directory) {
        case .failure(let failure): return failure
        case .success(nil): return nil
        case .success(let recovered?): first = recovered
        }
        let intact = data.count - first.report.tornTailBytes
        guard first.report.records > 0, intact > 0 else { return nil }
        let hash = fnv1a(data)
        var changed = data
        changed[Int(hash % UInt64(intact))] ^= UInt8(truncatingIfNeeded: hash >> 32) | 1
        switch verify(changed, segment: segment, directory: directory) {
        case .failure(let failure): return failure
        case .success(nil): return nil
        case .success(let second?):
            if second.report.tornTail != nil, second.report.records < first.report.records { return nil }
            return PropertyFailure("a changed byte at offset \(hash % UInt64(intact)) went unnoticed: \(first.report.records) records before, \(second.report.records) after, torn tail \(second.report.tornTail.map { "\($0)" } ?? "none"), state \(second.state == first.state ? "unchanged" : "changed")")
        }
    }

    /// Recovered state (nil when the journal refused with a located error), or a broken property.
    static func verify(_ data: [UInt8], segment: String, directory: String) -> Result<(report: RecoveryReport, state: JournalState)?, PropertyFailure> {
        guard FileManager.default.createFile(atPath: segment, contents: Data(data)) else {
            return .failure(PropertyFailure("cannot write \(segment)"))
        }
        do {
            return .success(try JournalInspection.verify(directory: directory))
        } catch let error as JournalError {
            switch error {
            case .corrupt(let s, let offset, _), .invalidPayload(let s, let offset, _), .sequenceRegression(let s, let offset, _, _):
                guard s == segment, offset >= 0, offset < data.count else {
                    return .failure(PropertyFailure("damage reported outside the segment: \(error)"))
                }
                return .success(nil)
            default:
                return .failure(PropertyFailure("unexpected error for one segment: \(error)"))
            }
        } catch {
            return .failure(PropertyFailure("not a JournalError: \(error)"))
        }
    }

    static func scratchDirectory() -> String? {
        if let scratch { return scratch }
        let path = NSTemporaryDirectory() + "/imagebuildd-fuzz-journal-\(getpid())"
        guard (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)) != nil else { return nil }
        scratch = path
        return path
    }
}
