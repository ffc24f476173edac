import Foundation
import Orchestration
import Synchronization

/// A clock that moves only when the test says so. A sleeper counts as idle on the gauge once it is
/// registered, and as active again before it is woken, so `ActivityGauge.idle()` returns only when
/// every task waits on this clock and `nextWake` knows them all.
final class ManualClock: DaemonClock {
    private struct Sleeper {
        var id: Int
        var instant: Date
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Date
        var sleepers: [Sleeper] = []
        var nextID = 0
    }

    private let state: Mutex<State>
    let activity: ActivityGauge

    init(_ start: Date, activity: ActivityGauge) {
        state = Mutex(State(now: start))
        self.activity = activity
    }

    func now() -> Date { state.withLock { $0.now } }

    func sleep(until instant: Date) async throws {
        let id: Int? = state.withLock { s in
            guard instant > s.now else { return nil }
            s.nextID += 1
            return s.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelled: Bool = state.withLock { s in
                    if Task.isCancelled { return true }
                    s.sleepers.append(Sleeper(id: id, instant: instant, continuation: continuation))
                    return false
                }
                if cancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    // Registered: only now may the test see this task as waiting on the clock.
                    activity.leave()
                }
            }
        } onCancel: {
            let sleeper: Sleeper? = state.withLock { s in
                guard let index = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: index)
            }
            if let sleeper {
                activity.enter()
                sleeper.continuation.resume(throwing: CancellationError())
            }
        }
    }

    /// The earliest instant anyone sleeps until.
    var nextWake: Date? { state.withLock { $0.sleepers.map(\.instant).min() } }

    /// Moves time to `instant`, waking (in order) everyone whose time has come.
    func advance(to instant: Date) {
        let woken: [Sleeper] = state.withLock { s in
            s.now = max(s.now, instant)
            let due = s.sleepers.filter { $0.instant <= s.now }.sorted { $0.instant < $1.instant }
            s.sleepers.removeAll { $0.instant <= s.now }
            return due
        }
        for sleeper in woken {
            activity.enter()
            sleeper.continuation.resume()
        }
    }

    /// Runs the world forward to `end`: wake the earliest sleepers, wait until every task waits
    /// again, repeat.
    func run(until end: Date) async {
        await activity.idle()
        while let next = nextWake, next <= end {
            advance(to: next)
            await activity.idle()
        }
        advance(to: end)
        await activity.idle()
    }
}
