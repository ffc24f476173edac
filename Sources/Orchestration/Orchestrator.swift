import AzureClient
import Foundation
import JobJournal
import Logging
import Scheduler

/// Runs every schedule: fires slots, triggers builds, follows them to their end, cancels overruns,
/// and journals each step so that a restart carries on where the last process stopped.
///
/// One timer task sleeps until the earliest slot of any schedule; each due slot and each build gets
/// a task of its own, which sleeps until its next poll or deadline. The actor serializes their
/// decisions (overlap, concurrency).
public actor Orchestrator {
    public let journal: Journal
    let client: ImageTemplatesClient
    let clock: any DaemonClock
    let logger: Logger
    private(set) var config: DaemonConfig

    private var timer: Task<Void, Never>?
    /// Slots being decided and triggered, concurrently (a thousand may come due at once).
    private var firing: [SlotKey: Task<Void, Never>] = [:]
    private var followers: [SlotKey: Task<Void, Never>] = [:]
    /// Runs from run-requested until finished, with their target.
    private var active: [SlotKey: ImageTemplateID] = [:]
    /// Per template: the slot held by the overlap policy (queue, or replace waiting for the cancel).
    private var pendingOverlap: [String: SlotKey] = [:]
    /// Slots held because `max_concurrent_builds` were running, oldest first.
    private var waitingForCapacity: [SlotKey] = []
    private var failure: (any Error)?
    private var fatalHandler: @Sendable (any Error) -> Void = { _ in }
    private var statusHandler: @Sendable (String) -> Void = { _ in }
    private var progressHandler: @Sendable (String) -> Void = { _ in }
    private var watchdogTask: Task<Void, Never>?
    private var stopped = false
    /// The latest failure, for the status line.
    private(set) var lastFailure: String?

    /// Azure's clock and ours may differ a little; a run that started this much before our request is still ours.
    static let clockTolerance: TimeInterval = 60

    public init(config: DaemonConfig, journal: Journal, client: ImageTemplatesClient, clock: any DaemonClock, logger: Logger) {
        self.config = config
        self.journal = journal
        self.client = client
        self.clock = clock
        self.logger = logger
    }

    // MARK: Lifecycle

    /// Adopts every open run (polling each once), reconciles requests without an answer, runs the
    /// latest missed slot per schedule, then starts the schedule loops. Returns when ready.
    public func start() async throws {
        let state = journal.state
        let open = state.openRuns.sorted(by: { $0.key < $1.key })
        for (index, (key, run)) in open.enumerated() {
            if index % 50 == 0 { progressHandler("adopting open runs: \(index) of \(open.count)") }
            guard let target = run.target.map({ ImageTemplateID(subscriptionID: $0.subscriptionID, resourceGroup: $0.resourceGroup, name: $0.template) }) else {
                try await record(.finished(key, outcome: .lost, message: "the journal has no target for this slot"))
                continue
            }
            if run.acceptedAt != nil {
                active[key] = target
                let ended = try await pollOnce(key, target: target)
                if !ended { startFollowing(key, target: target) }
            } else if let requestedAt = run.requestedAt {
                active[key] = target
                try await reconcile(key, target: target, requestedAt: requestedAt)
            } else if run.queuedAt != nil || run.dueAt != nil {
                try await decide(key, target: target, settings: settings(for: key.schedule))
            }
        }
        let now = clock.now()
        for schedule in config.schedules {
            let last = journal.lastSlot(for: schedule.name)
            if let missed = SchedulePolicy.latestMissedSlot(schedule.cron, lastSlot: last, firstSeen: last ?? now, now: now, window: schedule.catchUp) {
                logger.info("running the latest missed slot", metadata: ["SCHEDULE": "\(schedule.name)", "SLOT": "\(RFC3339.string(missed))"])
                try await fire(schedule, slot: missed)
            }
        }
        startTimer()
    }

    /// Stops scheduling and polling; builds go on in Azure and are adopted at the next start.
    public func stop() async {
        stopped = true
        watchdogTask?.cancel()
        timer?.cancel()
        let tasks = [timer].compactMap { $0 } + Array(firing.values) + Array(followers.values)
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    /// Who learns that the journal could not be written (the daemon then stops; systemd restarts it).
    public func setFatalHandler(_ handler: @escaping @Sendable (any Error) -> Void) {
        fatalHandler = handler
    }

    /// Who hears the status line when it changes, and progress during a long start-up.
    public func setStatusHandlers(status: @escaping @Sendable (String) -> Void, progress: @escaping @Sendable (String) -> Void) {
        statusHandler = status
        progressHandler = progress
    }

    /// Pings from inside the actor every `interval`: if the actor is wedged, the pings stop and
    /// systemd's watchdog restarts the daemon. Real time, whatever the scheduling clock.
    public func startWatchdog(every interval: Duration, ping: @escaping @Sendable () -> Void) {
        watchdogTask = Task { [weak self] in
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                guard let self else { return }
                await self.watchdogTick(ping)
            }
        }
    }

    private func watchdogTick(_ ping: @Sendable () -> Void) {
        guard failure == nil else { return }
        ping()
    }

    /// The one line `systemctl status` shows.
    public func statusLine() -> String {
        var parts = ["\(active.count) build\(active.count == 1 ? "" : "s") running"]
        if !waitingForCapacity.isEmpty { parts.append("\(waitingForCapacity.count) waiting for capacity") }
        if let next = nextSlot() { parts.append("next: \(next.schedule) (\(next.template)) at \(RFC3339.string(next.at))") }
        else { parts.append("no schedules") }
        if let lastFailure { parts.append("last failure: \(lastFailure)") }
        return parts.joined(separator: "; ")
    }

    /// Swaps in a new configuration: schedule loops restart; running builds keep their settings.
    public func reload(_ newConfig: DaemonConfig) {
        config = newConfig
        startTimer()
    }

    /// Running builds, for the status line.
    public var runningCount: Int { active.count }

    /// The next slot of any schedule after `now`, for the status line.
    public func nextSlot() -> (schedule: String, template: String, at: Date)? {
        let now = clock.now()
        return config.schedules.compactMap { s in s.cron.next(after: now).map { (s.name, s.target.name, $0) } }.min { $0.at < $1.at }
    }

    // MARK: Slots

    private func startTimer() {
        timer?.cancel()
        let schedules = config.schedules
        timer = Task { [weak self] in await self?.runTimer(schedules) }
    }

    private func runTimer(_ schedules: [ScheduleConfig]) async {
        var queue = SlotQueue()
        func enqueue(_ index: Int, after cursor: Date) {
            let schedule = schedules[index]
            guard let slot = schedule.cron.next(after: cursor) else {
                logger.error("schedule has no fire time within 5 years", metadata: ["SCHEDULE": "\(schedule.name)"])
                return
            }
            let jitter = Jitter.delay(schedule: schedule.name, slot: slot, maximum: schedule.jitter)
            queue.push(.init(fireAt: slot.addingTimeInterval(jitter.seconds), slot: slot, schedule: index))
        }
        let now = clock.now()
        for index in schedules.indices {
            enqueue(index, after: max(now, journal.lastSlot(for: schedules[index].name) ?? .distantPast))
        }
        while let next = queue.first {
            do { try await clock.sleep(until: next.fireAt) } catch { return }
            guard !Task.isCancelled else { return }
            queue.pop()
            startFiring(schedules[next.schedule], slot: next.slot)
            enqueue(next.schedule, after: next.slot)
        }
    }

    private func startFiring(_ schedule: ScheduleConfig, slot: Date) {
        let key = SlotKey(schedule: schedule.name, slot: slot)
        // A reload restarts the timer while a slot may still be firing: never fire it twice.
        guard firing[key] == nil else { return }
        firing[key] = Task { [weak self] in
            guard let self else { return }
            do { try await self.fire(schedule, slot: slot) } catch { await self.fail(error) }
            await self.fired(key)
        }
    }

    private func fired(_ key: SlotKey) {
        firing[key] = nil
    }

    /// A slot came due: journal it once, then start, hold or skip it.
    private func fire(_ schedule: ScheduleConfig, slot: Date) async throws {
        guard !stopped else { return }
        let key = SlotKey(schedule: schedule.name, slot: slot)
        if let last = journal.lastSlot(for: schedule.name), last >= key.slot { return }
        let target = BuildTarget(subscriptionID: schedule.target.subscriptionID, resourceGroup: schedule.target.resourceGroup,
                                 template: schedule.target.name)
        try await record(.slotDue(key, target: target))
        logger.notice("slot fired", metadata: meta(key, schedule.target, event: "slot-fired"))
        try await decide(key, target: schedule.target, settings: schedule)
    }

    /// The overlap and concurrency decision for a due slot.
    private func decide(_ key: SlotKey, target: ImageTemplateID, settings: ScheduleConfig) async throws {
        let template = Self.templateKey(target)
        let running = active.first { Self.templateKey($0.value) == template }?.key
        let pending = pendingOverlap[template]
        switch SchedulePolicy.overlap(settings.overlap, buildRunning: running != nil, slotPending: pending != nil && pending != key) {
        case .start:
            if active.count >= config.maxConcurrentBuilds {
                try await record(.slotQueued(key))
                waitingForCapacity.append(key)
                logger.info("slot queued: max_concurrent_builds reached", metadata: meta(key, target))
            } else {
                try await trigger(key, target: target, settings: settings)
            }
        case .skip(let reason):
            try await record(.slotSkipped(key, reason: reason))
            logger.notice("slot skipped: \(reason)", metadata: meta(key, target, event: "slot-skipped"))
        case .queue:
            try await record(.slotQueued(key))
            pendingOverlap[template] = key
            logger.info("slot queued behind the running build", metadata: meta(key, target))
        case .replaceRunning:
            try await record(.slotQueued(key))
            pendingOverlap[template] = key
            if let running { try await requestCancel(running, target: target, reason: .replace) }
        }
    }

    /// A build ended or was abandoned: release its place and start what waited for it.
    private func released(_ key: SlotKey, target: ImageTemplateID) async throws {
        active[key] = nil
        followers[key] = nil
        let template = Self.templateKey(target)
        if let next = pendingOverlap.removeValue(forKey: template) {
            try await trigger(next, target: target, settings: settings(for: next.schedule))
        }
        while active.count < config.maxConcurrentBuilds, let index = waitingForCapacity.firstIndex(where: { waiting in
            !active.values.contains { Self.templateKey($0) == Self.templateKey(targetOf(waiting) ?? target) }
        }) {
            let next = waitingForCapacity.remove(at: index)
            guard let nextTarget = targetOf(next) else { continue }
            try await trigger(next, target: nextTarget, settings: settings(for: next.schedule))
        }
    }

    // MARK: Triggering

    /// Journals run-requested (fsynced) before Run leaves, then Run; invariant 1.
    private func trigger(_ key: SlotKey, target: ImageTemplateID, settings: ScheduleConfig) async throws {
        guard !stopped else { return }
        active[key] = target
        var waiter = TransientWaiter(settings: settings, giveUpAt: key.slot.addingTimeInterval(max(settings.catchUp.seconds, 3600)))
        var template: ImageTemplate?
        while template == nil {
            do {
                template = try await client.get(target)
            } catch {
                guard try await waiter.wait(after: error, clock: clock, logger: logger, meta: meta(key, target)) else {
                    try await finishWithoutRun(key, target: target, error)
                    return
                }
            }
        }
        let timeoutSeconds = settings.buildTimeout.seconds(templateMinutes: template?.properties?.buildTimeoutInMinutes)
        let requestedAt = clock.now()
        try await record(.runRequested(key, clientRequestID: nil))
        while true {
            switch await attemptRun(target) {
            case .success(let acceptance):
                try await accepted(key, target: target, timeoutSeconds: timeoutSeconds, correlationID: acceptance.ids.correlationRequestID)
                return
            case .failure(.ambiguous(_, let underlying, _)):
                logger.warning("Run outcome unknown (\(underlying)); reconciling through lastRunStatus", metadata: meta(key, target))
                try await reconcile(key, target: target, requestedAt: requestedAt)
                return
            case .failure(let error) where error.status == 409:
                try await conflict(key, target: target, settings: settings, error)
                return
            case .failure(let error):
                // Not ambiguous, so ARM did not act (throttled, or never sent): Run may go again.
                guard try await waiter.wait(after: error, clock: clock, logger: logger, meta: meta(key, target)) else {
                    try await finishWithoutRun(key, target: target, error)
                    return
                }
            }
        }
    }

    private func attemptRun(_ target: ImageTemplateID) async -> Result<OperationAcceptance, AzureError> {
        do { return .success(try await client.run(target)) } catch { return .failure(error) }
    }

    private func accepted(_ key: SlotKey, target: ImageTemplateID, timeoutSeconds: Int64, correlationID: String? = nil) async throws {
        try await record(.runAccepted(key, buildTimeoutSeconds: timeoutSeconds))
        var m = meta(key, target, event: "run-accepted")
        if let correlationID { m["X_MS_CORRELATION_REQUEST_ID"] = "\(correlationID)" }
        logger.notice("run accepted", metadata: m)
        startFollowing(key, target: target)
    }

    /// After a lost answer or a crash between run-requested and run-accepted: a run that started at or
    /// after the request is ours; otherwise Run never happened and may be sent again, once.
    private func reconcile(_ key: SlotKey, target: ImageTemplateID, requestedAt: Date) async throws {
        let settings = settings(for: key.schedule)
        for attempt in 1...3 {
            let template: ImageTemplate
            do { template = try await client.get(target) } catch {
                if error.status == 404 { try await finishWithoutRun(key, target: target, error); return }
                logger.warning("reconcile: Get failed (\(error)); retrying", metadata: meta(key, target))
                try await clock.sleep(until: clock.now().addingTimeInterval(settings.poll.initial.seconds))
                continue
            }
            let timeout = settings.buildTimeout.seconds(templateMinutes: template.properties?.buildTimeoutInMinutes)
            let status = template.properties?.lastRunStatus
            if let status, Self.isOurs(status, requestedAt: requestedAt), let start = status.startTime?.date {
                logger.notice("reconciled: the run started at \(RFC3339.string(start)) is ours", metadata: meta(key, target))
                try await accepted(key, target: target, timeoutSeconds: timeout)
                return
            }
            if status?.runState?.isTerminal == false {
                // Someone else's build is running: the 409 path decides.
                try await conflict(key, target: target, settings: settings, nil)
                return
            }
            logger.notice("reconciled: no run since the request; sending Run (attempt \(attempt))", metadata: meta(key, target))
            let newRequest = clock.now()
            try await record(.runRequested(key, clientRequestID: nil))
            switch await attemptRun(target) {
            case .success:
                try await accepted(key, target: target, timeoutSeconds: timeout)
            case .failure(.ambiguous):
                try await clock.sleep(until: clock.now().addingTimeInterval(1))
                try await reconcile(key, target: target, requestedAt: newRequest)
            case .failure(let error) where error.status == 409:
                try await conflict(key, target: target, settings: settings, error)
            case .failure(let error):
                try await finishWithoutRun(key, target: target, error)
            }
            return
        }
        try await record(.finished(key, outcome: .lost, message: "could not tell whether Run was accepted"))
        try await released(key, target: target)
    }

    /// Azure says the template is already building (not a build of ours): apply the overlap policy.
    private func conflict(_ key: SlotKey, target: ImageTemplateID, settings: ScheduleConfig, _ error: AzureError?) async throws {
        let reason = "overlap: the template is already building outside this slot" + (error.map { " (\($0.armCode ?? "409"))" } ?? "")
        switch settings.overlap {
        case .skip:
            active[key] = nil
            try await record(.slotSkipped(key, reason: reason))
            logger.notice("slot skipped: \(reason)", metadata: meta(key, target, event: "slot-skipped"))
            try await released(key, target: target)
        case .queue, .replace:
            if settings.overlap == .replace { _ = try? await client.cancel(target) }
            // Wait for the foreign build to end, then run this slot.
            startFollowingForeign(key, target: target, settings: settings)
        }
    }

    private func finishWithoutRun(_ key: SlotKey, target: ImageTemplateID, _ error: AzureError) async throws {
        // Shutting down: leave the slot open; the next start reconciles or starts it.
        guard !stopped, !Task.isCancelled else { return }
        let outcome: RunOutcome = error.status == 404 ? .lost : .failed
        lastFailure = "\(target.name): \(error)"
        try await record(.finished(key, outcome: outcome, message: "could not start the build: \(error)"))
        logger.error("run not started: \(error)", metadata: meta(key, target, event: "run-finished"))
        try await released(key, target: target)
    }

    // MARK: Following

    private func startFollowing(_ key: SlotKey, target: ImageTemplateID) {
        followers[key] = Task { [weak self] in
            guard let self else { return }
            do { try await self.follow(key, target: target) } catch is CancellationError {} catch { await self.fail(error) }
        }
    }

    private func startFollowingForeign(_ key: SlotKey, target: ImageTemplateID, settings: ScheduleConfig) {
        followers[key] = Task { [weak self] in
            guard let self else { return }
            do {
                var delay = settings.poll.initial.seconds
                while true {
                    try await self.clock.sleep(until: self.clock.now().addingTimeInterval(delay))
                    if let state = try? await self.client.get(target).properties?.lastRunStatus?.runState, state.isTerminal { break }
                    delay = min(delay * settings.poll.multiplier, settings.poll.max.seconds)
                }
                try await self.triggerAfterForeign(key, target: target, settings: settings)
            } catch is CancellationError {} catch { await self.fail(error) }
        }
    }

    private func triggerAfterForeign(_ key: SlotKey, target: ImageTemplateID, settings: ScheduleConfig) async throws {
        followers[key] = nil
        try await trigger(key, target: target, settings: settings)
    }

    /// Polls until the run ends: backoff from poll.initial to poll.max with jitter, a cancel at the
    /// persisted deadline, and a bounded wait for that cancel.
    private func follow(_ key: SlotKey, target: ImageTemplateID) async throws {
        let settings = settings(for: key.schedule)
        var delay = settings.poll.initial.seconds
        while true {
            guard let run = journal.openRun(key) else { return }
            let now = clock.now()
            var wake = now.addingTimeInterval(delay * Double.random(in: 0.8...1.0))
            if run.cancelRequestedAt == nil, let deadline = deadline(run) { wake = min(wake, max(deadline, now)) }
            if let cancelAt = run.cancelRequestedAt { wake = min(wake, max(cancelAt.addingTimeInterval(settings.cancelWait.seconds), now)) }
            try await clock.sleep(until: wake)
            try Task.checkCancellation()
            let before = journal.openRun(key)?.lastStatus
            if try await pollOnce(key, target: target) { return }
            delay = journal.openRun(key)?.lastStatus != before ? settings.poll.initial.seconds
                : min(delay * settings.poll.multiplier, settings.poll.max.seconds)
        }
    }

    /// One Get: journal a changed state; finish an ended run; enforce the timeout. True when finished.
    private func pollOnce(_ key: SlotKey, target: ImageTemplateID) async throws -> Bool {
        guard let run = journal.openRun(key) else { return true }
        let settings = settings(for: key.schedule)
        let template: ImageTemplate
        do {
            template = try await client.get(target)
        } catch {
            if error.status == 404 {
                try await finish(key, target: target, outcome: .lost, message: "the template no longer exists")
                return true
            }
            logger.warning("poll failed: \(error)", metadata: meta(key, target))
            return try await enforceDeadlines(key, target: target, run: run, settings: settings)
        }
        let requestedAt = run.requestedAt ?? run.acceptedAt ?? .distantPast
        // Until ARM reports our build, lastRunStatus may still describe the previous one.
        if let status = template.properties?.lastRunStatus, let runState = status.runState,
           Self.isOurs(status, requestedAt: requestedAt) {
            let observed = RunStatus(runState: runState.rawValue, runSubState: status.runSubState?.rawValue,
                                     message: status.message?.isEmpty == false ? status.message : nil,
                                     startedAt: status.startTime?.date, endedAt: status.endTime?.date)
            if observed != run.lastStatus {
                try await record(run.cancelRequestedAt == nil ? .statusObserved(key, observed) : .cancelObserved(key, observed))
                var m = meta(key, target, event: "state-changed")
                m["RUN_STATE"] = "\(observed.runState)"
                if let sub = observed.runSubState { m["RUN_SUBSTATE"] = "\(sub)" }
                logger.info("build is \(observed.runState)\(observed.runSubState.map { "/\($0)" } ?? "")", metadata: m)
            }
            if runState.isTerminal, runState != .ready {
                try await ended(key, target: target, run: journal.openRun(key) ?? run, state: runState, message: status.message)
                return true
            }
        }
        return try await enforceDeadlines(key, target: target, run: journal.openRun(key) ?? run, settings: settings)
    }

    /// Whether `status` describes a build started by the Run requested at `requestedAt`: one that
    /// started at or after the request (within the clock tolerance). A status without a start time
    /// counts only while it is not terminal.
    static func isOurs(_ status: LastRunStatus, requestedAt: Date) -> Bool {
        if let start = status.startTime?.date { return start >= requestedAt.addingTimeInterval(-clockTolerance) }
        return status.runState?.isTerminal == false
    }

    /// started-at + build timeout (both persisted), or nil before acceptance.
    private func deadline(_ run: RunRecord) -> Date? {
        guard let timeout = run.buildTimeoutSeconds, let start = run.lastStatus?.startedAt ?? run.acceptedAt else { return nil }
        return start.addingTimeInterval(Double(timeout))
    }

    private func enforceDeadlines(_ key: SlotKey, target: ImageTemplateID, run: RunRecord, settings: ScheduleConfig) async throws -> Bool {
        let now = clock.now()
        if let cancelAt = run.cancelRequestedAt {
            if now >= cancelAt.addingTimeInterval(settings.cancelWait.seconds) {
                let last = run.lastStatus.map { "\($0.runState)\($0.runSubState.map { "/\($0)" } ?? "")" } ?? "unknown"
                let outcome: RunOutcome = run.cancelReason == .replace ? .canceled : .timedOut
                try await finish(key, target: target, outcome: outcome,
                                 message: "the cancel did not complete within cancel_wait (\(settings.cancelWait.configText)); last state \(last)")
                return true
            }
        } else if let deadline = deadline(run), now >= deadline {
            try await requestCancel(key, target: target, reason: .timeout)
        }
        return false
    }

    private func requestCancel(_ key: SlotKey, target: ImageTemplateID, reason: CancelReason) async throws {
        try await record(.cancelRequested(key, reason: reason))
        logger.warning(reason == .timeout ? "build timeout reached; cancelling" : "cancelling to replace with a newer slot",
                       metadata: meta(key, target, event: "timeout-cancel"))
        do { _ = try await client.cancel(target) } catch {
            // Ambiguous or refused: the polls that follow show what happened; cancel_wait bounds the wait.
            logger.warning("cancel request: \(error)", metadata: meta(key, target))
        }
    }

    private func ended(_ key: SlotKey, target: ImageTemplateID, run: RunRecord, state: RunState, message: String?) async throws {
        if state == .succeeded || state == .partiallySucceeded {
            do {
                let outputs = try await client.listRunOutputs(target).map {
                    RunOutputRecord(name: $0.name ?? "", artifactID: $0.properties?.artifactId, artifactURI: $0.properties?.artifactUri)
                }
                try await record(.outputsRecorded(key, outputs))
                for output in outputs {
                    var m = meta(key, target, event: "outputs-recorded")
                    if let id = output.artifactID { m["ARTIFACT_ID"] = "\(id)" }
                    logger.info("run output \(output.name): \(output.artifactID ?? output.artifactURI ?? "-")", metadata: m)
                }
            } catch {
                logger.warning("could not list run outputs: \(error)", metadata: meta(key, target))
            }
        }
        let outcome: RunOutcome
        if run.cancelReason == .timeout { outcome = .timedOut }
        else {
            switch state {
            case .succeeded: outcome = .succeeded
            case .partiallySucceeded: outcome = .partiallySucceeded
            case .canceled: outcome = .canceled
            default: outcome = .failed
            }
        }
        try await finish(key, target: target, outcome: outcome, message: message.flatMap { $0.isEmpty ? nil : $0 })
    }

    private func finish(_ key: SlotKey, target: ImageTemplateID, outcome: RunOutcome, message: String?) async throws {
        try await record(.finished(key, outcome: outcome, message: message))
        if ![.succeeded, .partiallySucceeded].contains(outcome) { lastFailure = "\(target.name) \(outcome.rawValue)" }
        var m = meta(key, target, event: "run-finished")
        m["OUTCOME"] = "\(outcome.rawValue)"
        logger.log(level: outcome == .succeeded ? .notice : .warning, "run finished: \(outcome.rawValue)\(message.map { ": \($0)" } ?? "")", metadata: m)
        try await released(key, target: target)
    }

    // MARK: Helpers

    /// Backs off through throttling and outages before a Run is sent, until the slot is too old.
    struct TransientWaiter {
        var settings: ScheduleConfig
        var giveUpAt: Date
        var delay: Double

        init(settings: ScheduleConfig, giveUpAt: Date) {
            self.settings = settings
            self.giveUpAt = giveUpAt
            delay = settings.poll.initial.seconds
        }

        /// Waits and returns true when `error` is worth another try; false to give up.
        mutating func wait(after error: AzureError, clock: any DaemonClock, logger: Logger, meta: Logger.Metadata) async throws -> Bool {
            guard Self.isTransient(error), clock.now() < giveUpAt, !Task.isCancelled else { return false }
            logger.warning("ARM unavailable (\(error)); trying again in \(Int(delay))s", metadata: meta)
            try await clock.sleep(until: clock.now().addingTimeInterval(delay * Double.random(in: 0.5...1.0)))
            delay = min(delay * settings.poll.multiplier, settings.poll.max.seconds)
            return true
        }

        static func isTransient(_ error: AzureError) -> Bool {
            switch error {
            case .retriesExhausted, .transport: true
            case .http(let status, _, _, _): RetryPolicy.retryableStatuses.contains(status)
            case .authentication(_, let reason): reason.hasPrefix("HTTP 5") || reason.hasPrefix("HTTP 429") || !reason.hasPrefix("HTTP")
            default: false
            }
        }
    }

    private func record(_ event: JournalEvent) async throws {
        _ = try await journal.append(event, at: clock.now())
        switch event {
        case .slotDue, .slotSkipped, .runAccepted, .finished: statusHandler(statusLine())
        default: break
        }
    }

    private func fail(_ error: any Error) {
        logger.critical("journal write failed; stopping: \(error)")
        if failure == nil {
            failure = error
            fatalHandler(error)
        }
    }

    /// The settings for a schedule, or the defaults when it left the config (its runs still finish).
    private func settings(for schedule: String) -> ScheduleConfig {
        if let found = config.schedules.first(where: { $0.name == schedule }) { return found }
        let d = ConfigLoader.Defaults()
        return ScheduleConfig(name: schedule, target: ImageTemplateID(subscriptionID: "", resourceGroup: "", name: ""),
                              cron: try! CronParser.parse("@yearly"), timezone: d.timezone, overlap: d.overlap, catchUp: d.catchUp,
                              jitter: d.jitter, buildTimeout: d.buildTimeout, cancelWait: d.cancelWait, poll: d.poll)
    }

    private func targetOf(_ key: SlotKey) -> ImageTemplateID? {
        journal.openRun(key)?.target.map { ImageTemplateID(subscriptionID: $0.subscriptionID, resourceGroup: $0.resourceGroup, name: $0.template) }
    }

    static func templateKey(_ id: ImageTemplateID) -> String { id.resourcePath.lowercased() }

    private func meta(_ key: SlotKey, _ target: ImageTemplateID, event: String? = nil) -> Logger.Metadata {
        var m: Logger.Metadata = ["SCHEDULE": "\(key.schedule)", "TEMPLATE": "\(target.name)", "SLOT": "\(RFC3339.string(key.slot))"]
        if let event { m["EVENT"] = "\(event)" }
        return m
    }
}
