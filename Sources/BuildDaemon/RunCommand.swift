import ArgumentParser
import AzureClient
import EtcdStore
import FoundationEssentials
import JobJournal
import Logging
import Orchestration
import ServiceLifecycle
import UnixSignals

/// `imagebuildd run`: the daemon.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon (systemd Type=notify).",
        discussion: "SIGHUP reloads the config (a bad one is logged and the old one kept); SIGTERM stops scheduling and exits 0.")

    @Option(help: "The YAML config file.")
    var config = "/etc/imagebuildd/config.yaml"

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let loaded: DaemonConfig
        do { loaded = try ConfigLoader(file: config).load() } catch { Terminal.failure("\(error)") }
        let toJournal = stderrIsJournal(environment: environment)
        LoggingSystem.bootstrap { _ in toJournal ? JournaldLogHandler() as any LogHandler : StderrLogHandler() }
        let notifier = SystemdNotifier()
        let logger = Logger(label: "imagebuildd")
        let clock: any DaemonClock
        if let scaled = environment["IMAGEBUILDD_TIME_SCALE"] {
            guard let parsed = ScaledClock.parse(scaled) else { Terminal.failure("IMAGEBUILDD_TIME_SCALE=\(scaled): expected SCALE[@RFC3339[@UNIX]]") }
            clock = parsed
        } else {
            clock = SystemClock()
        }
        notifier.extendTimeout(.seconds(60), status: "recovering the journal")
        let journal: Journal
        do {
            journal = try Journal(directory: loaded.stateDirectory + "/journal")
        } catch {
            Terminal.fail(error, directory: loaded.stateDirectory + "/journal")
        }
        if journal.recovery.tornTailBytes > 0 {
            logger.warning("journal: truncated a torn tail of \(journal.recovery.tornTailBytes) bytes (a write cut short by a crash)")
        }
        let transport: AsyncHTTPTransport
        let client: ImageTemplatesClient
        do {
            transport = try AsyncHTTPTransport(caFile: loaded.azure.caFile)
            client = try AzureWiring.client(loaded.azure, transport: transport, logger: logger, clock: clock)
        } catch {
            Terminal.failure("\(config): \(error)")
        }
        let reporting: Reporting
        let leaderStore = LeaderStore()
        let record: (@Sendable (JournalEvent) async throws -> Void)? = if loaded.cluster == nil { nil } else {
            { [clock] event in try await leaderStore.append(event, at: clock.now()) }
        }
        // Webhooks get their own connections (and no azure.ca_file): they go to the team's chat, not to ARM.
        let webhookTransport: AsyncHTTPTransport
        do {
            webhookTransport = try AsyncHTTPTransport(trustHint: "the webhook's certificate must chain to a CA in the system bundle (ca-certificates)")
            reporting = try Reporting(config: loaded, journal: journal, client: client, transport: webhookTransport, clock: clock,
                                      logger: logger, environment: environment,
                                      record: record)
        } catch {
            try? await transport.shutdown()
            Terminal.failure("\(config): \(error)")
        }
        var transports: [AsyncHTTPTransport] = [transport, webhookTransport]
        let service: any Service
        if let cluster = loaded.cluster {
            let etcd: EtcdClient
            do {
                let etcdTransport = try ClusterWiring.transport(cluster)
                transports.append(etcdTransport)
                etcd = try ClusterWiring.client(cluster, transport: etcdTransport, environment: environment)
            } catch {
                for transport in transports { try? await transport.shutdown() }
                Terminal.failure("\(config): cluster.etcd: \(error)")
            }
            service = ClusterService(settings: cluster, initialConfig: loaded, configFile: config, journal: journal, etcd: etcd, client: client,
                                     clock: clock, logger: logger, notifier: notifier, reporting: reporting, node: ClusterNode(node: cluster.nodeName, clock: clock),
                                     leaderStore: leaderStore)
        } else {
            let orchestrator = Orchestrator(config: loaded, journal: journal, client: client, clock: clock, logger: logger)
            service = DaemonService(orchestrator: orchestrator, journal: journal, configFile: config, logger: logger, notifier: notifier, reporting: reporting)
        }
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        do {
            try await group.run()
        } catch {
            for transport in transports { try? await transport.shutdown() }
            Terminal.failure("\(error)")
        }
        for transport in transports { try? await transport.shutdown() }
    }
}
