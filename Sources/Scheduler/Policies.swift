import FoundationEssentials

/// What to do when a slot comes while the template is still building (config key `overlap`).
public enum OverlapPolicy: String, Sendable, CaseIterable {
    case skip, queue, replace
}

/// The outcome of applying an `OverlapPolicy` to a due slot.
public enum OverlapDecision: Sendable, Equatable {
    /// Nothing is running: start the build.
    case start
    /// Record the slot as skipped, with the reason.
    case skip(reason: String)
    /// Hold the slot until the running build ends.
    case queue
    /// Cancel the running build, then start this one.
    case replaceRunning
}

/// The scheduling policies as pure functions; the daemon supplies the clock and the state.
public enum SchedulePolicy {
    /// The overlap rule. A queue holds at most one pending slot: the build it starts uses the
    /// patches of its start time, so a second pending slot would only build the same image twice.
    public static func overlap(_ policy: OverlapPolicy, buildRunning: Bool, slotPending: Bool) -> OverlapDecision {
        guard buildRunning else { return .start }
        switch policy {
        case .skip:
            return .skip(reason: "overlap: the previous build is still running")
        case .queue:
            return slotPending ? .skip(reason: "overlap: a slot is already queued behind the running build") : .queue
        case .replace:
            return .replaceRunning
        }
    }

    /// The only missed slot worth running after downtime: the latest one after both `lastSlot` and the
    /// moment the schedule first appeared, at or before `now`, and no older than `window`.
    public static func latestMissedSlot(_ schedule: CronSchedule, lastSlot: Date?, firstSeen: Date,
                                        now: Date, window: Duration) -> Date? {
        let windowSeconds = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
        var floor = max(firstSeen, now.addingTimeInterval(-windowSeconds).addingTimeInterval(-1))
        if let lastSlot { floor = max(floor, lastSlot) }
        var latest: Date?
        var cursor = floor
        while let slot = schedule.next(after: cursor), slot <= now {
            if now.timeIntervalSince(slot) <= windowSeconds { latest = slot }
            cursor = slot
        }
        return latest
    }
}
