import Leadership
import Testing

/// `TermMachine.handle` over every (state, event) pair, in both modes, written out: a new state or
/// event without its row here fails `everyPairIsWrittenOut`.
@Suite struct TermMachineTests {
    static let now = Duration.seconds(100)
    static let delay = Duration.seconds(5)
    static let cluster = TermMachine(mode: .cluster(retryDelay: delay))
    static let solo = TermMachine(mode: .solo)

    // One example of each state.
    static let standby = TermState.standby(leader: "b", retryAt: .seconds(90), lastTerm: 2)
    static let waiting = TermState.standby(leader: nil, retryAt: .seconds(101), lastTerm: 2)
    static let adopting = TermState.leading(term: 3, fence: 70, adopted: false)
    static let leading = TermState.leading(term: 3, fence: 70, adopted: true)
    static let down = TermState.steppingDown(term: 3, leader: "b", stopping: false)
    static let stopping = TermState.steppingDown(term: 3, leader: nil, stopping: true)
    static let stopped = TermState.stopped(failure: nil)
    static let states = [standby, waiting, adopting, leading, down, stopping, stopped]

    // One example of each event, current and stale where a term is named.
    static let elected = TermEvent.elected(fence: 80)
    static let deposed = TermEvent.deposed(leader: "c")
    static let tickOpen = TermEvent.tick(fence: 70)
    static let tickClosed = TermEvent.tick(fence: nil)
    static let adopted = TermEvent.adopted(term: 3, openRuns: 4)
    static let adoptedStale = TermEvent.adopted(term: 2, openRuns: 4)
    static let endAsked = TermEvent.termEnded(term: 3, .asked)
    static let endLost = TermEvent.termEnded(term: 3, .leadershipLost("fenced write failed"))
    static let endFailed = TermEvent.termEnded(term: 3, .failed("disk full"))
    static let endStale = TermEvent.termEnded(term: 2, .failed("disk full"))
    static let events = [elected, deposed, tickOpen, tickClosed, adopted, adoptedStale, endAsked, endLost, endFailed, endStale, TermEvent.reload, .stop]

    static let lease = "the lease was not renewed within lease_ttl minus a quarter (etcd unreachable, or this process stalled)"

    typealias Row = (state: TermState, event: TermEvent, next: TermState, effects: [TermEffect])

    static let clusterRows: [Row] = [
        // A standby past its retry delay.
        (standby, elected, .leading(term: 3, fence: 80, adopted: false), [.log(.gained(fence: 80)), .status(.adopting), .startTerm(term: 3, fence: 80)]),
        (standby, deposed, .standby(leader: "c", retryAt: .seconds(90), lastTerm: 2), [.status(.standby(leader: "c"))]),
        (standby, tickOpen, .leading(term: 3, fence: 70, adopted: false),
         [.watchdog, .log(.gained(fence: 70)), .status(.adopting), .startTerm(term: 3, fence: 70)]),
        (standby, tickClosed, standby, [.watchdog]),
        (standby, adopted, standby, []),
        (standby, adoptedStale, standby, []),
        (standby, endAsked, standby, []),
        (standby, endLost, standby, []),
        (standby, endFailed, standby, []),
        (standby, endStale, standby, []),
        (standby, .reload, standby, [.reloadConfig]),
        (standby, .stop, .stopped(failure: nil), [.resign, .exit(failure: nil)]),
        // A standby that stepped down a moment ago: the key may still be ours, but no term yet.
        (waiting, elected, waiting, []),
        (waiting, deposed, .standby(leader: "c", retryAt: .seconds(101), lastTerm: 2), [.status(.standby(leader: "c"))]),
        (waiting, tickOpen, waiting, [.watchdog]),
        (waiting, tickClosed, waiting, [.watchdog]),
        (waiting, adopted, waiting, []),
        (waiting, adoptedStale, waiting, []),
        (waiting, endAsked, waiting, []),
        (waiting, endLost, waiting, []),
        (waiting, endFailed, waiting, []),
        (waiting, endStale, waiting, []),
        (waiting, .reload, waiting, [.reloadConfig]),
        (waiting, .stop, .stopped(failure: nil), [.resign, .exit(failure: nil)]),
        // Leading, still adopting: the loop pings the watchdog.
        (adopting, elected, adopting, []),
        (adopting, deposed, .steppingDown(term: 3, leader: "c", stopping: false), [.log(.lost(reason: "c leads now")), .endTerm(term: 3)]),
        (adopting, tickOpen, adopting, [.watchdog]),
        (adopting, tickClosed, .steppingDown(term: 3, leader: nil, stopping: false), [.watchdog, .log(.lost(reason: lease)), .endTerm(term: 3)]),
        (adopting, adopted, leading, [.log(.adopted(openRuns: 4)), .status(.scheduling)]),
        (adopting, adoptedStale, adopting, []),
        (adopting, endAsked, .standby(leader: nil, retryAt: .seconds(105), lastTerm: 3), [.log(.lost(reason: "stopped")), .status(.steppedDown(leader: nil))]),
        (adopting, endLost, .standby(leader: nil, retryAt: .seconds(105), lastTerm: 3),
         [.log(.lost(reason: "fenced write failed")), .status(.steppedDown(leader: nil))]),
        (adopting, endFailed, .stopped(failure: "disk full"), [.log(.fatal("disk full")), .resign, .exit(failure: "disk full")]),
        (adopting, endStale, adopting, []),
        (adopting, .reload, adopting, [.reloadConfig]),
        (adopting, .stop, stopping, [.log(.lost(reason: "stopping")), .endTerm(term: 3)]),
        // Leading and scheduling: the orchestrator pings the watchdog itself.
        (leading, elected, leading, []),
        (leading, deposed, .steppingDown(term: 3, leader: "c", stopping: false), [.log(.lost(reason: "c leads now")), .endTerm(term: 3)]),
        (leading, tickOpen, leading, []),
        (leading, tickClosed, .steppingDown(term: 3, leader: nil, stopping: false), [.log(.lost(reason: lease)), .endTerm(term: 3)]),
        (leading, adopted, leading, []),
        (leading, adoptedStale, leading, []),
        (leading, endAsked, .standby(leader: nil, retryAt: .seconds(105), lastTerm: 3), [.log(.lost(reason: "stopped")), .status(.steppedDown(leader: nil))]),
        (leading, endLost, .standby(leader: nil, retryAt: .seconds(105), lastTerm: 3),
         [.log(.lost(reason: "fenced write failed")), .status(.steppedDown(leader: nil))]),
        (leading, endFailed, .stopped(failure: "disk full"), [.log(.fatal("disk full")), .resign, .exit(failure: "disk full")]),
        (leading, endStale, leading, []),
        (leading, .reload, leading, [.reloadConfig]),
        (leading, .stop, stopping, [.log(.lost(reason: "stopping")), .endTerm(term: 3)]),
        // Stepping down, to campaign again.
        (down, elected, down, []),
        (down, deposed, .steppingDown(term: 3, leader: "c", stopping: false), []),
        (down, tickOpen, down, [.watchdog]),
        (down, tickClosed, down, [.watchdog]),
        (down, adopted, down, []),
        (down, adoptedStale, down, []),
        (down, endAsked, .standby(leader: "b", retryAt: .seconds(105), lastTerm: 3), [.status(.steppedDown(leader: "b"))]),
        (down, endLost, .standby(leader: "b", retryAt: .seconds(105), lastTerm: 3), [.status(.steppedDown(leader: "b"))]),
        (down, endFailed, .stopped(failure: "disk full"), [.log(.fatal("disk full")), .resign, .exit(failure: "disk full")]),
        (down, endStale, down, []),
        (down, .reload, down, [.reloadConfig]),
        (down, .stop, .steppingDown(term: 3, leader: "b", stopping: true), []),
        // Stepping down, to exit.
        (stopping, elected, stopping, []),
        (stopping, deposed, .steppingDown(term: 3, leader: "c", stopping: true), []),
        (stopping, tickOpen, stopping, [.watchdog]),
        (stopping, tickClosed, stopping, [.watchdog]),
        (stopping, adopted, stopping, []),
        (stopping, adoptedStale, stopping, []),
        (stopping, endAsked, .stopped(failure: nil), [.resign, .exit(failure: nil)]),
        (stopping, endLost, .stopped(failure: nil), [.resign, .exit(failure: nil)]),
        (stopping, endFailed, .stopped(failure: "disk full"), [.log(.fatal("disk full")), .resign, .exit(failure: "disk full")]),
        (stopping, endStale, stopping, []),
        (stopping, .reload, stopping, [.reloadConfig]),
        (stopping, .stop, stopping, []),
    ] + stoppedRows

    /// After the exit nothing is done, in either mode.
    static let stoppedRows: [Row] = events.map { (stopped, $0, stopped, []) }

    /// Solo: standby and stepping down to campaign are unreachable (the term never ends unasked);
    /// the rows say what the machine would do there all the same, so the function stays total. A
    /// standby does the same in both modes: those rows are the cluster's.
    static let soloRows: [Row] = [
        (adopting, elected, adopting, []),
        (adopting, deposed, adopting, []),
        (adopting, tickOpen, adopting, [.watchdog]),
        (adopting, tickClosed, adopting, [.watchdog]),
        (adopting, adopted, leading, [.log(.adopted(openRuns: 4)), .ready(.scheduling)]),
        (adopting, adoptedStale, adopting, []),
        (adopting, endAsked, .stopped(failure: "the scheduler stopped"), [.log(.fatal("the scheduler stopped")), .exit(failure: "the scheduler stopped")]),
        (adopting, endLost, .stopped(failure: "fenced write failed"), [.log(.fatal("fenced write failed")), .exit(failure: "fenced write failed")]),
        (adopting, endFailed, .stopped(failure: "disk full"), [.log(.fatal("disk full")), .exit(failure: "disk full")]),
        (adopting, endStale, adopting, []),
        (adopting, .reload, adopting, [.reloadConfig]),
        (adopting, .stop, stopping, [.endTerm(term: 3)]),
        (leading, elected, leading, []),
        (leading, deposed, leading, []),
        (leading, tickOpen, leading, []),
        (leading, tickClosed, leading, []),
        (leading, adopted, leading, []),
        (leading, adoptedStale, leading, []),
        (leading, endAsked, .stopped(failure: "the scheduler stopped"), [.log(.fatal("the scheduler stopped")), .exit(failure: "the scheduler stopped")]),
        (leading, endLost, .stopped(failure: "fenced write failed"), [.log(.fatal("fenced write failed")), .exit(failure: "fenced write failed")]),
        (leading, endFailed, .stopped(failure: "disk full"), [.log(.fatal("disk full")), .exit(failure: "disk full")]),
        (leading, endStale, leading, []),
        (leading, .reload, leading, [.reloadConfig]),
        (leading, .stop, stopping, [.endTerm(term: 3)]),
        (stopping, elected, stopping, []),
        (stopping, deposed, .steppingDown(term: 3, leader: "c", stopping: true), []),
        (stopping, tickOpen, stopping, [.watchdog]),
        (stopping, tickClosed, stopping, [.watchdog]),
        (stopping, adopted, stopping, []),
        (stopping, adoptedStale, stopping, []),
        (stopping, endAsked, .stopped(failure: nil), [.exit(failure: nil)]),
        (stopping, endLost, .stopped(failure: nil), [.exit(failure: nil)]),
        (stopping, endFailed, .stopped(failure: "disk full"), [.log(.fatal("disk full")), .exit(failure: "disk full")]),
        (stopping, endStale, stopping, []),
        (stopping, .reload, stopping, [.reloadConfig]),
        (stopping, .stop, stopping, []),
        (down, elected, down, []),
        (down, deposed, .steppingDown(term: 3, leader: "c", stopping: false), []),
        (down, tickOpen, down, [.watchdog]),
        (down, tickClosed, down, [.watchdog]),
        (down, adopted, down, []),
        (down, adoptedStale, down, []),
        (down, endAsked, .stopped(failure: "the scheduler stopped"), [.log(.fatal("the scheduler stopped")), .exit(failure: "the scheduler stopped")]),
        (down, endLost, .stopped(failure: "fenced write failed"), [.log(.fatal("fenced write failed")), .exit(failure: "fenced write failed")]),
        (down, endFailed, .stopped(failure: "disk full"), [.log(.fatal("disk full")), .exit(failure: "disk full")]),
        (down, endStale, down, []),
        (down, .reload, down, [.reloadConfig]),
        (down, .stop, .steppingDown(term: 3, leader: "b", stopping: true), []),
    ] + stoppedRows + clusterRows.filter { $0.state == standby || $0.state == waiting }

    @Test(arguments: ["cluster", "solo"])
    func everyPairIsWrittenOut(mode: String) {
        let rows = mode == "cluster" ? Self.clusterRows : Self.soloRows
        #expect(rows.count == Self.states.count * Self.events.count)
        for state in Self.states {
            for event in Self.events {
                #expect(rows.filter { $0.state == state && $0.event == event }.count == 1, "\(mode): \(state) × \(event)")
            }
        }
    }

    @Test(arguments: ["cluster", "solo"])
    func everyPairDoesWhatItsRowSays(mode: String) {
        let (machine, rows) = mode == "cluster" ? (Self.cluster, Self.clusterRows) : (Self.solo, Self.soloRows)
        for row in rows {
            let (next, effects) = machine.handle(row.state, row.event, now: Self.now)
            #expect(next == row.next, "\(mode): \(row.state) × \(row.event)")
            #expect(effects == row.effects, "\(mode): \(row.state) × \(row.event)")
        }
    }

    @Test func soloStartsItsTermAndSaysReadyAfterAdoption() {
        let (state, effects) = Self.solo.begin(now: .zero)
        #expect(state == .leading(term: 1, fence: 0, adopted: false))
        #expect(effects == [.status(.adopting), .startTerm(term: 1, fence: 0)])
        #expect(!effects.contains { if case .ready = $0 { true } else { false } })
    }

    @Test func clusterSaysReadyAsAStandbyAndCampaigns() {
        let (state, effects) = Self.cluster.begin(now: .seconds(7))
        #expect(state == .standby(leader: nil, retryAt: .seconds(7), lastTerm: 0))
        #expect(effects == [.log(.starting), .ready(.campaigning), .campaign])
    }

    /// A whole life on a manual clock: elected, adopted, fence closed, stepped down, elected again
    /// only after the retry delay, then stopped.
    @Test func aClusterLife() {
        var t = Duration.zero
        var (state, _) = Self.cluster.begin(now: t)
        func step(_ event: TermEvent) -> [TermEffect] {
            let (next, effects) = Self.cluster.handle(state, event, now: t)
            state = next
            return effects
        }
        #expect(step(.elected(fence: 9)).contains(.startTerm(term: 1, fence: 9)))
        #expect(step(.adopted(term: 1, openRuns: 0)) == [.log(.adopted(openRuns: 0)), .status(.scheduling)])
        t += .seconds(2)
        #expect(step(.tick(fence: nil)).contains(.endTerm(term: 1)))
        #expect(step(.elected(fence: 9)) == [])
        #expect(step(.termEnded(term: 1, .asked)) == [.status(.steppedDown(leader: nil))])
        t += .seconds(4)
        #expect(step(.tick(fence: 9)) == [.watchdog])
        t += .seconds(1)
        #expect(step(.tick(fence: 9)).contains(.startTerm(term: 2, fence: 9)))
        // The first term's late adoption is stale.
        #expect(step(.adopted(term: 1, openRuns: 0)) == [])
        #expect(step(.stop) == [.log(.lost(reason: "stopping")), .endTerm(term: 2)])
        #expect(step(.termEnded(term: 2, .asked)) == [.resign, .exit(failure: nil)])
        #expect(state == .stopped(failure: nil))
    }
}
