import Foundation
import JobJournal
import Logging
import ServiceLifecycle
import UnixSignals

/// The daemon inside a ServiceGroup: recovery and adoption, then reloads on SIGHUP until SIGTERM.
struct DaemonService: Service {
    let orchestrator: Orchestrator
    let configFile: String
    let logger: Logger
    /// Called once recovery and adoption are done (systemd's READY=1 hooks in here).
    var onReady: @Sendable () -> Void = {}
    /// Called around a reload (RELOADING=1 / READY=1).
    var onReloading: @Sendable () -> Void = {}
    var onStopping: @Sendable () -> Void = {}

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
        try await orchestrator.start()
        let running = await orchestrator.runningCount
        logger.notice("ready", metadata: ["EVENT": "ready", "running_builds": "\(running)"])
        onReady()
        var fatal: (any Error)?
        await withGracefulShutdownHandler {
            for await event in events {
                switch event {
                case .reload:
                    onReloading()
                    await reload()
                    onReady()
                case .fatal(let error):
                    fatal = error
                    continuation.finish()
                }
            }
        } onGracefulShutdown: {
            onStopping()
            continuation.finish()
        }
        await orchestrator.stop()
        await orchestrator.journal.close()
        if let fatal { throw fatal }
        logger.notice("stopped; running builds continue in Azure and are adopted at the next start")
    }

    private func reload() async {
        do {
            let config = try ConfigLoader(file: configFile).load()
            await orchestrator.reload(config)
            logger.notice("configuration reloaded: \(config.schedules.count) schedules", metadata: ["EVENT": "config-reloaded"])
        } catch {
            logger.error("configuration rejected, keeping the previous one: \(error)", metadata: ["EVENT": "config-rejected"])
        }
    }
}
