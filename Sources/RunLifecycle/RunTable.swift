import FoundationEssentials
import JobJournal
import Scheduler

/// Every open run and the admission ledger: which run holds each template, which one is queued behind
/// it, and which wait for capacity. Decisions between runs (overlap, `max_concurrent_builds`,
/// superseding) are made here synchronously, so nothing can change between a decision and its
/// reservation; the driver only executes the effects it returns.
public struct RunTable: Sendable {
    /// Effects for one run, in order.
    public struct Work: Sendable, Equatable {
        public var key: SlotKey
        public var effects: [RunEffect]
    }

    public private(set) var runs: [SlotKey: Run] = [:]
    public var maxConcurrentBuilds: Int
    /// Runs holding a unit of capacity (admitted and not yet closed).
    private var holding: Set<SlotKey> = []
    /// The run holding each template.
    private var occupant: [String: SlotKey] = [:]
    /// The run queued behind each template's occupant by the overlap policy.
    private var pending: [String: SlotKey] = [:]
    /// Runs waiting for capacity, oldest first.
    private var waiting: [SlotKey] = []
    /// The latest slot per schedule that came due: a slot at or before it never fires again.
    public private(set) var lastSlot: [String: Date] = [:]
    /// Paused schedules: their slots are skipped with reason `paused` until resumed.
    public private(set) var paused: [String: PauseRecord] = [:]
    /// Failed, timed-out or lost runs in a row, per schedule, for `pause_after_failures`.
    private var failures: [String: Int] = [:]
    /// Manual runs by the command line's request id, so a retried `trigger` gets the same slot.
    private var manualRequests: [String: SlotKey] = [:]
    /// Transitions made, for the simulation's decisions-per-second figure.
    public private(set) var decisions = 0

    public init(maxConcurrentBuilds: Int) {
        self.maxConcurrentBuilds = maxConcurrentBuilds
    }

    // MARK: - Inputs

    /// A slot came due: journal it, then start, hold, queue, supersede or skip it. A slot already
    /// known is ignored (a reload may fire it twice). `journaled` is set when recovery re-decides a
    /// slot whose `slot-due` (and `queued`, if so) is already in the journal.
    public mutating func slotDue(_ key: SlotKey, target: BuildTarget, policy: RunPolicy, now: Date,
                                 journaled: (due: Bool, queued: Bool) = (false, false)) -> [Work] {
        guard runs[key] == nil else { return [] }
        if !journaled.due, !key.manual {
            if let last = lastSlot[key.schedule], last >= key.slot { return [] }
            lastSlot[key.schedule] = key.slot
        }
        decisions += 1
        var run = Run(key: key, target: target, policy: policy, phase: .queuedBehind(since: now))
        var own: [RunEffect] = journaled.due ? [] : [.record(.slotDue(key, target: target)),
                                                    .log(LogLine(.notice, key.manual ? "manual run requested" : "slot fired", event: "slot-fired"))]
        var others: [Work] = []
        let template = run.template
        /// `slot-queued` and why, unless recovery found it in the journal already.
        func queued(_ why: String) -> [RunEffect] {
            journaled.queued ? [] : [.record(.slotQueued(key)), .log(LogLine(.info, why))]
        }
        if !key.manual, let pause = paused[key.schedule] {
            if let until = pause.until, until <= now {
                paused[key.schedule] = nil
                own += [.record(.resumed(schedule: key.schedule, by: Self.untilResumer)),
                        .log(LogLine(.notice, "schedule resumed: its pause ran out", event: "resumed"))]
            } else {
                own += RunMachine.skip(&run, reason: "paused")
                return [Work(key: key, effects: own)]
            }
        }

        // An older slot of this template that has nothing in Azure yet is superseded: only the newest matters.
        if let olderKey = occupant[template] ?? waiting.first(where: { runs[$0]?.template == template }) ?? pending[template],
           let older = runs[olderKey], !older.phase.mayHaveBuild, older.key.slot < key.slot {
            others += close(olderKey, reason: "superseded by the slot at \(iso(key.slot)) before its Run was sent", now: now)
        }
        if let holderKey = occupant[template], let holder = runs[holderKey], !holder.phase.mayHaveBuild {
            // Another schedule's slot for this template at the same instant is already starting: one build serves both.
            own += RunMachine.skip(&run, reason: "overlap: \(holderKey.schedule)'s slot at the same time is already starting this template")
            return [Work(key: key, effects: own)] + others
        }
        if let holderKey = occupant[template], let holder = runs[holderKey] {
            switch SchedulePolicy.overlap(policy.overlap, buildRunning: true, slotPending: pending[template] != nil) {
            case .skip(let reason):
                own += RunMachine.skip(&run, reason: reason)
                return [Work(key: key, effects: own)] + others
            case .queue:
                pending[template] = key
                own += queued("slot queued behind the running build")
            case .replaceRunning:
                if let older = pending[template], older != key {
                    others += close(older, reason: "superseded by the slot at \(iso(key.slot)) while both waited to replace the running build", now: now)
                }
                pending[template] = key
                own += queued("slot queued to replace the running build")
                if case .running = holder.phase {
                    var cancelled = holder
                    let effects = RunMachine.requestCancel(&cancelled, reason: .replace, now: now)
                    runs[holderKey] = cancelled
                    others.append(Work(key: holderKey, effects: effects))
                }
            case .start:
                break
            }
            runs[key] = run
            return [Work(key: key, effects: own)] + others
        }
        if holding.count < maxConcurrentBuilds {
            own += reserve(&run, now: now)
        } else {
            run.phase = .waitingForCapacity(since: now)
            waiting.append(key)
            own += queued("slot queued: max_concurrent_builds reached")
        }
        runs[key] = run
        return [Work(key: key, effects: own)] + others
    }

    /// Applies an answer or a timer to its run. The first work item is the run's own continuation;
    /// others are runs this one's end admitted.
    public mutating func handle(_ key: SlotKey, _ event: RunEvent, now: Date) -> [Work] {
        guard let run = runs[key] else { return [] }
        decisions += 1
        let (next, effects) = RunMachine.handle(run, event, now: now)
        runs[key] = next
        var work = [Work(key: key, effects: effects + countFailures(next, now: now))]
        if next.phase.isClosed { work += release(key, now: now) }
        return work
    }

    /// `imagebuildd trigger`: a manual slot now, under `policy` (the caller applies `--overlap`).
    /// A retry with the same request id returns the first call's slot and does nothing more.
    public mutating func trigger(_ schedule: String, target: BuildTarget, policy: RunPolicy, request: TriggerRequest,
                                 now: Date) -> (slot: SlotKey, work: [Work]) {
        if let id = request.requestID, let known = manualRequests[id] { return (known, []) }
        var key = SlotKey(schedule: schedule, slot: now, manual: true)
        while runs[key] != nil { key.slotMillis += 1 }
        if let id = request.requestID { manualRequests[id] = key }
        var work = slotDue(key, target: target, policy: policy, now: now)
        if let index = work.firstIndex(where: { $0.key == key }) {
            work[index].effects.insert(.record(.triggerRequested(key, request)), at: 0)
        }
        return (key, work)
    }

    /// `imagebuildd pause`: the record to journal; from now on the schedule's slots are skipped.
    public mutating func pause(_ schedule: String, until: Date?, reason: String?, by: String, now: Date) -> JournalEvent {
        paused[schedule] = PauseRecord(since: now, until: until, reason: reason, by: by)
        return .paused(schedule: schedule, until: until, reason: reason, by: by)
    }

    /// `imagebuildd resume`: the record to journal, or nil when the schedule was not paused. Nothing
    /// fires at once: the next slot comes at its time (the slots skipped while paused stay skipped).
    public mutating func resume(_ schedule: String, by: String) -> JournalEvent? {
        guard paused.removeValue(forKey: schedule) != nil else { return nil }
        failures[schedule] = 0
        return .resumed(schedule: schedule, by: by)
    }

    /// The earliest instant a `pause --until` runs out, for the driver's timer.
    public var nextPauseExpiry: Date? { paused.values.lazy.compactMap(\.until).min() }

    /// Lifts every pause whose `until` has come: the `resumed` records (by `until`) to journal, in
    /// schedule order. Status, metrics and the next slot see the schedule resumed from here on.
    public mutating func expirePauses(now: Date) -> [JournalEvent] {
        paused.filter { $0.value.until.map { $0 <= now } ?? false }.keys.sorted().compactMap { resume($0, by: Self.untilResumer) }
    }

    /// Who resumed a schedule whose `pause --until` ran out, as the journal records it.
    public static let untilResumer = "until"

    /// `imagebuildd cancel`: cancels the schedule's running build. Nil when it has none.
    public mutating func cancel(_ schedule: String, request: CancelRequest, now: Date) -> Work? {
        guard let key = runs.values.filter({ $0.key.schedule == schedule }).first(where: {
            if case .running = $0.phase { true } else { false }
        })?.key, var run = runs[key] else { return nil }
        decisions += 1
        let effects = RunMachine.requestCancel(&run, reason: .operator, request: request, now: now)
        runs[key] = run
        return Work(key: key, effects: effects)
    }

    /// The open runs of one schedule, oldest first.
    public func runs(of schedule: String) -> [Run] {
        runs.values.filter { $0.key.schedule == schedule }.sorted { $0.key < $1.key }
    }

    /// After a run closed: count failures in a row, and pause the schedule at its limit.
    private mutating func countFailures(_ run: Run, now: Date) -> [RunEffect] {
        guard !run.key.manual, case .finished(let outcome) = run.phase else { return [] }
        switch outcome {
        case .failed, .timedOut, .lost:
            failures[run.key.schedule, default: 0] += 1
        case .succeeded, .partiallySucceeded:
            failures[run.key.schedule] = 0
            return []
        case .canceled, .skipped:
            return []
        }
        guard let limit = run.policy.pauseAfterFailures, failures[run.key.schedule, default: 0] >= limit,
              paused[run.key.schedule] == nil else { return [] }
        let reason = "paused after \(limit) failed runs in a row (pause_after_failures)"
        return [.record(pause(run.key.schedule, until: nil, reason: reason, by: "pause_after_failures", now: now)),
                .log(LogLine(.warning, "schedule paused: \(reason)", event: "paused"))]
    }

    /// Rebuilds the table from the journal's open runs after a restart: runs with a build are
    /// followed again (or reconciled), the rest are admitted again in slot order.
    /// `unknownTimeoutSeconds`: the build timeout of a run whose journal lacks one (Azure's default).
    public static func recover(_ state: JournalState, maxConcurrentBuilds: Int, now: Date, unknownTimeoutSeconds: Int64,
                               policy: (SlotKey) -> RunPolicy) -> (RunTable, [Work]) {
        var table = RunTable(maxConcurrentBuilds: maxConcurrentBuilds)
        table.lastSlot = state.lastSlot
        table.paused = state.paused
        for (schedule, runs) in state.history {
            let built = runs.filter { !$0.key.manual && $0.outcome != .skipped && $0.outcome != .canceled }
            table.failures[schedule] = built.reversed().prefix { [.failed, .timedOut, .lost].contains($0.outcome) }.count
        }
        for run in Array(state.openRuns.values) + state.history.values.joined() {
            if let id = run.trigger?.requestID { table.manualRequests[id] = run.key }
        }
        var work: [Work] = []
        var undecided: [(RunRecord, BuildTarget)] = []
        for (key, record) in state.openRuns.sorted(by: { $0.key < $1.key }) {
            guard let target = record.target else {
                var orphan = Run(key: key, target: BuildTarget(subscriptionID: "", resourceGroup: "", template: ""),
                                 policy: policy(key), phase: .queuedBehind(since: now))
                work.append(Work(key: key, effects: RunMachine.finish(&orphan, .lost, "the journal has no target for this slot")))
                continue
            }
            if let (run, effects) = RunMachine.recovered(record, target: target, policy: policy(key), unknownTimeoutSeconds: unknownTimeoutSeconds, now: now) {
                table.runs[key] = run
                table.holding.insert(key)
                table.occupant[run.template] = key
                work.append(Work(key: key, effects: effects))
            } else {
                undecided.append((record, target))
            }
        }
        for (record, target) in undecided {
            work += table.slotDue(record.key, target: target, policy: policy(record.key), now: now,
                                  journaled: (true, record.queuedAt != nil))
        }
        return (table, work)
    }

    // MARK: - Views

    /// Runs that hold capacity: building, or about to.
    public var activeCount: Int { holding.count }
    /// Runs waiting for capacity.
    public var waitingCount: Int { waiting.count }

    /// Ledger and runs agree: the checks the simulation makes after every step.
    public func consistencyProblems() -> [String] {
        var problems: [String] = []
        var perTemplate: [String: [SlotKey]] = [:]
        for run in runs.values where run.phase.holdsTemplate { perTemplate[run.template, default: []].append(run.key) }
        for (template, keys) in perTemplate where keys.count > 1 && keys.filter({ runs[$0]!.phase.mayHaveBuild }).count > 1 {
            problems.append("template \(template) has \(keys.count) runs with builds: \(keys.sorted())")
        }
        for run in runs.values {
            if run.phase.isClosed { problems.append("\(run.key) is closed but still in the table") }
            if run.phase.holdsTemplate != holding.contains(run.key) { problems.append("\(run.key) \(run.phase.name): capacity ledger disagrees") }
            if case .waitingForCapacity = run.phase, !waiting.contains(run.key) { problems.append("\(run.key) waits for capacity outside the queue") }
            if case .queuedBehind = run.phase, pending[run.template] != run.key { problems.append("\(run.key) is queued but not pending") }
        }
        return problems
    }

    // MARK: - Admission

    /// Takes capacity and the template for `run`, and starts it.
    private mutating func reserve(_ run: inout Run, now: Date) -> [RunEffect] {
        holding.insert(run.key)
        occupant[run.template] = run.key
        return RunMachine.admit(&run, now: now)
    }

    /// Closes a run that has no build (superseded), releasing what it held.
    private mutating func close(_ key: SlotKey, reason: String, now: Date) -> [Work] {
        guard var run = runs[key] else { return [] }
        let effects = RunMachine.skip(&run, reason: reason)
        runs[key] = run
        return [Work(key: key, effects: effects)] + release(key, now: now)
    }

    /// A run closed: free its place, then start what waited for it, the template's queued slot first.
    private mutating func release(_ key: SlotKey, now: Date) -> [Work] {
        guard let run = runs.removeValue(forKey: key) else { return [] }
        let template = run.template
        holding.remove(key)
        waiting.removeAll { $0 == key }
        if pending[template] == key { pending[template] = nil }
        var work: [Work] = []
        if occupant[template] == key {
            occupant[template] = nil
            if let next = pending.removeValue(forKey: template), var queued = runs[next] {
                if holding.count < maxConcurrentBuilds {
                    let effects = reserve(&queued, now: now)
                    runs[next] = queued
                    work.append(Work(key: next, effects: effects))
                } else {
                    queued.phase = .waitingForCapacity(since: now)
                    runs[next] = queued
                    waiting.append(next)
                }
            }
        }
        while holding.count < maxConcurrentBuilds,
              let index = waiting.firstIndex(where: { runs[$0].map { occupant[$0.template] == nil } ?? true }) {
            let next = waiting.remove(at: index)
            guard var admitted = runs[next] else { continue }
            let effects = reserve(&admitted, now: now)
            runs[next] = admitted
            work.append(Work(key: next, effects: effects))
        }
        return work
    }

    private func iso(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}

extension RunEffect {
    /// An ARM call or a timer: an effect whose answer comes back as an event.
    public var isContinuation: Bool {
        switch self {
        case .readTemplate, .callRun, .poll, .callCancel, .listOutputs, .wake: true
        case .record, .log: false
        }
    }
}
