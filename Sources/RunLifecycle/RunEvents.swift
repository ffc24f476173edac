import FoundationEssentials
import JobJournal
import Scheduler

/// What happened to a run: an answer from ARM, or its timer.
public enum RunEvent: Sendable, Equatable {
    /// The template was read before the Run; `timeoutSeconds` is its resolved build timeout.
    case templateRead(timeoutSeconds: Int64)
    /// ARM did not act and may later (throttled, unavailable, authentication failing transiently).
    case armUnavailable(String)
    /// ARM refused for good; `notFound` when the template does not exist.
    case armRefused(String, notFound: Bool)
    case runAccepted(correlationID: String?)
    /// Run may or may not have reached ARM.
    case runAmbiguous(String)
    /// 409: the template is already building.
    case runConflict(String)
    /// A poll's reading of the template.
    case observed(Observation)
    /// A poll that got no answer (any error but 404).
    case pollFailed(String)
    /// 404 on a poll.
    case templateGone
    /// The timer the run asked for with `RunEffect.wake(at:)`.
    case wake
    /// The Cancel request returned; `error` when it failed (the polls that follow show what happened).
    case cancelAnswered(error: String?)
    /// Run outputs, or nil when they could not be listed (the run still closes with its outcome).
    case outputsListed([RunOutputRecord]?)
}

/// A template as a poll saw it.
public struct Observation: Sendable, Equatable {
    /// `lastRunStatus`, nil when the template has none.
    public var status: RunStatus?
    /// The build timeout the config resolves for this template.
    public var timeoutSeconds: Int64

    public init(status: RunStatus?, timeoutSeconds: Int64) {
        self.status = status
        self.timeoutSeconds = timeoutSeconds
    }
}

/// What the driver must do for a run, in order. A `record` is durable before the next effect starts.
public enum RunEffect: Sendable, Equatable {
    case record(JournalEvent)
    /// Get the template (for its timeout) before the Run; answers `templateRead`, `armUnavailable` or `armRefused`.
    case readTemplate
    /// Run; answers `runAccepted`, `runAmbiguous`, `runConflict`, `armUnavailable` or `armRefused`.
    case callRun
    /// Get the template's `lastRunStatus`; answers `observed`, `pollFailed` or `templateGone`.
    case poll
    /// Cancel; answers `cancelAnswered`.
    case callCancel
    /// List run outputs; answers `outputsListed`.
    case listOutputs
    /// Deliver `wake` at this instant.
    case wake(at: Date)
    case log(LogLine)
}

/// A log line an effect asks for; the driver adds the run's journald fields.
public struct LogLine: Sendable, Equatable {
    public enum Level: Sendable { case debug, info, notice, warning, error }
    public var level: Level
    public var message: String
    /// The journald EVENT / MESSAGE_ID key (`run-accepted`, `slot-skipped`, …), if the line is one.
    public var event: String?
    public var fields: [String: String]

    public init(_ level: Level, _ message: String, event: String? = nil, fields: [String: String] = [:]) {
        self.level = level
        self.message = message
        self.event = event
        self.fields = fields
    }
}

/// The per-schedule settings a run follows, captured when it comes due.
public struct RunPolicy: Sendable, Equatable {
    public var overlap: OverlapPolicy
    public var cancelWait: TimeInterval
    /// How long after its slot a run may still wait out ARM errors (and foreign builds) before giving up.
    public var giveUpAfter: TimeInterval
    public var pollInitial: TimeInterval
    public var pollMax: TimeInterval
    public var pollMultiplier: Double
    /// Pause the schedule after this many failed, timed-out or lost runs in a row; nil: never.
    public var pauseAfterFailures: Int?

    public init(overlap: OverlapPolicy, cancelWait: TimeInterval, giveUpAfter: TimeInterval,
                pollInitial: TimeInterval, pollMax: TimeInterval, pollMultiplier: Double, pauseAfterFailures: Int? = nil) {
        self.pauseAfterFailures = pauseAfterFailures
        self.overlap = overlap
        self.cancelWait = cancelWait
        self.giveUpAfter = giveUpAfter
        self.pollInitial = pollInitial
        self.pollMax = pollMax
        self.pollMultiplier = pollMultiplier
    }

    /// The next, longer poll or retry delay.
    func backoff(_ delay: TimeInterval) -> TimeInterval {
        min(delay * pollMultiplier, pollMax)
    }
}
