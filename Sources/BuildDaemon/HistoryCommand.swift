import ArgumentParser
import FoundationEssentials
import Orchestration
import JobJournal

/// `imagebuildd history`: recent runs from the journal, read-only (safe while the daemon runs).
struct History: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List recent runs from the journal, newest first.")

    @Option(help: "The YAML config file (for its state directory).")
    var config: String?

    @Option(name: .customLong("state-dir"), help: "The state directory (default: from --config, else $STATE_DIRECTORY, else /var/lib/imagebuildd).")
    var stateDirectory: String?

    @Option(help: "Only this schedule.")
    var schedule: String?

    @Flag(help: "A JSON array of runs (the documented contract).")
    var json = false

    func run() throws {
        var directory = stateDirectory
        if directory == nil, let config {
            do { directory = try ConfigLoader(file: config).load().stateDirectory } catch { Terminal.failure("\(error)") }
        }
        let base = directory ?? ProcessInfo.processInfo.environment["STATE_DIRECTORY"] ?? "/var/lib/imagebuildd"
        let state: JournalState
        do {
            state = try JournalInspection.verify(directory: base + "/journal", historyLimit: 1000).state
        } catch {
            Terminal.fail(error, directory: base + "/journal")
        }
        var runs = Array(state.openRuns.values) + state.history.values.joined()
        if let schedule { runs = runs.filter { $0.key.schedule == schedule } }
        runs.sort { ($0.key.slotMillis, $0.key.schedule) > ($1.key.slotMillis, $1.key.schedule) }
        if json {
            print(HistoryJSON.array(runs))
        } else {
            if runs.isEmpty { print("no runs recorded in \(base)/journal") }
            for line in HistoryText.lines(runs) { print(line) }
        }
    }
}

/// One human-readable line per run, newest first.
enum HistoryText {
    static func lines(_ runs: [RunRecord]) -> [String] {
        runs.map { run in
            let outcome = (run.key.manual ? "manual " : "") + (run.outcome?.rawValue ?? "running")
            let state = run.lastStatus.map { "\($0.runState)\($0.runSubState.map { "/\($0)" } ?? "")" } ?? "-"
            let outputs = run.outputs.map { $0.artifactID ?? $0.artifactURI ?? $0.name }.joined(separator: ",")
            return "\(RFC3339.string(run.key.slot))  \(run.key.schedule)  \(run.target?.template ?? "-")  \(outcome)  \(state)"
                + (run.cancelRequestedAt != nil ? "  cancel-requested" : "") + (outputs.isEmpty ? "" : "  \(outputs)")
                + (run.message.map { "  \($0)" } ?? "")
        }
    }
}
