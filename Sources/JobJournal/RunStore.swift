import FoundationEssentials

/// The one seam durable facts go through: the local journal single-node, etcd in cluster mode.
/// `append` returns once the fact is durable (and, in cluster mode, fenced by leadership).
public protocol RunStore: AnyObject, Sendable {
    func append(_ event: JournalEvent, at: Date) async throws -> JournalRecord
    /// Everything acknowledged so far, folded.
    var state: JournalState { get }
    /// One schedule's facts, without copying the whole state.
    func scheduleFacts(_ schedule: String) -> ScheduleFacts?
    /// The open run of `key`, if it is open.
    func openRun(_ key: SlotKey) -> RunRecord?
    /// Many schedules' facts at once (a scrape asks for all of them): one lock, not one each.
    func scheduleFacts(_ schedules: [String]) -> [ScheduleFacts?]
}

extension RunStore {
    public func scheduleFacts(_ schedules: [String]) -> [ScheduleFacts?] { schedules.map { scheduleFacts($0) } }
}

extension Journal: RunStore {}

/// A store error that ends this node's leadership rather than the daemon: it no longer (surely)
/// leads, so the orchestrator stops, and the node may campaign again.
public protocol EndsLeadership: Error {}
