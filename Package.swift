// swift-tools-version: 6.1
import PackageDescription

// Every source module sees only what it imports, so a swift-corelibs-foundation API (which would
// bring ICU's 34 MB of data into the binary) cannot creep in through another module's import.
let strictImports: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "imagebuildd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "imagebuildd", targets: ["BuildDaemon"]),
        .library(name: "JobJournal", targets: ["JobJournal"]),
        .library(name: "Scheduler", targets: ["Scheduler"]),
        .library(name: "Transport", targets: ["Transport"]),
        .library(name: "AzureClient", targets: ["AzureClient"]),
        .library(name: "AzureSimulator", targets: ["AzureSimulator"]),
        .library(name: "RunLifecycle", targets: ["RunLifecycle"]),
        .library(name: "Config", targets: ["Config"]),
        .library(name: "Orchestration", targets: ["Orchestration"]),
        .library(name: "FuzzProperties", targets: ["FuzzProperties"]),
        .library(name: "ControlProtocol", targets: ["ControlProtocol"]),
        .library(name: "Notifications", targets: ["Notifications"]),
        .library(name: "Observability", targets: ["Observability"]),
        .library(name: "EtcdStore", targets: ["EtcdStore"]),
        .library(name: "Leadership", targets: ["Leadership"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Already in the graph through async-http-client; named for HMAC-SHA256 of webhook bodies.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // zlib, for gzip-compressed scrapes (Prometheus asks for them).
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(name: "JobJournal"),
        .target(name: "Scheduler"),
        // HTTP requests and responses, the async-http-client transport (TLS, CA files, client
        // certificates) and Retry-After: what ARM, etcd and webhooks are reached through.
        .target(
            name: "Transport",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "AzureClient",
            dependencies: [
                "Transport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // An ARM + token endpoint on loopback for tests, `imagebuildd simulate` and the demo.
        .target(
            name: "AzureSimulator",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The run lifecycle as a pure state machine, the admission ledger and the slot timer: no clock, no I/O.
        .target(name: "RunLifecycle", dependencies: ["JobJournal", "Scheduler"]),
        // The operator control socket: Varlink framing, the io.imagebuildd.Control interface, server and client.
        .target(
            name: "ControlProtocol",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The config and the orchestrator that runs slots to their end; the executable only wires it.
        // The config file: its YAML reader, the settings it holds and their rules.
        .target(name: "Config", dependencies: ["JobJournal", "Scheduler", "Transport", "AzureClient", "RunLifecycle"]),
        .target(
            name: "Orchestration",
            dependencies: [
                "JobJournal", "Scheduler", "Transport", "AzureClient", "RunLifecycle", "Config",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Webhook delivery: journaled intents sent at least once, signed, retried within a window.
        .target(
            name: "Notifications",
            dependencies: [
                "JobJournal", "Transport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The daemon's Prometheus metrics: the registry, `GET /metrics`, the node_exporter textfile.
        .target(
            name: "Observability",
            dependencies: [
                "JobJournal",
                "CZlib",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // etcd v3 through its JSON gateway, for cluster mode: KV, transactions with compares, leases.
        .target(name: "EtcdStore", dependencies: ["Transport", "JobJournal"]),
        // Leadership terms as a pure machine and the one loop that runs it, in both modes.
        .target(name: "Leadership"),
        // The property each fuzz target checks (Fuzz/), shared with the test that replays its crashers.
        .target(name: "FuzzProperties", dependencies: ["Scheduler", "Config", "Orchestration", "JobJournal", "AzureClient", "ControlProtocol"]),
        .executableTarget(
            name: "BuildDaemon",
            dependencies: [
                "JobJournal", "Scheduler", "Transport", "AzureClient", "AzureSimulator", "Config", "Orchestration", "ControlProtocol", "CSystemd",
                "Notifications", "Observability", "EtcdStore", "Leadership",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // A child process for the crash tests: appends or compacts until SIGKILLed.
        .executableTarget(name: "JournalTorture", dependencies: ["JobJournal"]),
        .testTarget(
            name: "JobJournalTests",
            dependencies: [
                "JobJournal",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // Runs the built `imagebuildd` binary as a child process, the way users meet it.
        .testTarget(
            name: "BuildDaemonTests",
            dependencies: [
                "JobJournal", "AzureSimulator",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .testTarget(name: "OrchestrationTests", dependencies: ["RunLifecycle", "Config", "Orchestration", "JobJournal", "Scheduler", "EtcdStore", "Leadership"]),
        .testTarget(name: "ObservabilityTests", dependencies: ["Observability", "Notifications", "Orchestration", "JobJournal", "Transport"]),
        .testTarget(name: "LeadershipTests", dependencies: ["Leadership"]),
        .testTarget(name: "EtcdStoreTests", dependencies: ["EtcdStore", "Transport", "JobJournal"]),
        .testTarget(name: "ControlProtocolTests", dependencies: ["ControlProtocol", "FuzzProperties"]),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FuzzProperties"]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler"], exclude: ["Fixtures"]),
        .testTarget(
            name: "AzureClientTests",
            dependencies: [
                "AzureClient", "AzureSimulator", "Transport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

for target in package.targets where target.type == .regular || target.type == .executable {
    target.swiftSettings = (target.swiftSettings ?? []) + strictImports
}

// The seeded simulation runs thousands of histories of these modules in `make test`'s debug build;
// optimized there too (as `make sim` builds them in release, with testing enabled), it takes a
// fraction of the time. Everything else stays unoptimized for debugging.
let simulated: Set<String> = ["Scheduler", "JobJournal", "RunLifecycle", "Config", "Orchestration", "Leadership", "EtcdStore", "OrchestrationTests"]
for target in package.targets where simulated.contains(target.name) {
    target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-O"], .when(configuration: .debug))]
}
