import Transport
import EtcdStore
import Foundation
import Testing

/// The fence rule on monotonic readings alone (no etcd, no sleeping).
@Suite struct LeaseGuardTests {
    @Test func stopsActingAQuarterTtlBeforeTheLeaseCanExpire() {
        let rule = LeaseGuard(ttl: .seconds(8))
        let renewed = Duration.seconds(1_000)
        #expect(rule.mayAct(renewedAt: renewed, now: renewed))
        #expect(rule.mayAct(renewedAt: renewed, now: renewed + .milliseconds(5_999)))
        #expect(!rule.mayAct(renewedAt: renewed, now: renewed + .seconds(6)))
        // A process stopped for longer than the ttl wakes up with its fence closed.
        #expect(!rule.mayAct(renewedAt: renewed, now: renewed + .seconds(30)))
    }
}

/// Elections between nodes against a real three-member etcd. Real time: leases expire on their own.
extension EtcdTests {
@Suite struct LeaderElectionTests {
    static let ttl = Duration.seconds(4)

    func withNodes(_ names: [String], ttl: Duration = ttl, _ body: (EtcdCluster, [LeaderElection], EtcdClient) async throws -> Void) async throws {
        let cluster = try EtcdCluster(size: 3)
        let transport = try AsyncHTTPTransport(connectTimeout: .seconds(1))
        let client = EtcdClient(endpoints: cluster.endpoints, transport: transport, timeout: .seconds(2))
        let nodes = names.map { LeaderElection(client: client, key: "/ib/leader", node: $0, ttl: ttl) }
        do { try await body(cluster, nodes, client) } catch {
            try? await transport.shutdown()
            throw error
        }
        try await transport.shutdown()
    }

    /// Waits (up to `within`) until `condition` holds; the time it took, or nil if it never did.
    func waitUntil(within: Duration, _ condition: () async -> Bool) async -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < within {
            if await condition() { return ContinuousClock.now - start }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    func leaders(_ nodes: [LeaderElection]) async -> [String] {
        var names: [String] = []
        for node in nodes where await node.fence() != nil { names.append(node.node) }
        return names
    }

    @Test func oneLeaderAndTheOthersKnowIt() async throws {
        try await withNodes(["a", "b", "c"]) { _, nodes, client in
            let tasks = nodes.map { node in Task { await node.run() } }
            defer { tasks.forEach { $0.cancel() } }
            let elected = await waitUntil(within: .seconds(30)) { await leaders(nodes).count == 1 }
            var roles: [LeadershipRole] = []
            for node in nodes { roles.append(await node.role) }
            #expect(elected != nil, "roles: \(roles)")
            let leader = try #require(await leaders(nodes).first)
            #expect(try await client.get("/ib/leader")?.value == Array(leader.utf8))
            let deadline = await waitUntil(within: .seconds(15)) {
                for node in nodes where node.node != leader {
                    guard case .standby(leader: leader)? = await Optional(node.role) else { return false }
                }
                return true
            }
            #expect(deadline != nil, "standbys name the leader")
        }
    }

    /// The leader stops without resigning (as if SIGKILLed): a standby leads once the lease expires.
    @Test func aStandbyTakesOverFromADeadLeader() async throws {
        try await withNodes(["a", "b"]) { _, nodes, _ in
            let a = Task { await nodes[0].run() }
            #expect(await waitUntil(within: .seconds(30)) { await nodes[0].fence() != nil } != nil)
            let b = Task { await nodes[1].run() }
            defer { b.cancel() }
            let standing = await waitUntil(within: .seconds(15)) { await nodes[1].role == .standby(leader: "a") }
            #expect(standing != nil, "b stands by and names a")
            #expect(await nodes[1].fence() == nil)
            a.cancel()
            // a's fence closes by the clock alone, before its lease can expire on the server.
            let closed = await waitUntil(within: Self.ttl) { await nodes[0].fence() == nil }
            #expect(closed != nil)
            let failover = await waitUntil(within: Self.ttl * 3) { await nodes[1].fence() != nil }
            let took = try #require(failover, "b never took over")
            #expect(took <= Self.ttl + Self.ttl / 3 + .seconds(3))
            #expect(await leaders(nodes) == ["b"])
        }
    }

    /// A graceful stop revokes the lease: the standby leads within one poll (3 s), long before the
    /// 9 s lease would have expired.
    @Test func resignHandsOverWithoutWaitingForTheTtl() async throws {
        try await withNodes(["a", "b"], ttl: .seconds(9)) { _, nodes, _ in
            let a = Task { await nodes[0].run() }
            #expect(await waitUntil(within: .seconds(30)) { await nodes[0].fence() != nil } != nil)
            let b = Task { await nodes[1].run() }
            defer { b.cancel() }
            #expect(await waitUntil(within: .seconds(15)) { await nodes[1].role == .standby(leader: "a") } != nil)
            a.cancel()
            await nodes[0].resign()
            let handover = await waitUntil(within: .seconds(18)) { await nodes[1].fence() != nil }
            let took = try #require(handover)
            #expect(took <= .seconds(3) + .seconds(2))
        }
    }

    /// Without quorum the leader cannot renew, so it stops acting; with quorum back it leads again.
    @Test func noQuorumClosesTheFence() async throws {
        try await withNodes(["a"]) { cluster, nodes, _ in
            let a = Task { await nodes[0].run() }
            defer { a.cancel() }
            #expect(await waitUntil(within: .seconds(30)) { await nodes[0].fence() != nil } != nil)
            cluster.kill("m1")
            cluster.kill("m2")
            #expect(await waitUntil(within: Self.ttl * 2) { await nodes[0].fence() == nil } != nil)
            try cluster.start("m1")
            try cluster.start("m2")
            #expect(await waitUntil(within: .seconds(30)) { await nodes[0].fence() != nil } != nil)
        }
    }
}
}
