import Benchmark
import Foundation
import BenchmarkFixtures
import JobJournal

// Figures for issue "Package foundation and the crash-safe JobJournal": durable appends per second
// (1 and 64 writers) and recovery of 1,000,000 records, each beside SQLite doing the same work in
// the same run. Files live under $BENCH_DIR (default: the system temp directory), on a real disk.

let benchDirectory = ProcessInfo.processInfo.environment["BENCH_DIR"] ?? NSTemporaryDirectory()

func freshDirectory(_ name: String) -> String {
    let path = benchDirectory + "/imagebuildd-bench-\(name)-\(getpid())"
    try? FileManager.default.removeItem(atPath: path)
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

let target = BuildTarget(subscriptionID: "00000000-0000-0000-0000-000000000000", resourceGroup: "images", template: "ubuntu-2204-golden")

/// A typical record: a status change of a running build.
func event(_ n: Int) -> JournalEvent {
    .statusObserved(SlotKey(schedule: "template-\(n % 1000)", slotMillis: 1_800_000_000_000 + Int64(n / 1000) * 86_400_000),
                    RunStatus(runState: "Running", runSubState: "Building"))
}

func payload(_ n: Int) -> [UInt8] {
    RecordCodec.encode(JournalRecord(seq: UInt64(n + 1), at: Date(), event: event(n)))
}

/// Appends `count` records from `writers` concurrent tasks.
func appendConcurrently(_ journal: Journal, count: Int, writers: Int) async {
    await withTaskGroup(of: Void.self) { group in
        for w in 0..<writers {
            group.addTask {
                var n = w
                while n < count {
                    _ = try! await journal.append(event(n))
                    n += writers
                }
            }
        }
    }
}

let recoveryRecords = 1_000_000

/// A journal of 1,000,000 records and the same rows in SQLite, built once.
final class RecoveryFixture: @unchecked Sendable {
    static let shared = RecoveryFixture()
    let journalPath = freshDirectory("recovery-journal") + "/journal"
    let sqlitePath = freshDirectory("recovery-sqlite") + "/records.db"
    private var built = false

    func build() async {
        guard !built else { return }
        built = true
        let journal = try! Journal(directory: journalPath, options: JournalOptions(maxSegments: 1000))
        await fillJournal(journal, records: recoveryRecords, schedules: 1000) { _ in target }
        await journal.close()
        let peer = SQLitePeer(path: sqlitePath)
        var payloads: [[UInt8]] = []
        _ = try! JournalInspection.verify(directory: journalPath) { payloads.append(Array($0.payload.utf8)) }
        for start in stride(from: 0, to: payloads.count, by: 10_000) {
            peer.appendBatch(Array(payloads[start..<min(start + 10_000, payloads.count)]))
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .cpuTotal],
        timeUnits: .microseconds,
        maxDuration: .seconds(5),
        maxIterations: 20
    )

    for writers in [1, 64] {
        Benchmark("Journal append+fdatasync, \(writers) writer(s)",
                  configuration: .init(scalingFactor: .kilo)) { benchmark in
            let dir = freshDirectory("append-\(writers)")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let journal = try! Journal(directory: dir + "/journal")
            benchmark.startMeasurement()
            await appendConcurrently(journal, count: benchmark.scaledIterations.count, writers: writers)
            benchmark.stopMeasurement()
            await journal.close()
        }
    }

    Benchmark("SQLite WAL synchronous=FULL, INSERT per transaction",
              configuration: .init(scalingFactor: .kilo)) { benchmark in
        let dir = freshDirectory("sqlite")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let peer = SQLitePeer(path: dir + "/records.db")
        let payloads = benchmark.scaledIterations.map(payload)
        benchmark.startMeasurement()
        for p in payloads { peer.append(p) }
        benchmark.stopMeasurement()
    }

    Benchmark("Journal recovery, 1M records",
              configuration: .init(metrics: [.wallClock, .cpuTotal, .peakMemoryResident], maxIterations: 5)) { benchmark in
        let journal = try! Journal(directory: RecoveryFixture.shared.journalPath, options: JournalOptions(maxSegments: 1000))
        precondition(journal.recovery.records == recoveryRecords)
        precondition(journal.state.openRuns.count == 1000)
    } setup: {
        await RecoveryFixture.shared.build()
    }

    Benchmark("SQLite full scan, 1M rows",
              configuration: .init(metrics: [.wallClock, .cpuTotal, .peakMemoryResident], maxIterations: 5)) { benchmark in
        blackHole(SQLitePeer(path: RecoveryFixture.shared.sqlitePath).scanAll())
    } setup: {
        await RecoveryFixture.shared.build()
    }
}
