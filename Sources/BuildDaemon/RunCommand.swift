import ArgumentParser
import AzureClient
import Config
import EtcdStore
import FoundationEssentials
import JobJournal
import Logging
import Orchestration
import ServiceLifecycle
import Transport
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
        let node = DaemonNode(name: loaded.cluster?.nodeName, clock: clock)
        let reporting: Reporting
        // Webhooks get their own connections (and no azure.ca_file): they go to the team's chat, not to ARM.
        let webhookTransport: AsyncHTTPTransport
        do {
            webhookTransport = try AsyncHTTPTransport(trustHint: "the webhook's certificate must chain to a CA in the system bundle (ca-certificates)")
            reporting = try Reporting(config: loaded, journal: journal, client: client, transport: webhookTransport, clock: clock,
                                      logger: logger, environment: environment) { [clock] event in try await node.append(event, at: clock.now()) }
        } catch {
            try? await transport.shutdown()
            Terminal.failure("\(config): \(error)")
        }
        var transports: [AsyncHTTPTransport] = [transport, webhookTransport]
        var backend = TermBackend.local
        if let cluster = loaded.cluster {
            do {
                let etcdTransport = try ClusterWiring.transport(cluster)
                transports.append(etcdTransport)
                let etcd = try ClusterWiring.client(cluster, transport: etcdTransport, environment: environment)
                let election = LeaderElection(client: etcd, key: ClusterKeys(prefix: cluster.prefix).leader, node: cluster.nodeName, ttl: cluster.leaseTTL)
                backend = .cluster(cluster, etcd: etcd, election: election)
            } catch {
                for transport in transports { try? await transport.shutdown() }
                Terminal.failure("\(config): cluster.etcd: \(error)")
            }
        }
        let service = DaemonService(host: DaemonHost(backend: backend, configFile: config, config: loaded, journal: journal, client: client, clock: clock,
                                                     logger: logger, notifier: notifier, reporting: reporting, node: node))
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
