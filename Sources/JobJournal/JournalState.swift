import FoundationEssentials

/// Everything the journal knows about one slot's run, folded from its records.
public struct RunRecord: Hashable, Sendable {
    public var key: SlotKey
    public var target: BuildTarget?
    /// Who asked for a manual run, and why; nil for a slot of the schedule.
    public var trigger: TriggerRequest?
    public var dueAt: Date?
    public var queuedAt: Date?
    public var requestedAt: Date?
    public var clientRequestID: String?
    public var acceptedAt: Date?
    public var buildTimeoutSeconds: Int64?
    public var lastStatus: RunStatus?
    public var cancelRequestedAt: Date?
    public var cancelReason: CancelReason?
    /// Who asked for an operator's cancel, and why.
    public var cancelRequest: CancelRequest?
    public var outputs: [RunOutputRecord] = []
    public var finishedAt: Date?
    public var outcome: RunOutcome?
    public var message: String?

    public init(key: SlotKey) {
        self.key = key
    }
}

/// Totals that survive compaction.
public struct JournalCounters: Hashable, Sendable {
    public var slotsDue: Int = 0
    public var slotsSkipped: Int = 0
    /// Finished runs per outcome.
    public var finished: [RunOutcome: Int] = [:]

    public init() {}
}

/// The state view replay builds: open runs, last slot per schedule, bounded recent history, counters.
public struct JournalState: Hashable, Sendable {
    /// Unfinished runs: a slot that is due, queued, requested or running.
    public var openRuns: [SlotKey: RunRecord] = [:]
    /// The latest slot per schedule that came due or was skipped.
    public var lastSlot: [String: Date] = [:]
    /// Finished runs per schedule, oldest first, at most `historyLimit` each.
    public var history: [String: [RunRecord]] = [:]
    public var counters = JournalCounters()
    /// Schedules that are paused, by name.
    public var paused: [String: PauseRecord] = [:]
    /// Per schedule: first seen, last run, last success, stale, runs per outcome. Never trimmed.
    public var schedules: [String: ScheduleFacts] = [:]
    /// Schedules found in template tags by the last complete discovery pass, by name.
    public var discovered: [String: DiscoveredSchedule] = [:]
    /// Notifications some sink is still owed, by key.
    public var outbox: [String: PendingNotification] = [:]
    public var historyLimit: Int

    public init(historyLimit: Int = 50) {
        self.historyLimit = historyLimit
    }

    /// Folds one record into the view.
    public mutating func apply(_ record: JournalRecord) {
        let at = record.at
        if case .snapshot(let snapshot) = record.event {
            let limit = historyLimit
            self = snapshot
            historyLimit = limit
            if schedules.isEmpty { deriveScheduleFacts() }
            trimHistory()
            return
        }
        if let schedule = ScheduleFacts.schedule(of: record.event) {
            schedules[schedule, default: ScheduleFacts()].note(record.event, at: at)
        }
        switch record.event {
        case .scheduleSeen, .stale:
            return
        case .notifyQueued(let pending):
            if !pending.sinks.isEmpty { outbox[pending.key] = pending }
            return
        case .notifyDone(let key, let sink, _, _):
            outbox[key]?.sinks.removeAll { $0 == sink }
            if outbox[key]?.sinks.isEmpty == true { outbox[key] = nil }
            return
        case .paused(let schedule, let until, let reason, let by):
            paused[schedule] = PauseRecord(since: at, until: until, reason: reason, by: by)
            return
        case .resumed(let schedule, _):
            paused[schedule] = nil
            return
        case .scheduleDiscovered(let schedule):
            discovered[schedule.name] = schedule
            return
        case .scheduleRetired(let schedule, _):
            discovered[schedule] = nil
            return
        default:
            break
        }
        guard let key = record.event.slot else { return }
        switch record.event {
        case .slotDue(_, let target):
            noteSlot(key)
            counters.slotsDue += 1
            update(key) {
                $0.target = target
                $0.dueAt = at
            }
        case .slotQueued:
            update(key) { $0.queuedAt = at }
        case .slotSkipped(_, let reason):
            noteSlot(key)
            counters.slotsSkipped += 1
            // Skipped slots are history too: "why did the 02:00 build not run?" has an answer there.
            var run = openRuns.removeValue(forKey: key) ?? RunRecord(key: key)
            run.finishedAt = at
            run.outcome = .skipped
            run.message = reason
            history[key.schedule, default: []].append(run)
            trimHistory(key.schedule)
        case .runRequested(_, let id):
            update(key) {
                $0.requestedAt = at
                $0.clientRequestID = id
            }
        case .runAccepted(_, let timeout):
            update(key) {
                $0.acceptedAt = at
                $0.buildTimeoutSeconds = timeout
            }
        case .statusObserved(_, let status), .cancelObserved(_, let status):
            update(key) { $0.lastStatus = status }
        case .cancelRequested(_, let reason, let request):
            update(key) {
                $0.cancelRequestedAt = at
                $0.cancelReason = reason
                $0.cancelRequest = request
            }
        case .outputsRecorded(_, let outputs):
            update(key) { $0.outputs = outputs }
        case .finished(_, let outcome, let message):
            var run = openRuns.removeValue(forKey: key) ?? RunRecord(key: key)
            run.finishedAt = at
            run.outcome = outcome
            run.message = message ?? run.lastStatus?.message
            counters.finished[outcome, default: 0] += 1
            history[key.schedule, default: []].append(run)
            trimHistory(key.schedule)
        case .triggerRequested(_, let request):
            update(key) { $0.trigger = request }
        case .snapshot, .paused, .resumed, .scheduleSeen, .stale, .scheduleDiscovered, .scheduleRetired, .notifyQueued, .notifyDone:
            break
        }
    }

    /// A snapshot from before schedule facts were journaled: the best the bounded history can tell.
    private mutating func deriveScheduleFacts() {
        for run in history.values.joined().sorted(by: { ($0.finishedAt ?? .distantPast) < ($1.finishedAt ?? .distantPast) }) {
            if let outcome = run.outcome, let at = run.finishedAt {
                schedules[run.key.schedule, default: ScheduleFacts()].note(.finished(run.key, outcome: outcome, message: nil), at: at)
            }
        }
    }

    // In place: recovery folds a million records, and a copy out and back costs a retain per field.
    private mutating func update(_ key: SlotKey, _ change: (inout RunRecord) -> Void) {
        change(&openRuns[key, default: RunRecord(key: key)])
    }

    /// The last slot per schedule advances with every slot that came due or was skipped.
    private mutating func noteSlot(_ key: SlotKey) {
        // A manual run is no slot of the schedule: the catch-up rule must not count it.
        guard !key.manual else { return }
        if (lastSlot[key.schedule]?.journalMillis ?? .min) < key.slotMillis {
            lastSlot[key.schedule] = key.slot
        }
    }

    /// Recent finished runs of every schedule, newest first.
    public var recentRuns: [RunRecord] {
        history.values.joined().sorted { ($0.finishedAt ?? .distantPast, $0.key) > ($1.finishedAt ?? .distantPast, $1.key) }
    }

    // In place: holding the array in a local while mutating it would copy every run.
    private mutating func trimHistory(_ schedule: String) {
        let excess = (history[schedule]?.count ?? 0) - historyLimit
        if excess > 0 { history[schedule]!.removeFirst(excess) }
    }

    private mutating func trimHistory() {
        for schedule in history.keys { trimHistory(schedule) }
    }
}
