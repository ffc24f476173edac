import AzureClient
import Config
import FoundationEssentials
import JobJournal
import Logging
import RunLifecycle
import Scheduler

/// Runs every schedule: a thin driver around `RunTable`, which makes every decision. It turns slots
/// and ARM answers into events, and executes the effects the table returns: journal appends (durable
/// before the next effect), ARM calls, timers and log lines.
///
/// `start()` recovers the journal and adopts every open run (polling each once) before the daemon
/// is ready; `run()` then owns one task group holding the slot timer, the watchdog and one task per
/// run with work in flight. Cancelling `run()` cancels and awaits them all; builds go on in Azure.
public actor Orchestrator {
    /// Where facts become durable: the journal, or the cluster's fenced store.
    public nonisolated let journal: any RunStore
    /// Tests on a manual clock wait on it for every task to be waiting on the clock.
    nonisolated let activity: ActivityGauge?
    let client: any TemplateOperations
    let clock: any DaemonClock
    let logger: Logger
    /// The config in force: the file's schedules, then the discovered ones.
    public internal(set) var config: DaemonConfig
    /// The config as its file says (the last good reload).
    public internal(set) var fileConfig: DaemonConfig
    /// Lists templates for discovery; nil when nothing discovers (tests, the simulation's old seeds).
    let lister: (any TemplateListing)?
    var discoveryGeneration = 0
    /// A pass is in flight: a second request waits for it instead of listing twice at once.
    var discovering = false
    var discoveryWaiters: [CheckedContinuation<DiscoveryReport?, Never>] = []
    /// The last discovery pass's report, for status (a failed pass keeps the ignored of the last complete one).
    public internal(set) var lastDiscovery: DiscoveryReport?
    /// Tagged templates left out and already logged: each is logged once per change.
    var announcedProblems: Set<IgnoredTemplate> = []

    private var table: RunTable
    private var timer: SlotTimer<[ScheduleConfig]>
    /// Bumped when a run's work is replaced (a replace-cancel, a superseded slot); stale tasks stop.
    private var generations: [SlotKey: Int] = [:]
    /// Each run's effects not yet executed, in the order the table decided them. New work for a run
    /// replaces its calls and timers, never its facts: those are journaled first, by the new task.
    private var backlog: [SlotKey: ArraySlice<RunEffect>] = [:]
    /// Each open run's `build_timeout` as configured when it was first admitted: a reload changes
    /// the runs that come after it, not those already on their way.
    private var timeouts: [SlotKey: BuildTimeout] = [:]
    private var timerGeneration = 0
    /// Work for the task group, and work found before it exists (adoption, catch-up).
    private let spawns: AsyncStream<Spawn>
    private let spawner: AsyncStream<Spawn>.Continuation
    private var failure: (any Error)?
    var statusHandler: @Sendable (String) -> Void = { _ in }
    private var progressHandler: @Sendable (String) -> Void = { _ in }
    private var watchdog: (interval: Duration, ping: @Sendable () -> Void)?
    /// The latest failure, for the status line.
    private(set) var lastFailure: String?
    /// When this process started orchestrating.
    public nonisolated let startedAt: Date
    /// Per schedule: the latest run that ended (or slot skipped), for `status` and notifications.
    private var lastEnded: [String: RunRecord] = [:]
    /// Schedules announced stale and not yet recovered, for the status line.
    private var stale: Set<String> = []
    private var staleGeneration = 0
    private var pauseGeneration = 0
    private var notifyHandler: @Sendable (PendingNotification) -> Void = { _ in }
    private var runEndedHandler: @Sendable (_ schedule: String, _ outcome: RunOutcome, _ seconds: Double?) -> Void = { _, _, _ in }

    enum Spawn: Sendable {
        case run(SlotKey, generation: Int)
        case timer(generation: Int)
        case staleWatch(generation: Int)
        case pauseWatch(generation: Int)
        case discovery(generation: Int)
        case watchdog
    }

    /// Asked before every Run and Cancel: in cluster mode, whether this node still surely leads.
    private let armWritesAllowed: @Sendable () async -> Bool

    public init(config: DaemonConfig, journal: any RunStore, client: any TemplateOperations, clock: any DaemonClock, logger: Logger,
                activity: ActivityGauge? = nil, lister: (any TemplateListing)? = nil,
                armWritesAllowed: @escaping @Sendable () async -> Bool = { true }) {
        self.armWritesAllowed = armWritesAllowed
        self.config = config
        fileConfig = config
        self.lister = lister
        self.activity = activity
        startedAt = clock.now()
        self.journal = journal
        self.client = client
        self.clock = clock
        self.logger = logger
        table = RunTable(maxConcurrentBuilds: config.maxConcurrentBuilds)
        timer = SlotTimer(schedules: [ScheduleConfig](), now: clock.now(), lastSlot: { _ in nil })
        (spawns, spawner) = AsyncStream<Spawn>.makeStream()
    }

    // MARK: Lifecycle

    /// Recovers the run table from the journal, adopts every open run (one poll each, or the
    /// reconciliation of a Run whose answer was lost), and fires the latest missed slot per schedule.
    /// Returns when the daemon is ready.
    public func start() async throws {
        let state = journal.state
        let now = clock.now()
        // The discovered set as the journal holds it: schedules even while ARM cannot be listed.
        applyDiscovered()
        for (schedule, runs) in state.history {
            lastEnded[schedule] = runs.max { ($0.finishedAt ?? .distantPast) < ($1.finishedAt ?? .distantPast) }
        }
        stale = Set(config.schedules.filter { staleSince(of: $0) != nil }.map(\.name))
        try await noteSchedulesSeen()
        let (recovered, work) = RunTable.recover(state, maxConcurrentBuilds: config.maxConcurrentBuilds, now: now,
                                                 unknownTimeoutSeconds: BuildTimeout.template.seconds(templateMinutes: nil), policy: policy(for:))
        table = recovered
        // Up to 32 adoptions at once: a thousand open runs must not take a thousand round trips in a row.
        var index = 0
        for batch in stride(from: 0, to: work.count, by: 32).map({ Array(work[$0..<min($0 + 32, work.count)]) }) {
            progressHandler("adopting open runs: \(index) of \(work.count)")
            index += batch.count
            await withTaskGroup(of: Void.self) { group in
                for item in batch {
                    let generation = assign(item)
                    group.addTask { await self.drive(item.key, generation, untilSleep: true) }
                }
            }
            if let failure { throw failure }
        }
        let schedules = config.schedules
        for due in SlotTimer.missedSlots(schedules, now: now, lastSlot: { state.lastSlot[$0] }, firstSeen: { self.facts($0)?.firstSeen }) {
            logger.info("running the latest missed slot", metadata: ["SCHEDULE": "\(schedules[due.schedule].name)", "SLOT": "\(RFC3339.string(due.slot))"])
            fire(due, of: schedules, now: now)
        }
        // From the instant the missed slots were counted: adoption takes time, and a slot that came
        // due meanwhile is the timer's, not lost between the two.
        resetTimer(from: now)
        resetStaleWatch()
        resetPauseWatch()
        resetDiscovery()
    }

    /// Journals `schedule-seen` for every configured schedule the journal has not met: a schedule that
    /// never succeeds is stale counting from here. Concurrent, so group commit takes them in a few
    /// syncs; at most `seenWindow` at a time, so 10,000 new schedules do not mean 10,000 tasks whose
    /// freed memory would be left scattered between the facts that stay.
    private func noteSchedulesSeen() async throws {
        let new = config.schedules.map(\.name).filter { facts($0)?.firstSeen == nil }
        guard !new.isEmpty else { return }
        let now = clock.now()
        let journal = self.journal
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, name) in new.enumerated() {
                if index >= Self.seenWindow { try await group.next() }
                group.addTask { _ = try await journal.append(.scheduleSeen(schedule: name), at: now) }
            }
            try await group.waitForAll()
        }
    }

    private static let seenWindow = 256

    /// Appends a fact, durable when it returns; the journal folds it into the schedule's facts.
    func record(_ fact: JournalEvent, at now: Date) async throws {
        _ = try await journal.append(fact, at: now)
    }

    /// A schedule's facts as the journal holds them: one copy for the journal, status and metrics.
    private func facts(_ schedule: String) -> ScheduleFacts? {
        journal.scheduleFacts(schedule)
    }

    /// A leadership term's life (the daemon's whole life when single-node): `start()`, then
    /// `adopted` with the number of open runs taken over, then `run()` until `end` finishes (an
    /// ordinary end: it returns) or a journal or fence failure stops it (it throws that).
    public func serve(until end: AsyncStream<Void>, adopted: @escaping @Sendable (_ openRuns: Int) async -> Void) async throws {
        let open = journal.state.openRuns.count
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await self.start()
                    await adopted(open)
                    try await self.run()
                }
                group.addTask {
                    for await _ in end {}
                    throw CancellationError()
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        } catch is CancellationError {
            return
        }
    }

    /// Owns every task until cancelled: the slot timer, the watchdog, and the runs' work. Throws the
    /// journal error that stopped it, if one did.
    public func run() async throws {
        if watchdog != nil { spawner.yield(.watchdog) }
        await withDiscardingTaskGroup { group in
            for await spawn in spawns {
                switch spawn {
                case .run(let key, let generation):
                    group.addTask {
                        await self.drive(key, generation, untilSleep: false)
                        self.activity?.leave()
                    }
                case .timer(let generation):
                    group.addTask {
                        await self.runTimer(generation)
                        self.activity?.leave()
                    }
                case .staleWatch(let generation):
                    group.addTask {
                        await self.runStaleWatch(generation)
                        self.activity?.leave()
                    }
                case .pauseWatch(let generation):
                    group.addTask {
                        await self.runPauseWatch(generation)
                        self.activity?.leave()
                    }
                case .discovery(let generation):
                    group.addTask {
                        await self.runDiscovery(generation)
                        self.activity?.leave()
                    }
                case .watchdog:
                    group.addTask { await self.runWatchdog() }
                }
            }
            group.cancelAll()
        }
        if let failure { throw failure }
    }

    /// Who hears the status line when it changes, and progress during a long start-up.
    public func setStatusHandlers(status: @escaping @Sendable (String) -> Void, progress: @escaping @Sendable (String) -> Void) {
        statusHandler = status
        progressHandler = progress
    }

    /// Who sends a notification once its intent is durable (the webhook dispatcher).
    public func setNotifyHandler(_ handler: @escaping @Sendable (PendingNotification) -> Void) {
        notifyHandler = handler
    }

    /// Who hears how long each run took, as it finishes (the duration histogram).
    public func setRunEndedHandler(_ handler: @escaping @Sendable (_ schedule: String, _ outcome: RunOutcome, _ seconds: Double?) -> Void) {
        runEndedHandler = handler
    }

    /// Pings from inside the actor every `interval` once `run()` runs: if the actor is wedged, the
    /// pings stop and systemd's watchdog restarts the daemon. Real time, whatever the scheduling clock.
    public func setWatchdog(every interval: Duration, ping: @escaping @Sendable () -> Void) {
        watchdog = (interval, ping)
    }

    /// Swaps in a new configuration: the slot timer restarts; runs keep the settings they started with.
    public func reload(_ newConfig: DaemonConfig) async {
        fileConfig = newConfig
        table.maxConcurrentBuilds = newConfig.maxConcurrentBuilds
        await schedulesChanged()
        // A reload lists again at once: the sources, the prefix or the defaults may have changed.
        resetDiscovery()
    }

    /// After the file's or the discovered schedules changed: the merged config, its timer, its
    /// `schedule-seen` facts and its stale set.
    func schedulesChanged() async {
        applyDiscovered()
        resetTimer()
        do { try await noteSchedulesSeen() } catch { fail(error) }
        stale = Set(config.schedules.filter { staleSince(of: $0) != nil }.map(\.name))
        resetStaleWatch()
    }

    /// The one line `systemctl status` shows.
    public func statusLine() -> String {
        let running = table.activeCount
        var parts = ["\(running) build\(running == 1 ? "" : "s") running"]
        if table.waitingCount > 0 { parts.append("\(table.waitingCount) waiting for capacity") }
        if let next = nextSlot() { parts.append("next: \(next.schedule) (\(next.template)) at \(RFC3339.string(next.at))") }
        else { parts.append("no schedules") }
        if !stale.isEmpty {
            let names = stale.sorted()
            parts.append("STALE: " + names.prefix(3).joined(separator: ", ") + (names.count > 3 ? " and \(names.count - 3) more" : ""))
        }
        if let lastFailure { parts.append("last failure: \(lastFailure)") }
        return parts.joined(separator: "; ")
    }

    /// Runs holding a build (or about to), for the status line.
    public var runningCount: Int { table.activeCount }

    /// Transitions the run table made in this orchestrator's life, for the simulation's figures.
    public var decisions: Int { table.decisions }

    /// The next slot of any schedule, for the status line.
    func nextSlot() -> (schedule: String, template: String, at: Date)? {
        guard let due = timer.nextSlot, due.schedule < config.schedules.count else { return nil }
        let schedule = config.schedules[due.schedule]
        return (schedule.name, schedule.target.name, due.slot)
    }

    // MARK: Operator control

    /// What went wrong with an operator's request.
    public enum ControlFailure: Error, Sendable {
        case unknownSchedule(String, known: [String])
        case nothingToCancel(String)
        /// `pause --until` at or before the daemon's now.
        case untilNotInFuture(until: Date, now: Date)
    }

    /// What a trigger did, in words that are true at the moment of the answer.
    public struct TriggerDecision: Sendable, Equatable {
        /// Whether a build starts (now or later) for this request.
        public enum Outcome: String, Sendable {
            /// The Run is under way.
            case started
            /// Held behind the template's running build (queue), or behind its cancel (replace).
            case queued, replacing
            /// Held until a unit of `max_concurrent_builds` frees up.
            case waiting
            /// Nothing starts: the overlap policy skipped it.
            case skipped
            /// The same request id was answered before: that answer's slot.
            case duplicate
        }
        public var outcome: Outcome
        public var text: String
    }

    /// One schedule as `status` shows it.
    public struct ScheduleSnapshot: Sendable {
        public var config: ScheduleConfig
        /// Its open runs, oldest first.
        public var runs: [Run]
        public var pause: PauseRecord?
        public var last: RunRecord?
        public var lastSuccess: Date?
        public var next: Date?
        /// When it was announced stale; nil while fresh.
        public var staleSince: Date?
    }

    /// The daemon's clock.
    public func now() -> Date { clock.now() }

    /// Every schedule's state, for `imagebuildd status`.
    public func snapshot() -> [ScheduleSnapshot] {
        let now = clock.now()
        return config.schedules.map { schedule in
            ScheduleSnapshot(config: schedule, runs: table.runs(of: schedule.name), pause: table.paused[schedule.name],
                             last: lastEnded[schedule.name], lastSuccess: facts(schedule.name)?.lastSuccess,
                             next: schedule.cron.next(after: now), staleSince: staleSince(of: schedule))
        }
    }

    /// When the schedule was announced stale, while its config still asks for stale detection.
    private func staleSince(of schedule: ScheduleConfig) -> Date? {
        staleSince(of: schedule, in: facts(schedule.name))
    }

    private func staleSince(of schedule: ScheduleConfig, in facts: ScheduleFacts?) -> Date? {
        schedule.staleAfter == nil ? nil : facts?.staleSince
    }

    /// What the metrics endpoint shows: every configured schedule's facts, and the run table's load.
    public func metricsSnapshot() -> (schedules: [ScheduleRow], running: Int, waiting: Int) {
        let now = clock.now()
        // The timer's heap holds every next slot; before the first timer (or in a reload's instant) compute them.
        let next = timer.schedules.count == config.schedules.count ? timer.nextSlots : nil
        let known = journal.scheduleFacts(config.schedules.map(\.name))
        let schedules = config.schedules.enumerated().map { index, schedule in
            var current = known[index] ?? ScheduleFacts()
            current.staleSince = staleSince(of: schedule, in: known[index])
            return ScheduleRow(name: schedule.name, target: schedule.buildTarget, cron: schedule.cron.expression, timezone: schedule.timezone,
                               next: next.map { $0[index] } ?? schedule.cron.next(after: now), facts: current,
                               paused: table.paused[schedule.name] != nil)
        }
        return (schedules, table.activeCount, table.waitingCount)
    }

    /// `imagebuildd trigger`: a manual slot of `schedule` now, journaled with who asked and why
    /// before its Run. The same request id returns the same slot.
    public func trigger(_ name: String, reason: String?, overlap: OverlapPolicy?, requestID: String?, by: String) throws(ControlFailure)
        -> (slot: SlotKey, decision: TriggerDecision) {
        let schedule = try schedule(named: name)
        var policy = schedule.runPolicy
        if let overlap { policy.overlap = overlap }
        let (key, work) = table.trigger(name, target: schedule.buildTarget, policy: policy,
                                        request: TriggerRequest(requestedBy: by, reason: reason, requestID: requestID), now: clock.now())
        logger.notice("manual run of \(name) requested by \(by)\(reason.map { ": \($0)" } ?? "")",
                      metadata: ["SCHEDULE": "\(name)", "EVENT": "trigger", "REQUESTED_BY": "\(by)"])
        dispatch(work, own: nil)
        var decision = Self.decision(for: key, phase: table.runs[key]?.phase, work: work, holder: table.runs(of: name).first { $0.phase.holdsTemplate })
        if table.paused[name] != nil, decision.outcome != .skipped, decision.outcome != .duplicate {
            decision.text += " (the schedule is paused: a pause holds its cron slots, not a manual trigger)"
        }
        return (key, decision)
    }

    /// Reads the table's verdict on a manual slot. A replace's cancel is named as such, never as a
    /// queue; a skip is the only answer under which nothing will build.
    static func decision(for key: SlotKey, phase: RunPhase?, work: [RunTable.Work], holder: Run?) -> TriggerDecision {
        let journaled = work.lazy.flatMap(\.effects)
        let skipped = journaled.compactMap { if case .record(.slotSkipped(key, let reason)) = $0 { reason } else { nil } }.first
        let cancelled = journaled.compactMap { if case .record(.cancelRequested(let other, .replace, _)) = $0, other != key { other } else { nil } }.first
        let slot = { (k: SlotKey) in RFC3339.string(k.slot) + (k.manual ? ", manual" : "") }
        // A fresh manual slot always comes with work; none means the request id was answered before.
        guard !work.isEmpty else { return .init(outcome: .duplicate, text: "already requested (a retry of the same trigger)") }
        switch phase {
        case .preparing?:
            return .init(outcome: .started, text: "started")
        case .queuedBehind? where cancelled != nil:
            return .init(outcome: .replacing, text: "replacing: cancelling the running build (slot \(slot(cancelled!))); this run starts once Azure reports it canceled")
        case .queuedBehind?:
            let behind = holder.map { " (slot \(slot($0.key)))" } ?? ""
            if case .cancelling? = holder?.phase {
                return .init(outcome: .replacing, text: "replacing: the running build\(behind) is already being cancelled; this run starts once it ends")
            }
            return .init(outcome: .queued, text: "queued behind the running build\(behind); it starts when that build ends")
        case .waitingForCapacity?:
            return .init(outcome: .waiting, text: "waiting for capacity (max_concurrent_builds); it starts when a build ends")
        case let phase?:
            return .init(outcome: .started, text: phase.name)
        case nil:
            return .init(outcome: .skipped, text: "not started: \(skipped ?? "closed at once")")
        }
    }

    /// `imagebuildd pause`: durable before it returns.
    public func pause(_ name: String, until: Date?, reason: String?, by: String) async throws -> PauseRecord {
        _ = try schedule(named: name)
        let now = clock.now()
        if let until, until <= now { throw ControlFailure.untilNotInFuture(until: until, now: now) }
        let fact = table.pause(name, until: until, reason: reason, by: by, now: now)
        try await durably(fact, now: now)
        if until != nil { resetPauseWatch() }
        logger.notice("schedule paused by \(by)\(reason.map { ": \($0)" } ?? "")",
                      metadata: ["SCHEDULE": "\(name)", "EVENT": "paused", "REQUESTED_BY": "\(by)"])
        statusHandler(statusLine())
        return PauseRecord(since: now, until: until, reason: reason, by: by)
    }

    /// `imagebuildd resume`: durable before it returns; false when it was not paused.
    public func resume(_ name: String, by: String) async throws -> Bool {
        _ = try schedule(named: name)
        guard let fact = table.resume(name, by: by) else { return false }
        let now = clock.now()
        try await durably(fact, now: now)
        logger.notice("schedule resumed by \(by)", metadata: ["SCHEDULE": "\(name)", "EVENT": "resumed", "REQUESTED_BY": "\(by)"])
        statusHandler(statusLine())
        return true
    }

    /// `imagebuildd cancel`: journals `cancel-requested` (reason `operator`, who and why) and sends the Cancel.
    public func cancel(_ name: String, reason: String?, by: String) throws(ControlFailure) -> SlotKey {
        _ = try schedule(named: name)
        guard let work = table.cancel(name, request: CancelRequest(requestedBy: by, note: reason), now: clock.now()) else {
            throw .nothingToCancel(name)
        }
        dispatch([work], own: nil)
        return work.key
    }

    /// An operator's fact, durable before the reply. The table already holds it: if the store lost
    /// leadership meanwhile, this term ends (the next one reads the store again) rather than act
    /// on a pause or resume nobody else will see.
    private func durably(_ fact: JournalEvent, now: Date) async throws {
        do {
            try await announce(fact, now: now)
            try await record(fact, at: now)
        } catch {
            if error is any EndsLeadership { fail(error) }
            throw error
        }
    }

    private func schedule(named name: String) throws(ControlFailure) -> ScheduleConfig {
        guard let schedule = config.schedules.first(where: { $0.name == name }) else {
            throw .unknownSchedule(name, known: config.schedules.map(\.name))
        }
        return schedule
    }

    // MARK: The driver

    /// Executes a run's backlog in order, feeding each ARM answer and timer back to the table, until
    /// the run has nothing in flight or newer work took it over. With `untilSleep`, stops at the
    /// first timer and hands the rest to `run()` (adoption before READY polls each run once, then
    /// leaves the waiting to the group).
    private func drive(_ key: SlotKey, _ generation: Int, untilSleep: Bool) async {
        // Kept once the run closes: its last log lines still name the template.
        var target = table.runs[key]?.target
        while generations[key] == generation, failure == nil, !Task.isCancelled, let effect = backlog[key]?.popFirst() {
            target = table.runs[key]?.target ?? target
            let event: RunEvent
            switch effect {
            case .record(let fact):
                do {
                    let now = clock.now()
                    try await announce(fact, now: now)
                    try await record(fact, at: now)
                } catch {
                    if !Task.isCancelled { fail(error) }
                    return
                }
                noteStatus(after: fact)
                continue
            case .log(let line):
                log(line, key, target)
                continue
            case .wake(let at):
                if untilSleep {
                    backlog[key] = [effect] + (backlog[key] ?? [])
                    spawn(.run(key, generation: generation))
                    return
                }
                // A test's manual clock, which shares the activity gauge, counts the task idle while it sleeps.
                do { try await clock.sleep(until: at) } catch { return }
                event = .wake
            case .callRun, .callCancel:
                guard let target else { return }
                // The fact before this call was fenced, but the process may have stalled since: a
                // node that cannot be sure it still leads makes no ARM write.
                guard await armWritesAllowed() else {
                    fail(LeadershipLost())
                    return
                }
                guard generations[key] == generation, failure == nil, !Task.isCancelled else { return }
                event = await call(effect, key: key, target: target.templateID)
            case .readTemplate, .poll, .listOutputs:
                guard let target else { return }
                event = await call(effect, key: key, target: target.templateID)
            }
            // An answer that arrives during shutdown, or for work since replaced, is not evidence of anything.
            guard generations[key] == generation, !Task.isCancelled else { return }
            let work = table.handle(key, event, now: clock.now())
            if let own = work.first, own.key == key { backlog[key, default: []] += own.effects }
            dispatch(work.dropFirst(), own: key)
        }
        if generations[key] == generation, backlog[key]?.isEmpty == true { backlog[key] = nil }
        if table.runs[key] == nil { timeouts[key] = nil }
    }

    /// Starts work for runs other than the one being driven (a preempted run gets a new generation).
    private func dispatch<C: Collection<RunTable.Work>>(_ work: C, own: SlotKey?) {
        for item in work where item.key != own {
            spawn(.run(item.key, generation: assign(item)))
        }
    }

    /// Makes `work` its run's backlog under a new generation, after whatever facts and log lines the
    /// run's previous work had not executed yet: a task spawned for a slot may not have started when
    /// the table supersedes or admits it, and its `slot-due` must still reach the journal first.
    private func assign(_ work: RunTable.Work) -> Int {
        if timeouts[work.key] == nil { timeouts[work.key] = buildTimeout(for: work.key) }
        let leftover = backlog[work.key]?.filter { !$0.isContinuation } ?? []
        backlog[work.key] = ArraySlice(leftover + work.effects)
        return nextGeneration(work.key)
    }

    /// Hands work to `run()`'s task group (buffered until it runs).
    func spawn(_ work: Spawn) {
        activity?.enter()
        if case .terminated = spawner.yield(work) { activity?.leave() }
    }

    private func nextGeneration(_ key: SlotKey) -> Int {
        let next = (generations[key] ?? 0) + 1
        generations[key] = next
        return next
    }

    /// One ARM call, its answer as the event the state machine expects. The only place ARM errors are
    /// classified.
    private func call(_ effect: RunEffect, key: SlotKey, target: ImageTemplateID) async -> RunEvent {
        let buildTimeout = timeouts[key] ?? buildTimeout(for: key)
        let timeout = { (template: ImageTemplate) in buildTimeout.seconds(templateMinutes: template.properties?.buildTimeoutInMinutes) }
        do {
            switch effect {
            case .readTemplate:
                return .templateRead(timeoutSeconds: timeout(try await client.get(target)))
            case .callRun:
                let acceptance = try await client.run(target)
                return .runAccepted(correlationID: acceptance.ids.correlationRequestID)
            case .poll:
                let template = try await client.get(target)
                return .observed(Observation(status: Self.runStatus(template.properties?.lastRunStatus), timeoutSeconds: timeout(template)))
            case .callCancel:
                _ = try await client.cancel(target)
                return .cancelAnswered(error: nil)
            case .listOutputs:
                let outputs = try await client.listRunOutputs(target)
                return .outputsListed(outputs.map {
                    RunOutputRecord(name: $0.name ?? "", artifactID: $0.properties?.artifactId, artifactURI: $0.properties?.artifactUri)
                })
            case .record, .log, .wake:
                return .wake
            }
        } catch {
            switch effect {
            case .readTemplate:
                if error.status == 404 { return .armRefused("\(error)", notFound: true) }
                return Self.isTransient(error) ? .armUnavailable("\(error)") : .armRefused("\(error)", notFound: false)
            case .callRun:
                if case .ambiguous(_, let underlying, _) = error { return .runAmbiguous(underlying) }
                if error.status == 409 { return .runConflict(error.armCode ?? "409") }
                if error.status == 404 { return .armRefused("\(error)", notFound: true) }
                return Self.isTransient(error) ? .armUnavailable("\(error)") : .armRefused("\(error)", notFound: false)
            case .poll:
                return error.status == 404 ? .templateGone : .pollFailed("\(error)")
            case .callCancel:
                return .cancelAnswered(error: "\(error)")
            case .listOutputs:
                return .outputsListed(nil)
            case .record, .log, .wake:
                return .wake
            }
        }
    }

    /// Worth waiting out before a Run: throttling, outages, and token endpoints that are down.
    static func isTransient(_ error: AzureError) -> Bool {
        switch error {
        case .retriesExhausted, .transport: true
        case .http(let status, _, _, _): RetryPolicy.retryableStatuses.contains(status)
        case .authentication(_, let reason): reason.hasPrefix("HTTP 5") || reason.hasPrefix("HTTP 429") || !reason.hasPrefix("HTTP")
        default: false
        }
    }

    static func runStatus(_ status: LastRunStatus?) -> RunStatus? {
        guard let status, let state = status.runState else { return nil }
        return RunStatus(runState: state.rawValue, runSubState: status.runSubState?.rawValue,
                         message: status.message?.isEmpty == false ? status.message : nil,
                         startedAt: status.startTime?.date, endedAt: status.endTime?.date)
    }

    // MARK: Slots

    private func resetTimer(from start: Date? = nil) {
        timer = SlotTimer(schedules: config.schedules, now: start ?? clock.now(), lastSlot: { [table] in table.lastSlot[$0] }, replacing: timer)
        for name in timer.exhausted {
            logger.error("schedule has no fire time within 5 years", metadata: ["SCHEDULE": "\(name)"])
        }
        timerGeneration += 1
        spawn(.timer(generation: timerGeneration))
    }

    /// Sleeps until the earliest slot of any schedule, fires what is due, and again. A reload starts a
    /// new timer; this one then ends at its next wake.
    private func runTimer(_ generation: Int) async {
        while generation == timerGeneration, let at = timer.nextFireAt {
            do { try await clock.sleep(until: at) } catch { return }
            guard generation == timerGeneration, !Task.isCancelled else { return }
            let now = clock.now()
            for due in timer.popDue(now: now) { fire(due, of: config.schedules, now: now) }
        }
    }

    /// A slot came due (on time, or the latest missed one): the table decides, the group runs the work.
    private func fire(_ due: SlotTimer<[ScheduleConfig]>.Due, of schedules: [ScheduleConfig], now: Date) {
        let schedule = schedules[due.schedule]
        dispatch(table.slotDue(SlotKey(schedule: schedule.name, slot: due.slot), target: schedule.buildTarget,
                               policy: schedule.runPolicy, now: now), own: nil)
    }

    // MARK: Stale images and notifications

    private func resetStaleWatch() {
        staleGeneration += 1
        guard config.schedules.contains(where: { $0.staleAfter != nil }) else { return }
        spawn(.staleWatch(generation: staleGeneration))
    }

    /// Sleeps until the earliest stale deadline of any fresh schedule, announces those past theirs,
    /// and again. A success only moves a deadline later, so waking early is the worst that happens;
    /// a reload starts a new watch.
    private func runStaleWatch(_ generation: Int) async {
        while generation == staleGeneration, !Task.isCancelled, failure == nil {
            let now = clock.now()
            var earliest: Date?
            for schedule in config.schedules {
                let f = facts(schedule.name) ?? ScheduleFacts()
                guard f.staleSince == nil, let deadline = Staleness.deadline(lastSuccess: f.lastSuccess, firstSeen: f.firstSeen,
                                                                              staleAfter: schedule.staleAfter?.seconds) else { continue }
                if now > deadline {
                    do { try await announceStale(schedule, f, deadline: deadline) } catch {
                        if !Task.isCancelled { fail(error) }
                        return
                    }
                } else {
                    earliest = min(earliest ?? deadline, deadline)
                }
            }
            guard generation == staleGeneration else { return }
            // Strictly past the deadline: "exceeds".
            let wake = earliest.map { $0.addingTimeInterval(0.001) } ?? now.addingTimeInterval(86_400)
            do { try await clock.sleep(until: wake) } catch { return }
        }
    }

    private func resetPauseWatch() {
        pauseGeneration += 1
        guard table.nextPauseExpiry != nil else { return }
        spawn(.pauseWatch(generation: pauseGeneration))
    }

    /// Sleeps until the earliest `pause --until`, then resumes every schedule whose pause ran out,
    /// durably, so status, metrics and STATUS= say so at that instant rather than at the next slot.
    /// A new timed pause starts a new watch.
    private func runPauseWatch(_ generation: Int) async {
        while generation == pauseGeneration, !Task.isCancelled, failure == nil, let at = table.nextPauseExpiry {
            do { try await clock.sleep(until: at) } catch { return }
            guard generation == pauseGeneration, !Task.isCancelled else { return }
            let now = clock.now()
            for fact in table.expirePauses(now: now) {
                guard case .resumed(let schedule, _) = fact else { continue }
                do {
                    try await announce(fact, now: now)
                    try await record(fact, at: now)
                } catch {
                    if !Task.isCancelled { fail(error) }
                    return
                }
                logger.notice("schedule resumed: its pause ran out", metadata: ["SCHEDULE": "\(schedule)", "EVENT": "resumed", "REQUESTED_BY": "until"])
            }
            statusHandler(statusLine())
        }
    }

    private func announceStale(_ schedule: ScheduleConfig, _ facts: ScheduleFacts, deadline: Date) async throws {
        let now = clock.now()
        let after = schedule.staleAfter?.configText ?? "-"
        let text: String
        var metadata: Logger.Metadata = ["SCHEDULE": "\(schedule.name)", "TEMPLATE": "\(schedule.target.name)", "EVENT": "stale", "STALE_AFTER": "\(after)"]
        if let success = facts.lastSuccess {
            text = "\(schedule.name) (\(schedule.target.name)) is stale: no successful build since \(RFC3339.string(success)) (stale_after \(after))"
            metadata["LAST_SUCCESS"] = "\(RFC3339.string(success))"
        } else {
            text = "\(schedule.name) (\(schedule.target.name)) is stale: no successful build since it was added at \(RFC3339.string(facts.firstSeen ?? now)) (stale_after \(after))"
            metadata["LAST_SUCCESS"] = "never"
        }
        try await enqueue(.stale, schedule: schedule.name, template: schedule.target.name, key: "\(schedule.name)/stale/\(deadline.journalMillis)",
                          run: lastEnded[schedule.name], text: text, now: now)
        try await record(.stale(schedule: schedule.name), at: now)
        stale.insert(schedule.name)
        logger.warning("\(text)", metadata: metadata)
        statusHandler(statusLine())
    }

    /// Before a fact is journaled: the notifications it implies, their intent durable first, so a
    /// crash in between repeats the notice (same key) rather than losing it.
    private func announce(_ fact: JournalEvent, now: Date) async throws {
        switch fact {
        case .finished(let key, let outcome, let message):
            var run = journal.openRun(key) ?? RunRecord(key: key)
            run.outcome = outcome
            run.message = message ?? run.lastStatus?.message
            run.finishedAt = now
            let template = run.target?.template ?? "-"
            let began = run.lastStatus?.startedAt ?? run.acceptedAt ?? run.requestedAt
            runEndedHandler(key.schedule, outcome, began.map { max(0, now.timeIntervalSince($0)) })
            lastEnded[key.schedule] = run
            if let event = NotifyEvent(rawValue: outcome.rawValue) {
                let what = "build of \(template) (schedule \(key.schedule), slot \(RFC3339.string(key.slot))\(key.manual ? ", manual" : ""))"
                let text: String = switch outcome {
                case .succeeded: "\(what) succeeded"
                case .partiallySucceeded: "\(what) partially succeeded" + (run.message.map { ": \($0)" } ?? "")
                case .timedOut: "\(what) timed out" + (run.buildTimeoutSeconds.map { " after \(Duration.seconds($0).configText)" } ?? "") + " and was canceled"
                case .canceled: "\(what) was canceled" + (run.message.map { ": \($0)" } ?? "")
                default: "\(what) \(outcome.rawValue)" + (run.message.map { ": \($0)" } ?? "")
                }
                try await enqueue(event, schedule: key.schedule, template: template, key: "\(key)/\(event.rawValue)", run: run, text: text, now: now)
            }
            if outcome.isSuccess, stale.remove(key.schedule) != nil {
                let text = "\(key.schedule) (\(template)) recovered: built successfully at \(RFC3339.string(now))"
                try await enqueue(.recovered, schedule: key.schedule, template: template, key: "\(key)/recovered", run: run, text: text, now: now)
                logger.notice("\(text)", metadata: ["SCHEDULE": "\(key.schedule)", "TEMPLATE": "\(template)", "EVENT": "recovered"])
                statusHandler(statusLine())
            }
        case .slotSkipped(let key, let reason):
            var run = journal.openRun(key) ?? RunRecord(key: key)
            run.outcome = .skipped
            run.message = reason
            run.finishedAt = now
            lastEnded[key.schedule] = run
            let template = run.target?.template ?? templateName(of: key.schedule)
            try await enqueue(.skipped, schedule: key.schedule, template: template, key: "\(key)/skipped", run: run,
                              text: "slot \(RFC3339.string(key.slot)) of \(key.schedule) (\(template)) was skipped: \(reason)", now: now)
        case .paused(let schedule, let until, let reason, let by):
            let template = templateName(of: schedule)
            let text = "\(schedule) (\(template)) paused by \(by)" + (until.map { " until \(RFC3339.string($0))" } ?? "") + (reason.map { ": \($0)" } ?? "")
            try await enqueue(.paused, schedule: schedule, template: template, key: "\(schedule)/paused/\(now.journalMillis)", run: nil, text: text, now: now)
        case .resumed(let schedule, let by):
            let template = templateName(of: schedule)
            let how = by == RunTable.untilResumer ? "resumed: its pause ran out" : "resumed by \(by)"
            try await enqueue(.resumed, schedule: schedule, template: template, key: "\(schedule)/resumed/\(now.journalMillis)", run: nil,
                              text: "\(schedule) (\(template)) \(how)", now: now)
        default:
            break
        }
    }

    /// The template a configured schedule builds, for notification texts.
    private func templateName(of schedule: String) -> String {
        config.schedules.first { $0.name == schedule }?.target.name ?? "-"
    }

    /// Journals a notification's intent for every sink that wants `event`, then hands it to the sender.
    private func enqueue(_ event: NotifyEvent, schedule: String, template: String, key: String, run: RunRecord?, text: String, now: Date) async throws {
        let sinks = config.notify.filter { $0.events.contains(event) }.map(\.id)
        guard !sinks.isEmpty else { return }
        let body = HistoryJSON.object([
            ("event", HistoryJSON.quoted(event.rawValue)), ("text", HistoryJSON.quoted("imagebuildd: " + text)),
            ("schedule", HistoryJSON.quoted(schedule)), ("template", HistoryJSON.quoted(template)),
            ("run", run.map { HistoryJSON.object($0) } ?? "null"), ("at", HistoryJSON.quoted(RFC3339.string(now))),
        ])
        let pending = PendingNotification(key: key, event: event.rawValue, schedule: schedule, body: body, sinks: sinks, queuedAt: now)
        _ = try await journal.append(.notifyQueued(pending), at: now)
        notifyHandler(pending)
    }

    private func runWatchdog() async {
        guard let (interval, ping) = watchdog else { return }
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            if failure == nil { ping() }
        }
    }

    // MARK: Settings

    /// The settings of a run's schedule, or the defaults when it left the config (its runs still finish).
    private func policy(for key: SlotKey) -> RunPolicy {
        config.schedules.first { $0.name == key.schedule }?.runPolicy ?? ConfigLoader.Defaults().runPolicy
    }

    private func buildTimeout(for key: SlotKey) -> BuildTimeout {
        config.schedules.first { $0.name == key.schedule }?.buildTimeout ?? ConfigLoader.Defaults().buildTimeout
    }

    // MARK: Reporting

    private func noteStatus(after fact: JournalEvent) {
        switch fact {
        case .finished(_, let outcome, let message) where outcome != .succeeded && outcome != .partiallySucceeded:
            lastFailure = "\(fact.slot?.schedule ?? "") \(outcome.rawValue)\(message.map { ": \($0)" } ?? "")"
            statusHandler(statusLine())
        case .slotDue, .slotSkipped, .runAccepted, .finished:
            statusHandler(statusLine())
        default:
            break
        }
    }

    private func log(_ line: LogLine, _ key: SlotKey, _ target: BuildTarget?) {
        var metadata: Logger.Metadata = ["SCHEDULE": "\(key.schedule)", "SLOT": "\(RFC3339.string(key.slot))"]
        if let target { metadata["TEMPLATE"] = "\(target.template)" }
        if let event = line.event { metadata["EVENT"] = "\(event)" }
        for (name, value) in line.fields { metadata[name] = "\(value)" }
        let level: Logger.Level = switch line.level {
        case .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        }
        logger.log(level: level, "\(line.message)", metadata: metadata)
    }

    func fail(_ error: any Error) {
        guard failure == nil else { return }
        failure = error
        if error is any EndsLeadership {
            logger.warning("\(error); stopping this node's scheduling")
        } else {
            logger.critical("journal write failed; stopping: \(error)")
        }
        spawner.finish()
    }
}

/// This node can no longer be sure it leads the cluster; it stops before any ARM write.
public struct LeadershipLost: EndsLeadership, CustomStringConvertible, Sendable {
    public init() {}
    public var description: String { "leadership lost (lease not renewed in time, or another node leads)" }
}

/// The ARM operations the orchestrator uses; `ImageTemplatesClient` in production, doubles in tests.
public protocol TemplateOperations: Sendable {
    func get(_ id: ImageTemplateID) async throws(AzureError) -> ImageTemplate
    func run(_ id: ImageTemplateID) async throws(AzureError) -> OperationAcceptance
    func cancel(_ id: ImageTemplateID) async throws(AzureError) -> OperationAcceptance
    func listRunOutputs(_ id: ImageTemplateID) async throws(AzureError) -> [RunOutput]
}

extension ImageTemplatesClient: TemplateOperations {}
