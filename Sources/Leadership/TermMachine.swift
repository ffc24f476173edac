/// How the daemon holds the right to schedule: alone, for its whole life, or by leading an etcd
/// cluster one term at a time.
public enum TermMode: Sendable, Equatable {
    /// Single-node: one term that starts at once and never ends while the daemon runs.
    case solo
    /// Cluster mode: a term starts when this node wins the leader key, ends when its fence closes or
    /// another node leads, and a new one starts no sooner than `retryDelay` after the last ended.
    case cluster(retryDelay: Duration)
}

/// Where the daemon is in its leadership: at most one term at a time, and a new one only after the
/// last has stopped.
public enum TermState: Sendable, Equatable {
    /// Not scheduling. `leader` is the holder last observed; no term starts before `retryAt`.
    case standby(leader: String?, retryAt: Duration, lastTerm: Int)
    /// Term `term` schedules under `fence`; `adopted` once its orchestrator has taken over the open runs.
    case leading(term: Int, fence: Int64, adopted: Bool)
    /// Term `term` was told to end and has not stopped yet; `stopping` when the daemon exits after it.
    case steppingDown(term: Int, leader: String?, stopping: Bool)
    /// The daemon is done; `failure` says why it stopped, when it was not asked to.
    case stopped(failure: String?)
}

/// What happened, as the term machine hears it.
public enum TermEvent: Sendable, Equatable {
    /// The election says this node holds the leader key, created at revision `fence`.
    case elected(fence: Int64)
    /// The election says another node (or, when nil, nobody yet) holds the key.
    case deposed(leader: String?)
    /// Time passed; `fence` is the election's answer now (nil once the lease could have expired).
    case tick(fence: Int64?)
    /// Term `term`'s orchestrator has taken over `openRuns` open runs and schedules.
    case adopted(term: Int, openRuns: Int)
    /// Term `term` stopped, and why.
    case termEnded(term: Int, TermEnd)
    /// SIGHUP.
    case reload
    /// SIGTERM: stop scheduling and exit.
    case stop
}

/// Why a term stopped.
public enum TermEnd: Sendable, Equatable {
    /// It was asked to end (`endTerm`), or cancelled.
    case asked
    /// It can no longer be sure it leads (its fence closed, or a fenced write failed); the node may lead again.
    case leadershipLost(String)
    /// The local journal could not be written: the daemon stops and systemd restarts it.
    case failed(String)
}

extension TermEnd {
    /// How a term's body ended: returned (asked), threw what ends leadership only, or threw anything
    /// else (the local journal failed).
    public static func of(_ body: () async throws -> Void, endsLeadershipOnly: (any Error) -> Bool) async -> TermEnd {
        do {
            try await body()
            return .asked
        } catch {
            return endsLeadershipOnly(error) ? .leadershipLost("\(error)") : .failed("\(error)")
        }
    }
}

/// What the status line says, rendered by the host (it knows the orchestrator's own line).
public enum TermStatus: Sendable, Equatable {
    /// Campaigning for the first time.
    case campaigning
    /// Another node leads (or nobody does yet).
    case standby(leader: String?)
    /// A term started and is adopting the open runs.
    case adopting
    /// A term ended; campaigning again, `leader` as last observed.
    case steppedDown(leader: String?)
    /// The term schedules: the orchestrator's own line.
    case scheduling
}

/// What the host logs about leadership.
public enum TermLog: Sendable, Equatable {
    case starting
    case gained(fence: Int64)
    case lost(reason: String)
    case adopted(openRuns: Int)
    case fatal(String)
}

/// What the host does for the machine.
public enum TermEffect: Sendable, Equatable {
    /// Start term `term` under `fence`: open the store, adopt the open runs, schedule.
    case startTerm(term: Int, fence: Int64)
    /// Tell term `term` to stop: scheduling stops, builds in flight go on in Azure.
    case endTerm(term: Int)
    /// Join the election (cluster mode).
    case campaign
    /// Give the leader key up at once, so a standby takes over without waiting out the lease.
    case resign
    /// READY=1 with this status.
    case ready(TermStatus)
    /// STATUS= only.
    case status(TermStatus)
    /// WATCHDOG=1 (the loop's, until an adopted orchestrator pings from inside itself).
    case watchdog
    /// Read the config file again and hand it to the term that runs, if any.
    case reloadConfig
    case log(TermLog)
    /// The daemon's loop ends; `failure` makes the process exit non-zero.
    case exit(failure: String?)
}

/// Leadership terms as a pure function: `handle(state, event, now)` says the next state and what
/// the host must do, in order. Single-node mode is the same machine with one term that never ends.
public struct TermMachine: Sendable {
    public let mode: TermMode

    public init(mode: TermMode) { self.mode = mode }

    /// The first state and effects: a solo daemon starts its term (READY=1 waits for adoption); a
    /// cluster node says READY=1 as a standby and campaigns.
    public func begin(now: Duration) -> (TermState, [TermEffect]) {
        switch mode {
        case .solo:
            (.leading(term: 1, fence: 0, adopted: false), [.status(.adopting), .startTerm(term: 1, fence: 0)])
        case .cluster:
            (.standby(leader: nil, retryAt: now, lastTerm: 0), [.log(.starting), .ready(.campaigning), .campaign])
        }
    }

    public func handle(_ state: TermState, _ event: TermEvent, now: Duration) -> (TermState, [TermEffect]) {
        switch state {
        case .standby(let leader, let retryAt, let lastTerm):
            standby(leader: leader, retryAt: retryAt, lastTerm: lastTerm, event, now: now)
        case .leading(let term, let fence, let adopted):
            leading(term: term, fence: fence, adopted: adopted, event, now: now)
        case .steppingDown(let term, let leader, let stopping):
            steppingDown(term: term, leader: leader, stopping: stopping, event, now: now)
        case .stopped:
            // Nothing after the exit: late signals and ends of tasks being cancelled are dropped.
            (state, [])
        }
    }

    private func standby(leader: String?, retryAt: Duration, lastTerm: Int, _ event: TermEvent, now: Duration) -> (TermState, [TermEffect]) {
        let state = TermState.standby(leader: leader, retryAt: retryAt, lastTerm: lastTerm)
        switch event {
        case .elected(let fence):
            // Right after stepping down the key may still be ours; wait, so a node whose etcd
            // flaps does not start and stop terms in a tight loop.
            guard now >= retryAt else { return (state, []) }
            return promote(term: lastTerm + 1, fence: fence)
        case .deposed(let holder):
            return (.standby(leader: holder, retryAt: retryAt, lastTerm: lastTerm), [.status(.standby(leader: holder))])
        case .tick(let fence):
            guard let fence, now >= retryAt else { return (state, [.watchdog]) }
            let (next, effects) = promote(term: lastTerm + 1, fence: fence)
            return (next, [.watchdog] + effects)
        case .adopted, .termEnded:
            // From a term that already ended: stale.
            return (state, [])
        case .reload:
            return (state, [.reloadConfig])
        case .stop:
            return (.stopped(failure: nil), [.resign, .exit(failure: nil)])
        }
    }

    private func leading(term: Int, fence: Int64, adopted: Bool, _ event: TermEvent, now: Duration) -> (TermState, [TermEffect]) {
        let state = TermState.leading(term: term, fence: fence, adopted: adopted)
        switch event {
        case .elected:
            return (state, [])
        case .deposed(let holder):
            guard mode != .solo else { return (state, []) }
            return stepDown(term: term, leader: holder, reason: holder.map { "\($0) leads now" } ?? "the lease expired")
        case .tick(let fence):
            // Until the orchestrator has adopted, nothing else proves the daemon alive.
            let ping: [TermEffect] = adopted ? [] : [.watchdog]
            guard fence == nil, mode != .solo else { return (state, ping) }
            let (next, effects) = stepDown(term: term, leader: nil,
                                           reason: "the lease was not renewed within lease_ttl minus a quarter (etcd unreachable, or this process stalled)")
            return (next, ping + effects)
        case .adopted(let adoptedTerm, let open):
            guard adoptedTerm == term, !adopted else { return (state, []) }
            let announce: TermEffect = mode == .solo ? .ready(.scheduling) : .status(.scheduling)
            return (.leading(term: term, fence: fence, adopted: true), [.log(.adopted(openRuns: open)), announce])
        case .termEnded(let ended, let end):
            guard ended == term else { return (state, []) }
            return afterTerm(term, end, leader: nil, stopping: false, unasked: true, now: now)
        case .reload:
            return (state, [.reloadConfig])
        case .stop:
            let log: [TermEffect] = mode == .solo ? [] : [.log(.lost(reason: "stopping"))]
            return (.steppingDown(term: term, leader: nil, stopping: true), log + [.endTerm(term: term)])
        }
    }

    private func steppingDown(term: Int, leader: String?, stopping: Bool, _ event: TermEvent, now: Duration) -> (TermState, [TermEffect]) {
        let state = TermState.steppingDown(term: term, leader: leader, stopping: stopping)
        switch event {
        case .elected:
            // The next term waits for this one to stop.
            return (state, [])
        case .deposed(let holder):
            return (.steppingDown(term: term, leader: holder, stopping: stopping), [])
        case .tick:
            return (state, [.watchdog])
        case .adopted:
            // It adopted before it heard it must end; it is ending all the same.
            return (state, [])
        case .termEnded(let ended, let end):
            guard ended == term else { return (state, []) }
            return afterTerm(term, end, leader: leader, stopping: stopping, unasked: false, now: now)
        case .reload:
            return (state, [.reloadConfig])
        case .stop:
            return (.steppingDown(term: term, leader: leader, stopping: true), [])
        }
    }

    private func promote(term: Int, fence: Int64) -> (TermState, [TermEffect]) {
        (.leading(term: term, fence: fence, adopted: false), [.log(.gained(fence: fence)), .status(.adopting), .startTerm(term: term, fence: fence)])
    }

    private func stepDown(term: Int, leader: String?, reason: String) -> (TermState, [TermEffect]) {
        (.steppingDown(term: term, leader: leader, stopping: false), [.log(.lost(reason: reason)), .endTerm(term: term)])
    }

    /// The term stopped: a failed journal stops the daemon; otherwise a cluster node stands by and
    /// campaigns again after `retryDelay`, and a solo daemon (whose term never ends unasked) exits.
    private func afterTerm(_ term: Int, _ end: TermEnd, leader: String?, stopping: Bool, unasked: Bool, now: Duration) -> (TermState, [TermEffect]) {
        let resign: [TermEffect] = mode == .solo ? [] : [.resign]
        switch end {
        case .failed(let reason):
            return (.stopped(failure: reason), [.log(.fatal(reason))] + resign + [.exit(failure: reason)])
        case .asked, .leadershipLost:
            if stopping { return (.stopped(failure: nil), resign + [.exit(failure: nil)]) }
            var reason: String?
            if case .leadershipLost(let why) = end { reason = why }
            guard case .cluster(let delay) = mode else {
                let why = reason ?? "the scheduler stopped"
                return (.stopped(failure: why), [.log(.fatal(why)), .exit(failure: why)])
            }
            let log: [TermEffect] = unasked ? [.log(.lost(reason: reason ?? "stopped"))] : []
            return (.standby(leader: leader, retryAt: now + delay, lastTerm: term), log + [.status(.steppedDown(leader: leader))])
        }
    }
}
