import AzureClient
import Foundation
import Orchestration
import Synchronization

/// Image Builder in process, on the manual clock: builds run for a set time and end with a set
/// state, Run answers 409 while one runs, `lastRunStatus` can lag, and scripted faults answer the
/// next calls of an operation with an error.
final class FakeARM: TemplateOperations {
    enum Operation: String, Sendable { case get, run, cancel, listRunOutputs }

    struct Build: Sendable {
        var startedAt: Date
        var duration: TimeInterval
        var outcome: String
        var message: String?
        var cancelledAt: Date?
        var foreign = false

        func state(at t: Date, cancelTakes: TimeInterval) -> (state: String, ended: Date?) {
            if let c = cancelledAt, t >= c.addingTimeInterval(cancelTakes), c.addingTimeInterval(cancelTakes) < startedAt.addingTimeInterval(duration) {
                return ("Canceled", c.addingTimeInterval(cancelTakes))
            }
            if t >= startedAt.addingTimeInterval(duration) { return (outcome, startedAt.addingTimeInterval(duration)) }
            return (cancelledAt != nil ? "Canceling" : "Running", nil)
        }
    }

    struct Template: Sendable {
        var buildMinutes: Double = 5
        var outcome = "Succeeded"
        var message: String?
        var timeoutMinutes = 0
        var lagSeconds: TimeInterval = 0
        var cancelTakes: TimeInterval = 60
        var builds: [Build] = []
    }

    enum Fault: Sendable {
        case status(Int)
        case dropBefore
        case dropAfter
        case transport
    }

    struct Call: Sendable {
        var operation: Operation
        var template: String
        var at: Date
        var failed: Bool
    }

    private struct State {
        var templates: [String: Template] = [:]
        var faults: [(Operation?, Fault, Int)] = []
        var calls: [Call] = []
    }

    private let state = Mutex(State())
    let clock: ManualClock

    init(clock: ManualClock, templates: [String: Template]) {
        self.clock = clock
        state.withLock { $0.templates = templates }
    }

    /// The next `count` calls of `operation` (any, if nil) fail this way.
    func fail(_ operation: Operation?, _ fault: Fault, count: Int) {
        state.withLock { $0.faults.append((operation, fault, count)) }
    }

    func clearFaults() {
        state.withLock { $0.faults = [] }
    }

    func setOutcome(_ template: String, _ outcome: String) {
        state.withLock { $0.templates[template]?.outcome = outcome }
    }

    func startForeignBuild(_ template: String, minutes: Double) {
        let now = clock.now()
        state.withLock { $0.templates[template]?.builds.append(Build(startedAt: now, duration: minutes * 60, outcome: "Succeeded", foreign: true)) }
    }

    var calls: [Call] { state.withLock { $0.calls } }
    func builds(_ template: String) -> [Build] { state.withLock { $0.templates[template]?.builds ?? [] } }

    // MARK: TemplateOperations

    func get(_ id: ImageTemplateID) async throws(AzureError) -> ImageTemplate {
        let now = clock.now()
        let template = try answer(.get, id, now)
        var properties: [String: Any] = ["buildTimeoutInMinutes": template.timeoutMinutes]
        if let build = template.builds.last(where: { $0.startedAt.addingTimeInterval(template.lagSeconds) <= now }) {
            let (state, ended) = build.state(at: now, cancelTakes: template.cancelTakes)
            var status: [String: Any] = ["runState": state, "startTime": Self.iso(build.startedAt)]
            if let ended { status["endTime"] = Self.iso(ended) } else { status["runSubState"] = "Building" }
            if ended != nil, let message = build.message { status["message"] = message }
            properties["lastRunStatus"] = status
        }
        let json = try! JSONSerialization.data(withJSONObject: ["location": "westeurope", "properties": properties])
        return try! JSONDecoder().decode(ImageTemplate.self, from: json)
    }

    func run(_ id: ImageTemplateID) async throws(AzureError) -> OperationAcceptance {
        let now = clock.now()
        let fault = takeFault(.run)
        if case .dropBefore? = fault { throw .ambiguous(operation: "run", underlying: "connection reset", ids: Self.ids) }
        if let fault, !Self.isDrop(fault) { throw record(.run, id, now, failed: true, Self.error(fault, "run")) }
        let accepted: Bool = state.withLock { s in
            guard var template = s.templates[id.name] else { return false }
            if let last = template.builds.last, last.state(at: now, cancelTakes: template.cancelTakes).ended == nil { return false }
            template.builds.append(Build(startedAt: now, duration: template.buildMinutes * 60, outcome: template.outcome, message: template.message))
            s.templates[id.name] = template
            return true
        }
        guard accepted else {
            throw record(.run, id, now, failed: true, .http(status: 409, operation: "run", error: nil, ids: Self.ids))
        }
        _ = record(.run, id, now, failed: false, nil)
        if case .dropAfter? = fault { throw .ambiguous(operation: "run", underlying: "connection reset after sending", ids: Self.ids) }
        return OperationAcceptance(status: 202, acceptedAt: now, ids: Self.ids)
    }

    func cancel(_ id: ImageTemplateID) async throws(AzureError) -> OperationAcceptance {
        let now = clock.now()
        _ = try answer(.cancel, id, now)
        state.withLock { s in
            if let index = s.templates[id.name]?.builds.indices.last, s.templates[id.name]!.builds[index].cancelledAt == nil {
                s.templates[id.name]!.builds[index].cancelledAt = now
            }
        }
        return OperationAcceptance(status: 202, acceptedAt: now, ids: Self.ids)
    }

    func listRunOutputs(_ id: ImageTemplateID) async throws(AzureError) -> [RunOutput] {
        _ = try answer(.listRunOutputs, id, clock.now())
        let json = #"[{"name": "image", "properties": {"artifactId": "/images/\#(id.name)"}}]"#
        return try! JSONDecoder().decode([RunOutput].self, from: Data(json.utf8))
    }

    // MARK: Faults

    private func answer(_ operation: Operation, _ id: ImageTemplateID, _ now: Date) throws(AzureError) -> Template {
        if let fault = takeFault(operation) { throw record(operation, id, now, failed: true, Self.error(fault, operation.rawValue)) }
        guard let template = state.withLock({ $0.templates[id.name] }) else {
            throw record(operation, id, now, failed: true, .http(status: 404, operation: operation.rawValue, error: nil, ids: Self.ids))
        }
        _ = record(operation, id, now, failed: false, nil)
        return template
    }

    private func takeFault(_ operation: Operation) -> Fault? {
        state.withLock { s in
            guard let index = s.faults.firstIndex(where: { $0.0 == nil || $0.0 == operation }) else { return nil }
            s.faults[index].2 -= 1
            let fault = s.faults[index].1
            if s.faults[index].2 == 0 { s.faults.remove(at: index) }
            return fault
        }
    }

    private func record(_ operation: Operation, _ id: ImageTemplateID, _ now: Date, failed: Bool, _ error: AzureError?) -> AzureError {
        state.withLock { $0.calls.append(Call(operation: operation, template: id.name, at: now, failed: failed)) }
        return error ?? .invalidArgument("unused")
    }

    private static func isDrop(_ fault: Fault) -> Bool {
        switch fault {
        case .dropBefore, .dropAfter: true
        default: false
        }
    }

    private static func error(_ fault: Fault, _ operation: String) -> AzureError {
        switch fault {
        case .status(let code): .http(status: code, operation: operation, error: nil, ids: ids)
        case .transport: .transport(operation: operation, reason: "connection refused")
        case .dropBefore, .dropAfter: .ambiguous(operation: operation, underlying: "connection reset", ids: ids)
        }
    }

    static let ids = RequestIDs(clientRequestID: "test")

    static func iso(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!))
    }
}
