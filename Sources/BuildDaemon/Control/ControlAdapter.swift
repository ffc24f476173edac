import AzureClient
import Config
import ControlProtocol
import FoundationEssentials
import Glibc
import JobJournal
import Orchestration
import RunLifecycle
import Scheduler

/// The control interface, answered by the orchestrator of the term that schedules now; a cluster
/// standby answers `status` itself and refuses changes with `NotLeader`.
struct ControlAdapter: ControlService {
    let pid = getpid()
    let node: DaemonNode

    /// The orchestrator that may act on a request now.
    private func acting() async throws(ControlError) -> Orchestrator {
        if let orchestrator = await node.acting() { return orchestrator }
        let view = await node.view()
        guard let name = view.node else { throw ControlError("\(ControlInterface.name).Stopping", .init(message: view.statusLine)) }
        throw .notLeader(node: name, leader: view.leader)
    }

    func status() async -> StatusReply {
        let view = await node.view()
        let role = view.node == nil ? "single" : view.orchestrator == nil ? "standby" : "leader"
        var schedules: [ScheduleView] = []
        var discovery: DiscoveryView?
        if let orchestrator = view.orchestrator {
            schedules = await orchestrator.snapshot().map { StatusView.schedule($0, now: view.now) }
            if await orchestrator.fileConfig.discovery != nil {
                let last = await orchestrator.lastDiscovery
                discovery = DiscoveryView(lastPass: last.map { RFC3339.string($0.at) }, complete: last?.complete ?? false,
                                          failures: last?.failures ?? [], ignored: (last?.ignored ?? []).map(StatusView.ignored))
            }
        }
        let daemon = DaemonView(ready: view.orchestrator != nil || view.node != nil, pid: pid, startedAt: RFC3339.string(view.startedAt),
                                uptimeSeconds: max(0, Int(view.now.timeIntervalSince(view.startedAt))), role: role, statusLine: view.statusLine,
                                now: RFC3339.string(view.now), node: view.node, leader: view.leader)
        return StatusReply(daemon: daemon, schedules: schedules, discovery: discovery)
    }

    func discover(by peer: Peer) async throws(ControlError) -> DiscoverReply {
        let orchestrator = try await acting()
        guard let report = await orchestrator.discover() else {
            throw ControlError("\(ControlInterface.name).DiscoveryOff", .init(message: "discovery is off: the config has no discover: section"))
        }
        return DiscoverReply(complete: report.complete, found: report.found, added: report.added, changed: report.changed, retired: report.retired,
                             ignored: report.ignored.map(StatusView.ignored), failures: report.failures)
    }

    func trigger(_ parameters: TriggerParameters, by peer: Peer) async throws(ControlError) -> TriggerReply {
        var overlap: OverlapPolicy?
        if let text = parameters.overlap {
            guard let policy = OverlapPolicy(rawValue: text) else { throw .invalidParameter("overlap", "\"\(text)\" is not one of skip, queue, replace") }
            overlap = policy
        }
        let orchestrator = try await acting()
        do {
            let (key, decision) = try await orchestrator.trigger(parameters.schedule, reason: parameters.reason, overlap: overlap,
                                                                 requestID: parameters.requestId, by: peer.description)
            return TriggerReply(schedule: key.schedule, slot: RFC3339.string(key.slot), decision: decision.text, outcome: decision.outcome.rawValue)
        } catch {
            throw Self.map(error)
        }
    }

    func pause(_ parameters: PauseParameters, by peer: Peer) async throws(ControlError) -> PauseReply {
        var until: Date?
        if let text = parameters.until {
            guard let date = RFC3339.parse(text) else { throw .invalidParameter("until", "\"\(text)\" is not an RFC 3339 time") }
            until = date
        }
        let orchestrator = try await acting()
        let pause = try await Self.durably { try await orchestrator.pause(parameters.schedule, until: until, reason: parameters.reason, by: peer.description) }
        return PauseReply(schedule: parameters.schedule, pause: StatusView.pause(pause))
    }

    func resume(_ parameters: ResumeParameters, by peer: Peer) async throws(ControlError) -> ResumeReply {
        let orchestrator = try await acting()
        let wasPaused = try await Self.durably { try await orchestrator.resume(parameters.schedule, by: peer.description) }
        return ResumeReply(schedule: parameters.schedule, wasPaused: wasPaused)
    }

    /// A request that writes the journal before it answers: its own failures, or the journal's.
    static func durably<T: Sendable>(_ work: () async throws -> T) async throws(ControlError) -> T {
        do {
            return try await work()
        } catch let failure as Orchestrator.ControlFailure {
            throw map(failure)
        } catch {
            throw ControlError("\(ControlInterface.name).JournalFailed", .init(message: "\(error)"))
        }
    }

    func cancel(_ parameters: CancelParameters, by peer: Peer) async throws(ControlError) -> CancelReply {
        let orchestrator = try await acting()
        do {
            let key = try await orchestrator.cancel(parameters.schedule, reason: parameters.reason, by: peer.description)
            return CancelReply(schedule: key.schedule, slot: RFC3339.string(key.slot))
        } catch {
            throw Self.map(error)
        }
    }

    static func map(_ failure: Orchestrator.ControlFailure) -> ControlError {
        switch failure {
        case .unknownSchedule(let name, let known): .unknownSchedule(name, known: known)
        case .nothingToCancel(let name): ControlError("\(ControlInterface.name).NothingToCancel", .init(schedule: name))
        case .untilNotInFuture(let until, let now):
            .invalidParameter("until", "\(RFC3339.string(until)) is not in the future (the daemon's time is \(RFC3339.string(now)))")
        }
    }
}

/// Status rows from the orchestrator's snapshot, or from the journal when the daemon is not running.
enum StatusView {
    static func schedule(_ s: Orchestrator.ScheduleSnapshot, now: Date) -> ScheduleView {
        let building = s.runs.first { $0.phase.holdsTemplate }
        let queued = s.runs.filter { !$0.phase.holdsTemplate }.count
        let state = s.pause != nil ? "paused" : building != nil ? "running" : queued > 0 ? "queued" : "idle"
        return ScheduleView(schedule: s.config.name, template: s.config.target.name, subscriptionId: s.config.target.subscriptionID,
                            resourceGroup: s.config.target.resourceGroup, cron: s.config.cron.expression, timezone: s.config.timezone,
                            state: state, build: building.map { build($0, now: now) }, queued: queued, pause: s.pause.map(pause),
                            last: s.last.map(last), lastSuccess: s.lastSuccess.map(RFC3339.string), next: s.next.map(RFC3339.string),
                            staleSince: s.staleSince.map(RFC3339.string), source: s.config.source.description)
    }

    static func ignored(_ i: IgnoredTemplate) -> IgnoredView {
        IgnoredView(template: i.template, tag: i.tag, reason: i.reason, message: i.message)
    }

    static func build(_ run: RunLifecycle.Run, now: Date) -> BuildView {
        var status: RunStatus?
        var timeout: Int64?
        var accepted: Date?
        switch run.phase {
        case .running(let facts, let at, let last, _):
            (status, timeout, accepted) = (last, facts.timeoutSeconds, at)
        case .cancelling(let facts, _, _, _, let last, _):
            (status, timeout) = (last, facts.timeoutSeconds)
        case .requested(let facts), .retryingRun(let facts, _, _), .reconciling(let facts, _, _, _), .waitingForForeign(let facts, _, _):
            timeout = facts.timeoutSeconds
        default:
            break
        }
        let started = status?.startedAt ?? accepted
        return BuildView(slot: RFC3339.string(run.key.slot), manual: run.key.manual, phase: run.phase.name, runState: status?.runState,
                         runSubstate: status?.runSubState, startedAt: started.map(RFC3339.string),
                         elapsedSeconds: started.map { max(0, Int(now.timeIntervalSince($0))) }, timeoutSeconds: timeout.map(Int.init))
    }

    static func pause(_ p: PauseRecord) -> PauseView {
        PauseView(since: RFC3339.string(p.since), until: p.until.map(RFC3339.string), reason: p.reason, by: p.by)
    }

    static func last(_ r: RunRecord) -> LastView {
        LastView(outcome: r.outcome?.rawValue ?? "running", slot: RFC3339.string(r.key.slot), endedAt: r.finishedAt.map(RFC3339.string),
                 message: r.message)
    }
}
