import Transport
import FoundationEssentials
import JobJournal
import Logging

/// Delivers journaled notifications to webhooks, at least once: each (notification, webhook) pair
/// retries with full-jitter backoff, honouring `Retry-After`, until it is taken or its webhook's
/// `retry_for` has passed since the intent was journaled; either end is journaled as `notify-done`.
/// Runs beside the scheduler and never holds it up: the orchestrator only hands work over.
public actor WebhookDispatcher {
    /// What the metrics show of deliveries.
    public struct Statistics: Sendable {
        /// Per event: notifications a webhook took, and ones given up on.
        public var delivered: [String: Int] = [:]
        public var abandoned: [String: Int] = [:]
        /// POSTs sent, by whether the receiver took them.
        public var attemptsOK = 0
        public var attemptsFailed = 0
        /// (notification, webhook) pairs not yet taken or given up.
        public var inFlight = 0
    }

    private var webhooks: [String: Webhook]
    private let transport: any HTTPTransport
    private let now: @Sendable () -> Date
    private let sleep: @Sendable (Date) async throws -> Void
    private let record: @Sendable (JournalEvent) async throws -> Void
    private let logger: Logger
    private let work: AsyncStream<PendingNotification>
    private let intake: AsyncStream<PendingNotification>.Continuation
    private let jitter: @Sendable (Double) -> Double
    public private(set) var statistics = Statistics()
    /// The bound on one POST, connect to last byte.
    static let attemptTimeout: Duration = .seconds(10)
    static let backoffBase = 1.0
    static let backoffCap = 300.0

    /// - Parameters:
    ///   - record: journals `notify-done` (the journal's append).
    ///   - sleep: waits until an instant on the daemon's clock.
    ///   - jitter: a delay drawn from 0...ceiling (full jitter); tests pass a seeded one.
    public init(webhooks: [Webhook], transport: any HTTPTransport, now: @escaping @Sendable () -> Date,
                sleep: @escaping @Sendable (Date) async throws -> Void, record: @escaping @Sendable (JournalEvent) async throws -> Void,
                logger: Logger, jitter: @escaping @Sendable (_ ceiling: Double) -> Double = { Double.random(in: 0...$0) }) {
        self.webhooks = Dictionary(webhooks.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.transport = transport
        self.now = now
        self.sleep = sleep
        self.record = record
        self.logger = logger
        self.jitter = jitter
        (work, intake) = AsyncStream<PendingNotification>.makeStream()
    }

    /// Hands a notification over; returns at once.
    public nonisolated func enqueue(_ notification: PendingNotification) {
        intake.yield(notification)
    }

    /// Swaps the webhooks (SIGHUP); deliveries in progress finish against the ones they started with.
    public func update(_ webhooks: [Webhook]) {
        self.webhooks = Dictionary(webhooks.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Sends until cancelled. Cancelling leaves undelivered notifications in the journal's outbox,
    /// where the next start finds them.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for await notification in work {
                for sink in notification.sinks {
                    statistics.inFlight += 1
                    group.addTask { await self.deliver(notification, to: sink) }
                }
            }
        }
    }

    /// Stops taking work; `run()` returns once the deliveries under way end or are cancelled.
    public nonisolated func finish() {
        intake.finish()
    }

    private func deliver(_ notification: PendingNotification, to sinkID: String) async {
        defer { statistics.inFlight -= 1 }
        var meta: Logger.Metadata = ["SCHEDULE": "\(notification.schedule)", "NOTIFY_EVENT": "\(notification.event)",
                                     "IDEMPOTENCY_KEY": "\(notification.key)"]
        guard let webhook = webhooks[sinkID] else {
            logger.warning("notification \(notification.event) for \(notification.schedule) dropped: its webhook is no longer configured",
                           metadata: meta.merging(["EVENT": "notify-abandoned"]) { $1 })
            await done(notification, sinkID, delivered: false, attempts: 0)
            return
        }
        meta["WEBHOOK"] = "\(webhook.redactedURL)"
        let body = Array(notification.body.utf8)
        let giveUpAt = notification.queuedAt.addingTimeInterval(Double(webhook.retryFor.components.seconds))
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            var headers = [("Content-Type", "application/json"), ("User-Agent", "imagebuildd"), ("Idempotency-Key", notification.key),
                           ("X-Imagebuildd-Event", notification.event), ("X-Imagebuildd-Delivery-Attempt", "\(attempt)")]
            if let secret = webhook.secret { headers.append(("X-Imagebuildd-Signature", Webhook.signature(body: body, secret: secret))) }
            let request = HTTPRequestData(method: "POST", url: webhook.url, headers: headers, body: body)
            let problem: String
            var hint: Double?
            var permanent = false
            do {
                let response = try await transport.send(request, timeout: Self.attemptTimeout)
                if (200..<300).contains(response.status) {
                    statistics.attemptsOK += 1
                    statistics.delivered[notification.event, default: 0] += 1
                    logger.info("notification \(notification.event) for \(notification.schedule) delivered", metadata: meta.merging(
                        ["EVENT": "notify-delivered", "ATTEMPTS": "\(attempt)"]) { $1 })
                    await done(notification, sinkID, delivered: true, attempts: attempt)
                    return
                }
                problem = "HTTP \(response.status)"
                hint = response.retryAfter(now: now()).map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
                // A receiver that refuses the request itself will refuse it again.
                permanent = (400..<500).contains(response.status) && ![408, 425, 429].contains(response.status)
            } catch {
                if Task.isCancelled { return }
                problem = Self.redact("\(error)", webhook.url)
            }
            statistics.attemptsFailed += 1
            let ceiling = min(Self.backoffCap, Self.backoffBase * Double(1 << min(attempt - 1, 20)))
            let delay = max(hint ?? jitter(ceiling), 0.5)
            let retryAt = now().addingTimeInterval(delay)
            if permanent || retryAt > giveUpAt {
                statistics.abandoned[notification.event, default: 0] += 1
                let why = permanent ? "the receiver refused it (\(problem))" : "still failing after \(attempt) attempts within retry_for \(Self.spell(webhook.retryFor)) (last: \(problem))"
                logger.error("notification \(notification.event) for \(notification.schedule) given up: \(why)",
                             metadata: meta.merging(["EVENT": "notify-abandoned", "ATTEMPTS": "\(attempt)"]) { $1 })
                await done(notification, sinkID, delivered: false, attempts: attempt)
                return
            }
            logger.warning("notification \(notification.event) for \(notification.schedule) not delivered (\(problem)); retrying in \(Int(delay.rounded(FloatingPointRoundingRule.up)))s",
                           metadata: meta.merging(["EVENT": "notify-retry", "ATTEMPTS": "\(attempt)"]) { $1 })
            do { try await sleep(retryAt) } catch { return }
        }
    }

    private func done(_ notification: PendingNotification, _ sink: String, delivered: Bool, attempts: Int) async {
        do {
            try await record(.notifyDone(key: notification.key, sink: sink, delivered: delivered, attempts: attempts))
        } catch {
            // Not fatal here: the next start finds it owed and sends it again under the same key.
            logger.error("cannot journal the end of notification \(notification.key): \(error)")
        }
    }

    /// A transport error as logs may show it: the URL's query and path tail never appear.
    static func redact(_ text: String, _ url: URL) -> String {
        var text = text.replacing(url.absoluteString, with: "<webhook>")
        if let query = url.query, !query.isEmpty { text = text.replacing(query, with: "…") }
        if url.path.count > 1 { text = text.replacing(url.path, with: "/…") }
        return text
    }

    static func spell(_ d: Duration) -> String {
        let s = d.components.seconds
        return s % 3600 == 0 ? "\(s / 3600)h" : s % 60 == 0 ? "\(s / 60)m" : "\(s)s"
    }
}
