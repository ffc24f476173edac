import FoundationEssentials

/// The stale rule of ARCHITECTURE.md: a schedule is stale once now minus its last success exceeds
/// `stale_after`; one that never succeeded counts from when it was first seen. Pure: the caller
/// brings the clock.
public enum Staleness {
    /// The instant the schedule turns (or turned) stale; nil when detection is off or there is
    /// nothing to count from yet.
    public static func deadline(lastSuccess: Date?, firstSeen: Date?, staleAfter seconds: Double?) -> Date? {
        guard let seconds, let reference = lastSuccess ?? firstSeen else { return nil }
        return reference.addingTimeInterval(seconds)
    }

    /// Whether it is stale at `now`: strictly past the deadline, as "exceeds" reads.
    public static func isStale(now: Date, lastSuccess: Date?, firstSeen: Date?, staleAfter seconds: Double?) -> Bool {
        guard let deadline = deadline(lastSuccess: lastSuccess, firstSeen: firstSeen, staleAfter: seconds) else { return false }
        return now > deadline
    }
}
