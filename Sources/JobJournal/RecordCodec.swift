import FoundationEssentials
import Glibc

/// A payload whose JSON is valid but does not describe a record this version understands.
public struct RecordDecodingError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// The payload format: one flat JSON object per record, times as integer milliseconds since the
/// epoch, absent values omitted. `{"seq":7,"at":1795000000123,"type":"run-accepted","schedule":"…","slot":…}`
public enum RecordCodec {
    /// The payload bytes of `record`.
    public static func encode(_ record: JournalRecord) -> [UInt8] {
        var w = JSONWriter()
        w.objectStart()
        w.field("seq", Int64(record.seq))
        w.field("at", record.at.journalMillis)
        w.field("type", record.event.typeName)
        if let key = record.event.slot {
            w.field("schedule", key.schedule)
            w.field("slot", key.slotMillis)
            w.flag("manual", key.manual)
        }
        switch record.event {
        case .slotDue(_, let target):
            writeTarget(target, &w)
        case .slotQueued:
            break
        case .slotSkipped(_, let reason):
            w.field("reason", reason)
        case .runRequested(_, let id):
            w.field("client_request_id", id)
        case .runAccepted(_, let timeout):
            w.field("build_timeout_s", timeout)
        case .statusObserved(_, let status), .cancelObserved(_, let status):
            writeStatus(status, &w)
        case .cancelRequested(_, let reason, let request):
            w.field("reason", reason.rawValue)
            if let request {
                w.field("by", request.requestedBy)
                w.field("note", request.note)
            }
        case .outputsRecorded(_, let outputs):
            w.key("outputs")
            writeOutputs(outputs, &w)
        case .finished(_, let outcome, let message):
            w.field("outcome", outcome.rawValue)
            w.field("message", message)
        case .triggerRequested(_, let request):
            writeTrigger(request, &w)
        case .paused(let schedule, let until, let reason, let by):
            w.field("schedule", schedule)
            w.field("until", until?.journalMillis)
            w.field("reason", reason)
            w.field("by", by)
        case .resumed(let schedule, let by):
            w.field("schedule", schedule)
            w.field("by", by)
        case .scheduleSeen(let schedule), .stale(let schedule):
            w.field("schedule", schedule)
        case .scheduleDiscovered(let found):
            w.field("schedule", found.name)
            writeDiscovered(found, &w)
        case .scheduleRetired(let schedule, let reason):
            w.field("schedule", schedule)
            w.field("reason", reason)
        case .notifyQueued(let pending):
            writePending(pending, &w)
        case .notifyDone(let key, let sink, let delivered, let attempts):
            w.field("key", key)
            w.field("sink", sink)
            w.flag("delivered", delivered)
            w.field("attempts", Int64(attempts))
        case .snapshot(let state):
            writeSnapshot(state, &w)
        }
        w.objectEnd()
        return w.bytes
    }

    /// The record in `payload`; throws on anything it cannot account for.
    public static func decode(_ payload: UnsafeRawBufferPointer) throws -> JournalRecord {
        var r = JSONReader(payload)
        var fields = Fields()
        try r.rawObject { r, name in try fields.read(name, &r) }
        try r.end()
        return try fields.record()
    }

    public static func decode(_ payload: [UInt8]) throws -> JournalRecord {
        try payload.withUnsafeBytes { try decode($0) }
    }

    // MARK: - writing

    private static func writeTarget(_ t: BuildTarget, _ w: inout JSONWriter) {
        w.field("subscription_id", t.subscriptionID)
        w.field("resource_group", t.resourceGroup)
        w.field("template", t.template)
    }

    private static func writeStatus(_ s: RunStatus, _ w: inout JSONWriter) {
        w.field("run_state", s.runState)
        w.field("run_substate", s.runSubState)
        w.field("run_message", s.message)
        w.field("started_at", s.startedAt?.journalMillis)
        w.field("ended_at", s.endedAt?.journalMillis)
    }

    private static func writeOutputs(_ outputs: [RunOutputRecord], _ w: inout JSONWriter) {
        w.arrayStart()
        for o in outputs {
            w.element()
            w.objectStart()
            w.field("name", o.name)
            w.field("artifact_id", o.artifactID)
            w.field("artifact_uri", o.artifactURI)
            w.objectEnd()
        }
        w.arrayEnd()
    }

    private static func writeTrigger(_ t: TriggerRequest, _ w: inout JSONWriter) {
        w.field("requested_by", t.requestedBy)
        w.field("reason", t.reason)
        w.field("request_id", t.requestID)
    }

    private static func writePending(_ p: PendingNotification, _ w: inout JSONWriter) {
        w.field("key", p.key)
        w.field("event", p.event)
        w.field("schedule", p.schedule)
        w.field("body", p.body)
        w.key("sinks")
        w.arrayStart()
        for sink in p.sinks {
            w.element()
            w.string(sink)
        }
        w.arrayEnd()
        w.field("queued_at", p.queuedAt.journalMillis)
    }

    private static func writeDiscovered(_ found: DiscoveredSchedule, _ w: inout JSONWriter) {
        w.field("template", found.template)
        w.key("tags")
        w.objectStart()
        for tag in found.tags.keys.sorted() {
            w.field(tag, found.tags[tag]!)
        }
        w.objectEnd()
    }

    private static func writeRun(_ run: RunRecord, _ w: inout JSONWriter) {
        w.objectStart()
        w.field("schedule", run.key.schedule)
        w.field("slot", run.key.slotMillis)
        w.flag("manual", run.key.manual)
        if let t = run.trigger { writeTrigger(t, &w) }
        if let t = run.target { writeTarget(t, &w) }
        w.field("due_at", run.dueAt?.journalMillis)
        w.field("queued_at", run.queuedAt?.journalMillis)
        w.field("requested_at", run.requestedAt?.journalMillis)
        w.field("client_request_id", run.clientRequestID)
        w.field("accepted_at", run.acceptedAt?.journalMillis)
        w.field("build_timeout_s", run.buildTimeoutSeconds)
        if let s = run.lastStatus { writeStatus(s, &w) }
        w.field("cancel_requested_at", run.cancelRequestedAt?.journalMillis)
        w.field("cancel_reason", run.cancelReason?.rawValue)
        if let request = run.cancelRequest {
            w.field("cancel_requested_by", request.requestedBy)
            w.field("cancel_note", request.note)
        }
        if !run.outputs.isEmpty {
            w.key("outputs")
            writeOutputs(run.outputs, &w)
        }
        w.field("finished_at", run.finishedAt?.journalMillis)
        w.field("outcome", run.outcome?.rawValue)
        w.field("message", run.message)
        w.objectEnd()
    }

    private static func writeSnapshot(_ state: JournalState, _ w: inout JSONWriter) {
        w.key("open_runs")
        w.arrayStart()
        for run in state.openRuns.values.sorted(by: { $0.key < $1.key }) {
            w.element()
            writeRun(run, &w)
        }
        w.arrayEnd()
        w.key("history")
        w.arrayStart()
        for schedule in state.history.keys.sorted() {
            for run in state.history[schedule]! {
                w.element()
                writeRun(run, &w)
            }
        }
        w.arrayEnd()
        w.key("last_slots")
        w.objectStart()
        for schedule in state.lastSlot.keys.sorted() {
            w.field(schedule, state.lastSlot[schedule]!.journalMillis)
        }
        w.objectEnd()
        if !state.paused.isEmpty {
            w.key("paused")
            w.objectStart()
            for schedule in state.paused.keys.sorted() {
                let pause = state.paused[schedule]!
                w.key(schedule)
                w.objectStart()
                w.field("since", pause.since.journalMillis)
                w.field("until", pause.until?.journalMillis)
                w.field("reason", pause.reason)
                w.field("by", pause.by)
                w.objectEnd()
            }
            w.objectEnd()
        }
        if !state.schedules.isEmpty {
            w.key("schedules")
            w.objectStart()
            for schedule in state.schedules.keys.sorted() {
                let facts = state.schedules[schedule]!
                w.key(schedule)
                w.objectStart()
                w.field("first_seen", facts.firstSeen?.journalMillis)
                w.field("last_run", facts.lastRun?.journalMillis)
                w.field("last_success", facts.lastSuccess?.journalMillis)
                w.field("stale_since", facts.staleSince?.journalMillis)
                for outcome in RunOutcome.allCases {
                    w.field("runs_\(outcome.rawValue)", facts.runs[outcome].map(Int64.init))
                }
                w.objectEnd()
            }
            w.objectEnd()
        }
        if !state.discovered.isEmpty {
            w.key("discovered")
            w.objectStart()
            for name in state.discovered.keys.sorted() {
                w.key(name)
                w.objectStart()
                writeDiscovered(state.discovered[name]!, &w)
                w.objectEnd()
            }
            w.objectEnd()
        }
        if !state.outbox.isEmpty {
            w.key("outbox")
            w.arrayStart()
            for pending in state.outbox.values.sorted(by: { ($0.queuedAt, $0.key) < ($1.queuedAt, $1.key) }) {
                w.element()
                w.objectStart()
                writePending(pending, &w)
                w.objectEnd()
            }
            w.arrayEnd()
        }
        w.key("counters")
        w.objectStart()
        w.field("slots_due", Int64(state.counters.slotsDue))
        w.field("slots_skipped", Int64(state.counters.slotsSkipped))
        for outcome in RunOutcome.allCases {
            w.field("finished_\(outcome.rawValue)", state.counters.finished[outcome].map(Int64.init))
        }
        w.objectEnd()
    }

    // MARK: - reading

    /// Every member a payload or a snapshot's run may carry; which are required depends on `type`.
    private struct Fields {
        var seq: Int64?
        var at: Int64?
        var type: RecordType?
        var schedule: String?
        var slot: Int64?
        var subscriptionID: String?
        var resourceGroup: String?
        var template: String?
        var reason: String?
        var clientRequestID: String?
        var buildTimeout: Int64?
        var runState: String?
        var runSubState: String?
        var runMessage: String?
        var startedAt: Int64?
        var endedAt: Int64?
        var outputs: [RunOutputRecord]?
        var outcome: String?
        var message: String?
        // Snapshot runs only.
        var dueAt: Int64?
        var queuedAt: Int64?
        var requestedAt: Int64?
        var acceptedAt: Int64?
        var cancelRequestedAt: Int64?
        var cancelReason: String?
        var cancelRequestedBy: String?
        var note: String?
        var finishedAt: Int64?
        var manual = false
        var requestedBy: String?
        var requestID: String?
        var until: Int64?
        var by: String?
        var notifyKey: String?
        var event: String?
        var body: String?
        var sinks: [String]?
        var sink: String?
        var delivered = false
        var attempts: Int64?
        var tags: [String: String]?
        // Snapshot only.
        var state: JournalState?

        // Most frequent members first; every test is a length compare before any byte compare.
        mutating func read(_ name: UnsafeRawBufferPointer, _ r: inout JSONReader) throws {
            if spells(name, "seq") { seq = try r.int() }
            else if spells(name, "at") { at = try r.int() }
            else if spells(name, "type") { type = try r.rawString().map(RecordType.init) ?? .other(try r.string()) }
            else if spells(name, "schedule") { schedule = try r.string() }
            else if spells(name, "slot") { slot = try r.int() }
            else if spells(name, "run_state") { runState = try r.optionalString() }
            else if spells(name, "run_substate") { runSubState = try r.optionalString() }
            else if spells(name, "run_message") { runMessage = try r.optionalString() }
            else if spells(name, "started_at") { startedAt = try r.optionalInt() }
            else if spells(name, "ended_at") { endedAt = try r.optionalInt() }
            else if spells(name, "subscription_id") { subscriptionID = try r.optionalString() }
            else if spells(name, "resource_group") { resourceGroup = try r.optionalString() }
            else if spells(name, "template") { template = try r.optionalString() }
            else if spells(name, "reason") { reason = try r.optionalString() }
            else if spells(name, "client_request_id") { clientRequestID = try r.optionalString() }
            else if spells(name, "build_timeout_s") { buildTimeout = try r.optionalInt() }
            else if spells(name, "outputs") { outputs = try readOutputs(&r) }
            else if spells(name, "outcome") { outcome = try r.optionalString() }
            else if spells(name, "message") { message = try r.optionalString() }
            else if spells(name, "due_at") { dueAt = try r.optionalInt() }
            else if spells(name, "queued_at") { queuedAt = try r.optionalInt() }
            else if spells(name, "requested_at") { requestedAt = try r.optionalInt() }
            else if spells(name, "accepted_at") { acceptedAt = try r.optionalInt() }
            else if spells(name, "cancel_requested_at") { cancelRequestedAt = try r.optionalInt() }
            else if spells(name, "cancel_reason") { cancelReason = try r.optionalString() }
            else if spells(name, "cancel_requested_by") { cancelRequestedBy = try r.optionalString() }
            else if spells(name, "cancel_note") || spells(name, "note") { note = try r.optionalString() }
            else if spells(name, "finished_at") { finishedAt = try r.optionalInt() }
            else if spells(name, "manual") { manual = try r.bool() }
            else if spells(name, "requested_by") { requestedBy = try r.optionalString() }
            else if spells(name, "request_id") { requestID = try r.optionalString() }
            else if spells(name, "until") { until = try r.optionalInt() }
            else if spells(name, "by") { by = try r.optionalString() }
            else if spells(name, "key") { notifyKey = try r.string() }
            else if spells(name, "event") { event = try r.string() }
            else if spells(name, "body") { body = try r.string() }
            else if spells(name, "sinks") {
                var list: [String] = []
                try r.array { r in list.append(try r.string()) }
                sinks = list
            }
            else if spells(name, "sink") { sink = try r.string() }
            else if spells(name, "delivered") { delivered = try r.bool() }
            else if spells(name, "attempts") { attempts = try r.int() }
            else if spells(name, "tags") { tags = try readTags(&r) }
            else if let member = SnapshotMember(name) {
                var s = state ?? JournalState()
                try readSnapshotMember(member, &r, &s)
                state = s
            } else {
                try r.skipValue()
            }
        }

        func require<T>(_ value: T?, _ name: String) throws -> T {
            guard let value else { throw RecordDecodingError(reason: "\(type?.name ?? "record") lacks \"\(name)\"") }
            return value
        }

        func key() throws -> SlotKey {
            SlotKey(schedule: try require(schedule, "schedule"), slotMillis: try require(slot, "slot"), manual: manual)
        }

        func target() throws -> BuildTarget {
            BuildTarget(subscriptionID: try require(subscriptionID, "subscription_id"),
                        resourceGroup: try require(resourceGroup, "resource_group"),
                        template: try require(template, "template"))
        }

        func status() throws -> RunStatus {
            RunStatus(runState: try require(runState, "run_state"), runSubState: runSubState, message: runMessage,
                      startedAt: startedAt.map(Date.init(journalMillis:)), endedAt: endedAt.map(Date.init(journalMillis:)))
        }

        func outcomeValue() throws -> RunOutcome {
            let raw = try require(outcome, "outcome")
            guard let value = RunOutcome(rawValue: raw) else {
                throw RecordDecodingError(reason: "unknown outcome \"\(raw)\"")
            }
            return value
        }

        func cancelReasonValue(_ raw: String) throws -> CancelReason {
            guard let value = CancelReason(rawValue: raw) else {
                throw RecordDecodingError(reason: "unknown cancel reason \"\(raw)\"")
            }
            return value
        }

        func record() throws -> JournalRecord {
            let seq = try require(seq, "seq")
            guard seq > 0 else { throw RecordDecodingError(reason: "seq must be positive, got \(seq)") }
            let event: JournalEvent
            guard case .known(let kind) = try require(type, "type") else {
                throw RecordDecodingError(reason: "unknown record type \"\(type?.name ?? "")\"")
            }
            switch kind {
            case .slotDue: event = .slotDue(try key(), target: try target())
            case .slotQueued: event = .slotQueued(try key())
            case .slotSkipped: event = .slotSkipped(try key(), reason: try require(reason, "reason"))
            case .runRequested: event = .runRequested(try key(), clientRequestID: clientRequestID)
            case .runAccepted: event = .runAccepted(try key(), buildTimeoutSeconds: buildTimeout)
            case .statusObserved: event = .statusObserved(try key(), try status())
            case .cancelRequested:
                event = .cancelRequested(try key(), reason: try cancelReasonValue(try require(reason, "reason")),
                                         request: by.map { CancelRequest(requestedBy: $0, note: note) })
            case .cancelObserved: event = .cancelObserved(try key(), try status())
            case .outputsRecorded: event = .outputsRecorded(try key(), try require(outputs, "outputs"))
            case .finished: event = .finished(try key(), outcome: try outcomeValue(), message: message)
            case .triggerRequested: event = .triggerRequested(try key(), try trigger())
            case .paused:
                event = .paused(schedule: try require(schedule, "schedule"), until: until.map(Date.init(journalMillis:)),
                                reason: reason, by: try require(by, "by"))
            case .resumed: event = .resumed(schedule: try require(schedule, "schedule"), by: try require(by, "by"))
            case .scheduleSeen: event = .scheduleSeen(schedule: try require(schedule, "schedule"))
            case .stale: event = .stale(schedule: try require(schedule, "schedule"))
            case .scheduleDiscovered: event = .scheduleDiscovered(try discovered(try require(schedule, "schedule")))
            case .scheduleRetired: event = .scheduleRetired(schedule: try require(schedule, "schedule"), reason: try require(reason, "reason"))
            case .notifyQueued: event = .notifyQueued(try pending(queuedAt: try require(queuedAt ?? at, "queued_at")))
            case .notifyDone:
                event = .notifyDone(key: try require(notifyKey, "key"), sink: try require(sink, "sink"), delivered: delivered,
                                    attempts: Int(clamping: try require(attempts, "attempts")))
            case .snapshot: event = .snapshot(try require(state, "open_runs"))
            }
            return JournalRecord(seq: UInt64(seq), at: Date(journalMillis: try require(at, "at")), event: event)
        }

        func pending(queuedAt: Int64) throws -> PendingNotification {
            PendingNotification(key: try require(notifyKey, "key"), event: try require(event, "event"), schedule: try require(schedule, "schedule"),
                                body: try require(body, "body"), sinks: try require(sinks, "sinks"), queuedAt: Date(journalMillis: queuedAt))
        }

        func discovered(_ name: String) throws -> DiscoveredSchedule {
            DiscoveredSchedule(name: name, template: try require(template, "template"), tags: try require(tags, "tags"))
        }

        func trigger() throws -> TriggerRequest {
            TriggerRequest(requestedBy: try require(requestedBy, "requested_by"), reason: reason, requestID: requestID)
        }

        func run() throws -> RunRecord {
            var run = RunRecord(key: try key())
            if requestedBy != nil { run.trigger = try trigger() }
            if subscriptionID != nil || resourceGroup != nil || template != nil { run.target = try target() }
            run.dueAt = dueAt.map(Date.init(journalMillis:))
            run.queuedAt = queuedAt.map(Date.init(journalMillis:))
            run.requestedAt = requestedAt.map(Date.init(journalMillis:))
            run.clientRequestID = clientRequestID
            run.acceptedAt = acceptedAt.map(Date.init(journalMillis:))
            run.buildTimeoutSeconds = buildTimeout
            if runState != nil { run.lastStatus = try status() }
            run.cancelRequestedAt = cancelRequestedAt.map(Date.init(journalMillis:))
            run.cancelReason = try cancelReason.map(cancelReasonValue)
            run.cancelRequest = cancelRequestedBy.map { CancelRequest(requestedBy: $0, note: note) }
            run.outputs = outputs ?? []
            run.finishedAt = finishedAt.map(Date.init(journalMillis:))
            run.outcome = try outcome.map { _ in try outcomeValue() }
            run.message = message
            return run
        }
    }

    private static func readOutputs(_ r: inout JSONReader) throws -> [RunOutputRecord] {
        var outputs: [RunOutputRecord] = []
        try r.array { r in
            var name: String?, id: String?, uri: String?
            try r.object { r, member in
                switch member {
                case "name": name = try r.string()
                case "artifact_id": id = try r.optionalString()
                case "artifact_uri": uri = try r.optionalString()
                default: try r.skipValue()
                }
            }
            guard let name else { throw RecordDecodingError(reason: "an output lacks \"name\"") }
            outputs.append(RunOutputRecord(name: name, artifactID: id, artifactURI: uri))
        }
        return outputs
    }

    private static func readTags(_ r: inout JSONReader) throws -> [String: String] {
        var tags: [String: String] = [:]
        try r.object { r, name in tags[name] = try r.string() }
        return tags
    }

    private static func readRun(_ r: inout JSONReader) throws -> RunRecord {
        var fields = Fields()
        try r.rawObject { r, name in try fields.read(name, &r) }
        return try fields.run()
    }

    private static func readSnapshotMember(_ member: SnapshotMember, _ r: inout JSONReader, _ state: inout JournalState) throws {
        switch member {
        case .openRuns:
            try r.array { r in
                let run = try readRun(&r)
                state.openRuns[run.key] = run
            }
        case .history:
            try r.array { r in
                let run = try readRun(&r)
                state.history[run.key.schedule, default: []].append(run)
            }
        case .lastSlots:
            try r.object { r, schedule in state.lastSlot[schedule] = Date(journalMillis: try r.int()) }
        case .paused:
            try r.object { r, schedule in
                var since: Int64?, until: Int64?, reason: String?, by: String?
                try r.object { r, member in
                    switch member {
                    case "since": since = try r.int()
                    case "until": until = try r.optionalInt()
                    case "reason": reason = try r.optionalString()
                    case "by": by = try r.optionalString()
                    default: try r.skipValue()
                    }
                }
                guard let since, let by else { throw RecordDecodingError(reason: "paused \(schedule) lacks since or by") }
                state.paused[schedule] = PauseRecord(since: Date(journalMillis: since), until: until.map(Date.init(journalMillis:)),
                                                     reason: reason, by: by)
            }
        case .schedules:
            try r.object { r, schedule in
                var facts = ScheduleFacts()
                try r.object { r, member in
                    switch member {
                    case "first_seen": facts.firstSeen = try r.optionalInt().map(Date.init(journalMillis:))
                    case "last_run": facts.lastRun = try r.optionalInt().map(Date.init(journalMillis:))
                    case "last_success": facts.lastSuccess = try r.optionalInt().map(Date.init(journalMillis:))
                    case "stale_since": facts.staleSince = try r.optionalInt().map(Date.init(journalMillis:))
                    default:
                        if member.hasPrefix("runs_"), let outcome = RunOutcome(rawValue: String(member.dropFirst(5))) {
                            facts.runs[outcome] = Int(clamping: try r.int())
                        } else {
                            try r.skipValue()
                        }
                    }
                }
                state.schedules[schedule] = facts
            }
        case .discovered:
            try r.object { r, name in
                var fields = Fields()
                try r.rawObject { r, member in try fields.read(member, &r) }
                state.discovered[name] = try fields.discovered(name)
            }
        case .outbox:
            try r.array { r in
                var fields = Fields()
                try r.rawObject { r, name in try fields.read(name, &r) }
                let pending = try fields.pending(queuedAt: try fields.require(fields.queuedAt, "queued_at"))
                state.outbox[pending.key] = pending
            }
        case .counters:
            try r.object { r, counter in
                let value = Int(try r.int())
                switch counter {
                case "slots_due": state.counters.slotsDue = value
                case "slots_skipped": state.counters.slotsSkipped = value
                default:
                    if counter.hasPrefix("finished_"), let outcome = RunOutcome(rawValue: String(counter.dropFirst(9))) {
                        state.counters.finished[outcome] = value
                    }
                }
            }
        }
    }
}

/// Whether raw member-name bytes spell `name`.
@inline(__always)
private func spells(_ bytes: UnsafeRawBufferPointer, _ name: StaticString) -> Bool {
    bytes.count == name.utf8CodeUnitCount && memcmp(bytes.baseAddress!, name.utf8Start, bytes.count) == 0
}

/// The `type` member, recognised from its bytes against `RecordKind`'s names.
private enum RecordType {
    case known(RecordKind)
    case other(String)

    init(_ bytes: UnsafeRawBufferPointer) {
        for (kind, name) in RecordKind.spellings where bytes.count == name.count && memcmp(bytes.baseAddress!, name, name.count) == 0 {
            self = .known(kind)
            return
        }
        self = .other(String(decoding: bytes, as: UTF8.self))
    }

    var name: String {
        switch self {
        case .known(let kind): kind.rawValue
        case .other(let name): name
        }
    }
}

/// The members only a snapshot has.
private enum SnapshotMember {
    case openRuns, history, lastSlots, counters, paused, schedules, outbox, discovered

    init?(_ bytes: UnsafeRawBufferPointer) {
        if spells(bytes, "open_runs") { self = .openRuns }
        else if spells(bytes, "schedules") { self = .schedules }
        else if spells(bytes, "outbox") { self = .outbox }
        else if spells(bytes, "paused") { self = .paused }
        else if spells(bytes, "history") { self = .history }
        else if spells(bytes, "last_slots") { self = .lastSlots }
        else if spells(bytes, "counters") { self = .counters }
        else if spells(bytes, "discovered") { self = .discovered }
        else { return nil }
    }
}
