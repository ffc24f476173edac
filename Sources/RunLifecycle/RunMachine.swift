import FoundationEssentials
import JobJournal
import Scheduler

/// One run: a slot of a schedule, where it builds, the settings it follows, and its phase.
public struct Run: Sendable, Equatable {
    public var key: SlotKey
    public var target: BuildTarget
    public var policy: RunPolicy
    public var phase: RunPhase

    public init(key: SlotKey, target: BuildTarget, policy: RunPolicy, phase: RunPhase) {
        self.key = key
        self.target = target
        self.policy = policy
        self.phase = phase
    }

    /// The template's identity for overlap: ARM resource paths compare case-insensitively.
    public var template: String {
        "/subscriptions/\(target.subscriptionID)/resourceGroups/\(target.resourceGroup)/\(target.template)".lowercased()
    }

    /// After this instant a run stops waiting out ARM errors and foreign builds before its Run.
    var giveUpAt: Date { key.slot.addingTimeInterval(policy.giveUpAfter) }
}

/// The run lifecycle as one pure function: `(run, event, now) -> (run, [effect])`. Every policy that
/// concerns a single run lives here: timeouts, cancel waits, reconciliation, retries and the outcome
/// mapping. Decisions between runs (overlap, capacity) are `RunTable`'s.
///
/// Each effect list ends with at most one continuation (an ARM call or a wake) as its last element,
/// and every continuation's answer comes back as exactly one event; so a run has at most one
/// operation in flight, and a closed run has none.
public enum RunMachine {
    /// Azure's clock and ours may differ a little: a build that started this much before the request is still ours.
    public static let clockTolerance: TimeInterval = 60
    /// How long a lost Run answer is reconciled by reading `lastRunStatus` before Run is sent again:
    /// long enough for a `lastRunStatus` that still shows the previous build to catch up.
    public static let reconcileGrace: TimeInterval = 30 * 60
    /// Run requests per slot before a slot whose answers keep getting lost is given up as lost.
    public static let maxSends = 3

    /// Applies `event` to `run`.
    public static func handle(_ run: Run, _ event: RunEvent, now: Date) -> (Run, [RunEffect]) {
        var run = run
        let effects = step(&run, event, now)
        return (run, effects)
    }

    // MARK: - Entry points the table uses

    /// Admitted (overlap and capacity reserved): read the template, then request the build.
    static func admit(_ run: inout Run, now: Date) -> [RunEffect] {
        run.phase = .preparing(since: now, retryDelay: run.policy.pollInitial, retryAt: nil)
        return [.readTemplate]
    }

    /// Closes a run that never got a build of its own.
    static func skip(_ run: inout Run, reason: String) -> [RunEffect] {
        run.phase = .skipped(reason: reason)
        return [.record(.slotSkipped(run.key, reason: reason)), .log(LogLine(.notice, "slot skipped: \(reason)", event: "slot-skipped"))]
    }

    /// Asks Azure to cancel the running build (replace policy or timeout).
    static func requestCancel(_ run: inout Run, reason: CancelReason, request: CancelRequest? = nil, now: Date) -> [RunEffect] {
        guard case .running(let facts, _, let lastStatus, _) = run.phase else { return [] }
        run.phase = .cancelling(facts, reason: reason, requestedAt: now, giveUpAt: now.addingTimeInterval(run.policy.cancelWait),
                                lastStatus: lastStatus, pollDelay: run.policy.pollInitial)
        let message = switch reason {
        case .timeout: "build timeout reached; cancelling"
        case .replace: "cancelling to replace with a newer slot"
        case .operator: "cancelling at the request of \(request?.requestedBy ?? "an operator")" + (request?.note.map { ": \($0)" } ?? "")
        }
        var fields: [String: String] = [:]
        if let by = request?.requestedBy { fields["REQUESTED_BY"] = by }
        return [.record(.cancelRequested(run.key, reason: reason, request: request)),
                .log(LogLine(.warning, message, event: cancelEvent(reason), fields: fields)), .callCancel]
    }

    /// Each cause of a cancel has its own journald EVENT and MESSAGE_ID: an alert on timeouts must
    /// not fire for an operator's cancel or a replace.
    public static func cancelEvent(_ reason: CancelReason) -> String {
        switch reason {
        case .timeout: "timeout-cancel"
        case .replace: "replace-cancel"
        case .operator: "operator-cancel"
        }
    }

    /// The phase a run resumes in after a restart, from what the journal says of it; nil when it
    /// never got past admission (the table decides those again).
    /// `unknownTimeoutSeconds` stands in for a timeout the journal lacks, until a reading of the template.
    static func recovered(_ record: RunRecord, target: BuildTarget, policy: RunPolicy, unknownTimeoutSeconds: Int64,
                          now: Date) -> (Run, [RunEffect])? {
        let initial = policy.pollInitial
        let timeout = record.buildTimeoutSeconds ?? unknownTimeoutSeconds
        if let acceptedAt = record.acceptedAt {
            var facts = RequestFacts(requestedAt: record.requestedAt ?? acceptedAt, timeoutSeconds: timeout, sends: 1)
            // Ours is the build the journal saw, else one that started after the first request
            // (`acceptedAt` may be when reconciliation adopted it, long after it started).
            facts.acceptedSendAt = record.lastStatus?.startedAt ?? record.requestedAt ?? acceptedAt
            var run = Run(key: record.key, target: target, policy: policy,
                          phase: .running(facts, acceptedAt: acceptedAt, lastStatus: record.lastStatus, pollDelay: initial))
            if let cancelAt = record.cancelRequestedAt, let reason = record.cancelReason {
                run.phase = .cancelling(facts, reason: reason, requestedAt: cancelAt, giveUpAt: cancelAt.addingTimeInterval(policy.cancelWait),
                                        lastStatus: record.lastStatus, pollDelay: initial)
                // The crash may have come between cancel-requested and the Cancel: send it again (it is idempotent).
                return (run, [.log(LogLine(.notice, "sending the cancel requested before the restart again")), .callCancel])
            }
            return (run, [.poll])
        }
        if let requestedAt = record.requestedAt {
            // Whether Run left before the crash is unknown: treat it as a lost answer. The journal keeps
            // the first request (a build started after it is ours) but not the last resend, which may
            // have left just before the crash: watch a full grace period before sending again.
            let facts = RequestFacts(requestedAt: requestedAt, timeoutSeconds: timeout, ambiguousSends: 1, sends: 1)
            let run = Run(key: record.key, target: target, policy: policy,
                          phase: .reconciling(facts, since: now, resendAfter: now.addingTimeInterval(reconcileGrace), pollDelay: initial))
            return (run, [.log(LogLine(.notice, "reconciling a Run requested before the restart through lastRunStatus")), .poll])
        }
        return nil
    }

    // MARK: - Transitions

    /// Each phase names every event: the ones its continuations answer with, then those it never
    /// asked for (a stale answer of a phase the run has left, which the driver drops by generation,
    /// else a driver bug), which change nothing. No `default:`, so a new phase or event does not
    /// compile until it is placed.
    private static func step(_ run: inout Run, _ event: RunEvent, _ now: Date) -> [RunEffect] {
        switch run.phase {
        case .waitingForCapacity, .queuedBehind:
            // Not admitted: nothing of this run is in flight.
            switch event {
            case .templateRead, .armUnavailable, .armRefused, .runAccepted, .runAmbiguous, .runConflict, .observed, .pollFailed,
                 .templateGone, .wake, .cancelAnswered, .outputsListed:
                return []
            }
        case .finished, .skipped:
            // Closed: whatever still arrives is stale.
            switch event {
            case .templateRead, .armUnavailable, .armRefused, .runAccepted, .runAmbiguous, .runConflict, .observed, .pollFailed,
                 .templateGone, .wake, .cancelAnswered, .outputsListed:
                return []
            }
        case .preparing(let since, let delay, _):
            return preparing(&run, since, delay, event, now)
        case .requested(let facts):
            return requested(&run, facts, event, now)
        case .retryingRun(var facts, _, _):
            switch event {
            case .wake:
                return send(&run, &facts, now)
            case .templateRead, .armUnavailable, .armRefused, .runAccepted, .runAmbiguous, .runConflict, .observed, .pollFailed,
                 .templateGone, .cancelAnswered, .outputsListed:
                return []
            }
        case .reconciling(let facts, let since, let resendAfter, _):
            return reconciling(&run, facts, since, resendAfter, event, now)
        case .waitingForForeign(let facts, let giveUpAt, let delay):
            return waitingForForeign(&run, facts, giveUpAt, delay, event, now)
        case .running(let facts, let acceptedAt, let lastStatus, let delay):
            return running(&run, facts, acceptedAt, lastStatus, delay, event, now)
        case .cancelling(let facts, let reason, let at, let giveUpAt, let lastStatus, let delay):
            return cancelling(&run, facts, reason, at, giveUpAt, lastStatus, delay, event, now)
        case .listingOutputs(let outcome, let message):
            switch event {
            case .outputsListed(let outputs):
                guard let outputs else {
                    return [.log(LogLine(.warning, "could not list run outputs"))] + finish(&run, outcome, message)
                }
                var effects: [RunEffect] = [.record(.outputsRecorded(run.key, outputs))]
                for output in outputs {
                    var fields: [String: String] = [:]
                    if let id = output.artifactID { fields["ARTIFACT_ID"] = id }
                    effects.append(.log(LogLine(.info, "run output \(output.name): \(output.artifactID ?? output.artifactURI ?? "-")",
                                                event: "outputs-recorded", fields: fields)))
                }
                return effects + finish(&run, outcome, message)
            case .templateRead, .armUnavailable, .armRefused, .runAccepted, .runAmbiguous, .runConflict, .observed, .pollFailed,
                 .templateGone, .wake, .cancelAnswered:
                return []
            }
        }
    }

    /// Before the Run: reading the template, or waiting out ARM errors.
    private static func preparing(_ run: inout Run, _ since: Date, _ delay: TimeInterval, _ event: RunEvent, _ now: Date) -> [RunEffect] {
        switch event {
        case .wake:
            run.phase = .preparing(since: since, retryDelay: delay, retryAt: nil)
            return [.readTemplate]
        case .templateRead(let timeout):
            run.phase = .requested(RequestFacts(requestedAt: now, timeoutSeconds: timeout, sends: 1))
            return [.record(.runRequested(run.key, clientRequestID: nil)), .callRun]
        case .armUnavailable(let reason):
            guard now < run.giveUpAt else { return finish(&run, .failed, "could not start the build: \(reason)") }
            run.phase = .preparing(since: since, retryDelay: run.policy.backoff(delay), retryAt: now.addingTimeInterval(delay))
            return [.log(LogLine(.warning, "ARM unavailable (\(reason)); trying again in \(Int(delay))s")), .wake(at: now.addingTimeInterval(delay))]
        case .armRefused(let reason, let notFound):
            return finish(&run, notFound ? .lost : .failed, "could not start the build: \(reason)")
        case .runAccepted, .runAmbiguous, .runConflict, .observed, .pollFailed, .templateGone, .cancelAnswered, .outputsListed:
            // Only the template read and its retry timer are in flight.
            return []
        }
    }

    /// The Run and its answer.
    private static func requested(_ run: inout Run, _ facts: RequestFacts, _ event: RunEvent, _ now: Date) -> [RunEffect] {
        var facts = facts
        switch event {
        case .runAccepted(let correlationID):
            facts.acceptedSendAt = facts.lastSendAt
            var fields: [String: String] = [:]
            if let correlationID { fields["X_MS_CORRELATION_REQUEST_ID"] = correlationID }
            return [.record(.runAccepted(run.key, buildTimeoutSeconds: facts.timeoutSeconds)),
                    .log(LogLine(.notice, "run accepted", event: "run-accepted", fields: fields))]
                + startRunning(&run, facts, now)
        case .runAmbiguous(let reason):
            facts.ambiguousSends += 1
            if facts.ambiguousSince == nil { facts.ambiguousSince = facts.lastSendAt }
            run.phase = .reconciling(facts, since: now, resendAfter: now.addingTimeInterval(reconcileGrace), pollDelay: run.policy.pollInitial)
            return [.log(LogLine(.warning, "Run outcome unknown (\(reason)); reconciling through lastRunStatus")), .poll]
        case .runConflict(let reason):
            return conflict(&run, facts, reason, now)
        case .armUnavailable(let reason):
            guard now < run.giveUpAt || facts.ambiguousSends > 0 else {
                return finish(&run, .failed, "could not start the build: \(reason)")
            }
            if facts.ambiguousSends > 0, now >= run.giveUpAt {
                return reconcile(&run, facts, now)
            }
            let delay = run.policy.pollInitial * Double(1 << min(facts.sends - 1, 10))
            let wait = min(delay, run.policy.pollMax)
            run.phase = .retryingRun(facts, retryDelay: wait, retryAt: now.addingTimeInterval(wait))
            return [.log(LogLine(.warning, "Run not accepted (\(reason)); trying again in \(Int(wait))s")), .wake(at: now.addingTimeInterval(wait))]
        case .armRefused(let reason, let notFound):
            if facts.ambiguousSends > 0 { return reconcile(&run, facts, now) }
            return finish(&run, notFound ? .lost : .failed, "could not start the build: \(reason)")
        case .templateRead, .observed, .pollFailed, .templateGone, .wake, .cancelAnswered, .outputsListed:
            // Only the Run is in flight.
            return []
        }
    }

    /// Was the lost Run ours?
    private static func reconciling(_ run: inout Run, _ facts: RequestFacts, _ since: Date, _ resendAfter: Date,
                                    _ event: RunEvent, _ now: Date) -> [RunEffect] {
        var facts = facts
        switch event {
        case .wake:
            return [.poll]
        case .observed(let observation):
            facts.timeoutSeconds = observation.timeoutSeconds
            if let status = observation.status, isOurs(status, after: facts.oursAfter) {
                return adopt(&run, facts, observation, now)
            }
            if let status = observation.status, Self.inProgress(status) {
                run.phase = .waitingForForeign(facts, giveUpAt: now.addingTimeInterval(run.policy.giveUpAfter), pollDelay: run.policy.pollInitial)
                return [.log(LogLine(.notice, "the template is building outside this slot; waiting for that build to end")),
                        .wake(at: now.addingTimeInterval(run.policy.pollInitial))]
            }
            guard now >= resendAfter else {
                // No backoff here: a build of ours may be running against its deadline unseen.
                run.phase = .reconciling(facts, since: since, resendAfter: resendAfter, pollDelay: run.policy.pollInitial)
                return [.wake(at: min(now.addingTimeInterval(run.policy.pollInitial), resendAfter))]
            }
            guard facts.sends < maxSends else {
                return finish(&run, .lost, "could not tell whether Run was accepted after \(facts.sends) requests")
            }
            return [.log(LogLine(.notice, "reconciled: no build since the request; sending Run (request \(facts.sends + 1))"))]
                + send(&run, &facts, now)
        case .pollFailed(let reason):
            // No giving up and no backoff: a build of ours may be running, and only a reading of the template tells.
            run.phase = .reconciling(facts, since: since, resendAfter: resendAfter, pollDelay: run.policy.pollInitial)
            return [.log(LogLine(.warning, "reconcile: reading the template failed (\(reason))")),
                    .wake(at: now.addingTimeInterval(run.policy.pollInitial))]
        case .templateGone:
            return finish(&run, .lost, "the template no longer exists")
        case .templateRead, .armUnavailable, .armRefused, .runAccepted, .runAmbiguous, .runConflict, .cancelAnswered, .outputsListed:
            // Only a reading of the template, or its timer, is in flight.
            return []
        }
    }

    /// Someone else's build.
    private static func waitingForForeign(_ run: inout Run, _ facts: RequestFacts, _ giveUpAt: Date, _ delay: TimeInterval,
                                          _ event: RunEvent, _ now: Date) -> [RunEffect] {
        var facts = facts
        switch event {
        case .wake:
            return [.poll]
        case .cancelAnswered(let error):
            return (error.map { [.log(LogLine(.warning, "cancel of the build outside this slot: \($0)"))] } ?? [])
                + [.wake(at: now.addingTimeInterval(delay))]
        case .observed(let observation):
            facts.timeoutSeconds = observation.timeoutSeconds
            if facts.ambiguousSends > 0, let status = observation.status, isOurs(status, after: facts.oursAfter) {
                return adopt(&run, facts, observation, now)
            }
            if let status = observation.status, inProgress(status) {
                guard now < giveUpAt else {
                    return skip(&run, reason: "overlap: the template was still building outside this slot when the wait ran out")
                }
                run.phase = .waitingForForeign(facts, giveUpAt: giveUpAt, pollDelay: run.policy.backoff(delay))
                return [.wake(at: now.addingTimeInterval(delay))]
            }
            return [.log(LogLine(.notice, "the build outside this slot ended; sending Run"))] + send(&run, &facts, now)
        case .pollFailed(let reason):
            // With a lost Run answer behind it, the build may be ours: wait for a reading, never give up blind.
            guard now < giveUpAt || facts.ambiguousSends > 0 else {
                return skip(&run, reason: "overlap: could not see the build outside this slot end before the wait ran out (\(reason))")
            }
            run.phase = .waitingForForeign(facts, giveUpAt: giveUpAt, pollDelay: run.policy.backoff(delay))
            return [.wake(at: now.addingTimeInterval(delay))]
        case .templateGone:
            return finish(&run, .lost, "the template no longer exists")
        case .templateRead, .armUnavailable, .armRefused, .runAccepted, .runAmbiguous, .runConflict, .outputsListed:
            // Only a reading of the template, the foreign build's cancel, or a timer is in flight.
            return []
        }
    }

    /// Following our build.
    private static func running(_ run: inout Run, _ facts: RequestFacts, _ acceptedAt: Date, _ lastStatus: RunStatus?, _ delay: TimeInterval,
                                _ event: RunEvent, _ now: Date) -> [RunEffect] {
        switch event {
        case .wake:
            return [.poll]
        case .observed(let observation):
            guard let status = observation.status, isOurs(status, after: facts.oursAfter), !isReady(status) else {
                // Until ARM reports our build, lastRunStatus may still describe the previous one.
                run.phase = .running(facts, acceptedAt: acceptedAt, lastStatus: lastStatus, pollDelay: run.policy.backoff(delay))
                return enforceDeadline(&run, now)
            }
            var effects: [RunEffect] = []
            let changed = status != lastStatus
            if changed { effects += [.record(.statusObserved(run.key, status)), stateLog(status)] }
            if ended(status) { return effects + end(&run, status, cancelReason: nil) }
            run.phase = .running(facts, acceptedAt: acceptedAt, lastStatus: status,
                                 pollDelay: changed ? run.policy.pollInitial : run.policy.backoff(delay))
            return effects + enforceDeadline(&run, now)
        case .pollFailed(let reason):
            run.phase = .running(facts, acceptedAt: acceptedAt, lastStatus: lastStatus, pollDelay: run.policy.backoff(delay))
            return [.log(LogLine(.warning, "poll failed: \(reason)"))] + enforceDeadline(&run, now)
        case .templateGone:
            return finish(&run, .lost, "the template no longer exists")
        case .templateRead, .armUnavailable, .armRefused, .runAccepted, .runAmbiguous, .runConflict, .cancelAnswered, .outputsListed:
            // Only a poll or its timer is in flight.
            return []
        }
    }

    /// A cancel was requested: waiting for Azure to confirm it, at most until `giveUpAt`.
    private static func cancelling(_ run: inout Run, _ facts: RequestFacts, _ reason: CancelReason, _ at: Date, _ giveUpAt: Date,
                                   _ lastStatus: RunStatus?, _ delay: TimeInterval, _ event: RunEvent, _ now: Date) -> [RunEffect] {
        switch event {
        case .wake:
            guard now >= giveUpAt else { return [.poll] }
            let last = lastStatus.map { "\($0.runState)\($0.runSubState.map { "/\($0)" } ?? "")" } ?? "unknown"
            return finish(&run, reason == .timeout ? .timedOut : .canceled,
                          "the cancel did not complete within cancel_wait (\(durationText(run.policy.cancelWait))); last state \(last)")
        case .observed(let observation):
            guard let status = observation.status, isOurs(status, after: facts.oursAfter), !isReady(status) else {
                return [.wake(at: min(now.addingTimeInterval(delay), giveUpAt))]
            }
            var effects: [RunEffect] = []
            if status != lastStatus { effects += [.record(.cancelObserved(run.key, status)), stateLog(status)] }
            if ended(status) { return effects + end(&run, status, cancelReason: reason) }
            run.phase = .cancelling(facts, reason: reason, requestedAt: at, giveUpAt: giveUpAt, lastStatus: status, pollDelay: run.policy.backoff(delay))
            return effects + [.wake(at: min(now.addingTimeInterval(delay), giveUpAt))]
        case .pollFailed(let reason):
            return [.log(LogLine(.warning, "poll failed: \(reason)")), .wake(at: min(now.addingTimeInterval(delay), giveUpAt))]
        case .cancelAnswered(let error):
            // Refused or lost: the polls that follow show what happened, and cancel_wait bounds the wait.
            return (error.map { [.log(LogLine(.warning, "cancel request: \($0)"))] } ?? [])
                + [.wake(at: min(now.addingTimeInterval(delay), giveUpAt))]
        case .templateGone:
            return finish(&run, .lost, "the template no longer exists")
        case .templateRead, .armUnavailable, .armRefused, .runAccepted, .runAmbiguous, .runConflict, .outputsListed:
            // Only the Cancel, a poll or a timer is in flight.
            return []
        }
    }

    /// Sends Run (again): `run-requested` is already durable for this slot.
    private static func send(_ run: inout Run, _ facts: inout RequestFacts, _ now: Date) -> [RunEffect] {
        facts.sends += 1
        facts.lastSendAt = now
        run.phase = .requested(facts)
        return [.callRun]
    }

    private static func startRunning(_ run: inout Run, _ facts: RequestFacts, _ now: Date) -> [RunEffect] {
        run.phase = .running(facts, acceptedAt: now, lastStatus: nil, pollDelay: run.policy.pollInitial)
        return enforceDeadline(&run, now)
    }

    /// A build that started at or after our request is ours; the one before it was the previous build.
    /// Our build may be ours before ARM gives it a start time.
    public static func isOurs(_ status: RunStatus, after: Date) -> Bool {
        if let start = status.startedAt { return start >= after.addingTimeInterval(-clockTolerance) }
        return inProgress(status)
    }

    /// Reconciliation found our build: it was accepted after all.
    private static func adopt(_ run: inout Run, _ facts: RequestFacts, _ observation: Observation, _ now: Date) -> [RunEffect] {
        let start = observation.status?.startedAt.map { " that started at \($0.formatted(.iso8601))" } ?? ""
        run.phase = .running(facts, acceptedAt: now, lastStatus: nil, pollDelay: run.policy.pollInitial)
        let (adopted, effects) = handle(run, .observed(observation), now: now)
        run = adopted
        return [.record(.runAccepted(run.key, buildTimeoutSeconds: facts.timeoutSeconds)),
                .log(LogLine(.notice, "reconciled: the build\(start) is ours", event: "run-accepted"))] + effects
    }

    private static func reconcile(_ run: inout Run, _ facts: RequestFacts, _ now: Date) -> [RunEffect] {
        run.phase = .reconciling(facts, since: now, resendAfter: now, pollDelay: run.policy.pollInitial)
        return [.poll]
    }

    /// 409: the template is building. The overlap policy decides, unless an earlier lost answer means
    /// that build may be ours; then only watching it tells.
    private static func conflict(_ run: inout Run, _ facts: RequestFacts, _ reason: String, _ now: Date) -> [RunEffect] {
        let waitUntil = max(now, run.giveUpAt)
        if facts.ambiguousSends == 0 {
            switch run.policy.overlap {
            case .skip:
                return skip(&run, reason: "overlap: the template is already building outside this slot (\(reason))")
            case .replace:
                run.phase = .waitingForForeign(facts, giveUpAt: waitUntil, pollDelay: run.policy.pollInitial)
                return [.record(.cancelRequested(run.key, reason: .replace)),
                        .log(LogLine(.warning, "cancelling the build outside this slot to replace it", event: cancelEvent(.replace))),
                        .callCancel]
            case .queue:
                break
            }
        }
        run.phase = .waitingForForeign(facts, giveUpAt: waitUntil, pollDelay: run.policy.pollInitial)
        return [.log(LogLine(.notice, "the template is already building outside this slot; waiting for it to end")),
                .wake(at: now.addingTimeInterval(run.policy.pollInitial))]
    }

    /// `(lastStatus.startedAt ?? acceptedAt) + timeout`: both persisted, so it survives restarts.
    static func deadline(_ phase: RunPhase) -> Date? {
        guard case .running(let facts, let acceptedAt, let lastStatus, _) = phase else { return nil }
        return (lastStatus?.startedAt ?? acceptedAt).addingTimeInterval(Double(facts.timeoutSeconds))
    }

    private static func enforceDeadline(_ run: inout Run, _ now: Date) -> [RunEffect] {
        guard case .running(_, _, _, let delay) = run.phase, let deadline = deadline(run.phase) else { return [] }
        if now >= deadline { return requestCancel(&run, reason: .timeout, now: now) }
        return [.wake(at: min(now.addingTimeInterval(delay), deadline))]
    }

    /// The build ended: outcome by the one mapping, outputs first when it produced any.
    private static func end(_ run: inout Run, _ status: RunStatus, cancelReason: CancelReason?) -> [RunEffect] {
        let outcome = Outcomes.outcome(runState: status.runState, cancelReason: cancelReason)
        let message = status.message.flatMap { $0.isEmpty ? nil : $0 }
        if ["succeeded", "partiallysucceeded"].contains(status.runState.lowercased()) {
            run.phase = .listingOutputs(outcome: outcome, message: message)
            return [.listOutputs]
        }
        return finish(&run, outcome, message)
    }

    static func finish(_ run: inout Run, _ outcome: RunOutcome, _ message: String?) -> [RunEffect] {
        run.phase = .finished(outcome)
        return [.record(.finished(run.key, outcome: outcome, message: message)),
                .log(LogLine(outcome == .succeeded ? .notice : .warning,
                             "run finished: \(outcome.rawValue)\(message.map { ": \($0)" } ?? "")", event: "run-finished", fields: ["OUTCOME": outcome.rawValue]))]
    }

    private static func stateLog(_ status: RunStatus) -> RunEffect {
        var fields = ["RUN_STATE": status.runState]
        if let sub = status.runSubState { fields["RUN_SUBSTATE"] = sub }
        return .log(LogLine(.info, "build is \(status.runState)\(status.runSubState.map { "/\($0)" } ?? "")", event: "state-changed", fields: fields))
    }

    /// Running or Canceling, or a state this version does not know (it has not ended as far as we can tell).
    static func inProgress(_ status: RunStatus) -> Bool {
        !ended(status) && !isReady(status)
    }

    static func ended(_ status: RunStatus) -> Bool {
        ["succeeded", "partiallysucceeded", "failed", "canceled"].contains(status.runState.lowercased())
    }

    /// 2018-02-01-preview's `ready`: the template has no active run.
    static func isReady(_ status: RunStatus) -> Bool {
        status.runState.lowercased() == "ready"
    }

    static func durationText(_ seconds: TimeInterval) -> String {
        let s = Int(seconds)
        if s > 0, s % 3600 == 0 { return "\(s / 3600)h" }
        if s > 0, s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}

/// How a build's end maps to an outcome; the only place that decides it.
public enum Outcomes {
    /// A timeout cancel makes it `timedOut` whatever Azure reports afterwards.
    public static func outcome(runState: String, cancelReason: CancelReason?) -> RunOutcome {
        if cancelReason == .timeout { return .timedOut }
        switch runState.lowercased() {
        case "succeeded": return .succeeded
        case "partiallysucceeded": return .partiallySucceeded
        case "canceled": return .canceled
        default: return .failed
        }
    }
}
