import FoundationEssentials
import Synchronization

/// An IANA zone as a sorted list of UTC offset changes, read once from the system's tz data (TZif).
///
/// With it, `next(after:)` is integer arithmetic and a binary search instead of a Foundation
/// call per candidate; that is what makes it cheap enough to compute for 10,000 schedules.
public final class ZoneTimeline: Sendable {
    public let identifier: String
    /// Instants (Unix seconds) at which the offset changes, ascending.
    let transitions: [Int]
    /// `offsets[i]` holds before `transitions[i]` and from `transitions[i-1]`; one more than transitions.
    let offsets: [Int]
    /// The largest offset jump; bounds how far a local time can be from its naive instant.
    let maxShift: Int

    /// Transitions are read for this span; beyond it the last offset is assumed to hold.
    static let span = (from: -2_208_988_800, to: 7_258_118_400)  // 1900-01-01 … 2200-01-01

    private static let cache = Mutex<[String: ZoneTimeline]>([:])

    /// The timeline for an IANA identifier, or nil if the system's tz data does not have the zone.
    public static func named(_ identifier: String) -> ZoneTimeline? {
        if let cached = cache.withLock({ $0[identifier] }) { return cached }
        guard let timeline = try? load(identifier) else { return nil }
        cache.withLock { $0[identifier] = timeline }
        return timeline
    }

    /// Where the tz data lives: `$TZDIR` as for the C library, else Debian's /usr/share/zoneinfo.
    static var directory: String {
        ProcessInfo.processInfo.environment["TZDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/share/zoneinfo"
    }

    static let utcNames: Set<String> = ["UTC", "Etc/UTC", "GMT", "Etc/GMT", "Zulu", "Etc/Zulu", "UCT", "Etc/UCT", "Universal", "Etc/Universal"]

    /// Reads `<directory>/<identifier>`; an identifier cannot leave the directory.
    static func load(_ identifier: String, from directory: String = directory) throws -> ZoneTimeline {
        let parts = identifier.split(separator: "/", omittingEmptySubsequences: false)
        guard !identifier.isEmpty, identifier.utf8.count <= 255,
              parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }),
              identifier.utf8.allSatisfy({ (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "\\") }) else {
            throw TZifError.notTZif
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + identifier))
        } catch where utcNames.contains(identifier) {
            // UTC needs no data: a minimal image or container without tzdata can still schedule in it.
            return ZoneTimeline(identifier: identifier, tzif: TZif(transitions: [], offsetsAfter: [], initialOffset: 0, rule: nil))
        }
        return ZoneTimeline(identifier: identifier, tzif: try TZif.parse(Array(data)))
    }

    init(identifier: String, tzif: TZif) {
        self.identifier = identifier
        let (initial, changes) = tzif.offsetChanges(from: Self.span.from, to: Self.span.to)
        transitions = changes.map(\.at)
        offsets = [initial] + changes.map(\.offset)
        maxShift = zip(offsets, offsets.dropFirst()).map { abs($0 - $1) }.max() ?? 0
    }

    /// Index of the first transition after `instant` (so the period `instant` lies in).
    @inline(__always)
    func period(_ instant: Int) -> Int {
        var lo = 0, hi = transitions.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if transitions[mid] <= instant { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Seconds east of UTC at `instant`.
    public func offset(at instant: Int) -> Int {
        offsets[period(instant)]
    }

    /// Whether any transition lies in the half-open span (from, to].
    @inline(__always)
    func hasTransition(after from: Int, through to: Int) -> Bool {
        let p = period(from)
        return p < transitions.count && transitions[p] <= to
    }

    /// The instants whose local time is `local`: one normally, two in a repeated hour (ascending),
    /// none in a gap — then `gapEnd` is the transition that skipped it (its first valid instant).
    func instants(local: Int) -> (first: Int?, second: Int?, gapEnd: Int?) {
        let guess = period(local - offsets[period(local)])
        var found: [Int] = []
        for p in max(0, guess - 1)...min(offsets.count - 1, guess + 1) {
            let u = local - offsets[p]
            let start = p == 0 ? Int.min : transitions[p - 1]
            let end = p == transitions.count ? Int.max : transitions[p]
            if u >= start, u < end { found.append(u) }
        }
        if !found.isEmpty { return (found[0], found.count > 1 ? found[1] : nil, nil) }
        // In a gap: the transition whose local time jumped over `local`.
        for p in max(1, guess - 1)...min(transitions.count, guess + 1) {
            let t = transitions[p - 1]
            if t + offsets[p - 1] <= local, local < t + offsets[p] { return (nil, nil, t) }
        }
        return (nil, nil, nil)
    }
}
