import Foundation
import JobJournal
import RunLifecycle
import Testing

/// `RunMachine.handle` over every (phase, event) pair: the function is total, keeps its effect
/// contract, and an answer no continuation of the phase asked for changes nothing.
@Suite struct RunMachineTests {
    static let t0 = RunTableTests.t0
    static let facts = RequestFacts(requestedAt: t0, timeoutSeconds: 3600, sends: 1)
    static let status = RunStatus(runState: "Running", runSubState: "Building", startedAt: t0.addingTimeInterval(5))

    /// One example of every phase; adding a phase without one here fails to compile below.
    static let phases: [RunPhase] = [
        .waitingForCapacity(since: t0), .queuedBehind(since: t0), .preparing(since: t0, retryDelay: 30, retryAt: nil),
        .requested(facts), .retryingRun(facts, retryDelay: 30, retryAt: t0.addingTimeInterval(30)),
        .reconciling(facts, since: t0, resendAfter: t0.addingTimeInterval(1800), pollDelay: 30),
        .waitingForForeign(facts, giveUpAt: t0.addingTimeInterval(3600), pollDelay: 30),
        .running(facts, acceptedAt: t0, lastStatus: status, pollDelay: 30),
        .cancelling(facts, reason: .timeout, requestedAt: t0, giveUpAt: t0.addingTimeInterval(600), lastStatus: status, pollDelay: 30),
        .listingOutputs(outcome: .succeeded, message: nil), .finished(.succeeded), .skipped(reason: "paused"),
    ]

    static let events: [RunEvent] = [
        .templateRead(timeoutSeconds: 3600), .armUnavailable("503"), .armRefused("403", notFound: false), .runAccepted(correlationID: nil),
        .runAmbiguous("reset"), .runConflict("409"), .observed(Observation(status: status, timeoutSeconds: 3600)), .pollFailed("429"),
        .templateGone, .wake, .cancelAnswered(error: nil), .outputsListed([]),
    ]

    /// The events a phase's continuations can answer with; every other one must change nothing.
    static func expected(_ phase: RunPhase) -> Set<String> {
        switch phase {
        case .waitingForCapacity, .queuedBehind, .finished, .skipped: []
        case .preparing: ["wake", "templateRead", "armUnavailable", "armRefused"]
        case .requested: ["runAccepted", "runAmbiguous", "runConflict", "armUnavailable", "armRefused"]
        case .retryingRun: ["wake"]
        case .reconciling, .running: ["wake", "observed", "pollFailed", "templateGone"]
        case .waitingForForeign, .cancelling: ["wake", "observed", "pollFailed", "templateGone", "cancelAnswered"]
        case .listingOutputs: ["outputsListed"]
        }
    }

    static func name(_ event: RunEvent) -> String {
        switch event {
        case .templateRead: "templateRead"
        case .armUnavailable: "armUnavailable"
        case .armRefused: "armRefused"
        case .runAccepted: "runAccepted"
        case .runAmbiguous: "runAmbiguous"
        case .runConflict: "runConflict"
        case .observed: "observed"
        case .pollFailed: "pollFailed"
        case .templateGone: "templateGone"
        case .wake: "wake"
        case .cancelAnswered: "cancelAnswered"
        case .outputsListed: "outputsListed"
        }
    }

    @Test func everyPairKeepsTheContractAndUnaskedAnswersChangeNothing() {
        #expect(Set(Self.events.map(Self.name)).count == 12)
        let key = SlotKey(schedule: "a", slot: Self.t0)
        let policy = RunTableTests.policy(.skip)
        var pairs = 0
        for phase in Self.phases {
            for event in Self.events {
                pairs += 1
                let run = Run(key: key, target: RunTableTests.target, policy: policy, phase: phase)
                let (next, effects) = RunMachine.handle(run, event, now: Self.t0.addingTimeInterval(120))
                let label = "\(phase.name) <- \(Self.name(event))"
                if !Self.expected(phase).contains(Self.name(event)) {
                    #expect(next == run && effects.isEmpty, "\(label) changed the run: \(next.phase.name) \(effects)")
                    continue
                }
                let continuations = effects.filter(\.isContinuation)
                #expect(continuations.count <= 1, "\(label): \(effects)")
                if let last = continuations.first { #expect(effects.last == last, "\(label): a continuation is not last: \(effects)") }
                #expect(next.phase.isClosed == continuations.isEmpty, "\(label): open without work, or closed with work: \(next.phase.name) \(effects)")
            }
        }
        #expect(pairs == 144)
    }
}
