import FoundationEssentials
import JobJournal
import Prometheus
import Synchronization

/// The daemon's Prometheus metrics (names are a contract: add, never rename). Facts that the journal
/// holds (last run, last success, runs per outcome) are read from it at each scrape, so they survive
/// restarts; counters the process keeps (ARM requests, journal appends) start again from zero, as
/// Prometheus counters may.
///
/// The per-schedule families are rendered from those facts (`ScheduleExposition`); swift-prometheus's
/// registry keeps what it does well, the process's own counters, gauges and histograms. The registry
/// directly, not the swift-metrics facade: the facade cannot carry HELP text, and `promtool check
/// metrics` rejects series without it.
public final class DaemonMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    /// What a scrape reads besides the orchestrator.
    public struct Inputs: Sendable {
        /// ARM answers per (operation, HTTP status or `transport`).
        public var armRequests: [ARMRequestKey: Int] = [:]
        public var tokenRefreshes = 0
        /// Per event: delivered and abandoned notifications; attempts by result.
        public var notificationsDelivered: [String: Int] = [:]
        public var notificationsAbandoned: [String: Int] = [:]
        public var notificationsPending = 0
        /// Whether this node schedules: always in single-node mode, while it leads in cluster mode.
        public var leader = true
        /// Tagged templates discovery leaves out, by reason (`list`: sources whose last listing failed).
        public var discoveryErrors: [String: Int] = [:]

        public init() {}
    }

    /// One ARM operation and how it was answered.
    public struct ARMRequestKey: Hashable, Sendable {
        public var operation: String
        public var code: String

        public init(operation: String, code: String) {
            self.operation = operation
            self.code = code
        }
    }

    private struct State {
        var schedules = ScheduleExposition()
        var durations: [String: DurationHistogram] = [:]
        /// What each counter fed from a running total has been told so far.
        var exported: [ObjectIdentifier: Double] = [:]
        var arm: [ARMRequestKey: Counter] = [:]
        var notifications: [String: Counter] = [:]
        var discoveryErrors: [String: Gauge] = [:]
        var lastSize = 0
    }

    private let state = Mutex(State())
    private let buildsRunning: Gauge
    private let leader: Gauge
    private let slotsWaiting: Gauge
    private let armThrottled: Counter
    private let tokenRefreshes: Counter
    private let journalAppends: Counter
    private let journalFsync: DurationHistogram
    private let notificationsPending: Gauge
    private let process: ProcessMetrics

    static let durationBuckets: [Duration] = [60, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 14400, 21600].map { .seconds($0) }
    static let fsyncBuckets: [Duration] = [500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000]
        .map { .microseconds($0) }

    public init() {
        leader = registry.makeGauge(name: "imagebuildd_leader",
                                    help: "1 while this node schedules (single-node: always; cluster mode: while it leads), else 0.")
        buildsRunning = registry.makeGauge(name: "imagebuildd_builds_running", help: "Runs holding a build in Azure, or about to.")
        slotsWaiting = registry.makeGauge(name: "imagebuildd_slots_waiting", help: "Slots waiting for max_concurrent_builds capacity.")
        armThrottled = registry.makeCounter(name: "imagebuildd_arm_throttled_total", help: "ARM requests answered 429 Too Many Requests.")
        tokenRefreshes = registry.makeCounter(name: "imagebuildd_token_refreshes_total", help: "Access tokens fetched from Microsoft Entra ID or a managed identity endpoint.")
        journalAppends = registry.makeCounter(name: "imagebuildd_journal_appends_total", help: "Records appended to the journal and synced to disk.")
        journalFsync = registry.makeDurationHistogram(name: "imagebuildd_journal_fsync_seconds", buckets: Self.fsyncBuckets,
                                                      help: "Time to write and fdatasync one group commit of the journal.")
        notificationsPending = registry.makeGauge(name: "imagebuildd_notifications_pending", help: "Webhook deliveries not yet taken or given up.")
        process = ProcessMetrics(registry: registry)
    }

    /// A group commit of the journal (its observer).
    public func observeCommit(records: Int, duration: Duration) {
        journalAppends.increment(by: Int64(records))
        journalFsync.record(duration)
    }

    /// A run finished after `seconds` in Azure (nil when it never started).
    public func observeRunEnded(schedule: String, seconds: Double?) {
        guard let seconds else { return }
        let histogram = state.withLock { state in
            if let existing = state.durations[schedule] { return existing }
            let made = registry.makeDurationHistogram(name: "imagebuildd_run_duration_seconds", labels: [("schedule", schedule)],
                                                      buckets: Self.durationBuckets,
                                                      help: "How long finished builds ran in Azure, from their start to their outcome.")
            state.durations[schedule] = made
            return made
        }
        histogram.record(.milliseconds(Int64(seconds * 1000)))
    }

    /// Brings every series up to date from the orchestrator's facts and the process's counters.
    public func refresh(schedules: [ScheduleRow], running: Int, waiting: Int, inputs: Inputs) {
        buildsRunning.set(Double(running))
        leader.set(to: inputs.leader ? 1.0 : 0.0)
        slotsWaiting.set(Double(waiting))
        notificationsPending.set(Double(inputs.notificationsPending))
        process.refresh()
        state.withLock { state in
            state.schedules.update(schedules)
            for (key, count) in inputs.armRequests {
                let counter = state.arm[key] ?? registry.makeCounter(
                    name: "imagebuildd_arm_requests_total", labels: [("operation", key.operation), ("code", key.code)],
                    help: "ARM requests by operation and answer (HTTP status, or transport when none came).")
                state.arm[key] = counter
                advance(counter, to: count, &state)
            }
            advance(armThrottled, to: inputs.armRequests.filter { $0.key.code == "429" }.values.reduce(0, +), &state)
            advance(tokenRefreshes, to: inputs.tokenRefreshes, &state)
            // A reason once seen stays as a series at 0: an alert on it resolves instead of going stale.
            for reason in Set(inputs.discoveryErrors.keys).union(state.discoveryErrors.keys) {
                let gauge = state.discoveryErrors[reason] ?? registry.makeGauge(
                    name: "imagebuildd_discovery_errors", labels: [("reason", reason)],
                    help: "Tagged templates the last discovery pass left out, by reason (list: sources whose listing failed).")
                state.discoveryErrors[reason] = gauge
                gauge.set(Double(inputs.discoveryErrors[reason] ?? 0))
            }
            for (result, counts) in [("delivered", inputs.notificationsDelivered), ("abandoned", inputs.notificationsAbandoned)] {
                for (event, count) in counts {
                    let id = result + "/" + event
                    let counter = state.notifications[id] ?? registry.makeCounter(
                        name: "imagebuildd_notifications_total", labels: [("event", event), ("result", result)],
                        help: "Webhook notifications by event, delivered or given up after retry_for.")
                    state.notifications[id] = counter
                    advance(counter, to: count, &state)
                }
            }
        }
    }

    /// The exposition, refreshed by the caller first. Into a buffer of our own: the registry's
    /// `emitToBuffer` keeps a copy of the largest exposition for the life of the process.
    public func render() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(state.withLock { $0.lastSize } + 4096)
        state.withLock { state in
            state.schedules.write(into: &bytes)
        }
        registry.emit(into: &bytes)
        state.withLock { $0.lastSize = bytes.count }
        return bytes
    }

    /// The exposition as one gzip member: the per-schedule section as deflated at its last change,
    /// then the registry's series deflated now. Nil if zlib failed (then serve `render()`).
    public func renderGzip() -> [UInt8]? {
        var tail: [UInt8] = []
        registry.emit(into: &tail)
        guard let section = state.withLock({ $0.schedules.deflated() }) else { return nil }
        return Gzip.member(section, then: tail)
    }

    /// Schedules rendered (again) since the process started: what changed, not what was scraped.
    public var scheduleRenders: Int { state.withLock { $0.schedules.renders } }

    private func advance(_ counter: Counter, to total: Int, _ state: inout State) {
        let id = ObjectIdentifier(counter)
        let delta = Double(total) - (state.exported[id] ?? 0)
        guard delta > 0 else { return }
        counter.increment(by: Int64(delta))
        state.exported[id] = Double(total)
    }
}
