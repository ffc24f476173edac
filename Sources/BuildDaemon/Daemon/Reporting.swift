import AzureClient
import Config
import FoundationEssentials
import JobJournal
import Logging
import Notifications
import Observability
import Orchestration
import Transport

/// What the daemon tells the outside world besides the journal: Prometheus metrics (scrape endpoint
/// and textfile) and webhook notifications, each wired only when the config asks for it.
struct Reporting: Sendable {
    let metrics: DaemonMetrics?
    let dispatcher: WebhookDispatcher?
    let settings: MetricsSettings
    let client: ImageTemplatesClient
    let logger: Logger

    /// Reads every webhook secret now, so a missing one stops the start with its source named.
    /// - Parameter record: where a delivery's outcome becomes durable: the store of the term that schedules now.
    init(config: DaemonConfig, journal: Journal, client: ImageTemplatesClient, transport: any HTTPTransport, clock: any DaemonClock,
         logger: Logger, environment: [String: String] = ProcessInfo.processInfo.environment,
         record: @escaping @Sendable (JournalEvent) async throws -> Void) throws(SetupError) {
        settings = config.metrics
        self.client = client
        self.logger = logger
        metrics = config.metrics.isEnabled ? DaemonMetrics() : nil
        if let metrics { journal.setCommitObserver { metrics.observeCommit(records: $0, duration: $1) } }
        guard !config.notify.isEmpty else {
            dispatcher = nil
            return
        }
        let webhooks = try Self.webhooks(config.notify, environment: environment)
        dispatcher = WebhookDispatcher(webhooks: webhooks, transport: transport, now: { clock.now() },
                                       sleep: { try await clock.sleep(until: $0) },
                                       record: record, logger: logger)
    }

    static func webhooks(_ sinks: [NotifySink], environment: [String: String]) throws(SetupError) -> [Webhook] {
        var webhooks: [Webhook] = []
        for sink in sinks {
            var secret: [UInt8]?
            if let source = sink.secret {
                do { secret = Array(try source.read(environment: environment).utf8) } catch {
                    throw SetupError("notify webhook \(sink.redactedURL): secret: \(error)")
                }
            }
            webhooks.append(Webhook(id: sink.id, url: sink.url, redactedURL: sink.redactedURL, secret: secret, retryFor: sink.retryFor))
        }
        return webhooks
    }

    /// Handlers on the orchestrator; before `start()`, so adoption's outcomes are reported too.
    func attach(to orchestrator: Orchestrator) async {
        if let metrics {
            await orchestrator.setRunEndedHandler { schedule, _, seconds in metrics.observeRunEnded(schedule: schedule, seconds: seconds) }
        }
        if let dispatcher {
            await orchestrator.setNotifyHandler { dispatcher.enqueue($0) }
        }
    }

    /// Hands undelivered notifications from before the restart to the dispatcher.
    func resume(_ journal: any RunStore) {
        guard let dispatcher else { return }
        let owed = journal.state.outbox.values.sorted { ($0.queuedAt, $0.key) < ($1.queuedAt, $1.key) }
        if !owed.isEmpty { logger.notice("resuming \(owed.count) undelivered notification\(owed.count == 1 ? "" : "s")") }
        for pending in owed { dispatcher.enqueue(pending) }
    }

    /// Who the metrics describe: the orchestrator while this node schedules (nil on a standby).
    typealias Source = @Sendable () async -> (orchestrator: Orchestrator?, leader: Bool)

    /// The scrape: every series brought up to date, then the exposition.
    func render(_ source: Source, gzip: Bool = false) async -> (body: [UInt8], gzip: Bool) {
        guard let metrics else { return ([], false) }
        let (orchestrator, leader) = await source()
        let (schedules, running, waiting) = await orchestrator?.metricsSnapshot() ?? ([], 0, 0)
        var inputs = DaemonMetrics.Inputs()
        inputs.leader = leader
        inputs.discoveryErrors = await orchestrator?.discoveryErrors ?? [:]
        for (operation, codes) in client.answers {
            for (code, count) in codes { inputs.armRequests[.init(operation: operation, code: code)] = count }
        }
        inputs.tokenRefreshes = await client.tokens.fetchCount
        if let dispatcher {
            let stats = await dispatcher.statistics
            inputs.notificationsDelivered = stats.delivered
            inputs.notificationsAbandoned = stats.abandoned
            inputs.notificationsPending = stats.inFlight
        }
        metrics.refresh(schedules: schedules, running: running, waiting: waiting, inputs: inputs)
        defer {
            // A scrape of 10,000 schedules frees megabytes on a thread of its own, in an arena that
            // glibc would otherwise keep: give it back, or every scrape leaves the daemon bigger.
            _ = glibcMallocTrim(0)
        }
        if gzip, let compressed = metrics.renderGzip() { return (compressed, true) }
        return (metrics.render(), false)
    }

    /// The endpoint, the textfile writer and the dispatcher, each a task for the caller's group.
    func tasks(_ source: @escaping Source) -> [@Sendable () async -> Void] {
        let logger = self.logger
        let reporting = self
        var tasks: [@Sendable () async -> Void] = []
        if let listen = settings.listen {
            tasks.append {
                let endpoint = MetricsEndpoint(host: listen.host, port: listen.port) { await reporting.render(source, gzip: $0) }
                do {
                    try await endpoint.run { port in
                        logger.notice("metrics on http://\(listen.host.contains(":") ? "[\(listen.host)]" : listen.host):\(port)/metrics",
                                      metadata: ["EVENT": "metrics-listening"])
                    }
                } catch where !Task.isCancelled {
                    logger.error("metrics.listen \(listen.host):\(listen.port): \(error); /metrics is unavailable", metadata: ["EVENT": "metrics-failed"])
                } catch {}
            }
        }
        if let path = settings.textfile {
            let interval = settings.textfileInterval
            tasks.append {
                let exporter = TextfileExporter(path: path)
                var failing = false
                while !Task.isCancelled {
                    do {
                        try exporter.write(await reporting.render(source).body)
                        if failing { logger.notice("metrics textfile \(path) written again") }
                        failing = false
                    } catch {
                        if !failing { logger.error("metrics textfile: \(error)", metadata: ["EVENT": "metrics-failed"]) }
                        failing = true
                    }
                    do { try await Task.sleep(for: interval) } catch { return }
                }
            }
        }
        if let dispatcher {
            tasks.append {
                await withTaskCancellationHandler {
                    await dispatcher.run()
                } onCancel: {
                    dispatcher.finish()
                }
            }
        }
        return tasks
    }

    /// SIGHUP: new webhooks (and secrets) take effect for notifications sent from now on.
    func reload(_ config: DaemonConfig) async {
        if config.metrics != settings {
            logger.warning("metrics settings changed; they take effect at the next restart", metadata: ["EVENT": "config-reloaded"])
        }
        guard let dispatcher else {
            if !config.notify.isEmpty { logger.warning("notify was added; it takes effect at the next restart") }
            return
        }
        do {
            await dispatcher.update(try Self.webhooks(config.notify, environment: ProcessInfo.processInfo.environment))
        } catch {
            logger.error("notify: \(error); keeping the previous webhooks")
        }
    }
}
