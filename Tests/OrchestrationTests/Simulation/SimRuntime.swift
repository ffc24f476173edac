import Config
import EtcdStore
import Foundation
import Orchestration
import Synchronization

/// Runs every job of the simulated daemon on the simulation's own thread, one at a time, in the
/// order they were enqueued. Tasks started with this executor as their preference keep it for their
/// children and for the actors they call, so with a virtual clock a seed fixes the whole interleaving.
final class SimExecutor: TaskExecutor, @unchecked Sendable {
    private let jobs = Mutex<[UnownedJob]>([])

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
    }

    /// Runs jobs until none is left: every task then waits on the clock (or has ended).
    @discardableResult
    func runUntilIdle() -> Int {
        var count = 0
        while let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
            job.runSynchronously(on: asUnownedTaskExecutor())
            count += 1
        }
        return count
    }
}

/// Virtual time: it moves only when the simulation advances it, waking sleepers in (instant, order)
/// order, so their jobs reach the executor in an order the seed decides.
final class SimClock: DaemonClock {
    private struct Sleeper {
        var id: Int
        var instant: Date
        var node: Int?
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Date
        var sleepers: [Sleeper] = []
        var nextID = 0
        /// Until when each stalled node's process is stopped (SIGSTOP, a long pause).
        var stalls: [Int: Date] = [:]
    }

    private let state: Mutex<State>

    init(_ start: Date) {
        state = Mutex(State(now: start))
    }

    func now() -> Date { state.withLock { $0.now } }

    func sleep(until requested: Date) async throws {
        let node = SimNode.current
        let (id, instant): (Int?, Date) = state.withLock { s in
            // A stalled process wakes no sooner than its stall ends.
            let instant = node.flatMap { s.stalls[$0] }.map { max($0, requested) } ?? requested
            guard instant > s.now else { return (nil, instant) }
            s.nextID += 1
            return (s.nextID, instant)
        }
        guard let id else {
            try Task.checkCancellation()
            return
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelled: Bool = state.withLock { s in
                    if Task.isCancelled { return true }
                    s.sleepers.append(Sleeper(id: id, instant: instant, node: node, continuation: continuation))
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let sleeper: Sleeper? = state.withLock { s in
                guard let index = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Stops `node`'s process until `until`: none of its tasks runs before then.
    func stall(_ node: Int, until: Date) {
        state.withLock { s in
            s.stalls[node] = max(s.stalls[node] ?? .distantPast, until)
            for index in s.sleepers.indices where s.sleepers[index].node == node {
                s.sleepers[index].instant = max(s.sleepers[index].instant, until)
            }
        }
    }

    /// The election's monotonic clock, on this virtual time.
    func leaseClock(origin: Date) -> LeaseClock {
        LeaseClock(now: { [self] in .milliseconds(Int64((now().timeIntervalSince(origin) * 1000).rounded())) },
                   sleep: { [self] in try await sleep(until: now().addingTimeInterval($0.seconds)) })
    }

    /// The earliest instant anyone sleeps until.
    var nextWake: Date? { state.withLock { $0.sleepers.lazy.map(\.instant).min() } }

    /// Moves time to `instant` (never back), waking everyone whose time has come, earliest first.
    func advance(to instant: Date) {
        let woken: [Sleeper] = state.withLock { s in
            s.now = max(s.now, instant)
            let now = s.now
            let due = s.sleepers.filter { $0.instant <= now }.sorted { ($0.instant, $0.id) < ($1.instant, $1.id) }
            s.sleepers.removeAll { $0.instant <= now }
            return due
        }
        for sleeper in woken { sleeper.continuation.resume() }
    }
}

/// The simulation's randomness, shared by the world's parts; safe because one thread draws at a time
/// in an order the seed fixes.
final class SimDice: @unchecked Sendable {
    private let random: Mutex<SimRandom>

    init(seed: UInt64) {
        random = Mutex(SimRandom(seed: seed))
    }

    func draw<T>(_ body: (inout SimRandom) -> T) -> T {
        random.withLock { body(&$0) }
    }
}

/// Which cluster node a task belongs to (nil: the network, the simulation itself).
enum SimNode {
    @TaskLocal static var current: Int?
}

/// Which life of the simulated daemon a task belongs to: a crash ends a life, and nothing of an
/// ended life may reach ARM afterwards.
enum SimIncarnation {
    @TaskLocal static var current = 0
}
