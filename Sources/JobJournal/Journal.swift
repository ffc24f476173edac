import Dispatch
import FoundationEssentials
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Tuning for a journal.
public struct JournalOptions: Sendable {
    /// A segment that has reached this size is closed and a new one started.
    public var segmentSize: Int
    /// When rotation leaves more segments than this, the journal compacts itself.
    public var maxSegments: Int
    /// Finished runs kept per schedule in the state view and in snapshots.
    public var historyLimit: Int

    public init(segmentSize: Int = 8 << 20, maxSegments: Int = 8, historyLimit: Int = 50) {
        self.segmentSize = segmentSize
        self.maxSegments = maxSegments
        self.historyLimit = historyLimit
    }
}

/// The append-only, crash-safe job journal (format: `docs/journal-format.md`).
///
/// `append` returns once the record is on disk. Appends from any number of tasks queue up; a single
/// writer thread takes everything waiting, writes it in one call and syncs once (group commit), so
/// the sequence numbers are strict and gap-free in file order. The writer runs on its own dispatch
/// queue because fdatasync blocks, and a blocked cooperative thread would stall unrelated tasks.
public final class Journal: Sendable {
    public let directory: String
    public let options: JournalOptions
    /// What recovery found when this journal was opened.
    public let recovery: RecoveryReport

    private typealias Waiter = (event: JournalEvent, at: Date, continuation: CheckedContinuation<JournalRecord, any Error>)

    private struct Queue {
        var waiting: [Waiter] = []
        var draining = false
        var closed = false
    }

    private let queue = DispatchQueue(label: "imagebuildd.journal.writer")
    private let waiting = Mutex(Queue())
    private let writer: Mutex<SegmentWriter>
    private let commitObserver = Mutex<CommitObserver?>(nil)

    /// Told of every committed batch: how many records it held and how long its write and sync took.
    public typealias CommitObserver = @Sendable (_ records: Int, _ writeAndSync: Duration) -> Void

    /// Opens (creating if needed) the journal in `directory`: recovers it, truncating a torn tail and
    /// finishing an interrupted compaction. Refuses, with the segment and offset, to open a damaged one.
    public init(directory: String, options: JournalOptions = JournalOptions()) throws {
        self.directory = directory
        self.options = options
        try SegmentFiles.makeDirectory(directory)
        let scan = try DirectoryScan(directory: directory, historyLimit: options.historyLimit)
        var numbers = scan.segmentNumbers
        var changedNames = false
        for temporary in scan.report.temporaries {
            try SegmentFiles.remove(directory + "/" + temporary)
            changedNames = true
        }
        if let torn = scan.report.tornTail {
            try SegmentFiles.truncate(torn.segment, to: scan.lastSegmentValidSize)
        }
        if let base = scan.baseSegment, numbers.first! < base {
            for number in numbers where number < base {
                try SegmentFiles.remove(SegmentFiles.path(directory, number))
            }
            numbers.removeAll { $0 < base }
            changedNames = true
        }
        let fd: Int32
        let size: Int
        if let last = numbers.last {
            fd = try SegmentFiles.openForAppend(SegmentFiles.path(directory, last))
            size = scan.lastSegmentValidSize
        } else {
            numbers = [1]
            fd = try SegmentFiles.create(SegmentFiles.path(directory, 1))
            size = 0
            changedNames = true
        }
        if changedNames { try SegmentFiles.syncDirectory(directory) }
        recovery = scan.report
        writer = Mutex(SegmentWriter(directory: directory, options: options, fd: fd, firstSegment: numbers.first!,
                                     segment: numbers.last!, size: size, nextSeq: scan.report.lastSeq + 1, state: scan.state))
    }

    deinit {
        writer.withLock { $0.close() }
    }

    /// Appends one record and returns it once it is durable.
    public func append(_ event: JournalEvent, at: Date = Date()) async throws -> JournalRecord {
        try await withCheckedThrowingContinuation { continuation in
            let start: Bool? = waiting.withLock { q in
                guard !q.closed else { return nil }
                q.waiting.append((event, at, continuation))
                defer { q.draining = true }
                return !q.draining
            }
            switch start {
            case nil: continuation.resume(throwing: JournalError.closed)
            case true?: queue.async { self.drain() }
            case false?: break
            }
        }
    }

    /// Writes a snapshot of the state into a new segment and removes the older ones.
    public func compact() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async {
                continuation.resume(with: Result(catching: { () throws(JournalError) in try self.writer.withLock { w throws(JournalError) in try w.compact() } }))
            }
        }
    }

    /// The current state view: everything acknowledged so far.
    public var state: JournalState {
        writer.withLock { $0.state }
    }

    /// The last slot seen for `schedule`. Cheaper than `state`: a copy of the whole view held across
    /// an append makes the writer copy its dictionaries.
    public func lastSlot(for schedule: String) -> Date? {
        writer.withLock { $0.state.lastSlot[schedule] }
    }

    /// One schedule's facts (first seen, last run and success, stale, runs per outcome), without
    /// copying the view: readers ask here rather than keep a second copy of 10,000 schedules' facts.
    public func scheduleFacts(_ schedule: String) -> ScheduleFacts? {
        writer.withLock { $0.state.schedules[schedule] }
    }

    public func scheduleFacts(_ schedules: [String]) -> [ScheduleFacts?] {
        writer.withLock { writer in schedules.map { writer.state.schedules[$0] } }
    }

    /// The open run of `key`, if it is open.
    public func openRun(_ key: SlotKey) -> RunRecord? {
        writer.withLock { $0.state.openRuns[key] }
    }

    /// The sequence number of the last acknowledged record.
    public var lastSeq: UInt64 {
        writer.withLock { $0.nextSeq - 1 }
    }

    /// Segment files currently holding the journal.
    public var segmentCount: Int {
        writer.withLock { $0.segment - $0.firstSegment + 1 }
    }

    /// Data syncs performed for appends; fewer than appends when group commit batched them.
    public var syncCount: Int {
        writer.withLock { $0.syncs }
    }

    /// Why the last automatic compaction failed, if it did; appends carry on regardless.
    public var compactionError: JournalError? {
        writer.withLock { $0.compactionError }
    }

    /// Who hears about each commit (the daemon's metrics); called on the writer's queue, so it must be quick.
    public func setCommitObserver(_ observer: CommitObserver?) {
        commitObserver.withLock { $0 = observer }
    }

    /// Commits what is waiting, then refuses further appends and closes the segment.
    public func close() async {
        waiting.withLock { $0.closed = true }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                while self.commitWaiting() {}
                self.writer.withLock { $0.close() }
                continuation.resume()
            }
        }
    }

    // Runs on `queue`. One batch per dispatch, so a compaction queued meanwhile is not starved.
    private func drain() {
        if commitWaiting() {
            queue.async { self.drain() }
        }
    }

    /// Commits everything waiting as one batch; false when nothing was waiting.
    private func commitWaiting() -> Bool {
        let batch: [Waiter] = waiting.withLock { q in
            defer { q.waiting = [] }
            if q.waiting.isEmpty { q.draining = false }
            return q.waiting
        }
        guard !batch.isEmpty else { return false }
        // The lock guards the writer's fields, not the disk: readers of `state` must not wait out a
        // sync. Only this queue writes, so the batch's place cannot change while the lock is released.
        let result: Result<[JournalRecord], JournalError>
        switch writer.withLock({ $0.prepare(batch.map { ($0.event, $0.at) }) }) {
        case .success(let prepared):
            let started = ContinuousClock.now
            let written = SegmentWriter.write(prepared)
            let took = ContinuousClock.now - started
            result = writer.withLock { $0.finish(prepared, written) }
            if case .success(let records) = result, let observe = commitObserver.withLock({ $0 }) { observe(records.count, took) }
        case .failure(let error):
            result = .failure(error)
        }
        switch result {
        case .success(let records):
            for (waiter, record) in zip(batch, records) { waiter.continuation.resume(returning: record) }
        case .failure(let error):
            for waiter in batch { waiter.continuation.resume(throwing: error) }
        }
        writer.withLock { $0.compactIfDue() }
        return true
    }
}

/// The writer's state, only ever touched on the journal's queue (and read under its lock).
struct SegmentWriter: ~Copyable {
    let directory: String
    let options: JournalOptions
    var fd: Int32
    var firstSegment: Int
    var segment: Int
    var size: Int
    var nextSeq: UInt64
    var state: JournalState
    // Set when a sync failed: after a failed fsync the kernel may have dropped the dirty pages,
    // so retrying could acknowledge data that is not on disk. Only a reopen (recovery) is safe.
    var failure: String?
    var compactionError: JournalError?
    var syncs = 0
    /// The time of the latest acknowledged record: the caller's clock, which dates a snapshot too.
    var lastAt: Date?

    init(directory: String, options: JournalOptions, fd: Int32, firstSegment: Int, segment: Int, size: Int,
         nextSeq: UInt64, state: JournalState) {
        self.directory = directory
        self.options = options
        self.fd = fd
        self.firstSegment = firstSegment
        self.segment = segment
        self.size = size
        self.nextSeq = nextSeq
        self.state = state
    }

    var path: String { SegmentFiles.path(directory, segment) }

    mutating func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// A batch framed and placed at the end of the current segment, ready to be written.
    struct PreparedBatch {
        var fd: Int32
        var path: String
        var offset: Int
        var bytes: [UInt8]
        var records: [JournalRecord]
    }

    /// Rotates if the segment is full, then frames the batch; no data I/O.
    mutating func prepare(_ events: [(JournalEvent, Date)]) -> Result<PreparedBatch, JournalError> {
        if let failure { return .failure(.writerFailed(failure)) }
        guard fd >= 0 else { return .failure(.closed) }
        do {
            if size >= options.segmentSize { try rotate() }
        } catch {
            return .failure(error)
        }
        var bytes: [UInt8] = []
        var records: [JournalRecord] = []
        records.reserveCapacity(events.count)
        for (offset, (event, at)) in events.enumerated() {
            let record = JournalRecord(seq: nextSeq + UInt64(offset), at: at, event: event)
            Framing.frame(RecordCodec.encode(record), into: &bytes)
            records.append(record)
        }
        return .success(PreparedBatch(fd: fd, path: path, offset: size, bytes: bytes, records: records))
    }

    /// Writes and syncs a prepared batch: the slow part, done without the lock.
    static func write(_ batch: PreparedBatch) -> Result<Void, WriteFailure> {
        do {
            try SegmentFiles.write(batch.fd, batch.bytes, at: batch.offset, path: batch.path)
        } catch {
            return .failure(WriteFailure(error: error, synced: false))
        }
        do {
            try SegmentFiles.syncData(batch.fd, batch.path)
        } catch {
            return .failure(WriteFailure(error: error, synced: true))
        }
        return .success(())
    }

    /// Why a batch did not reach the disk, and whether the write itself got through.
    struct WriteFailure: Error {
        var error: JournalError
        var synced: Bool
    }

    /// Acknowledges a written batch into the state view, or records why it failed.
    mutating func finish(_ batch: PreparedBatch, _ written: Result<Void, WriteFailure>) -> Result<[JournalRecord], JournalError> {
        switch written {
        case .failure(let failure) where !failure.synced:
            // A partial write (ENOSPC) must not stay in front of the next batch.
            if ftruncate(fd, off_t(size)) != 0 { self.failure = "\(failure.error); ftruncate failed too" }
            return .failure(failure.error)
        case .failure(let failure):
            self.failure = "\(failure.error)"
            return .failure(failure.error)
        case .success:
            syncs += 1
            size += batch.bytes.count
            nextSeq += UInt64(batch.records.count)
            for record in batch.records { state.apply(record) }
            lastAt = batch.records.last?.at ?? lastAt
            return .success(batch.records)
        }
    }

    private mutating func rotate() throws(JournalError) {
        let next = SegmentFiles.path(directory, segment + 1)
        let newFD = try SegmentFiles.create(next)
        do {
            try SegmentFiles.syncDirectory(directory)
        } catch {
            Glibc.close(newFD)
            unlink(next)
            throw error
        }
        Glibc.close(fd)
        fd = newFD
        segment += 1
        size = 0
    }

    mutating func compactIfDue() {
        guard failure == nil, fd >= 0, segment - firstSegment + 1 > options.maxSegments else { return }
        do {
            try compact()
            compactionError = nil
        } catch {
            compactionError = error
        }
    }

    /// Snapshot into segment+1 via a synced temporary file and an atomic rename, then drop the
    /// older segments. Until the rename the old segments are the journal; after it, the snapshot is,
    /// and recovery removes any older segment left behind. No instant loses a record.
    mutating func compact() throws(JournalError) {
        if let failure { throw JournalError.writerFailed(failure) }
        guard fd >= 0 else { throw JournalError.closed }
        let number = segment + 1
        let final = SegmentFiles.path(directory, number)
        let temporary = directory + "/" + SegmentFiles.name(number) + ".tmp"
        let record = JournalRecord(seq: nextSeq, at: lastAt ?? Date(), event: .snapshot(state))
        var bytes: [UInt8] = []
        Framing.frame(RecordCodec.encode(record), into: &bytes)
        let tfd = try SegmentFiles.create(temporary)
        do {
            try SegmentFiles.write(tfd, bytes, at: 0, path: temporary)
            try SegmentFiles.syncData(tfd, temporary)
            Glibc.close(tfd)
        } catch {
            Glibc.close(tfd)
            unlink(temporary)
            throw error
        }
        try SegmentFiles.rename(temporary, final)
        do {
            try SegmentFiles.syncDirectory(directory)
        } catch {
            failure = "\(error)"
            throw error
        }
        let newFD = try SegmentFiles.openForAppend(final)
        Glibc.close(fd)
        fd = newFD
        nextSeq += 1
        state.apply(record)
        let oldest = firstSegment
        firstSegment = number
        segment = number
        size = bytes.count
        for old in oldest..<number {
            try SegmentFiles.remove(SegmentFiles.path(directory, old))
        }
        try SegmentFiles.syncDirectory(directory)
    }
}
