import AzureClient
import Config
import ControlProtocol
import EtcdStore
import FoundationEssentials
import JobJournal
import Leadership
import Logging
import Orchestration
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The daemon inside a ServiceGroup, in both modes: the term loop (one term for a single-node
/// daemon; a term per leadership in cluster mode) until SIGTERM, reloads on SIGHUP.
struct DaemonService: Service {
    let host: DaemonHost

    func run() async throws {
        // Trap SIGHUP before READY: its default action would end the process.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let loop = TermLoop(mode: host.mode, host: host, tick: host.tick)
        let forwarder = Task { for await _ in hangups { loop.post(.reload) } }
        defer { forwarder.cancel() }
        let notifier = host.notifier
        let failure = await withGracefulShutdownHandler {
            await loop.run()
        } onGracefulShutdown: {
            notifier.stopping()
            loop.post(.stop)
        }
        await host.journal.close()
        // Exiting non-zero lets systemd restart the daemon (Restart=on-failure).
        if let failure { throw DaemonFailed(description: failure) }
        host.logger.notice(host.mode == .solo ? "stopped; running builds continue in Azure and are adopted at the next start"
            : "stopped; running builds continue in Azure and are adopted by the next leader")
    }

    /// The reason the daemon stopped without being asked.
    struct DaemonFailed: Error, CustomStringConvertible {
        var description: String
    }
}

/// Where a term keeps its facts: the local journal, or the cluster's etcd behind its leader key.
enum TermBackend: Sendable {
    case local
    case cluster(ClusterSettings, etcd: EtcdClient, election: LeaderElection)
}

/// What the term loop does in the real daemon: systemd notifications, the election, and terms that
/// run an orchestrator over the journal or the cluster's store.
final class DaemonHost: TermHost {
    let backend: TermBackend
    let configFile: String
    let config: Mutex<DaemonConfig>
    let journal: Journal
    let client: ImageTemplatesClient
    let clock: any DaemonClock
    let logger: Logger
    let notifier: SystemdNotifier
    let reporting: Reporting
    let node: DaemonNode
    /// Set once READY=1 was sent: before it, adoption's progress extends the start timeout.
    private let readySent = Atomic<Bool>(false)
    private let time = LeaseClock.continuous
    private let watchdog = SystemdNotifier.watchdogInterval()

    init(backend: TermBackend, configFile: String, config: DaemonConfig, journal: Journal, client: ImageTemplatesClient, clock: any DaemonClock,
         logger: Logger, notifier: SystemdNotifier, reporting: Reporting, node: DaemonNode) {
        self.backend = backend
        self.configFile = configFile
        self.config = Mutex(config)
        self.journal = journal
        self.client = client
        self.clock = clock
        self.logger = logger
        self.notifier = notifier
        self.reporting = reporting
        self.node = node
    }

    var mode: TermMode {
        switch backend {
        case .local: .solo
        // Not at once: a node whose etcd flaps would start and stop terms in a tight loop.
        case .cluster(let settings, _, _): .cluster(retryDelay: settings.leaseTTL / 3)
        }
    }

    /// How often the loop reads the fence: an eighth of the lease, and at least as often as the watchdog wants a ping.
    var tick: Duration {
        let fence: Duration = switch backend {
        case .local: .seconds(60)
        case .cluster(let settings, _, _): settings.leaseTTL / 8
        }
        return watchdog.map { min(fence, $0) } ?? fence
    }

    private var cluster: Bool { mode != .solo }

    func now() -> Duration { time.now() }

    func sleep(for duration: Duration) async throws { try await time.sleep(duration) }

    func fence() async -> Int64? {
        switch backend {
        case .local: 0
        case .cluster(_, _, let election): await election.fence()
        }
    }

    func background() -> [@Sendable () async -> Void] {
        let node = self.node
        let control = config.withLock { $0.control }
        let logger = self.logger
        var tasks: [@Sendable () async -> Void] = [{ await ControlSocket.serve(control, service: ControlAdapter(node: node), logger: logger) }]
        tasks.append(contentsOf: reporting.tasks { let view = await node.view(); return (view.orchestrator, view.orchestrator != nil || view.node == nil) })
        return tasks
    }

    func campaign(post: @escaping @Sendable (TermEvent) -> Void) async {
        guard case .cluster(_, _, let election) = backend else { return }
        await election.run { role in
            switch role {
            case .leader(let revision): post(.elected(fence: revision))
            case .standby(let leader): post(.deposed(leader: leader))
            }
        }
    }

    func runTerm(_ term: Int, fence: Int64, adopted: @escaping @Sendable (Int) -> Void, end: AsyncStream<Void>) async -> TermEnd {
        let result = await TermEnd.of({
            let store: any RunStore
            var armWritesAllowed: @Sendable () async -> Bool = { true }
            switch backend {
            case .local:
                store = journal
            case .cluster(let settings, let etcd, let election):
                store = try await ClusterRunStore.open(client: etcd, keys: ClusterKeys(prefix: settings.prefix), local: journal) { await election.fence() }
                armWritesAllowed = { await election.fence() != nil }
            }
            let orchestrator = Orchestrator(config: config.withLock { $0 }, journal: store, client: client, clock: clock, logger: logger,
                                            lister: client, armWritesAllowed: armWritesAllowed)
            let (notifier, prefix) = (self.notifier, cluster ? "leader; " : "")
            await orchestrator.setStatusHandlers(status: { notifier.status(prefix + $0) }, progress: { [self] in
                if readySent.load(ordering: .relaxed) { notifier.status(prefix + $0) } else { notifier.extendTimeout(.seconds(30), status: $0) }
            })
            await reporting.attach(to: orchestrator)
            if let watchdog { await orchestrator.setWatchdog(every: watchdog) { notifier.watchdog() } }
            let (node, reporting) = (self.node, self.reporting)
            try await orchestrator.serve(until: end) { open in
                // Recovery and config parsing leave freed heap behind; an idle daemon should not carry it.
                _ = glibcMallocTrim(0)
                await node.lead(orchestrator, store: store)
                reporting.resume(store)
                adopted(open)
            }
        }, endsLeadershipOnly: { $0 is any EndsLeadership })
        await node.endTerm()
        return result
    }

    func perform(_ effect: TermEffect) async {
        switch effect {
        case .resign:
            if case .cluster(_, _, let election) = backend { await election.resign() }
        case .ready(let status):
            notifier.ready(status: await node.render(status))
            readySent.store(true, ordering: .relaxed)
        case .status(let status):
            notifier.status(await node.render(status))
        case .watchdog:
            if watchdog != nil { notifier.watchdog() }
        case .reloadConfig:
            await reload()
        case .log(let log):
            self.log(log)
        case .startTerm, .endTerm, .campaign, .exit:
            // The loop's own.
            break
        }
    }

    private func log(_ log: TermLog) {
        let name: String = if case .cluster(let settings, _, _) = backend { settings.nodeName } else { "" }
        switch log {
        case .starting:
            guard case .cluster(let settings, _, _) = backend else { return }
            logger.notice("cluster mode: node \(name), etcd \(settings.endpoints.map { "\($0.host ?? "?"):\($0.port ?? 2379)" }.joined(separator: ", ")), lease_ttl \(settings.leaseTTL.configText)",
                          metadata: ["EVENT": "cluster-starting", "NODE": "\(name)"])
        case .gained(let fence):
            guard case .cluster(let settings, _, _) = backend else { return }
            let key = ClusterKeys(prefix: settings.prefix).leader
            logger.notice("leading the cluster (leader key \(key), revision \(fence)); adopting open runs",
                          metadata: ["EVENT": "leadership-gained", "NODE": "\(name)", "LEADER_KEY": "\(key)", "FENCE": "\(fence)"])
        case .lost(let reason):
            logger.warning("no longer leading: \(reason); builds in flight go on in Azure and the next leader adopts them",
                           metadata: ["EVENT": "leadership-lost", "NODE": "\(name)", "REASON": "\(reason)"])
        case .adopted(let open):
            if cluster {
                logger.notice("adopted \(open) open run\(open == 1 ? "" : "s"); scheduling", metadata: ["EVENT": "cluster-adopted", "NODE": "\(name)"])
            } else {
                logger.notice("ready", metadata: ["EVENT": "ready", "running_builds": "\(open)"])
            }
        case .fatal(let reason):
            logger.critical("stopping: \(reason)")
        }
    }

    /// SIGHUP: a bad file is logged and the old config kept; a good one reaches the term that runs.
    private func reload() async {
        notifier.reloading()
        do {
            let fresh = try ConfigLoader(file: configFile).load()
            if case .cluster(let settings, _, _) = backend, fresh.cluster != settings {
                logger.warning("cluster settings changed; they take effect at the next restart", metadata: ["EVENT": "config-reloaded"])
            }
            config.withLock { $0 = fresh }
            if let orchestrator = await node.view().orchestrator { await orchestrator.reload(fresh) }
            await reporting.reload(fresh)
            logger.notice("configuration reloaded: \(fresh.schedules.count) schedules", metadata: ["EVENT": "config-reloaded"])
        } catch {
            logger.error("configuration rejected, keeping the previous one: \(error)", metadata: ["EVENT": "config-rejected"])
        }
        notifier.ready(status: await node.view().statusLine)
    }
}

/// glibc's `malloc_trim` (from <malloc.h>, which the Glibc module does not export).
@_silgen_name("malloc_trim")
func glibcMallocTrim(_ pad: Int) -> Int32
