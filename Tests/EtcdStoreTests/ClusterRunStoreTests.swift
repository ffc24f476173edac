import Transport
import EtcdStore
import Foundation
import JobJournal
import Synchronization
import Testing

/// The fenced run store against a real etcd member: what it writes, what a deposed writer cannot
/// write, and that a new leader reads back exactly the state the old one held.
extension EtcdTests {
@Suite struct ClusterRunStoreTests {
    let keys = ClusterKeys(prefix: "/ib/")

    /// One etcd member, a client, a local journal directory, and the leader key held by "us".
    func withStore(_ body: (EtcdClient, String, Int64) async throws -> Void) async throws {
        let cluster = try EtcdCluster(size: 1)
        let transport = try AsyncHTTPTransport(connectTimeout: .seconds(1))
        let client = EtcdClient(endpoints: cluster.endpoints, transport: transport, timeout: .seconds(5))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let fence = try await client.put(keys.leader, Array("us".utf8))
            try await body(client, directory, fence)
        } catch {
            try? await transport.shutdown()
            throw error
        }
        try await transport.shutdown()
    }

    static let target = BuildTarget(subscriptionID: "00000000-0000-0000-0000-000000000000", resourceGroup: "images", template: "t")

    /// The facts of one whole run of slot `minute` of schedule `name`.
    static func run(_ name: String, minute: Int) -> [JournalEvent] {
        let key = SlotKey(schedule: name, slot: Date(timeIntervalSince1970: 1_800_000_000 + Double(minute) * 60))
        return [.slotDue(key, target: target), .runRequested(key, clientRequestID: "r-\(minute)"), .runAccepted(key, buildTimeoutSeconds: 3600),
                .statusObserved(key, RunStatus(runState: "Running", runSubState: "Building", message: nil, startedAt: nil, endedAt: nil)),
                .finished(key, outcome: .succeeded, message: nil)]
    }

    @Test func appendsAreFoldedRecordedLocallyAndReadBackByTheNextLeader() async throws {
        try await withStore { client, directory, fence in
            let local = try Journal(directory: directory)
            let store = try await ClusterRunStore.open(client: client, keys: keys, local: local) { fence }
            let at = Date(timeIntervalSince1970: 1_800_000_000)
            for event in Self.run("nightly", minute: 0) + Self.run("nightly", minute: 1).prefix(3) {
                _ = try await store.append(event, at: at)
            }
            _ = try await store.append(.paused(schedule: "weekly", until: nil, reason: "change freeze", by: "alice"), at: at)
            #expect(store.state.openRuns.count == 1)
            #expect(store.state.history["nightly"]?.count == 1)
            #expect(store.state.paused["weekly"]?.by == "alice")
            // This node's own journal holds the same records, in the same order.
            #expect(local.state.openRuns == store.state.openRuns && local.state.paused == store.state.paused)
            await local.close()
            let next = try await ClusterRunStore.load(client: client, keys: keys)
            #expect(next.state == store.state)
            #expect(next.lastSeq == 9)
        }
    }

    @Test func aDeposedOrUnsureWriterWritesNothing() async throws {
        try await withStore { client, _, fence in
            let open = try await ClusterRunStore.open(client: client, keys: keys, local: nil) { fence }
            let key = SlotKey(schedule: "nightly", slot: Date(timeIntervalSince1970: 1_800_000_000))
            _ = try await open.append(.slotDue(key, target: Self.target), at: Date())
            // Another node's term: the key was deleted (lease expired) and created again.
            try await client.delete(keys.leader)
            try await client.put(keys.leader, Array("them".utf8))
            await #expect {
                _ = try await open.append(.runRequested(key, clientRequestID: "x"), at: Date())
            } throws: { error in
                if case .deposed? = error as? ClusterStoreError { true } else { false }
            }
            let unsure = try await ClusterRunStore.open(client: client, keys: keys, local: nil) { nil }
            await #expect {
                _ = try await unsure.append(.runRequested(key, clientRequestID: "y"), at: Date())
            } throws: { error in
                if case .notLeader? = error as? ClusterStoreError { true } else { false }
            }
            // A store whose write failed writes nothing more, even once its fence is good again: that
            // write's seqs may be taken (an unknown outcome), and reusing them would overwrite facts.
            let current = try #require(try await client.get(keys.leader)).createRevision
            let flip = Mutex<Int64>(fence)
            let once = try await ClusterRunStore.open(client: client, keys: keys, local: nil) { flip.withLock { $0 } }
            await #expect(throws: ClusterStoreError.self) { _ = try await once.append(.runRequested(key, clientRequestID: "z"), at: Date()) }
            flip.withLock { $0 = current }
            await #expect {
                _ = try await once.append(.runRequested(key, clientRequestID: "z"), at: Date())
            } throws: { error in
                if case .deposed? = error as? ClusterStoreError { true } else { false }
            }
            let stored = try await ClusterRunStore.load(client: client, keys: keys)
            #expect(stored.lastSeq == 1)
            #expect(stored.state.openRuns[key]?.requestedAt == nil)
        }
    }

    @Test func concurrentAppendsShareTransactionsAndAStateBaseKeepsTheLogShort() async throws {
        try await withStore { client, _, fence in
            let store = try await ClusterRunStore.open(client: client, keys: keys, local: nil) { fence }
            let at = Date(timeIntervalSince1970: 1_800_000_000)
            // 500 runs of 5 facts each, 50 at a time concurrently: 2,500 records, two bases.
            for batch in 0..<10 {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for schedule in 0..<50 {
                        group.addTask {
                            for event in Self.run("s\(schedule)", minute: batch) { _ = try await store.append(event, at: at) }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            #expect(store.state.counters.finished[.succeeded] == 500)
            // Five facts in a row per task, so at best 50 per transaction here; never one each.
            #expect(store.requests < 2_500 / 10, "\(store.requests) etcd transactions for 2,500 appends")
            #expect(store.logLength < 1_000)
            let logKeys = try await client.list(prefix: "/ib/log/")
            #expect(logKeys.count == Int(store.logLength))
            let next = try await ClusterRunStore.load(client: client, keys: keys)
            #expect(next.lastSeq == 2_500)
            #expect(next.base > 0)
            #expect(next.state == store.state)
        }
    }
}
}
