import AzureClient
import Config
import Foundation
import JobJournal
import Logging
import Orchestration
import Scheduler
import Synchronization
import Testing

/// The real orchestrator, in process, on a manual clock against an in-process ARM: what a process
/// shows (signals, systemd, TLS) stays in BuildDaemonTests.
@Suite struct DriverTests {
    static let t0 = Date(timeIntervalSince1970: 1_798_761_600)  // 2027-01-01T00:00:00Z

    final class World: Sendable {
        let activity = ActivityGauge()
        let clock: ManualClock
        let arm: FakeARM
        let directory: String
        let lines = LogLines()
        let config: DaemonConfig

        init(yaml: String, templates: [String: FakeARM.Template], start: Date = DriverTests.t0) throws {
            clock = ManualClock(start, activity: activity)
            arm = FakeARM(clock: clock, templates: templates)
            directory = NSTemporaryDirectory() + "imagebuildd-driver-\(UUID().uuidString)"
            config = try ConfigLoader(file: "test.yaml", environment: [:]).parse(yaml)
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }

        var logger: Logger {
            let lines = self.lines
            return Logger(label: "test") { _ in CollectingHandler(lines: lines) }
        }

        /// Starts an orchestrator on the journal, runs it until `end`, stops it; returns what `run()` threw.
        /// `steps` act on the running orchestrator, each at its instant, in order; `atEnd` reads it
        /// before it stops.
        func run(until end: Date, client: (any TemplateOperations)? = nil,
                 steps: [(at: Date, act: (Orchestrator) async throws -> Void)] = [],
                 atEnd: (Orchestrator) async throws -> Void = { _ in }) async throws -> (any Error)? {
            let journal = try Journal(directory: directory)
            let orchestrator = Orchestrator(config: config, journal: journal, client: client ?? arm, clock: clock, logger: logger, activity: activity)
            try await orchestrator.start()
            let thrown = try await withThrowingTaskGroup(of: (any Error)?.self) { group in
                group.addTask {
                    do { try await orchestrator.run() } catch { return error }
                    return nil
                }
                for step in steps {
                    await clock.run(until: step.at)
                    try await step.act(orchestrator)
                }
                await clock.run(until: end)
                try await atEnd(orchestrator)
                group.cancelAll()
                return try await group.next() ?? nil
            }
            await journal.close()
            return thrown
        }

        func history() throws -> [RunRecord] {
            try JournalInspection.verify(directory: directory).state.history.values.joined().sorted { $0.key < $1.key }
        }

        func openRuns() throws -> [SlotKey: RunRecord] {
            try JournalInspection.verify(directory: directory).state.openRuns
        }

        func records() throws -> [JournalEvent] {
            var events: [JournalEvent] = []
            _ = try JournalInspection.verify(directory: directory) { events.append($0.record.event) }
            return events
        }
    }

    final class LogLines: Sendable {
        private let lines = Mutex<[(Logger.Level, String)]>([])
        func append(_ line: (Logger.Level, String)) { lines.withLock { $0.append(line) } }
        var all: [(Logger.Level, String)] { lines.withLock { $0 } }
    }

    struct CollectingHandler: LogHandler {
        let lines: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            lines.append((event.level, "\(event.message)"))
        }
    }

    static func schedule(_ name: String, _ template: String, _ cron: String, _ extra: String = "") -> String {
        """
          - name: \(name)
            subscription_id: 00000000-0000-0000-0000-000000000000
            resource_group: images
            template: \(template)
            cron: "\(cron)"
        \(extra.isEmpty ? "" : "    " + extra)
        """
    }

    static func date(_ minutes: Double) -> Date { t0.addingTimeInterval(minutes * 60) }

    /// Issue 12's report: two schedules on one template, `overlap: queue`, firing at the same
    /// minutes while a build runs. Every slot ends with one final record: of each colliding pair, one
    /// is queued and run, the other skipped with its reason.
    @Test func twoSchedulesOnOneTemplateEndWithEverySlotFinal() async throws {
        let world = try World(yaml: """
            defaults: { overlap: queue, poll: { initial: 30s, max: 1m, multiplier: 2 } }
            schedules:
            \(Self.schedule("a", "golden", "0 0-3 * * *"))
            \(Self.schedule("b", "golden", "0 0-3 * * *"))
            """, templates: ["golden": FakeARM.Template(buildMinutes: 70)], start: Self.date(-1))
        #expect(try await world.run(until: Self.date(5 * 60)) == nil)
        #expect(try world.openRuns().isEmpty, "every slot that came due is final")
        var finals: [SlotKey: [String]] = [:]
        for event in try world.records() {
            switch event {
            case .slotDue(let key, _): finals[key, default: []] += []
            case .finished(let key, let outcome, _): finals[key, default: []].append(outcome.rawValue)
            case .slotSkipped(let key, let reason): finals[key, default: []].append("skipped: " + reason)
            default: break
            }
        }
        #expect(finals.count == 8)
        #expect(finals.values.allSatisfy { $0.count == 1 }, "\(finals)")
        for hour in 0...3 {
            let pair = finals.filter { $0.key.slot == Self.date(Double(hour * 60)) }.values.flatMap { $0 }.sorted()
            #expect(pair.count == 2 && pair[0].hasPrefix("skipped: overlap: ") && pair[1] == "succeeded", "\(hour):00 \(pair)")
        }
        // One build at a time on the template, and one per slot that ran.
        let builds = world.arm.builds("golden")
        #expect(builds.count == 4)
        for (a, b) in zip(builds, builds.dropFirst()) {
            #expect(b.startedAt >= a.startedAt.addingTimeInterval(a.duration))
        }
    }

    /// Throttling and outages before and during builds, a lost Run answer: every slot still reaches
    /// its real end, and the lost answer is reconciled, not repeated.
    @Test func stormsStillReachTheRightEnd() async throws {
        let world = try World(yaml: """
            defaults: { poll: { initial: 1m, max: 2m, multiplier: 2 } }
            schedules:
            \(Self.schedule("good", "good", "0 * * * *"))
            \(Self.schedule("bad", "bad", "30 * * * *"))
            """, templates: ["good": FakeARM.Template(buildMinutes: 3),
                             "bad": FakeARM.Template(buildMinutes: 3, outcome: "Failed", message: "customizer 'patch' exited 3")])
        world.arm.fail(.get, .status(429), count: 12)
        world.arm.fail(nil, .status(503), count: 8)
        world.arm.fail(.run, .status(503), count: 2)
        world.arm.fail(.run, .transport, count: 1)
        world.arm.fail(.run, .dropAfter, count: 1)
        #expect(try await world.run(until: Self.date(3 * 60 + 50)) == nil)
        let history = try world.history()
        let good = history.filter { $0.key.schedule == "good" }
        let bad = history.filter { $0.key.schedule == "bad" }
        let badRecords = try world.records().filter { $0.slot?.schedule == "bad" }
        #expect(good.count == 3 && good.allSatisfy { $0.outcome == .succeeded }, "\(good)")
        #expect(bad.count == 4 && bad.allSatisfy { $0.outcome == .failed && $0.message == "customizer 'patch' exited 3" },
                "\(bad.map { "\($0.key) \($0.outcome!) \($0.message ?? "")" }) \(badRecords)")
        #expect(world.arm.builds("good").count == 3 && world.arm.builds("bad").count == 4)
    }

    /// SIGTERM while a slot waits out ARM errors: an ordinary stop, not a journal failure, and the
    /// slot stays open for the next start (no `finished` written on the way out).
    @Test func stoppingWhileWaitingOutErrorsIsAnOrdinaryStop() async throws {
        let world = try World(yaml: """
            schedules:
            \(Self.schedule("nightly", "golden", "0 2 * * *"))
            """, templates: ["golden": FakeARM.Template()])
        world.arm.fail(nil, .status(503), count: 1000)
        #expect(try await world.run(until: Self.date(2 * 60 + 10)) == nil)
        #expect(!world.lines.all.contains { $0.0 == .critical }, "\(world.lines.all)")
        #expect(try world.openRuns().count == 1)
        #expect(try world.history().isEmpty)
        // The next start carries on and, with ARM back, runs the slot once.
        world.arm.clearFaults()
        #expect(try await world.run(until: Self.date(2 * 60 + 40)) == nil)
        #expect(try world.history().map(\.outcome) == [.succeeded])
        #expect(world.arm.builds("golden").count == 1)
    }

    /// The previous build's status still shows after Run: it is not mistaken for ours.
    @Test func aLaggingStatusIsNotTakenForTheNewRun() async throws {
        let world = try World(yaml: """
            defaults: { poll: { initial: 1m, max: 5m, multiplier: 2 } }
            schedules:
            \(Self.schedule("nightly", "golden", "0 2 * * *"))
            """, templates: ["golden": FakeARM.Template(buildMinutes: 40, outcome: "Failed", lagSeconds: 20 * 60)])
        #expect(try await world.run(until: Self.date(24 * 60 + 1 * 60)) == nil)
        #expect(try world.history().map(\.outcome) == [.failed])
        // Day two: the failed build is still shown for 20 minutes after the new Run; the new one succeeds.
        world.arm.setOutcome("golden", "Succeeded")
        #expect(try await world.run(until: Self.date(48 * 60 + 60)) == nil)
        #expect(try world.history().map(\.outcome) == [.failed, .succeeded])
    }

    /// A restart mid-build adopts the run before anything else and follows it to its end: one Run.
    @Test func aRestartMidBuildAdoptsTheRun() async throws {
        let world = try World(yaml: """
            schedules:
            \(Self.schedule("nightly", "golden", "0 2 * * *"))
            """, templates: ["golden": FakeARM.Template(buildMinutes: 30)])
        #expect(try await world.run(until: Self.date(2 * 60 + 10)) == nil)
        #expect(try world.openRuns().values.first?.acceptedAt != nil)
        #expect(try await world.run(until: Self.date(3 * 60)) == nil)
        #expect(try world.history().map(\.outcome) == [.succeeded])
        #expect(world.arm.calls.filter { $0.operation == .run }.count == 1)
    }

    /// An ARM whose template reads take a minute of the manual clock, as adoption over a slow link does.
    struct SlowReads: TemplateOperations {
        let arm: FakeARM
        let clock: ManualClock
        func get(_ id: ImageTemplateID) async throws(AzureError) -> ImageTemplate {
            clock.advance(to: clock.now().addingTimeInterval(60))
            return try await arm.get(id)
        }
        func run(_ id: ImageTemplateID) async throws(AzureError) -> OperationAcceptance { try await arm.run(id) }
        func cancel(_ id: ImageTemplateID) async throws(AzureError) -> OperationAcceptance { try await arm.cancel(id) }
        func listRunOutputs(_ id: ImageTemplateID) async throws(AzureError) -> [RunOutput] { try await arm.listRunOutputs(id) }
    }

    /// Found by the cluster soak: a slot that came due while start-up adopted open runs was neither
    /// a missed slot (counted before) nor the timer's (started after), and was silently lost.
    @Test func aSlotThatComesDueDuringAdoptionIsRun() async throws {
        let world = try World(yaml: """
            defaults: { poll: { initial: 30s, max: 1m, multiplier: 2 } }
            schedules:
            \(Self.schedule("often", "golden", "*/10 * * * *"))
            """, templates: ["golden": FakeARM.Template(buildMinutes: 5)], start: Self.date(9))
        #expect(try await world.run(until: Self.date(12)) == nil)
        #expect(try world.openRuns().count == 1, "the 00:10 build is open at the stop")
        world.clock.advance(to: Self.date(19.5))
        // Adopting the 00:10 run reads the template once, which takes until 00:20:30.
        #expect(try await world.run(until: Self.date(29), client: SlowReads(arm: world.arm, clock: world.clock)) == nil)
        let slots = try world.history().map(\.key.slot)
        #expect(slots == [Self.date(10), Self.date(20)], "\(slots)")
    }


    /// Found by the cluster soak's smoke run: a schedule whose first slot fell while the daemon was
    /// down (or no node led) had no last slot, so start-up took it as appearing just then and the
    /// slot was never run; it appeared when it was first seen.
    @Test func aFirstSlotMissedWhileDownIsRun() async throws {
        let world = try World(yaml: """
            defaults: { poll: { initial: 30s, max: 1m, multiplier: 2 } }
            schedules:
            \(Self.schedule("often", "golden", "*/10 * * * *"))
            """, templates: ["golden": FakeARM.Template(buildMinutes: 5)], start: Self.date(1))
        #expect(try await world.run(until: Self.date(2)) == nil)
        #expect(try world.records().contains { if case .scheduleSeen = $0 { true } else { false } })
        world.clock.advance(to: Self.date(12))
        #expect(try await world.run(until: Self.date(19)) == nil)
        let slots = try world.history().map(\.key.slot)
        #expect(slots == [Self.date(10)], "\(slots)")
    }
    /// The timeout cancels, and `replace` cancels the running build for a newer slot.
    @Test func timeoutAndReplaceCancel() async throws {
        let world = try World(yaml: """
            defaults: { overlap: replace, build_timeout: 20m, poll: { initial: 30s, max: 1m, multiplier: 2 } }
            schedules:
            \(Self.schedule("slow", "slow", "0 2 * * *"))
            \(Self.schedule("often", "busy", "*/30 * * * *", "build_timeout: 2h"))
            """, templates: ["slow": FakeARM.Template(buildMinutes: 90), "busy": FakeARM.Template(buildMinutes: 40)])
        #expect(try await world.run(until: Self.date(3 * 60)) == nil)
        let history = try world.history()
        #expect(history.first { $0.key.schedule == "slow" }?.outcome == .timedOut)
        let often = history.filter { $0.key.schedule == "often" }
        #expect(often.contains { $0.outcome == .canceled && $0.cancelReason == .replace }, "\(often.map { "\($0.key) \($0.outcome!)" })")
    }

    /// A SIGHUP that changes `build_timeout` while a slot is still reading its template (ARM
    /// answering 503) leaves that run on the timeout it was admitted with.
    /// Found by the simulation's discovery passes: a reload (or a discovery pass) inside a slot's
    /// jitter, after the slot's instant and before it fired, made a new timer that started after
    /// now and stepped over the slot; a schedule whose times did not change goes on from it.
    @Test func aReloadInsideASlotsJitterKeepsTheSlot() async throws {
        let yaml = """
            defaults: { jitter: 9m, poll: { initial: 30s, max: 1m, multiplier: 2 } }
            schedules:
            \(Self.schedule("nightly", "golden", "0 2 * * *"))
            """
        let world = try World(yaml: yaml, templates: ["golden": FakeARM.Template(buildMinutes: 5)], start: Self.date(60))
        let jitter = Jitter.delay(schedule: "nightly", slot: Self.date(120), maximum: .seconds(9 * 60))
        #expect(jitter > .seconds(2), "the reload must fall inside the jitter")
        let config = try ConfigLoader(file: "test.yaml", environment: [:]).parse(yaml)
        let inside = Self.date(120).addingTimeInterval(Double(jitter.components.seconds) / 2)
        #expect(try await world.run(until: Self.date(180), steps: [(at: inside, act: { await $0.reload(config) })]) == nil)
        #expect(try world.history().map(\.key.slot) == [Self.date(120)])
    }

    @Test func aReloadDoesNotChangeTheTimeoutOfAnAdmittedRun() async throws {
        let yaml = { (timeout: String) in
            """
            defaults: { build_timeout: \(timeout), poll: { initial: 30s, max: 1m, multiplier: 2 } }
            schedules:
            \(Self.schedule("slow", "slow", "0 2 * * *"))
            """
        }
        let world = try World(yaml: yaml("20m"), templates: ["slow": FakeARM.Template(buildMinutes: 90)], start: Self.date(-1))
        world.arm.fail(.get, .status(503), count: 3)
        let longer = try ConfigLoader(file: "test.yaml", environment: [:]).parse(yaml("3h"))
        #expect(try await world.run(until: Self.date(5 * 60), steps: [(at: Self.date(2 * 60).addingTimeInterval(1), act: { await $0.reload(longer) })]) == nil)
        let run = try #require(try world.history().first { $0.key.schedule == "slow" })
        #expect(run.outcome == .timedOut, "\(run)")
        #expect(run.buildTimeoutSeconds == Int64(20 * 60))
    }
}
