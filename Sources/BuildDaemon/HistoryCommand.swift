import ArgumentParser
import AzureClient
import Config
import EtcdStore
import FoundationEssentials
import JobJournal
import Orchestration
import Transport

/// `imagebuildd history`: recent runs from the journal, or in cluster mode from etcd; read-only
/// (safe while the daemon runs).
struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List recent runs from the journal, newest first.",
        discussion: "In cluster mode (the config has cluster:) the runs are the cluster's, read from etcd; --local reads this node's own journal instead. Without --config and --state-dir, /etc/imagebuildd/config.yaml is used when it is readable.")

    static let defaultConfig = "/etc/imagebuildd/config.yaml"

    @Option(help: "The YAML config file (for its state directory, or its cluster).")
    var config: String?

    @Flag(help: "In cluster mode, this node's own journal rather than the cluster's state.")
    var local = false

    @Option(name: .customLong("state-dir"), help: "The state directory (default: from --config, else $STATE_DIRECTORY, else /var/lib/imagebuildd).")
    var stateDirectory: String?

    @Option(help: "Only this schedule.")
    var schedule: String?

    @Flag(help: "A JSON array of runs (the documented contract).")
    var json = false

    func run() async throws {
        var directory = stateDirectory
        var loaded: DaemonConfig?
        let file = config ?? (stateDirectory == nil && FileManager.default.isReadableFile(atPath: Self.defaultConfig) ? Self.defaultConfig : nil)
        if directory == nil, let file {
            do { loaded = try ConfigLoader(file: file).load() } catch { Terminal.failure("\(error)") }
            directory = loaded?.stateDirectory
        }
        let base = directory ?? ProcessInfo.processInfo.environment["STATE_DIRECTORY"] ?? "/var/lib/imagebuildd"
        let state: JournalState
        var source = "\(base)/journal"
        if let cluster = loaded?.cluster, !local {
            state = await Self.clusterState(cluster, file: file ?? "")
            source = "the cluster's state (etcd, \(cluster.prefix))"
        } else {
            do {
                state = try JournalInspection.verify(directory: base + "/journal", historyLimit: 1000).state
            } catch {
                Terminal.fail(error, directory: base + "/journal")
            }
        }
        var runs = Array(state.openRuns.values) + state.history.values.joined()
        if let schedule { runs = runs.filter { $0.key.schedule == schedule } }
        runs.sort { ($0.key.slotMillis, $0.key.schedule) > ($1.key.slotMillis, $1.key.schedule) }
        if json {
            print(HistoryJSON.array(runs))
        } else {
            if runs.isEmpty { print("no runs recorded in \(source)") }
            for line in HistoryText.lines(runs) { print(line) }
        }
    }
}

extension History {
    /// The cluster's run state as etcd holds it now.
    static func clusterState(_ settings: ClusterSettings, file: String) async -> JournalState {
        let transport: AsyncHTTPTransport
        let client: EtcdClient
        do {
            transport = try ClusterWiring.transport(settings)
            client = try ClusterWiring.client(settings, transport: transport, environment: ProcessInfo.processInfo.environment)
        } catch {
            Terminal.failure("\(file): cluster.etcd: \(error)")
        }
        do {
            let loaded = try await ClusterRunStore.load(client: client, keys: ClusterKeys(prefix: settings.prefix), historyLimit: 1000)
            try? await transport.shutdown()
            return loaded.state
        } catch {
            try? await transport.shutdown()
            Terminal.failure("reading the cluster's state: \(error)")
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
            let trigger = run.trigger.map { "  triggered by \($0.requestedBy)" + ($0.reason.map { ": \($0)" } ?? "") } ?? ""
            var cancel = ""
            if run.cancelRequestedAt != nil {
                cancel = "  cancel-requested" + (run.cancelReason.map { " (\($0.rawValue))" } ?? "")
                if let request = run.cancelRequest { cancel += " by \(request.requestedBy)" + (request.note.map { ": \($0)" } ?? "") }
            }
            return "\(RFC3339.string(run.key.slot))  \(run.key.schedule)  \(run.target?.template ?? "-")  \(outcome)  \(state)"
                + trigger + cancel + (outputs.isEmpty ? "" : "  \(outputs)") + (run.message.map { "  \($0)" } ?? "")
        }
    }
}
