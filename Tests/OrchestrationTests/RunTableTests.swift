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
        let (table, work) = RunTable.recover(h.state, maxConcurrentBuilds: 10, now: Self.t0.addingTimeInterval(62 * 60)) { _ in Self.policy(.skip) }
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
