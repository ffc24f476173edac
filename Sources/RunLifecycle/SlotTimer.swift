import FoundationEssentials
import Scheduler

/// What the slot timer needs of a schedule.
public protocol SlotSchedule: Sendable {
    var name: String { get }
    var cron: CronSchedule { get }
    var jitter: Duration { get }
    var catchUp: Duration { get }
}

/// A schedule made for the timer alone (the daemon hands it its configured schedules instead).
public struct TimerSchedule: SlotSchedule {
    public var name: String
    public var cron: CronSchedule
    public var jitter: Duration
    public var catchUp: Duration

    public init(name: String, cron: CronSchedule, jitter: Duration, catchUp: Duration) {
        self.name = name
        self.cron = cron
        self.jitter = jitter
        self.catchUp = catchUp
    }
}

/// When each schedule's slots come due: one heap of next slots (with jitter) for every schedule, and
/// the catch-up rule after downtime. No clock inside: `now` is always a parameter. Generic over the
/// collection so the daemon's own schedule list is used as it is, not copied (1 MB at 10,000).
public struct SlotTimer<Schedules: RandomAccessCollection & Sendable>: Sendable
where Schedules.Element: SlotSchedule, Schedules.Index == Int {
    /// A slot that is due.
    public struct Due: Sendable, Equatable {
        /// Index into the schedules the timer was made with.
        public var schedule: Int
        public var slot: Date
    }

    public let schedules: Schedules
    /// The next slot of each schedule, by fire time.
    private struct Entry: Comparable, Sendable {
        var fireAt: Date
        var slot: Date
        var schedule: Int

        static func < (a: Entry, b: Entry) -> Bool { a.fireAt < b.fireAt }
    }

    private var queue = MinHeap<Entry>()
    /// Schedules that have no fire time within five years, to be reported once.
    public private(set) var exhausted: [String] = []

    /// Each schedule's first slot after `now` and after the last slot the journal has for it. A
    /// schedule that the timer it replaces was still waiting on, with the same cron (and zone) and
    /// jitter, goes on from that slot, so that a reload or a discovery pass at the instant a slot is
    /// due, or inside its jitter, does not step over it; a changed one starts from its next slot.
    public init(schedules: Schedules, now: Date, lastSlot: (String) -> Date?, replacing old: SlotTimer? = nil) {
        self.schedules = schedules
        var waiting: [String: (slot: Date, schedule: Schedules.Element)] = [:]
        for entry in old?.queue.elements ?? [] {
            let schedule = old!.schedules[entry.schedule]
            waiting[schedule.name] = (entry.slot, schedule)
        }
        for index in schedules.indices {
            let schedule = schedules[index]
            if let kept = waiting[schedule.name], kept.schedule.cron == schedule.cron, kept.schedule.jitter == schedule.jitter {
                enqueue(index, after: kept.slot.addingTimeInterval(-0.001))
            } else {
                enqueue(index, after: max(now, lastSlot(schedule.name) ?? .distantPast))
            }
        }
    }

    /// Each schedule's next slot, not yet fired, by its index (nil: none within five years): what
    /// the heap already knows, so a scrape of 10,000 schedules computes no cron.
    public var nextSlots: [Date?] {
        var slots = [Date?](repeating: nil, count: schedules.count)
        for entry in queue.elements { slots[entry.schedule] = entry.slot }
        return slots
    }

    /// When the earliest slot fires (its jitter included).
    public var nextFireAt: Date? { queue.first?.fireAt }

    /// The next slot of any schedule, for the status line.
    public var nextSlot: Due? { queue.first.map { Due(schedule: $0.schedule, slot: $0.slot) } }

    /// Every slot whose fire time has come, earliest first; each schedule's next slot takes its place.
    public mutating func popDue(now: Date) -> [Due] {
        var due: [Due] = []
        while let head = queue.first, head.fireAt <= now {
            queue.pop()
            due.append(Due(schedule: head.schedule, slot: head.slot))
            enqueue(head.schedule, after: head.slot)
        }
        return due
    }

    /// After downtime: per schedule, only the latest missed slot, and only within its catch-up window.
    /// Slots before a schedule first appeared never count; one that has no slot yet appeared when it
    /// was first seen (or appears now), so a first slot that fell while the daemon was down, or
    /// while no node led, is still run.
    public static func missedSlots(_ schedules: Schedules, now: Date, lastSlot: (String) -> Date?, firstSeen: (String) -> Date?) -> [Due] {
        schedules.indices.compactMap { index in
            let schedule = schedules[index]
            let last = lastSlot(schedule.name)
            let appeared = last ?? firstSeen(schedule.name) ?? now
            return SchedulePolicy.latestMissedSlot(schedule.cron, lastSlot: last, firstSeen: appeared, now: now, window: schedule.catchUp)
                .map { Due(schedule: index, slot: $0) }
        }
    }

    private mutating func enqueue(_ index: Int, after cursor: Date) {
        let schedule = schedules[index]
        guard let slot = schedule.cron.next(after: cursor) else {
            exhausted.append(schedule.name)
            return
        }
        let jitter = Jitter.delay(schedule: schedule.name, slot: slot, maximum: schedule.jitter)
        let seconds = Double(jitter.components.seconds) + Double(jitter.components.attoseconds) / 1e18
        queue.push(Entry(fireAt: slot.addingTimeInterval(seconds), slot: slot, schedule: index))
    }
}
