import FoundationEssentials

/// The `io.imagebuildd.Control` Varlink interface: its description (what `GetInterfaceDescription`
/// returns) and the Swift shapes of its parameters, replies and errors. Keys are snake_case on the wire.
public enum ControlInterface {
    public static let name = "io.imagebuildd.Control"

    public static let description = """
        # Operator control of imagebuildd: what it does, run a schedule now, pause, resume, cancel.
        interface io.imagebuildd.Control

        type Daemon (ready: bool, pid: int, started_at: string, uptime_seconds: int, role: string, status_line: string, now: string,
                     node: ?string, leader: ?string)
        type Build (slot: string, manual: bool, phase: string, run_state: ?string, run_substate: ?string,
                    started_at: ?string, elapsed_seconds: ?int, timeout_seconds: ?int)
        type Pause (since: string, until: ?string, reason: ?string, by: string)
        type Last (outcome: string, slot: string, ended_at: ?string, message: ?string)
        type Schedule (schedule: string, template: string, subscription_id: string, resource_group: string,
                       cron: string, timezone: string, state: string, build: ?Build, queued: int, pause: ?Pause,
                       last: ?Last, last_success: ?string, next: ?string, stale_since: ?string, source: ?string)
        # A tagged template discovery leaves out.
        type Ignored (template: string, tag: string, reason: string, message: string)
        type Discovery (last_pass: ?string, complete: bool, failures: []string, ignored: []Ignored)

        # Read-only: open to anyone who can open the socket.
        method Status() -> (daemon: Daemon, schedules: []Schedule, discovery: ?Discovery)

        # Mutating: root and members of the operators group only.
        method Trigger(schedule: string, reason: ?string, overlap: ?string, request_id: ?string)
            -> (schedule: string, slot: string, manual: bool, decision: string, outcome: string)
        method Pause(schedule: string, reason: ?string, until: ?string) -> (schedule: string, pause: Pause)
        method Resume(schedule: string) -> (schedule: string, was_paused: bool)
        method Cancel(schedule: string, reason: ?string) -> (schedule: string, slot: string)
        # A discovery pass now: lists every discover source and journals what changed.
        method Discover() -> (complete: bool, found: []string, added: []string, changed: []string, retired: []string,
                              ignored: []Ignored, failures: []string)

        error UnknownSchedule (schedule: string, known: []string)
        error PermissionDenied (method: string, uid: int)
        error NothingToCancel (schedule: string)
        error InvalidParameter (parameter: string, message: string)
        # Cluster mode: mutating methods go to the leader's socket.
        error NotLeader (node: string, leader: ?string)
        # Single-node: the daemon stopped scheduling (SIGTERM, or its journal failed) before it could act.
        error Stopping (message: string)
        # Discover() on a daemon whose config has no `discover:`.
        error DiscoveryOff (message: string)
        """

    /// `org.varlink.service`: every Varlink service answers these.
    public static let serviceDescription = """
        interface org.varlink.service
        method GetInfo() -> (vendor: string, product: string, version: string, url: string, interfaces: []string)
        method GetInterfaceDescription(interface: string) -> (description: string)
        error InterfaceNotFound (interface: string)
        error MethodNotFound (method: string)
        error MethodNotImplemented (method: string)
        error InvalidParameter (parameter: string)
        """

    /// Methods that change anything.
    public static let mutating: Set<String> = ["Trigger", "Pause", "Resume", "Cancel", "Discover"]

    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()
}

/// `Status()`.
public struct StatusReply: Codable, Sendable, Equatable {
    public var daemon: DaemonView
    public var schedules: [ScheduleView]
    /// Present when the config discovers schedules from template tags.
    public var discovery: DiscoveryView?

    public init(daemon: DaemonView, schedules: [ScheduleView], discovery: DiscoveryView? = nil) {
        self.daemon = daemon
        self.schedules = schedules
        self.discovery = discovery
    }
}

/// A tagged template that discovery leaves out, and why.
public struct IgnoredView: Codable, Sendable, Equatable {
    public var template: String
    public var tag: String
    public var reason: String
    public var message: String

    public init(template: String, tag: String, reason: String, message: String) {
        self.template = template
        self.tag = tag
        self.reason = reason
        self.message = message
    }
}

/// Discovery as `status` shows it: the last pass, and what it left out.
public struct DiscoveryView: Codable, Sendable, Equatable {
    public var lastPass: String?
    public var complete: Bool
    public var failures: [String]
    public var ignored: [IgnoredView]

    public init(lastPass: String?, complete: Bool, failures: [String], ignored: [IgnoredView]) {
        self.lastPass = lastPass
        self.complete = complete
        self.failures = failures
        self.ignored = ignored
    }
}

/// `Discover()`: what the pass found and changed.
public struct DiscoverReply: Codable, Sendable, Equatable {
    public var complete: Bool
    public var found: [String]
    public var added: [String]
    public var changed: [String]
    public var retired: [String]
    public var ignored: [IgnoredView]
    public var failures: [String]

    public init(complete: Bool, found: [String], added: [String], changed: [String], retired: [String], ignored: [IgnoredView], failures: [String]) {
        self.complete = complete
        self.found = found
        self.added = added
        self.changed = changed
        self.retired = retired
        self.ignored = ignored
        self.failures = failures
    }
}

/// The daemon itself.
public struct DaemonView: Codable, Sendable, Equatable {
    public var ready: Bool
    public var pid: Int32
    public var startedAt: String
    public var uptimeSeconds: Int
    /// `single`; `leader` or `standby` in cluster mode.
    public var role: String
    public var statusLine: String
    /// The daemon's clock (which a test or the demo may run faster): relative times count from it.
    public var now: String
    /// Cluster mode: this node's name, and the leader's as this node last read it.
    public var node: String?
    public var leader: String?

    public init(ready: Bool, pid: Int32, startedAt: String, uptimeSeconds: Int, role: String, statusLine: String, now: String,
                node: String? = nil, leader: String? = nil) {
        self.node = node
        self.leader = leader
        self.now = now
        self.ready = ready
        self.pid = pid
        self.startedAt = startedAt
        self.uptimeSeconds = uptimeSeconds
        self.role = role
        self.statusLine = statusLine
    }
}

/// One schedule as `status` shows it.
public struct ScheduleView: Codable, Sendable, Equatable {
    public var schedule: String
    public var template: String
    public var subscriptionId: String
    public var resourceGroup: String
    public var cron: String
    public var timezone: String
    /// `idle`, `running`, `queued` (waiting for its template or for capacity), or `paused`.
    public var state: String
    public var build: BuildView?
    /// Slots of this schedule held behind a build or waiting for capacity.
    public var queued: Int
    public var pause: PauseView?
    public var last: LastView?
    public var lastSuccess: String?
    public var next: String?
    /// When no success within `stale_after` was announced; absent while the image is fresh.
    public var staleSince: String?
    /// `config`, or `tag:<template id>` for a schedule discovered in a template's tags.
    public var source: String?

    public init(schedule: String, template: String, subscriptionId: String, resourceGroup: String, cron: String, timezone: String,
                state: String, build: BuildView?, queued: Int, pause: PauseView?, last: LastView?, lastSuccess: String?, next: String?,
                staleSince: String? = nil, source: String? = nil) {
        self.source = source
        self.schedule = schedule
        self.template = template
        self.subscriptionId = subscriptionId
        self.resourceGroup = resourceGroup
        self.cron = cron
        self.timezone = timezone
        self.state = state
        self.build = build
        self.queued = queued
        self.pause = pause
        self.last = last
        self.lastSuccess = lastSuccess
        self.next = next
        self.staleSince = staleSince
    }
}

/// The build a schedule has in flight.
public struct BuildView: Codable, Sendable, Equatable {
    public var slot: String
    public var manual: Bool
    public var phase: String
    public var runState: String?
    public var runSubstate: String?
    public var startedAt: String?
    public var elapsedSeconds: Int?
    public var timeoutSeconds: Int?

    public init(slot: String, manual: Bool, phase: String, runState: String?, runSubstate: String?, startedAt: String?,
                elapsedSeconds: Int?, timeoutSeconds: Int?) {
        self.slot = slot
        self.manual = manual
        self.phase = phase
        self.runState = runState
        self.runSubstate = runSubstate
        self.startedAt = startedAt
        self.elapsedSeconds = elapsedSeconds
        self.timeoutSeconds = timeoutSeconds
    }
}

/// A pause: since when, until when, why and by whom.
public struct PauseView: Codable, Sendable, Equatable {
    public var since: String
    public var until: String?
    public var reason: String?
    public var by: String

    public init(since: String, until: String?, reason: String?, by: String) {
        self.since = since
        self.until = until
        self.reason = reason
        self.by = by
    }
}

/// The latest run that ended (or slot that was skipped).
public struct LastView: Codable, Sendable, Equatable {
    public var outcome: String
    public var slot: String
    public var endedAt: String?
    public var message: String?

    public init(outcome: String, slot: String, endedAt: String?, message: String?) {
        self.outcome = outcome
        self.slot = slot
        self.endedAt = endedAt
        self.message = message
    }
}

/// `Trigger(...)`.
public struct TriggerParameters: Codable, Sendable, Equatable {
    public var schedule: String
    public var reason: String?
    /// `skip`, `queue` or `replace`; the schedule's own policy when absent.
    public var overlap: String?
    /// Chosen by the command line once per invocation, so its retries are idempotent.
    public var requestId: String?

    public init(schedule: String, reason: String? = nil, overlap: String? = nil, requestId: String? = nil) {
        self.schedule = schedule
        self.reason = reason
        self.overlap = overlap
        self.requestId = requestId
    }
}

/// `Trigger` answers with the manual slot's identity.
public struct TriggerReply: Codable, Sendable, Equatable {
    public var schedule: String
    public var slot: String
    public var manual: Bool
    /// What happens, in a sentence for people.
    public var decision: String
    /// The same for scripts: `started`, `queued`, `replacing`, `waiting`, `skipped` (nothing will
    /// build) or `duplicate` (a retry of a request already answered).
    public var outcome: String

    public init(schedule: String, slot: String, manual: Bool = true, decision: String, outcome: String) {
        self.schedule = schedule
        self.slot = slot
        self.manual = manual
        self.decision = decision
        self.outcome = outcome
    }
}

/// `Pause(...)`.
public struct PauseParameters: Codable, Sendable, Equatable {
    public var schedule: String
    public var reason: String?
    /// RFC 3339; the pause ends by itself then.
    public var until: String?

    public init(schedule: String, reason: String? = nil, until: String? = nil) {
        self.schedule = schedule
        self.reason = reason
        self.until = until
    }
}

/// `Pause` answers with the pause as recorded.
public struct PauseReply: Codable, Sendable, Equatable {
    public var schedule: String
    public var pause: PauseView

    public init(schedule: String, pause: PauseView) {
        self.schedule = schedule
        self.pause = pause
    }
}

/// `Resume(...)`.
public struct ResumeParameters: Codable, Sendable, Equatable {
    public var schedule: String

    public init(schedule: String) {
        self.schedule = schedule
    }
}

/// `Resume` answers whether there was a pause to end.
public struct ResumeReply: Codable, Sendable, Equatable {
    public var schedule: String
    public var wasPaused: Bool

    public init(schedule: String, wasPaused: Bool) {
        self.schedule = schedule
        self.wasPaused = wasPaused
    }
}

/// `Cancel(...)`.
public struct CancelParameters: Codable, Sendable, Equatable {
    public var schedule: String
    public var reason: String?

    public init(schedule: String, reason: String? = nil) {
        self.schedule = schedule
        self.reason = reason
    }
}

/// `Cancel` answers with the slot whose build is being cancelled.
public struct CancelReply: Codable, Sendable, Equatable {
    public var schedule: String
    public var slot: String

    public init(schedule: String, slot: String) {
        self.schedule = schedule
        self.slot = slot
    }
}

/// A Varlink error: its qualified name and parameters.
public struct ControlError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    public var error: String
    public var parameters: Parameters

    /// The union of every error's parameters (each error uses some).
    public struct Parameters: Codable, Sendable, Equatable {
        public var schedule: String?
        public var known: [String]?
        public var method: String?
        public var uid: Int?
        public var parameter: String?
        public var message: String?
        public var interface: String?
        public var node: String?
        public var leader: String?

        public init(schedule: String? = nil, known: [String]? = nil, method: String? = nil, uid: Int? = nil,
                    parameter: String? = nil, message: String? = nil, interface: String? = nil, node: String? = nil, leader: String? = nil) {
            self.node = node
            self.leader = leader
            self.schedule = schedule
            self.known = known
            self.method = method
            self.uid = uid
            self.parameter = parameter
            self.message = message
            self.interface = interface
        }
    }

    public init(_ error: String, _ parameters: Parameters = Parameters()) {
        self.error = error
        self.parameters = parameters
    }

    public static func unknownSchedule(_ schedule: String, known: [String]) -> ControlError {
        ControlError("\(ControlInterface.name).UnknownSchedule", Parameters(schedule: schedule, known: known))
    }

    public static func notLeader(node: String, leader: String?) -> ControlError {
        ControlError("\(ControlInterface.name).NotLeader", Parameters(node: node, leader: leader))
    }

    public static func invalidParameter(_ parameter: String, _ message: String) -> ControlError {
        ControlError("\(ControlInterface.name).InvalidParameter", Parameters(parameter: parameter, message: message))
    }

    /// What the command line prints.
    public var description: String {
        let p = parameters
        switch error {
        case "\(ControlInterface.name).UnknownSchedule":
            return "unknown schedule \"\(p.schedule ?? "")\"; known: \((p.known ?? []).joined(separator: ", "))"
        case "\(ControlInterface.name).PermissionDenied":
            return "permission denied: \(p.method ?? "this method") needs root or membership in the operators group (uid \(p.uid ?? -1))"
        case "\(ControlInterface.name).NotLeader":
            return "\(p.node ?? "this node") is a standby; " + (p.leader.map { "ask the leader, \($0)" } ?? "no node leads right now (etcd unreachable or an election under way)")
        case "\(ControlInterface.name).Stopping":
            return "the daemon is stopping: \(p.message ?? "")"
        case "\(ControlInterface.name).DiscoveryOff":
            return p.message ?? "discovery is off"
        case "\(ControlInterface.name).NothingToCancel":
            return "schedule \"\(p.schedule ?? "")\" has no running build to cancel"
        case "\(ControlInterface.name).InvalidParameter", "org.varlink.service.InvalidParameter":
            return "invalid \(p.parameter ?? "parameter")" + (p.message.map { ": \($0)" } ?? "")
        case "org.varlink.service.MethodNotFound":
            return "the daemon does not know the method \(p.method ?? "")"
        default:
            return error + (p.message.map { ": \($0)" } ?? "")
        }
    }
}

/// Who is on the other end of a connection, from `SO_PEERCRED`.
public struct Peer: Sendable, Equatable, CustomStringConvertible {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    public var user: String?
    /// Root, or a member of the configured operators group.
    public var mayChange: Bool

    public init(uid: UInt32, gid: UInt32, pid: Int32, user: String?, mayChange: Bool) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.user = user
        self.mayChange = mayChange
    }

    /// `uid 1000 (alice)`: how the journal records who asked.
    public var description: String { "uid \(uid)" + (user.map { " (\($0))" } ?? "") }
}

/// What serves the interface: the daemon implements it.
public protocol ControlService: Sendable {
    func status() async -> StatusReply
    func trigger(_ parameters: TriggerParameters, by peer: Peer) async throws(ControlError) -> TriggerReply
    func pause(_ parameters: PauseParameters, by peer: Peer) async throws(ControlError) -> PauseReply
    func resume(_ parameters: ResumeParameters, by peer: Peer) async throws(ControlError) -> ResumeReply
    func cancel(_ parameters: CancelParameters, by peer: Peer) async throws(ControlError) -> CancelReply
    func discover(by peer: Peer) async throws(ControlError) -> DiscoverReply
}
