import FoundationEssentials
import Transport

/// ARM's per-subscription request budget as token buckets (reads: 250 burst refilling at 25/s;
/// writes: 200 refilling at 10/s), tightened by the `x-ms-ratelimit-remaining-subscription-*`
/// headers ARM returns. Callers wait for a token instead of provoking 429s.
public actor RequestPacer {
    /// One bucket's shape.
    public struct Limit: Sendable, Equatable {
        public var burst: Double
        public var perSecond: Double
        public init(burst: Double, perSecond: Double) {
            self.burst = burst
            self.perSecond = perSecond
        }
        public static let armReads = Limit(burst: 250, perSecond: 25)
        public static let armWrites = Limit(burst: 200, perSecond: 10)
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let reads: Limit
    private let writes: Limit
    private var buckets: [String: Bucket] = [:]
    private let now: @Sendable () -> ContinuousClock.Instant
    private let pause: @Sendable (Duration) async throws -> Void
    /// Total time callers were held back, for metrics and tests.
    public private(set) var waited: Duration = .zero

    /// `headroom` keeps the client below ARM's numbers: its clock and ARM's never agree exactly, and
    /// other clients may share the subscription. `now` and `sleep` are real time by default, because
    /// ARM counts real seconds; tests pass their own.
    public init(reads: Limit = .armReads, writes: Limit = .armWrites, headroom: Double = 0.9,
                now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.now = now
        pause = sleep
        self.reads = Limit(burst: reads.burst * headroom, perSecond: reads.perSecond * headroom)
        self.writes = Limit(burst: writes.burst * headroom, perSecond: writes.perSecond * headroom)
    }

    private func limit(_ isWrite: Bool) -> Limit { isWrite ? writes : reads }

    private func refill(_ key: String, _ limit: Limit) -> Bucket {
        let now = now()
        var bucket = buckets[key] ?? Bucket(tokens: limit.burst, updated: now)
        let elapsed = bucket.updated.duration(to: now)
        bucket.tokens = min(limit.burst, bucket.tokens + limit.perSecond * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
        bucket.updated = now
        return bucket
    }

    /// Takes one token for a request to `subscription`, first waiting as long as the bucket needs to
    /// refill one. Real time, whatever clock the caller schedules by: ARM's limits are per real second.
    public func acquire(subscription: String, isWrite: Bool) async throws {
        let key = (isWrite ? "w/" : "r/") + subscription.lowercased()
        let limit = limit(isWrite)
        var bucket = refill(key, limit)
        // Reserve the token now (the balance may go negative), so concurrent callers queue up in
        // order, each waiting for its own share of the refill.
        bucket.tokens -= 1
        buckets[key] = bucket
        if bucket.tokens < 0 {
            let wait = Duration.milliseconds(Int64((-bucket.tokens / limit.perSecond) * 1000))
            waited += wait
            try await pause(wait)
        }
    }

    /// Lowers the bucket to what ARM says is left, never raising it.
    public func observe(subscription: String, isWrite: Bool, remaining: Int) {
        let key = (isWrite ? "w/" : "r/") + subscription.lowercased()
        var bucket = refill(key, limit(isWrite))
        if Double(remaining) < bucket.tokens {
            bucket.tokens = Double(remaining)
            buckets[key] = bucket
        }
    }
}
