import EtcdStore
import Foundation
import JobJournal
import Synchronization

/// A three-member etcd as its clients see it: one linearizable key space with revisions and leases
/// (a key under a lease goes when the lease expires or is revoked), answers after a drawn latency,
/// quorum lost for whole windows (nothing applies, `unavailable`), and writes whose answer is lost
/// (`outcomeUnknown`, applied or not). Every record the run store commits to `<prefix>log/` is
/// handed to the ledger, by seq, so an overwritten fact shows.
final class SimEtcd: EtcdKV, @unchecked Sendable {
    private struct Lease {
        var ttl: Int
        var expiresAt: Date
        /// The daemon life that was granted it.
        var life: Int
    }

    private struct State {
        var revision: Int64 = 1
        var keys: [String: EtcdKeyValue] = [:]
        var leases: [Int64: Lease] = [:]
        var nextLease: Int64 = 0x1000
    }

    private let box = Mutex(State())
    let clock: SimClock
    let dice: SimDice
    let ledger: SimLedger
    let logPrefix: String
    /// When quorum is lost.
    let outages: [(Date, Date)]
    let unknownRate: Double
    let quiet = Mutex(false)

    init(clock: SimClock, dice: SimDice, ledger: SimLedger, logPrefix: String, outages: [(Date, Date)], unknownRate: Double) {
        self.clock = clock
        self.dice = dice
        self.ledger = ledger
        self.logPrefix = logPrefix
        self.outages = outages
        self.unknownRate = unknownRate
    }

    /// The life whose lease holds `key` now, if a live lease holds it.
    func holder(of key: String) -> Int? {
        box.withLock { s in
            expire(&s, now: clock.now())
            guard let lease = s.keys[key]?.lease, lease != 0 else { return nil }
            return s.leases[lease]?.life
        }
    }

    func inOutage(_ t: Date) -> Bool { !quiet.withLock { $0 } && outages.contains { $0.0 <= t && t < $0.1 } }

    // MARK: The client's calls

    func get(_ key: String) async throws(EtcdError) -> EtcdKeyValue? {
        try await call(write: false) { s in s.keys[key] }
    }

    func list(prefix: String) async throws(EtcdError) -> [EtcdKeyValue] {
        try await call(write: false) { s in s.keys.values.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key } }
    }

    func transaction(if compares: [EtcdCompare], then success: [EtcdOperation], else failure: [EtcdOperation]) async throws(EtcdError)
        -> EtcdTransactionResult {
        try await call(write: true) { s in
            let holds = compares.allSatisfy { compare in
                switch compare {
                case .createRevision(let key, let revision): (s.keys[key]?.createRevision ?? 0) == revision
                case .modRevision(let key, let revision): (s.keys[key]?.modRevision ?? 0) == revision
                case .value(let key, let value): s.keys[key]?.value == value
                }
            }
            let operations = holds ? success : failure
            let writes = operations.contains { if case .get = $0 { false } else { true } }
            if writes { s.revision += 1 }
            var gets: [EtcdKeyValue?] = []
            for operation in operations {
                switch operation {
                case .get(let key):
                    gets.append(s.keys[key])
                case .put(let key, let value, let lease):
                    guard lease == 0 || s.leases[lease] != nil else { continue }
                    let old = s.keys[key]
                    s.keys[key] = EtcdKeyValue(key: key, value: value, createRevision: old?.createRevision ?? s.revision, modRevision: s.revision,
                                               version: (old?.version ?? 0) + 1, lease: lease)
                    if key.hasPrefix(logPrefix), let record = try? RecordCodec.decode(value) { ledger.note(record) }
                case .delete(let key):
                    s.keys[key] = nil
                case .deletePrefix(let prefix):
                    s.keys = s.keys.filter { !$0.key.hasPrefix(prefix) }
                case .deleteRange(let from, let to):
                    s.keys = s.keys.filter { !($0.key >= from && $0.key < to) }
                }
            }
            return EtcdTransactionResult(succeeded: holds, revision: s.revision, gets: gets)
        }
    }

    func grantLease(ttl: Int) async throws(EtcdError) -> EtcdLease {
        let life = SimIncarnation.current
        return try await call(write: true) { s in
            s.nextLease += 1
            s.leases[s.nextLease] = Lease(ttl: ttl, expiresAt: clock.now().addingTimeInterval(Double(ttl)), life: life)
            return EtcdLease(id: s.nextLease, ttl: ttl)
        }
    }

    func keepAlive(_ lease: Int64) async throws(EtcdError) -> Int {
        let ttl: Int? = try await call(write: false) { s in
            guard var held = s.leases[lease] else { return nil }
            held.expiresAt = clock.now().addingTimeInterval(Double(held.ttl))
            s.leases[lease] = held
            return held.ttl
        }
        guard let ttl else { throw .refused(code: 5, message: "lease \(String(lease, radix: 16)) expired") }
        return ttl
    }

    func revokeLease(_ lease: Int64) async throws(EtcdError) {
        try await call(write: true) { s in
            s.leases[lease] = nil
            s.revision += 1
            s.keys = s.keys.filter { $0.value.lease != lease }
        }
    }

    /// The request's trip, the cluster applying it (unless quorum is lost), and the answer's trip,
    /// which a write may lose.
    private func call<T>(write: Bool, _ apply: (inout State) -> T) async throws(EtcdError) -> T {
        let (there, back, lost, applied) = dice.draw {
            ($0.seconds(0.001...0.03), $0.seconds(0.001...0.03), write && $0.chance(unknownRate), $0.chance(0.5))
        }
        do { try await clock.sleep(until: clock.now().addingTimeInterval(there)) } catch { throw .unavailable("the request was not sent") }
        let now = clock.now()
        if inOutage(now) {
            throw .unavailable("no leader (quorum lost)")
        }
        let lostAnswer = lost && !quiet.withLock { $0 }
        var result: T?
        if !lostAnswer || applied {
            result = box.withLock { s in
                expire(&s, now: now)
                return apply(&s)
            }
        }
        do { try await clock.sleep(until: clock.now().addingTimeInterval(back)) } catch {
            throw .outcomeUnknown("the answer was not read")
        }
        guard !lostAnswer, let result else { throw .outcomeUnknown("the answer was lost") }
        return result
    }

    private func expire(_ s: inout State, now: Date) {
        let dead = s.leases.filter { $0.value.expiresAt <= now }.map(\.key)
        guard !dead.isEmpty else { return }
        for lease in dead { s.leases[lease] = nil }
        s.revision += 1
        s.keys = s.keys.filter { !dead.contains($0.value.lease) }
    }
}
