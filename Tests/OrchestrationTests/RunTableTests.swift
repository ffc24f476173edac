import Foundation
import JobJournal
import RunLifecycle
import Scheduler
import Testing

/// The run table and state machine without a clock or a network: each test feeds events and reads
/// the effects and the journal they would write.
@Suite struct RunTableTests {
    static let t0 = Date(timeIntervalSince1970: 1_798_761_600)  // 2027-01-01T00:00:00Z
    static let target = BuildTarget(subscriptionID: "sub", resourceGroup: "rg", template: "golden")
    static func policy(_ overlap: OverlapPolicy) -> RunPolicy {
        RunPolicy(overlap: overlap, cancelWait: 600, giveUpAfter: 3600, pollInitial: 30, pollMax: 300, pollMultiplier: 2)
    }

    /// Applies effects as a driver would: records go to a journal, continuations are remembered.
    struct Harness {
        var table: RunTable
        var journal: [JournalEvent] = []
        /// The journald EVENT of every log line, in order.
        var events: [String] = []
        var state = JournalState()
        /// Each run's continuation in flight.
        var inFlight: [SlotKey: RunEffect] = [:]

        init(max: Int = 10) {
            table = RunTable(maxConcurrentBuilds: max)
        }

        mutating func apply(_ work: [RunTable.Work]) {
            for item in work {
                inFlight[item.key] = nil
                for effect in item.effects {
                    if case .record(let event) = effect {
                        journal.append(event)
                        state.apply(JournalRecord(seq: UInt64(journal.count), at: RunTableTests.t0, event: event))
                    }
                    if case .log(let line) = effect, let event = line.event { events.append(event) }
                    if effect.isContinuation { inFlight[item.key] = effect }
                }
            }
        }

        mutating func due(_ schedule: String, _ minutes: Double, policy: RunPolicy, now: Double? = nil, target: BuildTarget = RunTableTests.target) -> SlotKey {
            let key = SlotKey(schedule: schedule, slot: RunTableTests.t0.addingTimeInterval(minutes * 60))
            apply(table.slotDue(key, target: target, policy: policy, now: RunTableTests.t0.addingTimeInterval((now ?? minutes) * 60)))
            return key
        }

        mutating func send(_ key: SlotKey, _ event: RunEvent, at minutes: Double) {
            apply(table.handle(key, event, now: RunTableTests.t0.addingTimeInterval(minutes * 60)))
        }

        func phase(_ key: SlotKey) -> String { table.runs[key]?.phase.name ?? "closed" }

        func skipReason(_ key: SlotKey) -> String? {
            journal.lazy.compactMap { if case .slotSkipped(key, let reason) = $0 { reason } else { nil } }.first
        }

        func outcome(_ key: SlotKey) -> RunOutcome? {
            journal.lazy.compactMap { if case .finished(key, let outcome, _) = $0 { outcome } else { nil } }.first
        }

        /// Takes a run from admission to accepted.
        mutating func start(_ key: SlotKey, at minutes: Double) {
            send(key, .templateRead(timeoutSeconds: 3600), at: minutes)
            send(key, .runAccepted(correlationID: nil), at: minutes)
        }

        mutating func end(_ key: SlotKey, state: String, at minutes: Double, startedAt: Double = 0) {
            let started = RunTableTests.t0.addingTimeInterval(startedAt * 60)
            send(key, .observed(Observation(status: RunStatus(runState: state, startedAt: started, endedAt: started), timeoutSeconds: 3600)), at: minutes)
            if inFlight[key] == .listOutputs { send(key, .outputsListed([]), at: minutes) }
        }
    }

    /// Issue 12: two schedules on one template, `overlap: queue`, firing at the same minutes while a
    /// build runs. One slot is queued and run, the other skipped with its reason; every slot ends.
    @Test func twoSchedulesOnOneTemplateQueueOneAndSkipTheOther() {
        var h = Harness()
        let first = h.due("a", 0, policy: Self.policy(.queue))
        h.start(first, at: 0)
        let a = h.due("a", 30, policy: Self.policy(.queue))
        let b = h.due("b", 30, policy: Self.policy(.queue))
        #expect(h.phase(a) == "queued")
        #expect(h.skipReason(b) == "overlap: a slot is already queued behind the running build")
        h.end(first, state: "Succeeded", at: 40)
        #expect(h.phase(a) == "preparing")
        h.start(a, at: 40)
        h.end(a, state: "Succeeded", at: 60, startedAt: 40)
        // Every slot that came due has exactly one final record, and nothing is left open.
        for key in [first, a, b] {
            let finals = h.journal.filter { if case .finished(key, _, _) = $0 { true } else if case .slotSkipped(key, _) = $0 { true } else { false } }
            #expect(finals.count == 1, "\(key)")
        }
        #expect(h.state.openRuns.isEmpty)
        #expect(h.table.runs.isEmpty)
    }

    /// A slot still waiting out ARM errors before its Run has nothing in Azure: the next slot
    /// supersedes it rather than being skipped as an overlap.
    @Test func aSlotWaitingOutErrorsIsSupersededNotRunning() {
        var h = Harness()
        let older = h.due("a", 0, policy: Self.policy(.skip))
        h.send(older, .armUnavailable("503"), at: 0)
        #expect(h.phase(older) == "preparing")
        let newer = h.due("a", 15, policy: Self.policy(.skip))
        #expect(h.skipReason(older)?.hasPrefix("superseded by the slot at 2027-01-01T00:15:00Z") == true)
        #expect(h.phase(newer) == "preparing")
        #expect(h.inFlight[newer] == .readTemplate)
        #expect(h.skipReason(newer) == nil)
    }

    @Test func replaceJournalsTheCancelThenRunsTheNewSlot() {
        var h = Harness()
        let first = h.due("a", 0, policy: Self.policy(.replace))
        h.start(first, at: 0)
        let second = h.due("a", 30, policy: Self.policy(.replace))
        #expect(h.journal.contains(.cancelRequested(first, reason: .replace)))
        #expect(h.events.contains("replace-cancel") && !h.events.contains("timeout-cancel"), "\(h.events)")
        #expect(h.inFlight[first] == .callCancel)
        #expect(h.phase(second) == "queued")
        h.send(first, .cancelAnswered(error: nil), at: 30)
        h.send(first, .wake, at: 31)
        h.end(first, state: "Canceled", at: 31)
        #expect(h.outcome(first) == .canceled)
        #expect(h.phase(second) == "preparing")
    }

    /// A 409 from a build outside the daemon, under `replace`: the cancel is journaled first.
    @Test func replacingAForeignBuildJournalsTheCancel() {
        var h = Harness()
        let key = h.due("a", 0, policy: Self.policy(.replace))
        h.send(key, .templateRead(timeoutSeconds: 3600), at: 0)
        h.send(key, .runConflict("Conflict"), at: 0)
        #expect(h.journal.last == .cancelRequested(key, reason: .replace))
        #expect(h.events.last == "replace-cancel")
        #expect(h.inFlight[key] == .callCancel)
        h.send(key, .cancelAnswered(error: nil), at: 0)
        h.send(key, .wake, at: 1)
        h.send(key, .observed(Observation(status: RunStatus(runState: "Canceled", startedAt: Self.t0.addingTimeInterval(-600)), timeoutSeconds: 3600)), at: 1)
        #expect(h.inFlight[key] == .callRun)
    }

    @Test func capacityHoldsSlotsAndAdmitsThemInOrder() {
        var h = Harness(max: 1)
        let one = h.due("a", 0, policy: Self.policy(.skip), target: BuildTarget(subscriptionID: "sub", resourceGroup: "rg", template: "one"))
        let two = h.due("b", 0, policy: Self.policy(.skip), target: BuildTarget(subscriptionID: "sub", resourceGroup: "rg", template: "two"))
        #expect(h.phase(two) == "waiting-for-capacity")
        #expect(h.journal.contains(.slotQueued(two)))
        h.start(one, at: 0)
        h.end(one, state: "Failed", at: 10)
        #expect(h.outcome(one) == .failed)
        #expect(h.phase(two) == "preparing")
    }

    /// Lost Run answers are reconciled, and resent at most `maxSends` times in all.
    @Test func reconciliationIsBounded() {
        var h = Harness()
        let key = h.due("a", 0, policy: Self.policy(.skip))
        h.send(key, .templateRead(timeoutSeconds: 3600), at: 0)
        var minute = 0.0
        for _ in 0..<RunMachine.maxSends {
            h.send(key, .runAmbiguous("reset"), at: minute)
            minute += 31
            h.send(key, .observed(Observation(status: nil, timeoutSeconds: 3600)), at: minute)
        }
        #expect(h.outcome(key) == .lost)
        #expect(h.table.runs[key] == nil)
    }

    @Test func aBuildFoundWhileReconcilingIsAdopted() {
        var h = Harness()
        let key = h.due("a", 0, policy: Self.policy(.skip))
        h.send(key, .templateRead(timeoutSeconds: 3600), at: 0)
        h.send(key, .runAmbiguous("reset"), at: 0)
        // The previous build, still shown: not ours.
        h.send(key, .observed(Observation(status: RunStatus(runState: "Succeeded", startedAt: Self.t0.addingTimeInterval(-86_400)), timeoutSeconds: 3600)), at: 1)
        #expect(h.phase(key) == "reconciling")
        h.send(key, .wake, at: 2)
        h.send(key, .observed(Observation(status: RunStatus(runState: "Running", startedAt: Self.t0.addingTimeInterval(5)), timeoutSeconds: 3600)), at: 2)
        #expect(h.phase(key) == "running")
        #expect(h.journal.contains(.runAccepted(key, buildTimeoutSeconds: 3600)))
    }

    @Test func theTimeoutCancelsAndAStuckCancelEndsTimedOut() {
        var h = Harness()
        let key = h.due("a", 0, policy: Self.policy(.skip))
        h.start(key, at: 0)
        #expect(h.inFlight[key] == .wake(at: Self.t0.addingTimeInterval(30)))
        let running = RunStatus(runState: "Running", runSubState: "Building", startedAt: Self.t0)
        h.send(key, .observed(Observation(status: running, timeoutSeconds: 3600)), at: 61)
        #expect(h.journal.contains(.cancelRequested(key, reason: .timeout)))
        #expect(h.events.last == "timeout-cancel")
        h.send(key, .cancelAnswered(error: "503"), at: 61)
        h.send(key, .wake, at: 71)
        #expect(h.outcome(key) == .timedOut)
    }

    @Test func aRestartBetweenCancelRequestedAndCancelSendsItAgain() {
        var h = Harness()
        let key = h.due("a", 0, policy: Self.policy(.skip))
        h.start(key, at: 0)
        h.send(key, .observed(Observation(status: RunStatus(runState: "Running", startedAt: Self.t0), timeoutSeconds: 3600)), at: 61)
        // The process dies here, before the Cancel leaves.
        let (table, work) = RunTable.recover(h.state, maxConcurrentBuilds: 10, now: Self.t0.addingTimeInterval(62 * 60), unknownTimeoutSeconds: 14_400) { _ in Self.policy(.skip) }
        #expect(table.runs[key]?.phase.name == "cancelling")
        #expect(work.first { $0.key == key }?.effects.last == .callCancel)
    }

    @Test(arguments: [
        ("Succeeded", nil, RunOutcome.succeeded), ("PartiallySucceeded", nil, .partiallySucceeded), ("Failed", nil, .failed),
        ("Canceled", nil, .canceled), ("canceled", CancelReason.replace, .canceled), ("Succeeded", .timeout, .timedOut),
        ("Canceled", .timeout, .timedOut), ("SomethingNew", nil, .failed),
    ] as [(String, CancelReason?, RunOutcome)])
    func outcomeMapping(state: String, reason: CancelReason?, outcome: RunOutcome) {
        #expect(Outcomes.outcome(runState: state, cancelReason: reason) == outcome)
    }
}

/// Operator control through the state machine: run now, pause, resume, cancel, auto-pause.
@Suite struct ControlTableTests {
    typealias H = RunTableTests.Harness
    static let t0 = RunTableTests.t0

    static func request(_ id: String? = nil) -> TriggerRequest {
        TriggerRequest(requestedBy: "uid 1000 (alice)", reason: "CVE-2027-0001", requestID: id)
    }

    mutating func trigger(_ h: inout H, _ overlap: OverlapPolicy, at minutes: Double, id: String? = nil) -> SlotKey {
        let (key, work) = h.table.trigger("a", target: RunTableTests.target, policy: RunTableTests.policy(overlap), request: Self.request(id),
                                          now: Self.t0.addingTimeInterval(minutes * 60))
        h.apply(work)
        return key
    }

    @Test(arguments: OverlapPolicy.allCases)
    mutating func triggerDuringARunningBuildFollowsTheOverlapPolicy(_ overlap: OverlapPolicy) {
        var h = H()
        let scheduled = h.due("a", 0, policy: RunTableTests.policy(.skip))
        h.start(scheduled, at: 0)
        let manual = trigger(&h, overlap, at: 10)
        #expect(manual.manual && manual.schedule == "a")
        // Who asked and why is journaled before anything else of the manual slot.
        #expect(h.journal.first { $0.slot == manual } == .triggerRequested(manual, Self.request()))
        switch overlap {
        case .skip:
            #expect(h.skipReason(manual) == "overlap: the previous build is still running")
        case .queue:
            #expect(h.phase(manual) == "queued")
            h.end(scheduled, state: "Succeeded", at: 20)
            #expect(h.inFlight[manual] == .readTemplate)
        case .replace:
            #expect(h.journal.contains(.cancelRequested(scheduled, reason: .replace)))
            #expect(h.phase(manual) == "queued")
        }
        // A manual slot is not a slot of the schedule: the catch-up rule does not see it.
        #expect(h.state.lastSlot["a"] == scheduled.slot)
        #expect(h.state.openRuns[manual]?.trigger?.requestedBy == "uid 1000 (alice)" || h.state.history["a"]?.contains { $0.key == manual } == true)
    }

    @Test mutating func aRetriedTriggerGetsTheSameSlot() {
        var h = H()
        let first = trigger(&h, .skip, at: 0, id: "req-1")
        let again = trigger(&h, .skip, at: 1, id: "req-1")
        #expect(first == again)
        #expect(h.journal.filter { if case .slotDue = $0 { true } else { false } }.count == 1)
    }

    @Test func pausedSlotsAreSkippedAcrossARestartAndResumeBringsNoBurst() {
        var h = H()
        let fact = h.table.pause("a", until: nil, reason: "incident 42", by: "uid 0 (root)", now: Self.t0)
        h.state.apply(JournalRecord(seq: 1, at: Self.t0, event: fact))
        let first = h.due("a", 15, policy: RunTableTests.policy(.skip))
        #expect(h.skipReason(first) == "paused")
        // The process restarts: the pause is in the journal, so it holds.
        let (recovered, _) = RunTable.recover(h.state, maxConcurrentBuilds: 10, now: Self.t0.addingTimeInterval(20 * 60), unknownTimeoutSeconds: 14_400) { _ in RunTableTests.policy(.skip) }
        h.table = recovered
        #expect(h.table.paused["a"]?.reason == "incident 42")
        let second = h.due("a", 30, policy: RunTableTests.policy(.skip))
        #expect(h.skipReason(second) == "paused")
        #expect(h.table.resume("a", by: "uid 0 (root)") == .resumed(schedule: "a", by: "uid 0 (root)"))
        #expect(h.table.resume("a", by: "uid 0 (root)") == nil)
        #expect(h.table.runs.isEmpty, "resume starts nothing by itself")
        let third = h.due("a", 45, policy: RunTableTests.policy(.skip))
        #expect(h.phase(third) == "preparing")
    }

    @Test func aPauseWithUntilEndsByItself() {
        var h = H()
        _ = h.table.pause("a", until: Self.t0.addingTimeInterval(3600), reason: nil, by: "uid 0 (root)", now: Self.t0)
        let during = h.due("a", 30, policy: RunTableTests.policy(.skip))
        #expect(h.skipReason(during) == "paused")
        let after = h.due("a", 60, policy: RunTableTests.policy(.skip))
        #expect(h.journal.contains(.resumed(schedule: "a", by: "until")))
        #expect(h.phase(after) == "preparing")
    }

    @Test func pauseAfterFailuresPausesAtTheLimit() {
        var h = H()
        var policy = RunTableTests.policy(.skip)
        policy.pauseAfterFailures = 2
        for (n, state) in ["Failed", "Succeeded", "Failed", "Failed"].enumerated() {
            let key = h.due("a", Double(n * 60), policy: policy)
            h.start(key, at: Double(n * 60))
            h.end(key, state: state, at: Double(n * 60 + 10), startedAt: Double(n * 60))
        }
        let pauses = h.journal.compactMap { if case .paused(_, _, let reason, let by) = $0 { (reason, by) } else { nil } }
        #expect(pauses.count == 1 && pauses.first?.1 == "pause_after_failures", "\(pauses)")
        let next = h.due("a", 240, policy: policy)
        #expect(h.skipReason(next) == "paused")
    }

    @Test func operatorCancelEndsCanceled() {
        var h = H()
        let request = CancelRequest(requestedBy: "uid 1000 (alice)", note: "wrong base image")
        #expect(h.table.cancel("a", request: request, now: Self.t0) == nil)
        let key = h.due("a", 0, policy: RunTableTests.policy(.skip))
        h.start(key, at: 0)
        let work = h.table.cancel("a", request: request, now: Self.t0.addingTimeInterval(300))
        #expect(work?.key == key)
        h.apply(work.map { [$0] } ?? [])
        #expect(h.journal.contains(.cancelRequested(key, reason: .operator, request: request)))
        #expect(h.events.last == "operator-cancel")
        #expect(h.state.openRuns[key]?.cancelRequest == request)
        h.send(key, .cancelAnswered(error: nil), at: 5)
        h.send(key, .wake, at: 6)
        h.end(key, state: "Canceled", at: 6)
        #expect(h.outcome(key) == .canceled)
    }
}
