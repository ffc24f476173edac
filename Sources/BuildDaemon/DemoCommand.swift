import ArgumentParser
import AzureClient
import AzureSimulator
import Config
import ControlProtocol
import FoundationEssentials
import Glibc
import JobJournal
import Logging
import Orchestration
import Transport

/// `imagebuildd demo`: the daemon against the in-process simulator on a compressed clock. No Azure
/// account, no root: one template succeeds, one fails, one hangs and is cancelled at its timeout.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon against the built-in Azure simulator (about 30 seconds, no Azure account).")

    @Option(help: "Simulated minutes per real second.")
    var speed: Double = 2

    @Option(help: "Simulated minutes to run.")
    var minutes: Double = 60

    func run() async throws {
        let start = Date(timeIntervalSince1970: 1_799_027_400)  // 2027-01-04T01:50:00Z
        let clock = ScaledClock(origin: start, realOrigin: Date(), scale: speed * 60)
        let subscription = "00000000-0000-0000-0000-000000000000"
        func phases(_ minutes: Double) -> [Double] { Array(repeating: minutes * 60, count: 4) }
        let scenario = Scenario(templates: [
            SeedTemplate(subscriptionId: subscription, resourceGroup: "images", name: "ubuntu-2204-golden", runOutputNames: ["ubuntu-managed-image", "ubuntu-gallery"],
                         behavior: TemplateBehavior(outcome: .succeed, phaseSeconds: phases(3))),
            SeedTemplate(subscriptionId: subscription, resourceGroup: "images", name: "windows-2022-golden",
                         behavior: TemplateBehavior(outcome: .fail, phaseSeconds: phases(2), failureMessage: "PowerShell customizer 'install-updates' exited with code 1")),
            SeedTemplate(subscriptionId: subscription, resourceGroup: "images", name: "rhel-9-golden",
                         behavior: TemplateBehavior(outcome: .hang, phaseSeconds: phases(2), cancelSeconds: 60)),
        ], tokenLifetimeSeconds: 10 * 365 * 86_400)
        let simulator = try await AzureSimulator(scenario: scenario, now: { clock.now() })
        let stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("imagebuildd-demo-\(getpid())").path
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: stateDirectory) }

        LoggingSystem.bootstrap { _ in DemoLogHandler(clock: clock) }
        let logger = Logger(label: "imagebuildd")
        let yaml = """
            azure:
              resource_manager_endpoint: \(simulator.baseURL.absoluteString)
              authority_host: \(simulator.baseURL.absoluteString)
              credential: client-secret
              tenant_id: \(simulator.principal.tenantId)
              client_id: \(simulator.principal.clientId)
            state_directory: \(stateDirectory)
            control: { socket: \(stateDirectory)/control.sock }
            metrics: { listen: "127.0.0.1:0" }
            defaults:
              timezone: UTC
              poll: { initial: 1m, max: 4m, multiplier: 2 }
              cancel_wait: 5m
            schedules:
              - { name: ubuntu-nightly, subscription_id: \(subscription), resource_group: images, template: ubuntu-2204-golden, cron: "0,30 2 * * *" }
              - { name: windows-nightly, subscription_id: \(subscription), resource_group: images, template: windows-2022-golden, cron: "0 2 * * *", stale_after: 30m }
              - { name: rhel-nightly, subscription_id: \(subscription), resource_group: images, template: rhel-9-golden, cron: "5 2 * * *", build_timeout: 15m }
            """
        let config: DaemonConfig
        do { config = try ConfigLoader(file: "demo.yaml").parse(yaml) } catch { Terminal.failure("\(error)") }
        print("""
            imagebuildd demo: the daemon against the built-in Azure simulator at \(simulator.baseURL.absoluteString)
            simulated time starts at \(RFC3339.string(start)) and runs \(Int(speed)) minutes per second; state in \(stateDirectory)
              ubuntu-nightly  "0,30 2 * * *"  ubuntu-2204-golden   succeeds, two run outputs
              windows-nightly "0 2 * * *"     windows-2022-golden  fails; stale 30m after it first appeared (stale_after: 30m)
              rhel-nightly    "5 2 * * *"     rhel-9-golden        hangs; cancelled at its 15m build timeout
            meanwhile, in another terminal: imagebuildd status --socket \(stateDirectory)/control.sock
            or curl the metrics URL the log names

            """)
        let transport = try AsyncHTTPTransport()
        let credential = ClientSecretCredential(tenantID: simulator.principal.tenantId, clientID: simulator.principal.clientId,
                                                secret: .literal(simulator.principal.clientSecret), authorityHost: simulator.baseURL, transport: transport)
        let client = try ImageTemplatesClient(configuration: AzureClientConfiguration(resourceManagerEndpoint: simulator.baseURL),
                                              credential: credential, transport: transport, logger: logger,
                                              sleep: { try await clock.sleep(for: $0) })
        let journal = try Journal(directory: stateDirectory + "/journal")
        let orchestrator = Orchestrator(config: config, journal: journal, client: client, clock: clock, logger: logger)
        let node = DaemonNode(name: nil, clock: clock)
        let reporting = try Reporting(config: config, journal: journal, client: client, transport: transport, clock: clock, logger: logger) { [clock] in
            _ = try await journal.append($0, at: clock.now())
        }
        await reporting.attach(to: orchestrator)
        try await orchestrator.start()
        await node.lead(orchestrator, store: journal)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await orchestrator.run() }
            // The operator commands work against the demo too: `imagebuildd status --socket …`.
            group.addTask {
                try await ControlServer(path: config.control.socket, operatorsGroup: config.control.operatorsGroup,
                                        service: ControlAdapter(node: node)) { _, _ in }.run()
            }
            group.addTask {
                await withTaskGroup(of: Void.self) { reports in
                    for task in reporting.tasks({ (orchestrator, true) }) { reports.addTask { await task() } }
                }
            }
            try await clock.sleep(until: start.addingTimeInterval(minutes * 60))
            let scrape = String(decoding: await reporting.render({ (orchestrator, true) }).body, as: UTF8.self)
            print("\nfrom the metrics scrape (GET /metrics):")
            for line in scrape.split(separator: "\n").filter({ line in
                ["imagebuildd_runs_total{", "imagebuildd_schedule_stale{", "imagebuildd_schedule_last_success"].contains { line.hasPrefix($0) }
            }).sorted() { print("  " + line) }
            group.cancelAll()
            try await group.waitForAll()
        }
        await journal.close()
        try await transport.shutdown()
        try await simulator.shutdown()

        let state = try JournalInspection.verify(directory: stateDirectory + "/journal").state
        let runs = (Array(state.openRuns.values) + state.history.values.joined()).sorted { $0.key > $1.key }
        print("\nhistory (newest first), as `imagebuildd history` prints it:")
        for line in HistoryText.lines(runs) { print("  " + line) }
        let calls = Dictionary(grouping: simulator.requests.compactMap(\.operation), by: { $0 }).mapValues(\.count)
        print("\nARM requests the simulator served: " + calls.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", "))
    }
}

/// Demo output: simulated time, then the message and the fields that matter.
struct DemoLogHandler: EventLogHandler {
    let clock: ScaledClock
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    func emit(level: Logger.Level, message: Logger.Message, metadata merged: Logger.Metadata) {
        let time = RFC3339.string(clock.now()).dropFirst(11).prefix(5)
        let who = [merged["SCHEDULE"], merged["TEMPLATE"].map { "(\($0))" }].compactMap { $0?.description }.joined(separator: " ")
        let marker = level >= .warning ? "!" : " "
        print("\(time) \(marker) \(who.isEmpty ? "" : who + ": ")\(message)")
    }
}
