import Foundation
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
        if !journaled.due {
            if let last = lastSlot[key.schedule], last >= key.slot { return [] }
            lastSlot[key.schedule] = key.slot
        }
        decisions += 1
        var run = Run(key: key, target: target, policy: policy, phase: .queuedBehind(since: now))
        var own: [RunEffect] = journaled.due ? [] : [.record(.slotDue(key, target: target)), .log(LogLine(.notice, "slot fired", event: "slot-fired"))]
        var others: [Work] = []
        let template = run.template

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
                own += [.record(.slotQueued(key)), .log(LogLine(.info, "slot queued behind the running build"))].filter { _ in !journaled.queued }
            case .replaceRunning:
                if let older = pending[template], older != key {
                    others += close(older, reason: "superseded by the slot at \(iso(key.slot)) while both waited to replace the running build", now: now)
                }
                pending[template] = key
                own += [.record(.slotQueued(key)), .log(LogLine(.info, "slot queued to replace the running build"))].filter { _ in !journaled.queued }
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
            if !journaled.queued { own += [.record(.slotQueued(key)), .log(LogLine(.info, "slot queued: max_concurrent_builds reached"))] }
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
        var work = [Work(key: key, effects: effects)]
        if next.phase.isClosed { work += release(key, now: now) }
        return work
    }

    /// Rebuilds the table from the journal's open runs after a restart: runs with a build are
    /// followed again (or reconciled), the rest are admitted again in slot order.
    public static func recover(_ state: JournalState, maxConcurrentBuilds: Int, now: Date,
                               policy: (SlotKey) -> RunPolicy) -> (RunTable, [Work]) {
        var table = RunTable(maxConcurrentBuilds: maxConcurrentBuilds)
        table.lastSlot = state.lastSlot
        var work: [Work] = []
        var undecided: [(RunRecord, BuildTarget)] = []
        for (key, record) in state.openRuns.sorted(by: { $0.key < $1.key }) {
            guard let target = record.target else {
                var orphan = Run(key: key, target: BuildTarget(subscriptionID: "", resourceGroup: "", template: ""),
                                 policy: policy(key), phase: .queuedBehind(since: now))
                work.append(Work(key: key, effects: RunMachine.finish(&orphan, .lost, "the journal has no target for this slot")))
                continue
            }
            if let (run, effects) = RunMachine.recovered(record, target: target, policy: policy(key), now: now) {
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
        date.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!))
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
