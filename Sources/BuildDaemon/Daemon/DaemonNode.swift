import FoundationEssentials
import JobJournal
import Leadership
import Orchestration

/// The daemon as control, metrics and notifications see it: the orchestrator of the term that
/// schedules now (none on a cluster standby, or while a solo daemon adopts), and the line it shows.
actor DaemonNode {
    /// A consistent reading of the node.
    struct View: Sendable {
        /// Cluster mode: this node's name; nil for a single-node daemon.
        var node: String?
        var leader: String?
        var orchestrator: Orchestrator?
        var statusLine: String
        var startedAt: Date
        /// The daemon's clock now (scaled in tests and the demo, like the orchestrator's).
        var now: Date
    }

    nonisolated let name: String?
    nonisolated let startedAt: Date
    private let clock: any DaemonClock
    private var leader: String?
    private var term: (orchestrator: Orchestrator, store: any RunStore)?
    private var line: String
    /// A solo daemon's requests that came during adoption: answered once it schedules.
    private var waiting: [CheckedContinuation<Orchestrator?, Never>] = []
    private var ended = false

    init(name: String?, clock: any DaemonClock) {
        self.name = name
        self.clock = clock
        startedAt = clock.now()
        line = name == nil ? "adopting open runs" : "standby; campaigning"
    }

    func view() async -> View {
        var statusLine = line
        if let orchestrator = term?.orchestrator {
            statusLine = (name == nil ? "" : "leader; ") + (await orchestrator.statusLine())
        }
        return View(node: name, leader: term == nil ? leader : name, orchestrator: term?.orchestrator, statusLine: statusLine,
                    startedAt: startedAt, now: clock.now())
    }

    /// The orchestrator that may act on a request: a cluster node's at once (nil on a standby); a
    /// solo daemon's once it has adopted (nil when it stopped first).
    func acting() async -> Orchestrator? {
        if let term { return term.orchestrator }
        guard name == nil, !ended else { return nil }
        return await withCheckedContinuation { waiting.append($0) }
    }

    /// A term has adopted and schedules with `orchestrator` over `store`.
    func lead(_ orchestrator: Orchestrator, store: any RunStore) {
        term = (orchestrator, store)
        for waiter in waiting { waiter.resume(returning: orchestrator) }
        waiting.removeAll()
    }

    /// The term ended: requests are refused (a cluster node's until it leads again; a single-node
    /// daemon's term is its last).
    func endTerm() {
        term = nil
        if name == nil {
            ended = true
            for waiter in waiting { waiter.resume(returning: nil) }
            waiting.removeAll()
        }
    }

    /// The STATUS= line for `status`, kept for `status` too while no orchestrator schedules.
    func render(_ status: TermStatus) async -> String {
        let cluster = name != nil
        switch status {
        case .campaigning: line = "standby; campaigning"
        case .standby(let leader):
            self.leader = leader
            line = leader.map { "standby; leader: \($0)" } ?? "standby; no leader (campaigning)"
        case .adopting: line = cluster ? "leader; adopting open runs" : "adopting open runs"
        case .steppedDown(let leader):
            self.leader = leader
            line = "standby; stepped down, campaigning again"
        case .scheduling: return await view().statusLine
        }
        return line
    }

    /// A fact from outside the orchestrator (a notification's delivery), durable in the store of
    /// the term that schedules now.
    func append(_ event: JournalEvent, at: Date) async throws {
        guard let store = term?.store else { throw NoTerm() }
        _ = try await store.append(event, at: at)
    }

    /// No term schedules: a standby, or a daemon that is stopping.
    struct NoTerm: EndsLeadership, CustomStringConvertible {
        var description: String { "no term schedules on this node (a standby, or stopping)" }
    }
}
