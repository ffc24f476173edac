// swift-tools-version: 6.1
import Foundation
import PackageDescription

// A package of its own so that `make test` never builds the benchmark harness. The root package is a
// path dependency, whose identity is its directory's name: whatever the clone is called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

let package = Package(
    name: "imagebuildd-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: root.path),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // Journal contents shared by the recovery benchmark and the soak's start-up journal.
        .target(name: "BenchmarkFixtures", dependencies: [.product(name: "JobJournal", package: root.lastPathComponent)], path: "Fixtures"),
        // Under Tools/, not directly under Benchmarks/: the benchmark plugin runs every executable
        // whose folder sits in a folder named Benchmarks, and this one is a helper for the soak.
        .executableTarget(name: "JournalFill", dependencies: ["BenchmarkFixtures", .product(name: "JobJournal", package: root.lastPathComponent)],
                          path: "Tools/JournalFill"),
        .executableTarget(
            name: "JournalBenchmarks",
            dependencies: [
                "CSQLite", "BenchmarkFixtures",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "JobJournal", package: root.lastPathComponent),
            ],
            path: "JournalBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "SchedulerBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Scheduler", package: root.lastPathComponent),
            ],
            path: "SchedulerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
