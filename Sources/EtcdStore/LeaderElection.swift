import FoundationEssentials

/// Whether a leader may still act, from the monotonic clock alone: the lease was last renewed at
/// `renewedAt` (when the successful grant or keepalive was *sent*, so the server's countdown began
/// later), and the node stops acting `margin` before the lease could have expired. A process that
/// was paused (SIGSTOP, a long GC-like stall) wakes up past that point and does nothing until it
/// has renewed and re-checked its key.
public struct LeaseGuard: Sendable, Equatable {
    public var ttl: Duration
    public var margin: Duration

    public init(ttl: Duration) {
        self.ttl = ttl
        // Keepalives go every ttl/3; a quarter of the ttl is left for one failed renewal to be noticed.
        margin = ttl / 4
    }

    /// Both are readings of one monotonic clock.
    public func mayAct(renewedAt: Duration, now: Duration) -> Bool {
        now < renewedAt + ttl - margin
    }
}

/// The election's monotonic time: the process's continuous clock, or the simulation's virtual one.
public struct LeaseClock: Sendable {
    /// A monotonic reading; only differences matter.
    public var now: @Sendable () -> Duration
    public var sleep: @Sendable (Duration) async throws -> Void

    public init(now: @escaping @Sendable () -> Duration, sleep: @escaping @Sendable (Duration) async throws -> Void) {
        self.now = now
        self.sleep = sleep
    }

    public static var continuous: LeaseClock {
        let origin = ContinuousClock.now
        return LeaseClock(now: { ContinuousClock.now - origin }, sleep: { try await Task.sleep(for: $0) })
    }
}

/// This node's part in the cluster: leader or standby, as far as it knows.
public enum LeadershipRole: Sendable, Equatable {
    /// Another node (named, if its key was read) leads, or nobody does yet.
    case standby(leader: String?)
    /// This node holds the leader key, created at `revision`: the fence every durable write compares.
    case leader(revision: Int64)
}

/// One node's campaign for a leader key: an etcd lease kept alive at ttl/3 (2 s at most), a create-if-absent
/// transaction that puts the key under that lease, and a watch (by polling) of the key while another
/// node holds it. `fence()` is what a writer asks before each ARM write: it answers only while
/// the lease is certainly alive by the monotonic clock.
public actor LeaderElection {
    public nonisolated let node: String
    private let client: any EtcdKV
    private let clock: LeaseClock
    private let key: String
    private let guardRule: LeaseGuard
    private var onChange: @Sendable (LeadershipRole) -> Void
    private var lease: EtcdLease?
    private var renewedAt: Duration?
    public private(set) var role: LeadershipRole = .standby(leader: nil)

    public init(client: any EtcdKV, key: String, node: String, ttl: Duration, clock: LeaseClock = .continuous,
                onChange: @escaping @Sendable (LeadershipRole) -> Void = { _ in }) {
        self.client = client
        self.clock = clock
        self.key = key
        self.node = node
        guardRule = LeaseGuard(ttl: ttl)
        self.onChange = onChange
    }

    /// The leader key's create revision while this node leads and its lease is surely alive; nil otherwise.
    public func fence() -> Int64? {
        guard case .leader(let revision) = role, let renewedAt, guardRule.mayAct(renewedAt: renewedAt, now: clock.now()) else { return nil }
        return revision
    }

    /// Campaigns, renews and watches until cancelled. Errors from etcd never end it: a node without
    /// quorum keeps trying, and its fence closes by itself when renewals stop succeeding.
    public func run() async {
        while !Task.isCancelled {
            await step()
            try? await clock.sleep(round)
        }
    }

    /// `run()`, telling `onChange` (in place of the one given at init) each change of role.
    public func run(onChange: @escaping @Sendable (LeadershipRole) -> Void) async {
        self.onChange = onChange
        await run()
    }

    /// How often a node renews and reads the key: ttl/3, and at most 2 s, so a standby notices a
    /// vanished key within 2 s whatever the ttl (failover stays under ttl + 5 s for long ttls too).
    public nonisolated var round: Duration { min(guardRule.ttl / 3, .seconds(2)) }

    /// Gives the key up at once (revoking the lease deletes it), so a standby takes over without
    /// waiting for the ttl. For a graceful stop.
    public func resign() async {
        if let lease { try? await client.revokeLease(lease.id) }
        lease = nil
        renewedAt = nil
        change(to: .standby(leader: nil))
    }

    /// One round: renew (or get) the lease, then campaign if nobody leads, or check the key still
    /// is ours if we lead.
    func step() async {
        let sentAt = clock.now()
        do {
            if let current = lease {
                _ = try await client.keepAlive(current.id)
            } else {
                lease = try await client.grantLease(ttl: Int(guardRule.ttl.components.seconds))
            }
            renewedAt = sentAt
        } catch {
            if case .refused = error {
                // The lease expired (a pause longer than the ttl): whatever we held is gone.
                lease = nil
                renewedAt = nil
                change(to: .standby(leader: nil))
            }
            return
        }
        guard let lease else { return }
        do {
            let result = try await client.transaction(
                if: [.createRevision(key, equals: 0)],
                then: [.put(key, Array(node.utf8), lease: lease.id)],
                else: [.get(key)])
            if result.succeeded {
                change(to: .leader(revision: result.revision))
            } else if let holder = result.gets.first ?? nil {
                if holder.lease == lease.id {
                    change(to: .leader(revision: holder.createRevision))
                } else {
                    change(to: .standby(leader: String(decoding: holder.value, as: UTF8.self)))
                }
            }
        } catch {
            // Unknown outcome or no quorum: the next round reads the key again.
        }
    }

    private func change(to new: LeadershipRole) {
        guard new != role else { return }
        role = new
        onChange(new)
    }
}
