import ControlProtocol
import FoundationEssentials
import Orchestration
import JobJournal
import Logging
import ServiceLifecycle
import UnixSignals

/// The daemon inside a ServiceGroup: recovery and adoption, then reloads on SIGHUP until SIGTERM.
struct DaemonService: Service {
    let orchestrator: Orchestrator
    let journal: Journal
    let configFile: String
    let logger: Logger
    let notifier: SystemdNotifier
    let reporting: Reporting

    private enum Event: Sendable {
        case reload
        case fatal(any Error)
    }

    func run() async throws {
        let (events, continuation) = AsyncStream<Event>.makeStream()
        await orchestrator.setFatalHandler { continuation.yield(.fatal($0)) }
        // Trap SIGHUP before READY: its default action would end the process.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let forwarder = Task { for await _ in hangups { continuation.yield(.reload) } }
        defer { forwarder.cancel() }
        let notifier = self.notifier
        await orchestrator.setStatusHandlers(status: { notifier.status($0) },
                                             progress: { notifier.extendTimeout(.seconds(30), status: $0) })
        await reporting.attach(to: orchestrator)
        try await orchestrator.start()
        reporting.resume(orchestrator.journal)
        if let interval = SystemdNotifier.watchdogInterval() {
            await orchestrator.setWatchdog(every: interval) { notifier.watchdog() }
        }
        // Recovery and config parsing leave freed heap behind; an idle daemon should not carry it.
        _ = glibcMallocTrim(0)
        let running = await orchestrator.runningCount
        logger.notice("ready", metadata: ["EVENT": "ready", "running_builds": "\(running)"])
        // From inside the service group, after the signal handlers: a READY before them races SIGTERM.
        notifier.ready(status: await orchestrator.statusLine())
        var fatal: (any Error)?
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    do { try await orchestrator.run() } catch { continuation.yield(.fatal(error)) }
                }
                reporting.run({ (orchestrator, true) }, in: &group)
                let control = await orchestrator.config.control
                let logger = self.logger
                group.addTask { await ControlSocket.serve(control, service: ControlAdapter(orchestrator: orchestrator), logger: logger) }
                for await event in events {
                    switch event {
                    case .reload:
                        notifier.reloading()
                        await reload()
                        notifier.ready(status: await orchestrator.statusLine())
                    case .fatal(let error):
                        fatal = error
                        continuation.finish()
                    }
                }
                // SIGTERM or a journal failure: stop scheduling and polling; builds go on in Azure.
                group.cancelAll()
            }
        } onGracefulShutdown: {
            notifier.stopping()
            continuation.finish()
        }
        await journal.close()
        if let fatal { throw fatal }
        logger.notice("stopped; running builds continue in Azure and are adopted at the next start")
    }

    private func reload() async {
        guard let config = ConfigReload.load(configFile, logger: logger) else { return }
        await orchestrator.reload(config)
        await reporting.reload(config)
        ConfigReload.done(config, logger: logger)
    }
}

/// SIGHUP's config, read the same way in both modes: a bad file is logged and the old config kept.
enum ConfigReload {
    static func load(_ file: String, logger: Logger) -> DaemonConfig? {
        do {
            return try ConfigLoader(file: file).load()
        } catch {
            logger.error("configuration rejected, keeping the previous one: \(error)", metadata: ["EVENT": "config-rejected"])
            return nil
        }
    }

    static func done(_ config: DaemonConfig, logger: Logger) {
        logger.notice("configuration reloaded: \(config.schedules.count) schedules", metadata: ["EVENT": "config-reloaded"])
    }
}

/// glibc's `malloc_trim` (from <malloc.h>, which the Glibc module does not export).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
