import Synchronization

/// Counts the orchestrator's tasks that are doing something rather than waiting on the clock, so a
/// test on a manual clock can wait until every one of them waits (and only then move time on),
/// instead of sleeping and hoping.
public final class ActivityGauge: Sendable {
    private struct State {
        var active = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// A task starts work, or wakes from the clock.
    public func enter() {
        state.withLock { $0.active += 1 }
    }

    /// A task ends, or starts waiting on the clock.
    public func leave() {
        let ready: [CheckedContinuation<Void, Never>] = state.withLock { s in
            s.active -= 1
            guard s.active == 0 else { return [] }
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in ready { waiter.resume() }
    }

    public var active: Int { state.withLock { $0.active } }

    /// Returns once no task is active.
    public func idle() async {
        await withCheckedContinuation { continuation in
            let now: Bool = state.withLock { s in
                if s.active == 0 { return true }
                s.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}
