@testable import AzureClient
import Foundation
import JobJournal
import Orchestration
import Synchronization

/// The run store on a simulated disk: an append is durable once its (drawn) fsync completes, in the
/// order appends were made, as the journal's group commit makes them; a crash drops every append
/// that was not yet durable, and appends of an ended life fail.
final class SimStore: RunStore, @unchecked Sendable {
    struct Ended: Error {}

    private struct State {
        var records: [JournalRecord] = []
        var folded = JournalState(historyLimit: 1_000_000)
        var incarnation = 0
        /// When the last queued append becomes durable: later appends are durable after it.
        var syncedUntil = Date.distantPast
        /// The slot whose Run each template would be answering: for telling whose build ARM started.
        var requesting: [String: SlotKey] = [:]
    }

    private let box = Mutex(State())
    let clock: SimClock
    let dice: SimDice

    init(clock: SimClock, dice: SimDice) {
        self.clock = clock
        self.dice = dice
    }

    func append(_ event: JournalEvent, at: Date) async throws -> JournalRecord {
        let latency = dice.draw { $0.seconds(0.0005...0.02) }
        let (incarnation, durableAt): (Int, Date) = box.withLock { s in
            s.syncedUntil = max(s.syncedUntil, clock.now().addingTimeInterval(latency))
            return (s.incarnation, s.syncedUntil)
        }
        try await clock.sleep(until: durableAt)
        return try box.withLock { s in
            guard s.incarnation == incarnation else { throw Ended() }
            let record = JournalRecord(seq: UInt64(s.records.count + 1), at: at, event: event)
            s.records.append(record)
            s.folded.apply(record)
            switch event {
            case .runRequested(let key, _):
                if let template = s.folded.openRuns[key]?.target?.template { s.requesting[template] = key }
            default: break
            }
            return record
        }
    }

    var state: JournalState { box.withLock { $0.folded } }

    func scheduleFacts(_ schedule: String) -> ScheduleFacts? { box.withLock { $0.folded.schedules[schedule] } }

    func openRun(_ key: SlotKey) -> RunRecord? { box.withLock { $0.folded.openRuns[key] } }

    /// The process died: what was not durable is gone.
    func crash() {
        box.withLock {
            $0.incarnation += 1
            $0.syncedUntil = .distantPast
        }
    }

    var incarnation: Int { box.withLock { $0.incarnation } }
    var records: [JournalRecord] { box.withLock { $0.records } }
    var openRuns: Int { box.withLock { $0.folded.openRuns.count } }
    func requesting(_ template: String) -> SlotKey? { box.withLock { $0.requesting[template] } }
}

/// ARM for the simulation: `SimARM`'s templates behind the orchestrator's `TemplateOperations`, with
/// drawn latency, throttling, outages and answers lost before or after the request arrived. A write
/// takes effect when it reaches ARM; a crash while its answer travels loses only the answer.
final class SimTemplates: TemplateOperations, @unchecked Sendable {
    struct Faults {
        var failureRate: Double
        var ambiguousRate: Double
        var storms: [(Date, Date)]
    }

    private let arm: Mutex<SimARM>
    private let violations = Mutex<[String]>([])
    /// Every Run that reached ARM: when, for which slot (as the store's last request names it), and ARM's answer.
    let runLog = Mutex<[String]>([])
    let clock: SimClock
    let dice: SimDice
    let store: SimStore
    let faults: Faults
    /// After the last slot: ARM behaves, so every run can reach its end.
    let quiet = Mutex(false)

    init(arm: SimARM, clock: SimClock, dice: SimDice, store: SimStore, faults: Faults) {
        self.arm = Mutex(arm)
        self.clock = clock
        self.dice = dice
        self.store = store
        self.faults = faults
    }

    var snapshot: SimARM { arm.withLock { $0 } }
    var writeViolations: [String] { violations.withLock { $0 } }

    func startForeignBuild(_ template: String) {
        let now = clock.now()
        let (duration, cancelTakes) = dice.draw { ($0.seconds(300...5400), $0.seconds(30...300)) }
        arm.withLock { _ = $0.run(template, slot: nil, at: now, duration: duration, outcome: "Succeeded", cancelTakes: cancelTakes) }
    }

    private var failing: Bool {
        let now = clock.now()
        guard !quiet.withLock({ $0 }) else { return false }
        if faults.storms.contains(where: { $0.0 <= now && now < $0.1 }) { return true }
        return dice.draw { $0.chance(faults.failureRate) }
    }

    private func ambiguous() -> Bool {
        !quiet.withLock { $0 } && dice.draw { $0.chance(faults.ambiguousRate) }
    }

    /// The answer's trip back; a crash on the way loses it.
    private func travel(_ operation: String) async throws(AzureError) {
        let latency = dice.draw { $0.seconds(0.05...3) }
        do { try await clock.sleep(until: clock.now().addingTimeInterval(latency)) } catch {
            throw .transport(operation: operation, reason: "the process stopped")
        }
    }

    /// An ARM write from a life that already ended would be a write no fence stopped.
    private func checkAlive(_ operation: String, _ template: String) {
        let life = SimIncarnation.current
        if life != store.incarnation {
            let now = clock.now()
            violations.withLock { $0.append("\(operation) on \(template) at \(now) from a daemon life (\(life)) that had ended") }
        }
    }

    private static let ids = RequestIDs(clientRequestID: "sim")

    private static func http(_ status: Int, _ operation: String) -> AzureError {
        .http(status: status, operation: operation, error: nil, ids: ids)
    }

    func get(_ id: ImageTemplateID) async throws(AzureError) -> ImageTemplate {
        let failing = self.failing
        try await travel("get")
        if failing { throw Self.http(503, "get") }
        let now = clock.now()
        let (exists, status, timeout): (Bool, RunStatus?, Int) = arm.withLock {
            ($0.exists(id.name, at: now), $0.lastRunStatus(id.name, at: now), $0.templates[id.name]?.timeoutMinutes ?? 0)
        }
        guard exists else { throw Self.http(404, "get") }
        return Self.template(status, timeoutMinutes: timeout)
    }


    func run(_ id: ImageTemplateID) async throws(AzureError) -> OperationAcceptance {
        checkAlive("Run", id.name)
        if failing {
            try await travel("run")
            throw Self.http(429, "run")
        }
        if ambiguous() {
            try await travel("run")
            throw .ambiguous(operation: "run", underlying: "connection reset before the request was sent", ids: Self.ids)
        }
        let now = clock.now()
        let (duration, outcome, cancelTakes) = dice.draw {
            ($0.seconds(120...9000), $0.pick(["Succeeded", "Succeeded", "Failed", "PartiallySucceeded"]), $0.chance(0.15) ? nil : $0.seconds(30...900))
        }
        let slot = store.requesting(id.name)
        let answer = arm.withLock { $0.run(id.name, slot: slot, at: now, duration: duration, outcome: outcome, cancelTakes: cancelTakes) }
        runLog.withLock { $0.append("\(now.timeIntervalSince1970) \(id.name) \(slot.map { "\($0)" } ?? "-") \(answer)") }
        let lost = ambiguous()
        try await travel("run")
        if lost { throw .ambiguous(operation: "run", underlying: "connection reset after the request was sent", ids: Self.ids) }
        switch answer {
        case .accepted: return OperationAcceptance(status: 202, acceptedAt: clock.now(), ids: Self.ids)
        case .conflict: throw Self.http(409, "run")
        case .notFound: throw Self.http(404, "run")
        }
    }

    func cancel(_ id: ImageTemplateID) async throws(AzureError) -> OperationAcceptance {
        checkAlive("Cancel", id.name)
        let now = clock.now()
        let failing = self.failing
        arm.withLock { $0.cancels[id.name, default: []].append(now) }
        let accepted = failing ? false : arm.withLock { $0.cancel(id.name, at: now) }
        try await travel("cancel")
        if failing { throw Self.http(503, "cancel") }
        guard accepted else { throw Self.http(409, "cancel") }
        return OperationAcceptance(status: 202, acceptedAt: clock.now(), ids: Self.ids)
    }

    func listRunOutputs(_ id: ImageTemplateID) async throws(AzureError) -> [RunOutput] {
        let failing = self.failing
        try await travel("listRunOutputs")
        if failing { throw Self.http(503, "listRunOutputs") }
        let json = #"[{"name": "image", "properties": {"artifactId": "/images/\#(id.name)"}}]"#
        do { return try JSONDecoder().decode([RunOutput].self, from: Data(json.utf8)) } catch {
            throw .transport(operation: "listRunOutputs", reason: "\(error)")
        }
    }

    /// A template as a Get returns it: its timeout and `lastRunStatus`, built as the decoder would.
    static func template(_ status: RunStatus?, timeoutMinutes: Int) -> ImageTemplate {
        var properties = ImageTemplatePropertiesFields()
        properties.buildTimeoutInMinutes = timeoutMinutes
        properties.lastRunStatus = status.map {
            LastRunStatus(LastRunStatusFields(startTime: $0.startedAt.map(ARMDate.init), endTime: $0.endedAt.map(ARMDate.init),
                                              runState: RunState(rawValue: $0.runState), runSubState: $0.runSubState.map(RunSubState.init(rawValue:))))
        }
        return ImageTemplate(ImageTemplateFields(location: "westeurope", properties: ImageTemplateProperties(properties)))
    }
}
