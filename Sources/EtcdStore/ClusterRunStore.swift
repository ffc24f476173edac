import Transport
import FoundationEssentials
import JobJournal
import Synchronization

/// Where the cluster keeps its run state, under one prefix:
///
///     <prefix>leader               the leader's name, under its lease (LeaderElection)
///     <prefix>log/<seq, 20 digits> one journal record (RecordCodec), appended by the leader
///     <prefix>base                 "<seq> <chunks>": the snapshot that folds every record up to seq
///     <prefix>base/<seq>/<n, 6>    the snapshot record, in chunks of at most 512 KiB
///
/// Every write is a transaction that holds only while the leader key's create revision is the
/// writer's fence, so a deposed leader writes nothing. The state is the log folded over the base.
public struct ClusterKeys: Sendable, Equatable {
    public let prefix: String

    public init(prefix: String) { self.prefix = prefix }

    public var leader: String { prefix + "leader" }
    var log: String { prefix + "log/" }
    var base: String { prefix + "base" }
    func log(_ seq: UInt64) -> String { log + String(seq).zeroPadded(to: 20) }
    func chunks(_ seq: UInt64) -> String { base + "/" + String(seq).zeroPadded(to: 20) + "/" }
}

/// Why the cluster store refused or failed an append or a load.
public enum ClusterStoreError: EndsLeadership, Sendable, CustomStringConvertible {
    /// This node does not (surely) lead: nothing was written.
    case notLeader
    /// The fence no longer matched: another node leads now; nothing was written.
    case deposed
    case etcd(EtcdError)
    /// What etcd holds under the prefix cannot be read back.
    case damaged(String)

    public var description: String {
        switch self {
        case .notLeader: "not the leader (lease not renewed in time)"
        case .deposed: "deposed: another node leads"
        case .etcd(let error): "\(error)"
        case .damaged(let why): "cluster state damaged: \(why)"
        }
    }
}

/// The run store in cluster mode: each fact is committed to etcd under the leader fence, folded
/// into the state, then appended to this node's own journal (its local record) before `append`
/// returns. Appends that arrive together share one transaction (at most 100 records), so a burst
/// costs a few round trips, not one each. Every 1,000 records the state is written as a base and
/// the log before it deleted, so a new leader reads one snapshot and a short log.
public final class ClusterRunStore: RunStore {
    public let keys: ClusterKeys
    private let client: any EtcdKV
    private let fence: @Sendable () async -> Int64?
    private let local: Journal?
    private let memory: Mutex<Memory>
    private let committer: Committer

    struct Memory {
        var state: JournalState
        var nextSeq: UInt64
        var base: UInt64
        var lastAt: Date
        /// Why an earlier commit failed. A write whose outcome is unknown may have taken its seqs, so
        /// this store writes nothing more; the next term reads etcd again.
        var broken: ClusterStoreError?
    }

    /// The cluster's state as etcd holds it now (for a new leader, or `history` on any node).
    public static func load(client: any EtcdKV, keys: ClusterKeys, historyLimit: Int = 50) async throws(ClusterStoreError)
        -> (state: JournalState, lastSeq: UInt64, base: UInt64, lastAt: Date?) {
        var state = JournalState(historyLimit: historyLimit)
        var base: UInt64 = 0
        var lastAt: Date?
        do {
            if let pointer = try await client.get(keys.base) {
                let fields = String(decoding: pointer.value, as: UTF8.self).split(separator: " ")
                guard fields.count == 2, let seq = UInt64(fields[0]), let count = Int(fields[1]) else {
                    throw ClusterStoreError.damaged("\(keys.base) is not \"<seq> <chunks>\"")
                }
                let chunks = try await client.list(prefix: keys.chunks(seq))
                guard chunks.count == count else { throw ClusterStoreError.damaged("snapshot \(seq) has \(chunks.count) of \(count) chunks") }
                let record: JournalRecord
                do { record = try RecordCodec.decode(chunks.flatMap(\.value)) } catch {
                    throw ClusterStoreError.damaged("snapshot \(seq): \(error)")
                }
                guard case .snapshot = record.event else { throw ClusterStoreError.damaged("snapshot \(seq) is a \(record.event.typeName)") }
                state.apply(record)
                base = seq
                lastAt = record.at
            }
            var last = base
            for entry in try await client.list(prefix: keys.log) {
                let record: JournalRecord
                do { record = try RecordCodec.decode(entry.value) } catch { throw ClusterStoreError.damaged("\(entry.key): \(error)") }
                guard record.seq > base else { continue }
                guard record.seq > last else { throw ClusterStoreError.damaged("\(entry.key) holds seq \(record.seq) after \(last)") }
                state.apply(record)
                last = record.seq
                lastAt = record.at
            }
            return (state, last, base, lastAt)
        } catch let error as ClusterStoreError {
            throw error
        } catch let error as EtcdError {
            throw .etcd(error)
        } catch {
            throw .damaged("\(error)")
        }
    }

    /// Loads the cluster's state; appends are then fenced by `fence` (nil: this node must not write).
    /// - Parameter spawn: starts the task that sends a batch (the simulation runs it on its own executor).
    public static func open(client: any EtcdKV, keys: ClusterKeys, local: Journal?, historyLimit: Int = 50,
                            spawn: @escaping @Sendable (@escaping @Sendable () async -> Void) -> Void = { work in Task { await work() } },
                            fence: @escaping @Sendable () async -> Int64?) async throws(ClusterStoreError) -> ClusterRunStore {
        let loaded = try await load(client: client, keys: keys, historyLimit: historyLimit)
        return ClusterRunStore(client: client, keys: keys, local: local, fence: fence, committer: Committer(spawn: spawn),
                               memory: Memory(state: loaded.state, nextSeq: loaded.lastSeq + 1, base: loaded.base, lastAt: loaded.lastAt ?? Date(),
                                              broken: nil))
    }

    private init(client: any EtcdKV, keys: ClusterKeys, local: Journal?, fence: @escaping @Sendable () async -> Int64?, committer: Committer,
                 memory: Memory) {
        self.committer = committer
        self.client = client
        self.keys = keys
        self.local = local
        self.fence = fence
        self.memory = Mutex(memory)
    }

    public var state: JournalState { memory.withLock { $0.state } }

    public func scheduleFacts(_ schedule: String) -> ScheduleFacts? { memory.withLock { $0.state.schedules[schedule] } }

    public func scheduleFacts(_ schedules: [String]) -> [ScheduleFacts?] {
        memory.withLock { memory in schedules.map { memory.state.schedules[$0] } }
    }

    public func openRun(_ key: SlotKey) -> RunRecord? { memory.withLock { $0.state.openRuns[key] } }

    /// Records appended since the last base: what a new leader would read besides the snapshot.
    public var logLength: UInt64 { memory.withLock { $0.nextSeq - 1 - $0.base } }

    /// etcd round trips made by appends and bases so far (for the benchmark's requests per build).
    public var requests: Int { committer.requests.load(ordering: .relaxed) }

    public func append(_ event: JournalEvent, at: Date) async throws -> JournalRecord {
        let record = try await committer.submit(event, at: at, store: self)
        if let local { _ = try await local.append(event, at: at) }
        return record
    }

    static let batchLimit = 100
    static let compactEvery: UInt64 = 1_000
    static let chunkSize = 512 << 10

    /// Commits one batch under the fence; returns the records in order, or throws for all of them.
    fileprivate func commit(_ batch: [(JournalEvent, Date)]) async throws(ClusterStoreError) -> [JournalRecord] {
        if let broken = memory.withLock({ $0.broken }) { throw broken }
        guard let revision = await fence() else { throw .notLeader }
        let first = memory.withLock { $0.nextSeq }
        let records = batch.enumerated().map { JournalRecord(seq: first + UInt64($0.offset), at: $0.element.1, event: $0.element.0) }
        let puts = records.map { EtcdOperation.put(keys.log($0.seq), RecordCodec.encode($0)) }
        do { try await fenced(revision, puts) } catch {
            memory.withLock { $0.broken = error }
            throw error
        }
        let due = memory.withLock { memory in
            for record in records { memory.state.apply(record) }
            memory.nextSeq = first + UInt64(records.count)
            memory.lastAt = records.last?.at ?? memory.lastAt
            return memory.nextSeq - 1 - memory.base >= Self.compactEvery
        }
        if due {
            do { try await writeBase(revision) } catch {
                memory.withLock { $0.broken = error }
                throw error
            }
        }
        return records
    }

    /// Writes the state as a new base and deletes the log it folds and the previous base.
    private func writeBase(_ revision: Int64) async throws(ClusterStoreError) {
        let (seq, previous, snapshot) = memory.withLock { memory in
            (memory.nextSeq - 1, memory.base, JournalRecord(seq: memory.nextSeq - 1, at: memory.lastAt, event: .snapshot(memory.state)))
        }
        let bytes = RecordCodec.encode(snapshot)
        let chunks = stride(from: 0, to: max(bytes.count, 1), by: Self.chunkSize).map { Array(bytes[$0..<min($0 + Self.chunkSize, bytes.count)]) }
        for (index, chunk) in chunks.enumerated() {
            try await fenced(revision, [.put(keys.chunks(seq) + String(index).zeroPadded(to: 20), chunk)])
        }
        // One transaction switches to the new base and drops what it replaces: a reader sees one or the other.
        try await fenced(revision, [.put(keys.base, Array("\(seq) \(chunks.count)".utf8)), .deletePrefix(keys.chunks(previous)),
                                    .deleteRange(from: keys.log, to: keys.log(seq + 1))])
        memory.withLock { $0.base = seq }
    }

    private func fenced(_ revision: Int64, _ operations: [EtcdOperation]) async throws(ClusterStoreError) {
        committer.requests.add(1, ordering: .relaxed)
        let result: EtcdTransactionResult
        do {
            result = try await client.transaction(if: [.createRevision(keys.leader, equals: revision)], then: operations)
        } catch {
            throw .etcd(error)
        }
        guard result.succeeded else { throw .deposed }
    }
}

/// Gathers appends that arrive while a transaction is out, and sends them as the next one.
private final class Committer: Sendable {
    private typealias Waiter = (event: JournalEvent, at: Date, continuation: CheckedContinuation<JournalRecord, any Error>)
    private let queue = Mutex<(waiting: [Waiter], draining: Bool)>(([], false))
    let requests = Atomic<Int>(0)
    private let spawn: @Sendable (@escaping @Sendable () async -> Void) -> Void

    init(spawn: @escaping @Sendable (@escaping @Sendable () async -> Void) -> Void) {
        self.spawn = spawn
    }

    func submit(_ event: JournalEvent, at: Date, store: ClusterRunStore) async throws -> JournalRecord {
        try await withCheckedThrowingContinuation { continuation in
            let start = queue.withLock { queue in
                queue.waiting.append((event, at, continuation))
                defer { queue.draining = true }
                return !queue.draining
            }
            if start { spawn { await self.drain(store) } }
        }
    }

    private func drain(_ store: ClusterRunStore) async {
        while true {
            let batch: [Waiter] = queue.withLock { queue in
                let taken = Array(queue.waiting.prefix(ClusterRunStore.batchLimit))
                queue.waiting.removeFirst(taken.count)
                if taken.isEmpty { queue.draining = false }
                return taken
            }
            guard !batch.isEmpty else { return }
            do {
                let records = try await store.commit(batch.map { ($0.event, $0.at) })
                for (waiter, record) in zip(batch, records) { waiter.continuation.resume(returning: record) }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
        }
    }
}
