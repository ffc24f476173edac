import Leadership
import Synchronization
import Testing

/// The loop the daemon runs, over a scripted host: effects reach the host in the machine's order,
/// terms start and end as tasks, and the loop ends with the machine's exit.
@Suite struct TermLoopTests {
    /// Records effects; a term adopts `openRuns` and then waits to be ended. Time stands still.
    final class ScriptHost: TermHost {
        let done = Mutex<[TermEffect]>([])
        let terms = Mutex<[(Int, Int64)]>([])
        let (performed, performing) = AsyncStream<TermEffect>.makeStream()
        let electedAt: Int64?

        init(electedAt: Int64?) { self.electedAt = electedAt }

        func now() -> Duration { .zero }
        func sleep(for duration: Duration) async throws {
            // No ticks: the tests post every event themselves, so the tick task ends at once.
            throw CancellationError()
        }
        func fence() async -> Int64? { electedAt }
        func background() -> [@Sendable () async -> Void] { [] }
        func campaign(post: @escaping @Sendable (TermEvent) -> Void) async {
            if let electedAt { post(.elected(fence: electedAt)) }
        }
        func runTerm(_ term: Int, fence: Int64, adopted: @escaping @Sendable (Int) -> Void, end: AsyncStream<Void>) async -> TermEnd {
            terms.withLock { $0.append((term, fence)) }
            adopted(2)
            for await _ in end {}
            return .asked
        }
        func perform(_ effect: TermEffect) async {
            done.withLock { $0.append(effect) }
            performing.yield(effect)
        }

        /// Waits (on the effects themselves, not on time) until `effect` has been performed.
        func until(_ effect: TermEffect) async {
            for await seen in performed where seen == effect { return }
        }
    }

    @Test func soloAdoptsSaysReadyAndStopsOnRequest() async {
        let host = ScriptHost(electedAt: 0)
        let loop = TermLoop(mode: .solo, host: host, tick: .seconds(1))
        async let failure = loop.run()
        await host.until(.ready(.scheduling))
        loop.post(.stop)
        #expect(await failure == nil)
        #expect(host.done.withLock { $0 } == [.status(.adopting), .log(.adopted(openRuns: 2)), .ready(.scheduling)])
        #expect(host.terms.withLock { $0.map(\.0) } == [1])
    }

    @Test func clusterLeadsStepsDownWhenDeposedAndResignsAtStop() async {
        let host = ScriptHost(electedAt: 5)
        let loop = TermLoop(mode: .cluster(retryDelay: .seconds(3)), host: host, tick: .seconds(1))
        async let failure = loop.run()
        await host.until(.status(.scheduling))
        loop.post(.deposed(leader: "b"))
        await host.until(.status(.steppedDown(leader: "b")))
        loop.post(.stop)
        #expect(await failure == nil)
        #expect(host.done.withLock { $0 } == [
            .log(.starting), .ready(.campaigning), .log(.gained(fence: 5)), .status(.adopting), .log(.adopted(openRuns: 2)), .status(.scheduling),
            .log(.lost(reason: "b leads now")), .status(.steppedDown(leader: "b")), .resign,
        ])
        #expect(host.terms.withLock { $0.map(\.1) } == [5])
    }

    @Test func aFailedTermEndsTheLoopWithItsReason() async {
        let host = ScriptHost(electedAt: 0)
        let loop = TermLoop(mode: .solo, host: host, tick: .seconds(1))
        async let failure = loop.run()
        await host.until(.ready(.scheduling))
        loop.post(.termEnded(term: 1, .failed("journal: disk full")))
        #expect(await failure == "journal: disk full")
    }
}
