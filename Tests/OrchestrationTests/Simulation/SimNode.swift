import Config
import EtcdStore
import Foundation
import JobJournal
import Leadership
import Logging
import Orchestration
import Synchronization

/// Every leadership term of the simulated cluster: who led when, from the instant its orchestrator
/// started adopting until it stopped, for the invariants and for reaching the leader.
final class SimTerms: Sendable {
    struct Term: CustomStringConvertible {
        var node: Int
        var life: Int
        var from: Date
        var adoptedAt: Date?
        var to: Date?
        var orchestrator: Orchestrator
        var end: TermEnd?

        var description: String {
            "node \(node) life \(life): \(from.timeIntervalSince1970)-\(to.map { "\($0.timeIntervalSince1970)" } ?? "…") adopted \(adoptedAt.map { "\($0.timeIntervalSince1970)" } ?? "never") \(end.map { "\($0)" } ?? "")"
        }
    }

    private struct State {
        var terms: [Term] = []
        var exits: [String] = []
        var decisions = 0
        var pausing = false
    }

    private let state = Mutex(State())

    func started(node: Int, life: Int, at: Date, _ orchestrator: Orchestrator) -> Int {
        state.withLock { s in
            s.terms.append(Term(node: node, life: life, from: at, orchestrator: orchestrator))
            return s.terms.count - 1
        }
    }

    func adopted(_ id: Int, at: Date) { state.withLock { $0.terms[id].adoptedAt = at } }

    func ended(_ id: Int, at: Date, _ end: TermEnd, decisions: Int) {
        state.withLock { s in
            s.terms[id].to = at
            s.terms[id].end = end
            s.decisions += decisions
        }
    }

    /// A node's loop ended with a failure: in the simulation nothing but a stop may end it.
    func exited(node: Int, life: Int, _ failure: String) {
        state.withLock { $0.exits.append("node \(node) (life \(life)) exited: \(failure)") }
    }

    var all: [Term] { state.withLock { $0.terms } }
    var exits: [String] { state.withLock { $0.exits } }
    var decisions: Int { state.withLock { $0.decisions } }
    /// A term that has adopted and not ended: the one to ask.
    var leading: Term? { state.withLock { $0.terms.last { $0.adoptedAt != nil && $0.to == nil } } }

    /// True when no pause request is out already.
    func startPausing() -> Bool {
        state.withLock { s in
            defer { s.pausing = true }
            return !s.pausing
        }
    }

    func donePausing() { state.withLock { $0.pausing = false } }
}

/// One cluster node's life in the simulation: the real term loop and election; terms that run the
/// real `Orchestrator` over the real `ClusterRunStore`, against simulated etcd and ARM. Only what a
/// person would see (STATUS=, logs, the watchdog) is dropped.
final class SimNodeHost: TermHost {
    let node: Int
    let life: Int
    let election: LeaderElection
    let etcd: SimEtcd
    let keys: ClusterKeys
    let config: DaemonConfig
    let arm: SimTemplates
    let clock: SimClock
    let executor: SimExecutor
    let terms: SimTerms
    /// The same virtual monotonic clock the node's election reads.
    let time: LeaseClock

    init(node: Int, life: Int, election: LeaderElection, etcd: SimEtcd, keys: ClusterKeys, config: DaemonConfig, arm: SimTemplates,
         clock: SimClock, executor: SimExecutor, terms: SimTerms, time: LeaseClock) {
        self.node = node
        self.life = life
        self.election = election
        self.etcd = etcd
        self.keys = keys
        self.config = config
        self.arm = arm
        self.clock = clock
        self.executor = executor
        self.terms = terms
        self.time = time
    }

    func now() -> Duration { time.now() }

    func sleep(for duration: Duration) async throws { try await time.sleep(duration) }

    func fence() async -> Int64? { await election.fence() }

    func background() -> [@Sendable () async -> Void] { [] }

    func campaign(post: @escaping @Sendable (TermEvent) -> Void) async {
        await election.run { role in
            switch role {
            case .leader(let revision): post(.elected(fence: revision))
            case .standby(let leader): post(.deposed(leader: leader))
            }
        }
    }

    func runTerm(_ term: Int, fence: Int64, adopted: @escaping @Sendable (Int) -> Void, end: AsyncStream<Void>) async -> TermEnd {
        let (election, executor, clock, terms) = (self.election, self.executor, self.clock, self.terms)
        let store: ClusterRunStore
        do {
            store = try await ClusterRunStore.open(client: etcd, keys: keys, local: nil, spawn: { work in Task(executorPreference: executor) { await work() } }) {
                await election.fence()
            }
        } catch {
            return .leadershipLost("\(error)")
        }
        let orchestrator = Orchestrator(config: config, journal: store, client: arm, clock: clock,
                                        logger: Logger(label: "simulation") { _ in SwiftLogNoOpLogHandler() }, lister: arm,
                                        armWritesAllowed: { await election.fence() != nil })
        let id = terms.started(node: node, life: life, at: clock.now(), orchestrator)
        let result = await TermEnd.of({
            try await orchestrator.serve(until: end) { open in
                terms.adopted(id, at: clock.now())
                adopted(open)
            }
        }, endsLeadershipOnly: { $0 is any EndsLeadership })
        terms.ended(id, at: clock.now(), result, decisions: await orchestrator.decisions)
        return result
    }

    func perform(_ effect: TermEffect) async {
        if case .resign = effect { await election.resign() }
    }
}
