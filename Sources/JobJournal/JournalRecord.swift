import FoundationEssentials

/// The identity of one slot: (schedule name, scheduled UTC instant, manual). It is the idempotency key.
public struct SlotKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var schedule: String
    /// The scheduled instant in milliseconds since the Unix epoch; integral so that keys compare exactly.
    public var slotMillis: Int64
    /// An operator's "run now" (`imagebuildd trigger`), not a slot of the cron schedule.
    public var manual: Bool

    public init(schedule: String, slotMillis: Int64, manual: Bool = false) {
        self.schedule = schedule
        self.slotMillis = slotMillis
        self.manual = manual
    }

    public init(schedule: String, slot: Date, manual: Bool = false) {
        self.init(schedule: schedule, slotMillis: slot.journalMillis, manual: manual)
    }

    public var slot: Date { Date(journalMillis: slotMillis) }

    public static func < (a: SlotKey, b: SlotKey) -> Bool {
        (a.slotMillis, a.schedule, a.manual ? 1 : 0) < (b.slotMillis, b.schedule, b.manual ? 1 : 0)
    }

    public var description: String { "\(schedule)@\(slotMillis)\(manual ? "+manual" : "")" }
}

/// Where a slot's build happens; opaque strings to the journal.
public struct BuildTarget: Hashable, Sendable {
    public var subscriptionID: String
    public var resourceGroup: String
    public var template: String

    public init(subscriptionID: String, resourceGroup: String, template: String) {
        self.subscriptionID = subscriptionID
        self.resourceGroup = resourceGroup
        self.template = template
    }
}

/// A run state as Azure reported it, kept verbatim.
public struct RunStatus: Hashable, Sendable {
    public var runState: String
    public var runSubState: String?
    public var message: String?
    public var startedAt: Date?
    public var endedAt: Date?

    public init(runState: String, runSubState: String? = nil, message: String? = nil,
                startedAt: Date? = nil, endedAt: Date? = nil) {
        self.runState = runState
        self.runSubState = runSubState
        self.message = message
        self.startedAt = startedAt.map(\.journalRounded)
        self.endedAt = endedAt.map(\.journalRounded)
    }
}

/// One artifact a finished run produced.
public struct RunOutputRecord: Hashable, Sendable {
    public var name: String
    public var artifactID: String?
    public var artifactURI: String?

    public init(name: String, artifactID: String? = nil, artifactURI: String? = nil) {
        self.name = name
        self.artifactID = artifactID
        self.artifactURI = artifactURI
    }
}

/// How a run ended (the `outcome` of `history --json`).
public enum RunOutcome: String, Sendable, CaseIterable {
    case succeeded, partiallySucceeded, failed, canceled, timedOut, lost
    /// Never built: `slot-skipped` (overlap, pause, capacity, superseded), shown in history with its reason.
    case skipped

    /// An image came out of it (to every target, or to some): what `last_success` and staleness count.
    public var isSuccess: Bool { self == .succeeded || self == .partiallySucceeded }
}

/// Why the daemon asked Azure to cancel a run.
public enum CancelReason: String, Sendable, CaseIterable {
    case timeout, replace
    /// `imagebuildd cancel`.
    case `operator`
}

/// Who asked for a manual run, and why (`trigger-requested`).
public struct TriggerRequest: Hashable, Sendable {
    /// The operator, as the control socket saw them (`uid 1000 (alice)`).
    public var requestedBy: String
    public var reason: String?
    /// The command line's id for this request: a retry with the same id gets the same slot.
    public var requestID: String?

    public init(requestedBy: String, reason: String? = nil, requestID: String? = nil) {
        self.requestedBy = requestedBy
        self.reason = reason
        self.requestID = requestID
    }
}

/// Who asked for an operator's cancel (`imagebuildd cancel`), and why.
public struct CancelRequest: Hashable, Sendable {
    /// The operator, as the control socket saw them.
    public var requestedBy: String
    /// The command line's `--reason`.
    public var note: String?

    public init(requestedBy: String, note: String? = nil) {
        self.requestedBy = requestedBy
        self.note = note
    }
}

/// A schedule held by an operator or by `pause_after_failures`.
public struct PauseRecord: Hashable, Sendable {
    public var since: Date
    /// When it resumes by itself; nil until `imagebuildd resume`.
    public var until: Date?
    public var reason: String?
    public var by: String

    public init(since: Date, until: Date? = nil, reason: String? = nil, by: String) {
        self.since = since.journalRounded
        self.until = until.map(\.journalRounded)
        self.reason = reason
        self.by = by
    }
}

/// What the journal knows of one schedule across its runs: the facts metrics and stale detection read.
public struct ScheduleFacts: Hashable, Sendable {
    /// When the daemon first ran with this schedule in its config (`schedule-seen`).
    public var firstSeen: Date?
    /// When the newest run that was built (not skipped) finished.
    public var lastRun: Date?
    /// When the newest run that succeeded (fully or partially) finished.
    public var lastSuccess: Date?
    /// When the schedule was announced stale; nil while it is fresh.
    public var staleSince: Date?
    /// Finished runs and skipped slots per outcome, since the schedule was first seen.
    public var runs: [RunOutcome: Int] = [:]

    public init() {}

    /// Folds one fact about this schedule in: the one place these facts are derived, for the
    /// journal's replay and for the orchestrator's working copy alike.
    public mutating func note(_ event: JournalEvent, at: Date) {
        switch event {
        case .scheduleSeen:
            if firstSeen == nil { firstSeen = at }
        case .stale:
            staleSince = at
        case .slotSkipped:
            runs[.skipped, default: 0] += 1
        case .finished(_, let outcome, _):
            runs[outcome, default: 0] += 1
            if outcome != .skipped { lastRun = at }
            if outcome.isSuccess {
                lastSuccess = at
                staleSince = nil
            }
        default:
            break
        }
    }

    /// The schedule a fact of `note` is about, if it is one.
    public static func schedule(of event: JournalEvent) -> String? {
        switch event {
        case .scheduleSeen(let schedule), .stale(let schedule): schedule
        case .slotSkipped(let key, _), .finished(let key, _, _): key.schedule
        default: nil
        }
    }
}

/// A webhook notification journaled before its first attempt, and the sinks that have not yet
/// taken it (delivered, or given up on after the retry window).
public struct PendingNotification: Hashable, Sendable {
    /// The `Idempotency-Key`: stable across attempts and restarts.
    public var key: String
    /// `failed`, `stale`, `recovered`...
    public var event: String
    public var schedule: String
    /// The JSON body, exactly as every attempt sends it.
    public var body: String
    /// Sink ids still owed this notification, sorted.
    public var sinks: [String]
    public var queuedAt: Date

    public init(key: String, event: String, schedule: String, body: String, sinks: [String], queuedAt: Date) {
        self.key = key
        self.event = event
        self.schedule = schedule
        self.body = body
        self.sinks = sinks.sorted()
        self.queuedAt = queuedAt.journalRounded
    }
}

/// A schedule a discovery pass found in a template's tags: its tags as found (the prefix taken off),
/// so that a restart, even while ARM is down, schedules it again from the journal alone.
public struct DiscoveredSchedule: Hashable, Sendable {
    public var name: String
    /// The template's ARM resource id.
    public var template: String
    /// `cron`, `timezone`, `overlap`, ...: the values of the tags under the discovery prefix.
    public var tags: [String: String]

    public init(name: String, template: String, tags: [String: String]) {
        self.name = name
        self.template = template
        self.tags = tags
    }
}

/// One fact in the run lifecycle of ARCHITECTURE.md, or a compaction snapshot.
public enum JournalEvent: Hashable, Sendable {
    case slotDue(SlotKey, target: BuildTarget)
    case slotQueued(SlotKey)
    case slotSkipped(SlotKey, reason: String)
    case runRequested(SlotKey, clientRequestID: String?)
    case runAccepted(SlotKey, buildTimeoutSeconds: Int64?)
    case statusObserved(SlotKey, RunStatus)
    /// `request` says who asked and why, for an operator's cancel.
    case cancelRequested(SlotKey, reason: CancelReason, request: CancelRequest? = nil)
    case cancelObserved(SlotKey, RunStatus)
    case outputsRecorded(SlotKey, [RunOutputRecord])
    case finished(SlotKey, outcome: RunOutcome, message: String?)
    /// Before a manual slot's `slot-due`: who asked and why.
    case triggerRequested(SlotKey, TriggerRequest)
    /// A schedule paused (its `since` is the record's time) or resumed.
    case paused(schedule: String, until: Date?, reason: String?, by: String)
    case resumed(schedule: String, by: String)
    /// A schedule's first start in the config: stale detection counts from here until a success.
    case scheduleSeen(schedule: String)
    /// A schedule announced stale (its `since` is the record's time): no success within `stale_after`.
    case stale(schedule: String)
    /// A discovery pass found a tagged template new, or with changed tags.
    case scheduleDiscovered(DiscoveredSchedule)
    /// A complete discovery pass no longer found a discovered schedule (tag removed, template deleted).
    case scheduleRetired(schedule: String, reason: String)
    /// A notification's intent, before any attempt to send it.
    case notifyQueued(PendingNotification)
    /// A sink took a notification, or the daemon gave up on it after the retry window.
    case notifyDone(key: String, sink: String, delivered: Bool, attempts: Int)
    case snapshot(JournalState)

    /// The record type as written in the payload's `type` field.
    public var typeName: String { kind.rawValue }

    /// The record's type.
    public var kind: RecordKind {
        switch self {
        case .slotDue: .slotDue
        case .slotQueued: .slotQueued
        case .slotSkipped: .slotSkipped
        case .runRequested: .runRequested
        case .runAccepted: .runAccepted
        case .statusObserved: .statusObserved
        case .cancelRequested: .cancelRequested
        case .cancelObserved: .cancelObserved
        case .outputsRecorded: .outputsRecorded
        case .finished: .finished
        case .triggerRequested: .triggerRequested
        case .paused: .paused
        case .resumed: .resumed
        case .scheduleSeen: .scheduleSeen
        case .stale: .stale
        case .scheduleDiscovered: .scheduleDiscovered
        case .scheduleRetired: .scheduleRetired
        case .notifyQueued: .notifyQueued
        case .notifyDone: .notifyDone
        case .snapshot: .snapshot
        }
    }

    /// The slot a lifecycle record is about; nil for a snapshot.
    public var slot: SlotKey? {
        switch self {
        case .slotDue(let k, _), .slotQueued(let k), .slotSkipped(let k, _), .runRequested(let k, _),
             .runAccepted(let k, _), .statusObserved(let k, _), .cancelRequested(let k, _, _),
             .cancelObserved(let k, _), .outputsRecorded(let k, _), .finished(let k, _, _), .triggerRequested(let k, _):
            k
        case .snapshot, .paused, .resumed, .scheduleSeen, .stale, .scheduleDiscovered, .scheduleRetired, .notifyQueued, .notifyDone:
            nil
        }
    }
}

/// Every record type and the one place its name is spelled (the payload's `type`), most frequent first.
public enum RecordKind: String, CaseIterable, Sendable {
    case statusObserved = "status-observed"
    case slotDue = "slot-due"
    case runRequested = "run-requested"
    case runAccepted = "run-accepted"
    case finished
    case outputsRecorded = "outputs-recorded"
    case slotSkipped = "slot-skipped"
    case slotQueued = "slot-queued"
    case cancelRequested = "cancel-requested"
    case cancelObserved = "cancel-observed"
    case triggerRequested = "trigger-requested"
    case paused
    case resumed
    case scheduleSeen = "schedule-seen"
    case stale
    case scheduleDiscovered = "schedule-discovered"
    case scheduleRetired = "schedule-retired"
    case notifyQueued = "notify-queued"
    case notifyDone = "notify-done"
    case snapshot

    /// The names as bytes, for recognising them in a payload without building a String.
    static let spellings: [(RecordKind, [UInt8])] = allCases.map { ($0, Array($0.rawValue.utf8)) }
}

/// A committed record: its place in the sequence, when it was written, and what it says.
public struct JournalRecord: Hashable, Sendable {
    public var seq: UInt64
    public var at: Date
    public var event: JournalEvent

    public init(seq: UInt64, at: Date, event: JournalEvent) {
        self.seq = seq
        self.at = at.journalRounded
        self.event = event
    }
}

extension Date {
    /// Milliseconds since the epoch: the journal's only time representation.
    public var journalMillis: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }

    public init(journalMillis: Int64) {
        self.init(timeIntervalSince1970: Double(journalMillis) / 1000)
    }

    /// This instant as the journal will give it back.
    public var journalRounded: Date { Date(journalMillis: journalMillis) }
}
