import ArgumentParser
import AzureClient
import Config
import ControlProtocol
import FoundationEssentials
import Glibc
import JobJournal
import Orchestration
import Scheduler

/// Where the control socket is: `--socket`, else the config's `control.socket`, else the default.
struct SocketOptions: ParsableArguments {
    @Option(help: "The daemon's control socket (default: from --config, else $RUNTIME_DIRECTORY/control.sock, else /run/imagebuildd/control.sock).")
    var socket: String?

    @Option(help: "The YAML config file (for control.socket and, when the daemon is down, the state directory).")
    var config: String?

    var loadedConfig: DaemonConfig? {
        guard let config else { return nil }
        do { return try ConfigLoader(file: config).load() } catch { Terminal.usage("\(error)") }
    }

    var path: String {
        if let socket { return socket }
        if let loaded = loadedConfig { return loaded.control.socket }
        let runtime = ProcessInfo.processInfo.environment["RUNTIME_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) }
        return (runtime ?? "/run/imagebuildd") + "/control.sock"
    }

    /// Calls the daemon; a Varlink error or a missing daemon ends the process with its message.
    func call<P: Encodable, R: Decodable>(_ method: String, _ parameters: P, as type: R.Type) -> R {
        do {
            return try ControlClient(path: path).call("\(ControlInterface.name).\(method)", parameters, as: type)
        } catch let error as ControlError {
            Terminal.failure("\(error)")
        } catch let failure as ControlClient.Failure {
            if case .notRunning = failure { Terminal.notRunning("\(failure)") }
            Terminal.failure("\(failure)")
        } catch {
            Terminal.failure("\(error)")
        }
    }
}

/// `imagebuildd status`.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the daemon is doing: each schedule's state, last run, last success and next slot.",
        discussion: "Exit status 3 when the daemon is not running; what the journal says is printed instead, as `systemctl status` does for an inactive unit.")

    @OptionGroup var socket: SocketOptions

    @Flag(help: "The documented JSON contract (add-only).")
    var json = false

    func run() throws {
        let reply: StatusReply
        do {
            reply = try ControlClient(path: socket.path).call("\(ControlInterface.name).Status", EmptyParameters(), as: StatusReply.self)
        } catch let failure as ControlClient.Failure {
            guard case .notRunning = failure else { Terminal.failure("\(failure)") }
            printFromJournal(because: "\(failure)")
        } catch {
            Terminal.failure("\(error)")
        }
        if json {
            printJSON(reply)
        } else {
            print(StatusText.render(reply, now: RFC3339.parse(reply.daemon.now) ?? Date()))
        }
    }

    /// The daemon is down: its schedules and last runs as the journal has them, and exit 3.
    private func printFromJournal(because reason: String) -> Never {
        let file = socket.loadedConfig
        let base = file?.stateDirectory ?? ProcessInfo.processInfo.environment["STATE_DIRECTORY"] ?? "/var/lib/imagebuildd"
        let state = try? JournalInspection.verify(directory: base + "/journal", historyLimit: 1000).state
        let now = Date()
        let config = file.map { TagDiscovery.merge($0, discovered: Array((state?.discovered ?? [:]).values)).config }
        let names = config.map { $0.schedules.map(\.name) } ?? Array(Set((state?.lastSlot.keys).map(Array.init) ?? [])).sorted()
        let schedules: [ScheduleView] = names.map { name in
            let settings = config?.schedules.first { $0.name == name }
            let history = state?.history[name] ?? []
            let last = history.max { ($0.finishedAt ?? .distantPast) < ($1.finishedAt ?? .distantPast) }
            let facts = state?.schedules[name]
            let success = facts?.lastSuccess ?? history.filter { $0.outcome?.isSuccess == true }.compactMap(\.finishedAt).max()
            let open = state?.openRuns.values.filter { $0.key.schedule == name }.count ?? 0
            let pause = state?.paused[name]
            return ScheduleView(schedule: name, template: settings?.target.name ?? last?.target?.template ?? "-",
                                subscriptionId: settings?.target.subscriptionID ?? "", resourceGroup: settings?.target.resourceGroup ?? "",
                                cron: settings?.cron.expression ?? "", timezone: settings?.timezone ?? "",
                                state: pause != nil ? "paused" : open > 0 ? "open in journal" : "idle", build: nil, queued: 0,
                                pause: pause.map(StatusView.pause), last: last.map(StatusView.last), lastSuccess: success.map(RFC3339.string),
                                next: settings?.cron.next(after: now).map(RFC3339.string), staleSince: facts?.staleSince.map(RFC3339.string),
                                source: settings?.source.description)
        }
        if json {
            let reply = StatusReply(daemon: DaemonView(ready: false, pid: 0, startedAt: "", uptimeSeconds: 0, role: "stopped", statusLine: reason,
                                                       now: RFC3339.string(now)),
                                    schedules: schedules)
            printJSON(reply)
        } else {
            print("\(reason)\nfrom the journal in \(base)/journal:")
            print(StatusText.table(schedules, now: now))
        }
        Glibc.exit(3)
    }
}

/// `imagebuildd trigger`.
struct Trigger: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a schedule's template now (a manual slot, journaled with who asked and why).",
        discussion: """
            It obeys the schedule's overlap policy unless --overlap says otherwise. Retries of one invocation are idempotent. \
            A paused schedule still runs a manual trigger (a pause holds cron slots only); the answer says so.

            Exit status: 0 when a build starts, or will start (queued, replacing, waiting for capacity); \
            \(Self.nothingStarted) when nothing will build (the overlap policy skipped it), with the reason; \
            3 when the daemon is not running.
            """)

    /// The exit status when the trigger was answered but no build will come of it.
    static let nothingStarted: Int32 = 4

    @OptionGroup var socket: SocketOptions

    @Argument(help: "The schedule (its name in the config).")
    var schedule: String

    @Option(help: "Why, for the journal and history.")
    var reason: String?

    @Option(help: "skip, queue or replace, instead of the schedule's policy.")
    var overlap: String?

    func run() throws {
        // One id per invocation: if the answer is lost and the call is repeated, the daemon returns the same slot.
        let parameters = TriggerParameters(schedule: schedule, reason: reason, overlap: overlap, requestId: UUID().uuidString)
        var reply: TriggerReply?
        for attempt in 1...3 where reply == nil {
            do {
                reply = try ControlClient(path: socket.path).call("\(ControlInterface.name).Trigger", parameters, as: TriggerReply.self)
            } catch let failure as ControlClient.Failure {
                if case .notRunning = failure { Terminal.notRunning("\(failure)") }
                if attempt == 3 { Terminal.failure("\(failure)") }
            } catch {
                Terminal.failure("\(error)")
            }
        }
        guard let reply else { Terminal.failure("no answer from the daemon") }
        if reply.outcome == "skipped" {
            StandardStreams.error("imagebuildd: \(reply.schedule): manual slot \(reply.slot) \(reply.decision)\n")
            Glibc.exit(Self.nothingStarted)
        }
        print("triggered \(reply.schedule): manual slot \(reply.slot), \(reply.decision)")
    }
}

/// `imagebuildd pause`.
struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Hold a schedule: its slots are skipped (reason \"paused\") until resumed. Survives restarts.")

    @OptionGroup var socket: SocketOptions

    @Argument(help: "The schedule.")
    var schedule: String

    @Option(help: "Why, for status and the journal.")
    var reason: String?

    @Option(help: "Resume by itself at this time (RFC 3339, e.g. 2027-01-05T06:00:00Z).")
    var until: String?

    func run() throws {
        if let until, RFC3339.parse(until) == nil { Terminal.usage("--until \(until): expected an RFC 3339 time such as 2027-01-05T06:00:00Z") }
        let reply = socket.call("Pause", PauseParameters(schedule: schedule, reason: reason, until: until), as: PauseReply.self)
        print("paused \(reply.schedule)" + (reply.pause.until.map { " until \($0)" } ?? "") + (reply.pause.reason.map { ": \($0)" } ?? ""))
    }
}

/// `imagebuildd resume`.
struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Resume a paused schedule; its next slot runs at its time (no burst).")

    @OptionGroup var socket: SocketOptions

    @Argument(help: "The schedule.")
    var schedule: String

    func run() throws {
        let reply = socket.call("Resume", ResumeParameters(schedule: schedule), as: ResumeReply.self)
        print(reply.wasPaused ? "resumed \(reply.schedule)" : "\(reply.schedule) was not paused")
    }
}

/// `imagebuildd cancel`.
struct Cancel: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cancel a schedule's running build (journaled cancel-requested, reason operator; outcome canceled).")

    @OptionGroup var socket: SocketOptions

    @Argument(help: "The schedule.")
    var schedule: String

    @Option(help: "Why, for the log.")
    var reason: String?

    func run() throws {
        let reply = socket.call("Cancel", CancelParameters(schedule: schedule, reason: reason), as: CancelReply.self)
        print("cancelling \(reply.schedule)'s build of the slot \(reply.slot)")
    }
}

/// `imagebuildd discover`.
struct Discover: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the templates of every discover: source now and schedule what their tags say (through the daemon).",
        discussion: "Exit status 1 when a source could not be listed (nothing was retired then), 3 when the daemon is not running.")

    @OptionGroup var socket: SocketOptions

    @Flag(help: "The reply as JSON.")
    var json = false

    func run() throws {
        let reply = socket.call("Discover", EmptyParameters(), as: DiscoverReply.self)
        if json {
            printJSON(reply)
        } else {
            print(StatusText.discovery(reply))
        }
        if !reply.complete { Glibc.exit(1) }
    }
}

struct EmptyParameters: Codable {}

/// A reply as the JSON contract prints it (snake_case, sorted keys).
func printJSON<T: Encodable>(_ reply: T) {
    print(String(decoding: (try? ControlInterface.encoder.encode(reply)) ?? Data(), as: UTF8.self))
}

/// `imagebuildd status` as text, in the spirit of `systemctl list-timers`.
enum StatusText {
    static func render(_ reply: StatusReply, now: Date) -> String {
        let d = reply.daemon
        let role = d.node.map { "\(d.role) \($0)" } ?? d.role
        let head = "imagebuildd: running (pid \(d.pid), \(role)), up \(duration(Double(d.uptimeSeconds))); \(d.statusLine)"
        var text = head + "\n" + table(reply.schedules, now: now)
        if let discovery = reply.discovery {
            text += "\ndiscovery: " + (discovery.lastPass.map { "last pass \(short($0))" + (discovery.complete ? "" : ", incomplete") } ?? "no pass yet")
            text += discovery.failures.map { "\n  failed: \($0)" }.joined()
            text += discovery.ignored.map { "\n  ignored: \($0.template): \($0.message)" }.joined()
        }
        return text
    }

    /// What `imagebuildd discover` prints.
    static func discovery(_ reply: DiscoverReply) -> String {
        var lines = ["discovery: \(reply.found.count) schedule\(reply.found.count == 1 ? "" : "s") from tags"
                     + (reply.complete ? "" : " (incomplete: nothing retired)")]
        lines += reply.added.map { "  added: \($0)" } + reply.changed.map { "  changed: \($0)" } + reply.retired.map { "  retired: \($0)" }
        lines += reply.ignored.map { "  ignored: \($0.template): \($0.message)" } + reply.failures.map { "  failed: \($0)" }
        return lines.joined(separator: "\n")
    }

    static func table(_ schedules: [ScheduleView], now: Date) -> String {
        var rows = [["SCHEDULE", "TEMPLATE", "STATE", "LAST", "LAST SUCCESS", "NEXT"]]
        for s in schedules {
            // A discovered schedule says so: its cron lives in the template's tags, not the config.
            let template = s.source?.hasPrefix("tag:") == true ? s.template + " (tag)" : s.template
            rows.append([s.schedule, template, state(s, now: now),
                         s.last.map { "\($0.outcome) \(short($0.endedAt ?? $0.slot))" } ?? "-",
                         s.lastSuccess.map { "\(short($0)) (\(ago($0, now)))" } ?? "never",
                         s.next.map { "\(short($0)) (\(left($0, now)))" } ?? "-"])
        }
        return Columns.render(rows)
    }

    static func state(_ s: ScheduleView, now: Date) -> String {
        let stale = s.staleSince.map { "STALE since \(short($0)), " } ?? ""
        return stale + activity(s, now: now)
    }

    static func activity(_ s: ScheduleView, now: Date) -> String {
        if let p = s.pause {
            return "paused since \(short(p.since))" + (p.until.map { " until \(short($0))" } ?? "") + (p.reason.map { ": \($0)" } ?? "")
        }
        if let b = s.build {
            let runState = b.runState.map { $0 + (b.runSubstate.map { "/\($0)" } ?? "") } ?? b.phase
            let elapsed = b.elapsedSeconds.map { duration(Double($0)) }
            let timeout = b.timeoutSeconds.map { duration(Double($0)) }
            return (b.manual ? "manual " : "") + runState + (elapsed.map { " \($0)" } ?? "") + (timeout.map { " of \($0)" } ?? "")
                + (s.queued > 0 ? ", \(s.queued) queued" : "")
        }
        return s.queued > 0 ? "queued (\(s.queued))" : s.state
    }

    /// `2027-01-05 02:00` (UTC).
    static func short(_ rfc3339: String) -> String {
        String(rfc3339.prefix(16)).replacing("T", with: " ")
    }

    static func ago(_ rfc3339: String, _ now: Date) -> String {
        guard let date = RFC3339.parse(rfc3339) else { return "?" }
        return duration(now.timeIntervalSince(date)) + " ago"
    }

    static func left(_ rfc3339: String, _ now: Date) -> String {
        guard let date = RFC3339.parse(rfc3339) else { return "?" }
        return "in " + duration(date.timeIntervalSince(now))
    }

    static func duration(_ seconds: Double) -> String {
        let s = max(0, Int(seconds))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86_400 { return "\(s / 3600)h \(s % 3600 / 60)m" }
        return "\(s / 86_400)d \(s % 86_400 / 3600)h"
    }
}
