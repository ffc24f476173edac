/// What the term loop needs from the daemon around it: time, the election, a term's body, and the
/// effects it cannot do itself (systemd notifications, logging, the config file).
public protocol TermHost: Sendable {
    /// A monotonic reading; only differences matter.
    func now() -> Duration
    func sleep(for duration: Duration) async throws
    /// The election's fence now; nil when this node may not act (solo: always open).
    func fence() async -> Int64?
    /// Long-lived tasks beside the terms (control, metrics, notifications), cancelled at the exit.
    func background() -> [@Sendable () async -> Void]
    /// Joins the election until cancelled, posting `elected` and `deposed` as the role changes.
    func campaign(post: @escaping @Sendable (TermEvent) -> Void) async
    /// One term: adopt the open runs (calling `adopted`), then schedule until `end` finishes or a fenced write fails.
    func runTerm(_ term: Int, fence: Int64, adopted: @escaping @Sendable (_ openRuns: Int) -> Void, end: AsyncStream<Void>) async -> TermEnd
    /// Every effect other than starting and ending terms, campaigning and exiting.
    func perform(_ effect: TermEffect) async
}

/// Runs the term machine: every event steps it, and its effects are done in order. It is the one
/// loop of the daemon, in both modes; the simulation runs it on a virtual clock.
public final class TermLoop<Host: TermHost>: Sendable {
    private let machine: TermMachine
    private let host: Host
    private let tick: Duration
    private let events: AsyncStream<TermEvent>
    private let input: AsyncStream<TermEvent>.Continuation

    /// - Parameter tick: how often the loop reads the fence and pings the watchdog.
    public init(mode: TermMode, host: Host, tick: Duration) {
        machine = TermMachine(mode: mode)
        self.host = host
        self.tick = tick
        (events, input) = AsyncStream<TermEvent>.makeStream()
    }

    /// Feeds an event in from outside (SIGTERM's `.stop`, SIGHUP's `.reload`).
    public func post(_ event: TermEvent) { input.yield(event) }

    /// Until the machine exits; the failure that made it exit, if one did.
    public func run() async -> String? {
        let input = self.input
        let host = self.host
        let tick = self.tick
        var (state, effects) = machine.begin(now: host.now())
        var ends: [Int: AsyncStream<Void>.Continuation] = [:]
        var failure: String?
        var iterator = events.makeAsyncIterator()
        await withTaskGroup(of: Void.self) { group in
            for task in host.background() { group.addTask { await task() } }
            group.addTask {
                while !Task.isCancelled {
                    do { try await host.sleep(for: tick) } catch { return }
                    input.yield(.tick(fence: await host.fence()))
                }
            }
            var pending = effects[...]
            loop: while true {
                while let effect = pending.popFirst() {
                    switch effect {
                    case .startTerm(let term, let fence):
                        let (end, ending) = AsyncStream<Void>.makeStream()
                        ends[term] = ending
                        group.addTask {
                            let result = await host.runTerm(term, fence: fence, adopted: { input.yield(.adopted(term: term, openRuns: $0)) }, end: end)
                            input.yield(.termEnded(term: term, result))
                        }
                    case .campaign:
                        group.addTask { await host.campaign(post: { input.yield($0) }) }
                    case .endTerm(let term):
                        ends.removeValue(forKey: term)?.finish()
                    case .exit(let why):
                        failure = why
                        break loop
                    default:
                        await host.perform(effect)
                    }
                }
                guard let event = await iterator.next() else { break }
                (state, effects) = machine.handle(state, event, now: host.now())
                pending = effects[...]
            }
            for ending in ends.values { ending.finish() }
            group.cancelAll()
        }
        return failure
    }
}
