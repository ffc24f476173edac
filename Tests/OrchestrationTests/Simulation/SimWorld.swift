@testable import AzureClient
import Foundation
import JobJournal
import Orchestration
import Synchronization

/// The facts as the store that holds them for good sees them (the disk, or etcd's log), by seq:
/// what the invariants read, and which slot each template's next Run answers.
final class SimLedger: Sendable {
    private struct State {
        var records: [UInt64: JournalRecord] = [:]
        var folded = JournalState(historyLimit: 1_000_000)
        /// The slot whose Run each template would be answering: for telling whose build ARM started.
        var requesting: [String: SlotKey] = [:]
        var overwritten: [String] = []
    }

    private let box = Mutex(State())

    func note(_ record: JournalRecord) {
        box.withLock { s in
            if let old = s.records[record.seq] {
                s.overwritten.append("seq \(record.seq) (\(old.event.typeName)) overwritten by \(record.event.typeName): a durable fact was lost")
            }
            s.records[record.seq] = record
            s.folded.apply(record)
            if case .runRequested(let key, _) = record.event, let template = s.folded.openRuns[key]?.target?.template {
                s.requesting[template] = key
            }
        }
    }

    var records: [JournalRecord] { box.withLock { $0.records.values.sorted { $0.seq < $1.seq } } }
    var count: Int { box.withLock { $0.records.count } }
    var state: JournalState { box.withLock { $0.folded } }
    var openRuns: Int { box.withLock { $0.folded.openRuns.count } }
    var overwritten: [String] { box.withLock { $0.overwritten } }
    func requesting(_ template: String) -> SlotKey? { box.withLock { $0.requesting[template] } }
}

/// The run store on a simulated disk: an append is durable once its (drawn) fsync completes, in the
/// order appends were made, as the journal's group commit makes them; a crash drops every append
/// that was not yet durable, and appends of an ended life fail.
final class SimStore: RunStore, @unchecked Sendable {
    struct Ended: Error {}

    private struct State {
        var incarnation = 0
        /// When the last queued append becomes durable: later appends are durable after it.
        var syncedUntil = Date.distantPast
    }

    private let box = Mutex(State())
    let ledger = SimLedger()
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
            let record = JournalRecord(seq: UInt64(ledger.count + 1), at: at, event: event)
            ledger.note(record)
            return record
        }
    }

    var state: JournalState { ledger.state }

    func scheduleFacts(_ schedule: String) -> ScheduleFacts? { ledger.state.schedules[schedule] }

    func openRun(_ key: SlotKey) -> RunRecord? { ledger.state.openRuns[key] }

    /// The process died: what was not durable is gone.
    func crash() {
        box.withLock {
            $0.incarnation += 1
            $0.syncedUntil = .distantPast
        }
    }

    var incarnation: Int { box.withLock { $0.incarnation } }
}

/// ARM for the simulation: `SimARM`'s templates behind the orchestrator's `TemplateOperations`, with
/// drawn latency, throttling, outages and answers lost before or after the request arrived. A write
/// takes effect when it reaches ARM; a crash while its answer travels loses only the answer.
final class SimTemplates: TemplateOperations, TemplateListing, @unchecked Sendable {
    struct Faults {
        var failureRate: Double
        var ambiguousRate: Double
        var storms: [(Date, Date)]
        /// How often a Run is held on the wire (5 s to 2 min) before it reaches ARM.
        var lateRate: Double = 0
        /// Drawn build durations (2 min to 2.5 h) times this.
        var buildScale: Double = 1
    }

    private let arm: Mutex<SimARM>
    private let violations = Mutex<[String]>([])
    /// Every Run that reached ARM: when, for which slot (as the store's last request names it), and ARM's answer.
    let runLog = Mutex<[String]>([])
    let clock: SimClock
    let dice: SimDice
    let ledger: SimLedger
    let faults: Faults
    /// Why an ARM write from the calling task must not happen now (an ended life, a closed fence); nil when it may.
    let forbidden: @Sendable () -> String?
    /// After the last slot: ARM behaves, so every run can reach its end.
    let quiet = Mutex(false)

    let executor: SimExecutor

    init(arm: SimARM, clock: SimClock, dice: SimDice, ledger: SimLedger, executor: SimExecutor, faults: Faults,
         forbidden: @escaping @Sendable () -> String?) {
        self.executor = executor
        self.arm = Mutex(arm)
        self.clock = clock
        self.dice = dice
        self.ledger = ledger
        self.faults = faults
        self.forbidden = forbidden
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

    /// An ARM write as it leaves the daemon: from a life that ended, or a node whose fence closed, it
    /// is a write nothing stopped.
    private func checkAlive(_ operation: String, _ template: String) {
        if let why = forbidden() {
            let now = clock.now()
            violations.withLock { $0.append("\(operation) on \(template) at \(now): \(why)") }
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
        // Whose Run this is, as the sender's facts say when it leaves: it may arrive much later.
        let slot = ledger.requesting(id.name)
        let answer: SimARM.RunAnswer
        // No draw when Runs are never late: single-node seeds replay as they did before clusters.
        if faults.lateRate > 0, let late = dice.draw({ $0.chance(faults.lateRate) ? $0.seconds(5...120) : nil }), !quiet.withLock({ $0 }) {
            guard let arrived = await deliver(after: late, { self.arrive(id.name, slot: slot) }) else {
                throw .ambiguous(operation: "run", underlying: "no answer before the sender stopped waiting", ids: Self.ids)
            }
            answer = arrived
        } else {
            answer = arrive(id.name, slot: slot)
        }
        let lost = ambiguous()
        try await travel("run")
        if lost { throw .ambiguous(operation: "run", underlying: "connection reset after the request was sent", ids: Self.ids) }
        switch answer {
        case .accepted: return OperationAcceptance(status: 202, acceptedAt: clock.now(), ids: Self.ids)
        case .conflict: throw Self.http(409, "run")
        case .notFound: throw Self.http(404, "run")
        }
    }

    /// A Run reaching ARM.
    private func arrive(_ template: String, slot: SlotKey?) -> SimARM.RunAnswer {
        let now = clock.now()
        let (duration, outcome, cancelTakes) = dice.draw {
            ($0.seconds(120...9000), $0.pick(["Succeeded", "Succeeded", "Failed", "PartiallySucceeded"]), $0.chance(0.15) ? nil : $0.seconds(30...900))
        }
        let answer = arm.withLock {
            $0.run(template, slot: slot, at: now, duration: duration * faults.buildScale, outcome: outcome, cancelTakes: cancelTakes)
        }
        runLog.withLock { $0.append("\(now.timeIntervalSince1970) \(template) \(slot.map { "\($0)" } ?? "-") \(answer)") }
        return answer
    }

    /// A request held on the wire for `delay`: it arrives whatever becomes of its sender (which may
    /// stop waiting, deposed or stalled, and get nil).
    private func deliver<T: Sendable>(after delay: TimeInterval, _ arrival: @escaping @Sendable () -> T) async -> T? {
        let (answers, answer) = AsyncStream<T>.makeStream()
        let clock = self.clock
        Task(executorPreference: executor) {
            await SimNode.$current.withValue(nil) {
                try? await clock.sleep(until: clock.now().addingTimeInterval(delay))
            }
            answer.yield(arrival())
            answer.finish()
        }
        for await value in answers { return value }
        return nil
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

    /// Tags change as a template's owner changes them.
    func setTags(_ template: String, _ tags: [String: String]) {
        let now = clock.now()
        arm.withLock { $0.templates[template]?.tagHistory.append((now, tags)) }
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

    static let group = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.VirtualMachineImages/imageTemplates/"

    /// Every template that exists, with its tags as they are when the answer leaves ARM.
    private func listed(_ operation: String) async throws(AzureError) -> [ImageTemplate] {
        let failing = self.failing
        try await travel(operation)
        if failing { throw Self.http(503, operation) }
        let now = clock.now()
        return arm.withLock { arm in
            arm.templates.keys.sorted().filter { arm.exists($0, at: now) }.map { name in
                var fields = ImageTemplateFields(location: "westeurope", tags: arm.templates[name]!.tags(at: now))
                fields.id = Self.group + name
                fields.name = name
                return ImageTemplate(fields)
            }
        }
    }

    func list(subscriptionID: String) async throws(AzureError) -> [ImageTemplate] { try await listed("List") }

    func listByResourceGroup(subscriptionID: String, resourceGroup: String) async throws(AzureError) -> [ImageTemplate] {
        try await listed("ListByResourceGroup")
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
