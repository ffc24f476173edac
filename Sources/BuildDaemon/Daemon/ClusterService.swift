import AzureClient
import ControlProtocol
import EtcdStore
import FoundationEssentials
import JobJournal
import Logging
import Orchestration
import ServiceLifecycle
import Synchronization
import UnixSignals

/// This node's part in the cluster, as control, metrics and notifications see it.
actor ClusterNode {
    /// A consistent reading of the node.
    struct View: Sendable {
        var node: String
        var leader: String?
        /// Set while this node leads and has adopted the cluster's runs.
        var orchestrator: Orchestrator?
        var statusLine: String
        var startedAt: Date
        /// The daemon's clock now (scaled in tests and the demo, like the orchestrator's).
        var now: Date
    }

    nonisolated let node: String
    nonisolated let startedAt: Date
    private let clock: any DaemonClock
    private var leader: String?
    private var orchestrator: Orchestrator?
    private var standbyLine = "standby; campaigning"

    init(node: String, clock: any DaemonClock) {
        self.node = node
        self.clock = clock
        startedAt = clock.now()
    }

    func view() async -> View {
        let line = if let orchestrator { "leader; " + (await orchestrator.statusLine()) } else { standbyLine }
        return View(node: node, leader: orchestrator == nil ? leader : node, orchestrator: orchestrator, statusLine: line, startedAt: startedAt,
                    now: clock.now())
    }

    func lead(_ orchestrator: Orchestrator?) { self.orchestrator = orchestrator }

    func standby(leader: String?, line: String) {
        self.leader = leader
        standbyLine = line
    }
}

/// The store a leader's notifications record their deliveries in; nil on a standby.
final class LeaderStore: Sendable {
    private let current = Mutex<ClusterRunStore?>(nil)

    func set(_ store: ClusterRunStore?) { current.withLock { $0 = store } }

    func append(_ event: JournalEvent, at: Date) async throws {
        guard let store = current.withLock({ $0 }) else { throw ClusterStoreError.notLeader }
        _ = try await store.append(event, at: at)
    }
}

/// Cluster mode: the node campaigns for the leader key; while it surely leads, it reads the
/// cluster's run state from etcd, adopts every open run, and schedules with an orchestrator whose
/// every fact is fenced by its leadership. It steps down (stops the orchestrator; builds go on in
/// Azure) as soon as its fence closes or another node holds the key, and campaigns again.
struct ClusterService: Service {
    let settings: ClusterSettings
    let initialConfig: DaemonConfig
    let configFile: String
    let journal: Journal
    let etcd: EtcdClient
    let client: ImageTemplatesClient
    let clock: any DaemonClock
    let logger: Logger
    let notifier: SystemdNotifier
    let reporting: Reporting
    let node: ClusterNode
    let leaderStore: LeaderStore

    private enum Event: Sendable {
        case role(LeadershipRole)
        case tick
        case adopted(term: Int, openRuns: Int)
        case termEnded(term: Int, (any Error)?)
        case reload
    }

    /// One leadership term at most at a time; a new one starts only after the last has stopped.
    private enum State {
        case standby
        case leading(term: Int, end: AsyncStream<Void>.Continuation)
        case steppingDown(term: Int)
    }

    /// The end of a term this node chose (its fence closed, another node leads, or it stops).
    private struct TermEnded: Error {}

    func run() async throws {
        let keys = ClusterKeys(prefix: settings.prefix)
        let (events, continuation) = AsyncStream<Event>.makeStream()
        let election = LeaderElection(client: etcd, key: keys.leader, node: settings.nodeName, ttl: settings.leaseTTL) {
            continuation.yield(.role($0))
        }
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let forwarder = Task { for await _ in hangups { continuation.yield(.reload) } }
        defer { forwarder.cancel() }
        let watchdog = SystemdNotifier.watchdogInterval()
        let tick = watchdog.map { min(settings.leaseTTL / 8, $0) } ?? settings.leaseTTL / 8
        let notifier = self.notifier
        let logger = self.logger
        logger.notice("cluster mode: node \(settings.nodeName), etcd \(settings.endpoints.map { "\($0.host ?? "?"):\($0.port ?? 2379)" }.joined(separator: ", ")), lease_ttl \(settings.leaseTTL.configText)",
                      metadata: ["EVENT": "cluster-starting", "NODE": "\(settings.nodeName)"])
        notifier.ready(status: "standby; campaigning")
        var fatal: (any Error)?
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await election.run() }
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: tick) } catch { return }
                        continuation.yield(.tick)
                    }
                }
                let node = self.node
                reporting.run({ let view = await node.view(); return (view.orchestrator, view.orchestrator != nil) }, in: &group)
                let control = initialConfig.control
                group.addTask { await ControlSocket.serve(control, service: ControlAdapter(cluster: node), logger: logger) }
                var state = State.standby
                var config = initialConfig
                var terms = 0
                var leader: String?
                var retryAt = ContinuousClock.now
                // The term whose orchestrator has adopted and pings the watchdog itself; until then the loop does.
                var adoptedTerm: Int?

                func promote(fence: Int64) {
                    terms += 1
                    let term = terms
                    let (end, ending) = AsyncStream<Void>.makeStream()
                    state = .leading(term: term, end: ending)
                    logger.notice("leading the cluster (leader key \(keys.leader), revision \(fence)); adopting open runs",
                                  metadata: ["EVENT": "leadership-gained", "NODE": "\(settings.nodeName)", "LEADER_KEY": "\(keys.leader)", "FENCE": "\(fence)"])
                    notifier.status("leader; adopting open runs")
                    let termConfig = config
                    group.addTask { await lead(term: term, config: termConfig, keys: keys, election: election, end: end, events: continuation) }
                }

                func stepDown(_ reason: String) {
                    guard case .leading(let term, let ending) = state else { return }
                    logger.warning("no longer leading: \(reason); builds in flight go on in Azure and the next leader adopts them",
                                   metadata: ["EVENT": "leadership-lost", "NODE": "\(settings.nodeName)", "REASON": "\(reason)"])
                    state = .steppingDown(term: term)
                    ending.finish()
                }

                func standbyLine() -> String {
                    leader.map { "standby; leader: \($0)" } ?? "standby; no leader (campaigning)"
                }

                loop: for await event in events {
                    switch event {
                    case .role(.leader(let fence)):
                        if case .standby = state, ContinuousClock.now >= retryAt { promote(fence: fence) }
                    case .role(.standby(let holder)):
                        leader = holder
                        await node.standby(leader: holder, line: standbyLine())
                        stepDown(holder.map { "\($0) leads now" } ?? "the lease expired")
                        if case .standby = state { notifier.status(standbyLine()) }
                    case .tick:
                        if watchdog != nil, adoptedTerm == nil { notifier.watchdog() }
                        let fence = await election.fence()
                        switch state {
                        case .leading where fence == nil:
                            stepDown("the lease was not renewed within lease_ttl minus a quarter (etcd unreachable, or this process stalled)")
                        case .standby:
                            if let fence, ContinuousClock.now >= retryAt { promote(fence: fence) }
                        default:
                            break
                        }
                    case .adopted(let term, let open):
                        guard case .leading(term, _) = state else { break }
                        adoptedTerm = term
                        logger.notice("adopted \(open) open run\(open == 1 ? "" : "s"); scheduling", metadata: ["EVENT": "cluster-adopted", "NODE": "\(settings.nodeName)"])
                    case .termEnded(let term, let error):
                        guard terms == term else { break }
                        adoptedTerm = nil
                        if case .leading = state {
                            let reason = error.map { "\($0)" } ?? "stopped"
                            logger.warning("no longer leading: \(reason)",
                                           metadata: ["EVENT": "leadership-lost", "NODE": "\(settings.nodeName)", "REASON": "\(reason)"])
                        }
                        state = .standby
                        retryAt = ContinuousClock.now + settings.leaseTTL / 3
                        await node.standby(leader: nil, line: "standby; stepped down, campaigning again")
                        notifier.status("standby; stepped down, campaigning again")
                        if let error, !Self.endsTermOnly(error) {
                            logger.critical("local journal write failed; stopping: \(error)")
                            fatal = error
                            break loop
                        }
                    case .reload:
                        notifier.reloading()
                        if let fresh = ConfigReload.load(configFile, logger: logger) {
                            if fresh.cluster != settings {
                                logger.warning("cluster settings changed; they take effect at the next restart", metadata: ["EVENT": "config-reloaded"])
                            }
                            config = fresh
                            if let orchestrator = await node.view().orchestrator { await orchestrator.reload(fresh) }
                            await reporting.reload(fresh)
                            ConfigReload.done(fresh, logger: logger)
                        }
                        notifier.ready(status: await node.view().statusLine)
                    }
                }
                if fatal == nil { stepDown("stopping") }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            notifier.stopping()
            continuation.finish()
        }
        // Revoking the lease deletes the leader key: a standby takes over within one poll, not a ttl.
        await election.resign()
        await journal.close()
        // Exiting non-zero lets systemd restart the node (Restart=on-failure).
        if let fatal { throw fatal }
        logger.notice("stopped; running builds continue in Azure and are adopted by the next leader")
    }

    /// One leadership term: the cluster's state from etcd, adoption, then scheduling until `end`
    /// finishes or a fenced write fails.
    private func lead(term: Int, config: DaemonConfig, keys: ClusterKeys, election: LeaderElection, end: AsyncStream<Void>,
                      events: AsyncStream<Event>.Continuation) async {
        var failure: (any Error)?
        do {
            let store = try await ClusterRunStore.open(client: etcd, keys: keys, local: journal) { await election.fence() }
            let orchestrator = Orchestrator(config: config, journal: store, client: client, clock: clock, logger: logger) {
                await election.fence() != nil
            }
            let notifier = self.notifier
            await orchestrator.setStatusHandlers(status: { notifier.status("leader; " + $0) }, progress: { notifier.status("leader; " + $0) })
            await reporting.attach(to: orchestrator)
            if let interval = SystemdNotifier.watchdogInterval() {
                await orchestrator.setWatchdog(every: interval) { notifier.watchdog() }
            }
            try await withThrowingTaskGroup(of: Void.self) { inner in
                inner.addTask {
                    let open = store.state.openRuns.count
                    try await orchestrator.start()
                    leaderStore.set(store)
                    reporting.resume(store)
                    await node.lead(orchestrator)
                    events.yield(.adopted(term: term, openRuns: open))
                    notifier.status("leader; " + (await orchestrator.statusLine()))
                    try await orchestrator.run()
                }
                inner.addTask {
                    for await _ in end {}
                    throw TermEnded()
                }
                defer { inner.cancelAll() }
                try await inner.next()
            }
        } catch {
            failure = error is TermEnded ? nil : error
        }
        leaderStore.set(nil)
        await node.lead(nil)
        events.yield(.termEnded(term: term, failure))
    }

    /// Errors that end leadership but leave the node fit to campaign again; anything else is the
    /// local journal failing, and the daemon stops (systemd restarts it).
    static func endsTermOnly(_ error: any Error) -> Bool {
        error is any EndsLeadership || error is CancellationError
    }
}

/// The etcd client a `cluster:` section describes.
enum ClusterWiring {
    /// etcd's own HTTPS connections: its CA, and the client certificate when one is configured.
    static func transport(_ settings: ClusterSettings) throws(AzureError) -> AsyncHTTPTransport {
        try AsyncHTTPTransport(caFile: settings.caFile, trustHint: "set cluster.etcd.ca_file to the PEM file of etcd's CA",
                               clientCertificate: settings.certFile.flatMap { cert in settings.keyFile.map { (cert, $0) } })
    }

    /// Reads the password now, so a missing one stops the start with its source named (never its value).
    static func client(_ settings: ClusterSettings, transport: any HTTPTransport, environment: [String: String]) throws(AzureError) -> EtcdClient {
        var password: String?
        if let source = settings.password {
            do { password = try source.read(environment: environment) } catch { throw .configuration("password: \(error)") }
        }
        // Each call must end well inside the lease: a keepalive that hangs longer than ttl/3 is a missed one.
        let timeout = min(Duration.seconds(5), settings.leaseTTL / 3)
        return EtcdClient(endpoints: settings.endpoints, transport: transport, timeout: timeout, username: settings.username, password: password)
    }
}
