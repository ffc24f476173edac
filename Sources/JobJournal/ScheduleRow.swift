import FoundationEssentials

/// One schedule as metrics export it: its configuration's labels and the journal's facts about it,
/// so the exporter reads facts without knowing the orchestrator that gathers them.
public struct ScheduleRow: Hashable, Sendable {
    public var name: String
    public var target: BuildTarget
    public var cron: String
    public var timezone: String
    public var next: Date?
    public var facts: ScheduleFacts
    public var paused: Bool

    public init(name: String, target: BuildTarget, cron: String, timezone: String, next: Date?, facts: ScheduleFacts, paused: Bool) {
        self.name = name
        self.target = target
        self.cron = cron
        self.timezone = timezone
        self.next = next
        self.facts = facts
        self.paused = paused
    }
}
