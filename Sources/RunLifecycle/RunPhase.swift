import FoundationEssentials
import JobJournal

/// Where one run (a slot of a schedule) stands. Each case carries exactly what that phase needs, so
/// contradictory combinations (accepted but never requested, cancelling without a deadline) cannot
/// be written down.
public enum RunPhase: Sendable, Equatable {
    /// Due, but `max_concurrent_builds` builds are running; nothing has been sent to ARM.
    case waitingForCapacity(since: Date)
    /// Held by the overlap policy (queue, or replace waiting for the cancel) behind its template's build.
    case queuedBehind(since: Date)
    /// Admitted: reading the template (for its timeout), or waiting out ARM errors before the Run.
    /// `retryAt` is set while waiting. Azure has no build of this run.
    case preparing(since: Date, retryDelay: TimeInterval, retryAt: Date?)
    /// `run-requested` is durable and Run is on the wire.
    case requested(RequestFacts)
    /// Run failed without reaching ARM (throttled, refused before acting); it is sent again at `retryAt`.
    case retryingRun(RequestFacts, retryDelay: TimeInterval, retryAt: Date)
    /// Run's answer was lost: is the build ours? Read `lastRunStatus` until `resendAfter`, then Run again.
    case reconciling(RequestFacts, since: Date, resendAfter: Date, pollDelay: TimeInterval)
    /// The template is building outside this run (a 409, or seen while reconciling); poll until it ends.
    case waitingForForeign(RequestFacts, giveUpAt: Date, pollDelay: TimeInterval)
    /// Azure accepted the build; polling it. The deadline is `(lastStatus.startedAt ?? acceptedAt) + timeout`.
    case running(RequestFacts, acceptedAt: Date, lastStatus: RunStatus?, pollDelay: TimeInterval)
    /// A cancel was requested; waiting for Azure to confirm it, at most until `giveUpAt`.
    case cancelling(RequestFacts, reason: CancelReason, requestedAt: Date, giveUpAt: Date, lastStatus: RunStatus?, pollDelay: TimeInterval)
    /// The build ended well; its outputs are being listed before the run is closed.
    case listingOutputs(outcome: RunOutcome, message: String?)
    /// Closed with an outcome.
    case finished(RunOutcome)
    /// Closed without a build of its own.
    case skipped(reason: String)

    /// Whether the run has a final record.
    public var isClosed: Bool {
        switch self {
        case .finished, .skipped: true
        default: false
        }
    }

    /// Whether the run occupies its template and one unit of `max_concurrent_builds`.
    public var holdsTemplate: Bool {
        switch self {
        case .waitingForCapacity, .queuedBehind, .finished, .skipped: false
        default: true
        }
    }

    /// Whether Azure may hold a build of this run. Before that, a newer slot of the same template
    /// supersedes it instead of being skipped as an overlap.
    public var mayHaveBuild: Bool {
        switch self {
        case .waitingForCapacity, .queuedBehind, .preparing, .finished, .skipped: false
        case .retryingRun(let facts, _, _): facts.ambiguousSends > 0
        default: true
        }
    }

    /// One word for logs, `status` and the simulation's reports.
    public var name: String {
        switch self {
        case .waitingForCapacity: "waiting-for-capacity"
        case .queuedBehind: "queued"
        case .preparing: "preparing"
        case .requested: "requested"
        case .retryingRun: "retrying-run"
        case .reconciling: "reconciling"
        case .waitingForForeign: "waiting-for-foreign"
        case .running: "running"
        case .cancelling: "cancelling"
        case .listingOutputs: "listing-outputs"
        case .finished(let outcome): "finished(\(outcome.rawValue))"
        case .skipped: "skipped"
        }
    }
}

/// What is known once `run-requested` is durable, and what each Run request since has shown.
public struct RequestFacts: Sendable, Equatable {
    /// The first request, as the journal records it.
    public var requestedAt: Date
    public var timeoutSeconds: Int64
    /// Run requests whose answer was lost; while nonzero, a build on the template may be ours.
    public var ambiguousSends: Int
    /// Run requests sent in all.
    public var sends: Int
    /// When the latest Run request left.
    public var lastSendAt: Date
    /// When the first request whose answer was lost left.
    public var ambiguousSince: Date?
    /// When the request ARM accepted left.
    public var acceptedSendAt: Date?

    public init(requestedAt: Date, timeoutSeconds: Int64, ambiguousSends: Int = 0, sends: Int = 0) {
        self.requestedAt = requestedAt
        self.timeoutSeconds = timeoutSeconds
        self.ambiguousSends = ambiguousSends
        self.sends = sends
        lastSendAt = requestedAt
        ambiguousSince = ambiguousSends > 0 ? requestedAt : nil
    }

    /// A build that started at or after this instant (within the clock tolerance) is ours: the
    /// accepted request's, else the first lost one's. A build that started while we waited behind
    /// someone else's is not.
    public var oursAfter: Date { acceptedSendAt ?? ambiguousSince ?? lastSendAt }
}
