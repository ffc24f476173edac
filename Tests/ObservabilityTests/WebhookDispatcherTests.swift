import Transport
import Foundation
import JobJournal
import Logging
import Notifications
import Synchronization
import Testing

/// The dispatcher on virtual time against a scripted receiver: what arrives, when, and what the
/// journal is told.
@Suite struct WebhookDispatcherTests {
    static let t0 = Date(timeIntervalSince1970: 1_798_761_600)
    static let url = URL(string: "https://chat.example.com/hooks/T01/B02/secret-path?token=s3cr3t")!

    /// A receiver that answers from a script (then 200), and the instant of every attempt.
    final class Receiver: HTTPTransport {
        struct Attempt { var at: Date; var headers: [String: String]; var body: [UInt8] }
        private let state: Mutex<(script: [Result<HTTPResponseData, TransportFailure>], attempts: [Attempt])>
        let clock: VirtualClock

        init(clock: VirtualClock, script: [Result<HTTPResponseData, TransportFailure>]) {
            self.clock = clock
            state = Mutex((script, []))
        }

        var attempts: [Attempt] { state.withLock { $0.attempts } }

        func send(_ request: HTTPRequestData, timeout: Duration) async throws(TransportFailure) -> HTTPResponseData {
            let now = clock.now()
            let next = state.withLock { state in
                state.attempts.append(Attempt(at: now, headers: Dictionary(request.headers, uniquingKeysWith: { a, _ in a }), body: request.body ?? []))
                return state.script.isEmpty ? .success(HTTPResponseData(status: 200, headers: [], body: [])) : state.script.removeFirst()
            }
            return try next.get()
        }
    }

    /// Time that moves only when something sleeps: deterministic waits.
    final class VirtualClock: Sendable {
        private let time = Mutex(WebhookDispatcherTests.t0)
        func now() -> Date { time.withLock { $0 } }
        func sleep(until instant: Date) async throws {
            try Task.checkCancellation()
            time.withLock { $0 = max($0, instant) }
        }
    }

    final class Records: Sendable {
        private let events = Mutex<[JournalEvent]>([])
        func append(_ event: JournalEvent) { events.withLock { $0.append(event) } }
        var all: [JournalEvent] { events.withLock { $0 } }
    }

    final class Lines: Sendable {
        private let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    struct Handler: LogHandler {
        let lines: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? { get { nil } set {} }
        func log(event: LogEvent) {
            let meta = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            lines.append("\(event.message) \(meta)")
        }
    }

    static func status(_ code: Int, _ headers: [(String, String)] = []) -> Result<HTTPResponseData, TransportFailure> {
        .success(HTTPResponseData(status: code, headers: headers, body: []))
    }

    /// Delivers one notification through a dispatcher and returns once its `notify-done` is journaled.
    static func deliver(_ script: [Result<HTTPResponseData, TransportFailure>], retryFor: Duration = .seconds(3600),
                        secret: String? = "webhook-secret", sink: String? = nil)
        async -> (Receiver, [JournalEvent], [String], VirtualClock) {
        let clock = VirtualClock()
        let receiver = Receiver(clock: clock, script: script)
        let records = Records()
        let lines = Lines()
        let webhook = Webhook(id: "sink-1", url: url, redactedURL: "https://chat.example.com/hooks/…?…", secret: secret.map { Array($0.utf8) },
                              retryFor: retryFor)
        let (done, signal) = AsyncStream<Void>.makeStream()
        let dispatcher = WebhookDispatcher(webhooks: [webhook], transport: receiver, now: { clock.now() }, sleep: { try await clock.sleep(until: $0) },
                                           record: { records.append($0); signal.yield() }, logger: Logger(label: "t") { _ in Handler(lines: lines) },
                                           jitter: { $0 / 2 })
        let pending = PendingNotification(key: "nightly@1798761600000/failed", event: "failed", schedule: "nightly",
                                          body: #"{"event": "failed", "text": "imagebuildd: build failed"}"#, sinks: [sink ?? "sink-1"], queuedAt: t0)
        let runner = Task { await dispatcher.run() }
        dispatcher.enqueue(pending)
        for await _ in done { break }
        runner.cancel()
        dispatcher.finish()
        await runner.value
        return (receiver, records.all, lines.all, clock)
    }

    @Test func aReceiverThatFailsForAWhileGetsItOnceItRecoversWithOneKeyAndAValidSignature() async throws {
        let (receiver, records, lines, _) = await Self.deliver([Self.status(500), Self.status(503), .failure(.notSent("connection refused")), Self.status(502)])
        let attempts = receiver.attempts
        #expect(attempts.count == 5)
        #expect(Set(attempts.map { $0.headers["Idempotency-Key"] }) == ["nightly@1798761600000/failed"])
        #expect(attempts.map { $0.headers["X-Imagebuildd-Delivery-Attempt"] } == ["1", "2", "3", "4", "5"])
        let body = attempts[0].body
        #expect(attempts.allSatisfy { $0.headers["X-Imagebuildd-Signature"] == Webhook.signature(body: body, secret: Array("webhook-secret".utf8)) })
        #expect(attempts.allSatisfy { $0.body == body && $0.headers["Content-Type"] == "application/json" })
        // Full-jitter backoff (the test's jitter takes half the ceiling): 0.5s floor, 1s, 2s, 4s.
        let gaps = zip(attempts, attempts.dropFirst()).map { $1.at.timeIntervalSince($0.at) }
        #expect(gaps == [0.5, 1, 2, 4], "\(gaps)")
        #expect(records == [.notifyDone(key: "nightly@1798761600000/failed", sink: "sink-1", delivered: true, attempts: 5)])
        #expect(!lines.joined().contains("s3cr3t") && !lines.joined().contains("secret-path") && !lines.joined().contains("webhook-secret"))
    }

    @Test func retryAfterIsHonouredInSecondsAndAsAnHTTPDate() async throws {
        let date = "Fri, 01 Jan 2027 00:10:00 GMT"  // t0 + 600 s
        let (receiver, records, _, _) = await Self.deliver([Self.status(429, [("Retry-After", "120")]), Self.status(503, [("Retry-After", date)])])
        let at = receiver.attempts.map { $0.at.timeIntervalSince(Self.t0) }
        #expect(at == [0, 120, 600], "\(at)")
        #expect(records.count == 1)
    }

    @Test func aReceiverDownLongerThanRetryForIsGivenUpOnAndJournaledSo() async throws {
        let script = Array(repeating: Result<HTTPResponseData, TransportFailure>.failure(.notSent("connection refused")), count: 100)
        let (receiver, records, lines, clock) = await Self.deliver(script, retryFor: .seconds(600))
        #expect(records == [.notifyDone(key: "nightly@1798761600000/failed", sink: "sink-1", delivered: false, attempts: receiver.attempts.count)])
        #expect(receiver.attempts.allSatisfy { $0.at <= Self.t0.addingTimeInterval(600) })
        #expect(receiver.attempts.count >= 5 && receiver.attempts.count < 20, "\(receiver.attempts.count)")
        #expect(clock.now() <= Self.t0.addingTimeInterval(600))
        #expect(lines.contains { $0.contains("given up") && $0.contains("retry_for 10m") })
    }

    @Test func aRefusalIsNotRetried() async throws {
        let (receiver, records, lines, _) = await Self.deliver([Self.status(404)])
        #expect(receiver.attempts.count == 1)
        #expect(records == [.notifyDone(key: "nightly@1798761600000/failed", sink: "sink-1", delivered: false, attempts: 1)])
        #expect(lines.contains { $0.contains("refused it (HTTP 404)") })
    }

    @Test func aWebhookNoLongerConfiguredIsClosedWithoutAnAttempt() async throws {
        let (receiver, records, _, _) = await Self.deliver([], sink: "sink-gone")
        #expect(receiver.attempts.isEmpty)
        #expect(records == [.notifyDone(key: "nightly@1798761600000/failed", sink: "sink-gone", delivered: false, attempts: 0)])
    }

    @Test func unsignedWithoutASecret() async throws {
        let (receiver, _, _, _) = await Self.deliver([], secret: nil)
        #expect(receiver.attempts.first?.headers["X-Imagebuildd-Signature"] == nil)
    }

    /// RFC 4231 test case 2.
    @Test func theSignatureIsHMACSHA256() {
        #expect(Webhook.signature(body: Array("what do ya want for nothing?".utf8), secret: Array("Jefe".utf8))
                == "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}
