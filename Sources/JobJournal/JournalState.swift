import Foundation

/// Everything the journal knows about one slot's run, folded from its records.
public struct RunRecord: Hashable, Sendable {
    public var key: SlotKey
    public var target: BuildTarget?
    public var dueAt: Date?
    public var queuedAt: Date?
    public var requestedAt: Date?
    public var clientRequestID: String?
    public var acceptedAt: Date?
    public var buildTimeoutSeconds: Int64?
    public var lastStatus: RunStatus?
    public var cancelRequestedAt: Date?
    public var cancelReason: CancelReason?
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
    /// The latest slot seen per schedule.
    public var lastSlot: [String: Date] = [:]
    /// Finished runs per schedule, oldest first, at most `historyLimit` each.
    public var history: [String: [RunRecord]] = [:]
    public var counters = JournalCounters()
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
            trimHistory()
            return
        }
        guard let key = record.event.slot else { return }
        if (lastSlot[key.schedule]?.journalMillis ?? .min) < key.slotMillis {
            lastSlot[key.schedule] = key.slot
        }
        var run = openRuns[key] ?? RunRecord(key: key)
        switch record.event {
        case .slotDue(_, let target):
            run.target = target
            run.dueAt = at
            counters.slotsDue += 1
        case .slotQueued:
            run.queuedAt = at
        case .slotSkipped:
            openRuns[key] = nil
            counters.slotsSkipped += 1
            return
        case .runRequested(_, let id):
            run.requestedAt = at
            run.clientRequestID = id
        case .runAccepted(_, let timeout):
            run.acceptedAt = at
            run.buildTimeoutSeconds = timeout
        case .statusObserved(_, let status), .cancelObserved(_, let status):
            run.lastStatus = status
        case .cancelRequested(_, let reason):
            run.cancelRequestedAt = at
            run.cancelReason = reason
        case .outputsRecorded(_, let outputs):
            run.outputs = outputs
        case .finished(_, let outcome, let message):
            run.finishedAt = at
            run.outcome = outcome
            run.message = message ?? run.lastStatus?.message
            openRuns[key] = nil
            counters.finished[outcome, default: 0] += 1
            history[key.schedule, default: []].append(run)
            trimHistory(key.schedule)
            return
        case .snapshot:
            return
        }
        openRuns[key] = run
    }

    /// Recent finished runs of every schedule, newest first.
    public var recentRuns: [RunRecord] {
        history.values.joined().sorted { ($0.finishedAt ?? .distantPast, $0.key) > ($1.finishedAt ?? .distantPast, $1.key) }
    }

    private mutating func trimHistory(_ schedule: String) {
        guard let runs = history[schedule], runs.count > historyLimit else { return }
        history[schedule] = Array(runs.suffix(historyLimit))
    }

    private mutating func trimHistory() {
        for schedule in history.keys { trimHistory(schedule) }
    }
}
