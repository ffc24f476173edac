import ArgumentParser
import FoundationEssentials
import Glibc
import Orchestration
import JobJournal

/// `imagebuildd journal …`: inspect and repair the job journal.
struct JournalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract: "Inspect, verify or repair the job journal.",
        subcommands: [Dump.self, Verify.self, Repair.self]
    )

    struct StateDirectory: ParsableArguments {
        @Option(name: .customLong("state-dir"),
                help: "The daemon's state directory (default: $STATE_DIRECTORY, else /var/lib/imagebuildd).")
        var stateDirectory: String?

        var journalDirectory: String {
            let base = stateDirectory ?? ProcessInfo.processInfo.environment["STATE_DIRECTORY"] ?? "/var/lib/imagebuildd"
            return base + "/journal"
        }
    }

    struct Dump: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print every record, oldest first.")
        @OptionGroup var state: StateDirectory
        @Flag(help: "One JSON payload per line, exactly as stored.") var json = false

        func run() async throws {
            do {
                let (report, _) = try JournalInspection.verify(directory: state.journalDirectory) { entry in
                    print(json ? entry.payload : RecordText.line(entry.record))
                }
                if let torn = report.tornTail {
                    Terminal.warn("torn tail of \(report.tornTailBytes) bytes at \(torn.segment) offset \(torn.offset): \(torn.damage)")
                }
            } catch {
                Terminal.fail(error, directory: state.journalDirectory)
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check every checksum and sequence number; exit 1 on damage.")
        @OptionGroup var state: StateDirectory

        func run() async throws {
            do {
                let (report, view) = try JournalInspection.verify(directory: state.journalDirectory)
                print("journal \(state.journalDirectory): \(report.segments.count) segment(s), \(report.records) record(s), last sequence \(report.lastSeq)")
                print("open runs: \(view.openRuns.count); schedules seen: \(view.lastSlot.count)")
                if let torn = report.tornTail {
                    print("torn tail: \(report.tornTailBytes) bytes at \(torn.segment) offset \(torn.offset) (\(torn.damage)); the next open truncates it")
                }
                if !report.supersededSegments.isEmpty {
                    print("superseded by a snapshot (an interrupted compaction; the next open removes them): \(report.supersededSegments.joined(separator: ", "))")
                }
                print("ok")
            } catch {
                Terminal.fail(error, directory: state.journalDirectory)
            }
        }
    }

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move each damaged segment aside and keep its intact records before the damage.")
        @OptionGroup var state: StateDirectory

        func run() async throws {
            do {
                let actions = try JournalRepair.repair(directory: state.journalDirectory)
                if actions.isEmpty { print("journal \(state.journalDirectory): no damage, nothing to repair") }
                for action in actions { print(action) }
            } catch {
                Terminal.fail(error, directory: state.journalDirectory)
            }
        }
    }
}

/// Human-readable lines for `journal dump`.
enum RecordText {
    static func line(_ record: JournalRecord) -> String {
        var parts = ["#\(record.seq)", RFC3339.string(record.at), record.event.typeName]
        if let key = record.event.slot { parts += [key.schedule, RFC3339.string(key.slot) + (key.manual ? " manual" : "")] }
        switch record.event {
        case .slotDue(_, let t): parts.append("\(t.subscriptionID)/\(t.resourceGroup)/\(t.template)")
        case .slotQueued: break
        case .slotSkipped(_, let reason): parts.append("reason=\(reason)")
        case .runRequested(_, let id): parts.append("client_request_id=\(id ?? "-")")
        case .runAccepted(_, let timeout): parts.append("build_timeout=\(timeout.map { "\($0)s" } ?? "-")")
        case .statusObserved(_, let s), .cancelObserved(_, let s):
            parts.append("\(s.runState)/\(s.runSubState ?? "-")")
            if let m = s.message { parts.append("message=\(m)") }
        case .cancelRequested(_, let reason, let request):
            parts.append("reason=\(reason.rawValue)")
            if let request { parts.append("by=\(request.requestedBy)" + (request.note.map { " note=\($0)" } ?? "")) }
        case .outputsRecorded(_, let outputs): parts += outputs.map { "\($0.name)=\($0.artifactID ?? $0.artifactURI ?? "-")" }
        case .finished(_, let outcome, let message): parts.append(outcome.rawValue + (message.map { " message=\($0)" } ?? ""))
        case .triggerRequested(_, let t): parts.append("by=\(t.requestedBy)" + (t.reason.map { " reason=\($0)" } ?? ""))
        case .paused(let schedule, let until, let reason, let by):
            parts += [schedule, "by=\(by)"] + (until.map { ["until=\(RFC3339.string($0))"] } ?? []) + (reason.map { ["reason=\($0)"] } ?? [])
        case .resumed(let schedule, let by): parts += [schedule, "by=\(by)"]
        case .scheduleSeen(let schedule), .stale(let schedule): parts.append(schedule)
        case .scheduleDiscovered(let found):
            parts += [found.name, "template=\(found.template)"] + found.tags.keys.sorted().map { "\($0)=\(found.tags[$0]!)" }
        case .scheduleRetired(let schedule, let reason): parts += [schedule, "reason=\(reason)"]
        case .notifyQueued(let n): parts += [n.schedule, "event=\(n.event)", "key=\(n.key)", "sinks=\(n.sinks.joined(separator: ","))"]
        case .notifyDone(let key, let sink, let delivered, let attempts):
            parts += ["key=\(key)", "sink=\(sink)", delivered ? "delivered" : "abandoned", "attempts=\(attempts)"]
        case .snapshot(let s):
            parts.append("open_runs=\(s.openRuns.count) history=\(s.history.values.map(\.count).reduce(0, +)) schedules=\(s.lastSlot.count)"
                         + " outbox=\(s.outbox.count) discovered=\(s.discovered.count)")
        }
        return parts.joined(separator: " ")
    }
}


/// Messages on stderr and exit codes for the command-line tools.
enum Terminal {
    static func warn(_ message: String) {
        StandardStreams.error("imagebuildd: warning: \(message)\n")
    }

    /// Bad input on the command line: the message and exit status 2.
    static func usage(_ message: String) -> Never {
        StandardStreams.error("imagebuildd: error: \(message)\n")
        exit(2)
    }

    /// A failure that is not the user's input: the message and exit status 1.
    static func failure(_ message: String) -> Never {
        StandardStreams.error("imagebuildd: error: \(message)\n")
        exit(1)
    }

    /// The daemon is not running: the message and exit status 3, as `systemctl status` for an inactive unit.
    static func notRunning(_ message: String) -> Never {
        StandardStreams.error("imagebuildd: \(message)\n")
        exit(3)
    }

    static func fail(_ error: any Error, directory: String) -> Never {
        var message = "imagebuildd: error: \(error)"
        if let journalError = error as? JournalError, journalError.isDamage {
            message += "\nThe journal refuses to guess. `imagebuildd journal repair` moves the damaged segment aside (state directory: \(URL(fileURLWithPath: directory).deletingLastPathComponent().path))."
        }
        StandardStreams.error((message + "\n"))
        exit(1)
    }
}
