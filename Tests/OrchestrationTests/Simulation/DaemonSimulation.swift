import AzureClient
import Foundation
import JobJournal
import Logging
import Orchestration
import Scheduler
import Synchronization

/// One seeded history of the real `Orchestrator` (its run table, slot timer, driver and adoption) in a
/// simulated world: virtual time, ARM with latency, throttling, outages, lost answers, foreign
/// builds, lagging status and deleted templates, and a disk whose unsynced appends a crash drops.
/// Every job runs on one thread in an order the seed fixes, so a seed replays exactly.
final class Simulation {
    struct Schedule {
        var name: String
        var template: String
        var cron: CronSchedule
        var jitter: TimeInterval
        var cancelWait: TimeInterval
        var pollMax: TimeInterval
    }

    enum Event {
        case crash
        case restart
        case foreignBuild(String)
    }

    let seed: UInt64
    let start: Date
    let end: Date
    let clock: SimClock
    let dice: SimDice
    let executor = SimExecutor()
    let store: SimStore
    let arm: SimTemplates
    let config: DaemonConfig
    var schedules: [Schedule] = []

    private var events: [(at: Date, order: Int, event: Event)] = []
    private var order = 0
    private var daemon: (orchestrator: Orchestrator, task: Task<Void, Never>)?
    /// When each life of the daemon began, and when it ended (nil while it lives).
    private(set) var lives: [(from: Date, to: Date?)] = []
    private var quiet = false
    private var pausedAll = false
    private let decided = SimCounter()

    var violations: [String] = []
    var crashes = 0
    var steps = 0
    var decisions: Int { decided.value }
    var journal: [JournalRecord] { store.records }
    /// `SIM_TRACE=1`: print every journal record as the history replays.
    let trace = ProcessInfo.processInfo.environment["SIM_TRACE"] != nil

    init(seed: UInt64) {
        self.seed = seed
        var random = SimRandom(seed: seed)
        // Somewhere in 2027, at a whole minute.
        start = Date(timeIntervalSince1970: 1_798_761_600 + Double(random.int(0...364) * 86_400 + random.int(0...1439) * 60))
        end = start.addingTimeInterval(Double(random.int(6...24)) * 3600)
        clock = SimClock(start)
        dice = SimDice(seed: random.next())
        store = SimStore(clock: clock, dice: dice)
        let failureRate = random.pick([0, 0.02, 0.1, 0.3])
        let ambiguousRate = random.pick([0, 0.05, 0.2])
        let crashCount = random.pick([0, 0, 1, 2, 4])
        var storms: [(Date, Date)] = []
        for _ in 0..<random.int(0...3) where failureRate > 0 {
            let a = start.addingTimeInterval(random.seconds(0...end.timeIntervalSince(start)))
            storms.append((a, a.addingTimeInterval(random.seconds(60...5400))))
        }
        var sim = SimARM()
        let templateCount = random.int(1...4)
        for t in 0..<templateCount {
            var template = SimARM.Template(timeoutMinutes: random.pick([0, 20, 45, 90]), lag: random.chance(0.3) ? random.seconds(30...600) : 0)
            if random.chance(0.05) { template.deletedAt = start.addingTimeInterval(random.seconds(0...(end.timeIntervalSince(start)))) }
            sim.templates["tpl\(t)"] = template
        }
        arm = SimTemplates(arm: sim, clock: clock, dice: dice, store: store,
                           faults: .init(failureRate: failureRate, ambiguousRate: ambiguousRate, storms: storms))

        let zones = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]
        let crons = ["*/20 * * * *", "0 * * * *", "30 */2 * * *", "15 3 * * *", "0,45 * * * *", "0 */3 * * *", "10,40 * * * *", "*/30 9-17 * * *"]
        var yaml = """
            defaults:
              max_concurrent_builds: \(random.int(1...4))
            schedules:

            """
        var drawn: [(String, String, String, Int, Int, Int, Int, Int, Int, String)] = []
        for s in 0..<random.int(1...5) {
            drawn.append(("s\(s)", "tpl\(random.int(0...(templateCount - 1)))", random.pick(crons), random.pick([0, 0, 90]),
                          random.pick([0, 3600, 12 * 3600]), random.pick([300, 600, 1800]), random.pick([15, 30, 60]),
                          random.pick([120, 300]), random.int(0...2), random.pick(zones)))
        }
        for (name, template, cron, jitter, catchUp, cancelWait, pollInitial, pollMax, overlap, zone) in drawn {
            yaml += """
                  - name: \(name)
                    subscription_id: 00000000-0000-0000-0000-000000000000
                    resource_group: rg
                    template: \(template)
                    cron: "\(cron)"
                    timezone: \(zone)
                    overlap: \(["skip", "queue", "replace"][overlap])
                    jitter: \(jitter)s
                    catch_up: \(catchUp)s
                    cancel_wait: \(cancelWait)s
                    poll: { initial: \(pollInitial)s, max: \(pollMax)s, multiplier: 2 }

                """
        }
        do {
            config = try ConfigLoader(file: "simulation.yaml", environment: [:]).parse(yaml)
        } catch {
            fatalError("seed \(seed): the simulation's own config does not load: \(error)\n\(yaml)")
        }
        for (schedule, d) in zip(config.schedules, drawn) {
            schedules.append(Schedule(name: schedule.name, template: d.1, cron: schedule.cron, jitter: Double(d.3),
                                      cancelWait: Double(d.5), pollMax: Double(d.7)))
        }
        for _ in 0..<crashCount {
            push(start.addingTimeInterval(random.seconds(1...end.timeIntervalSince(start))), .crash)
        }
        for name in sim.templates.keys.sorted() where random.chance(0.4) {
            push(start.addingTimeInterval(random.seconds(0...end.timeIntervalSince(start))), .foreignBuild(name))
        }
    }

    // MARK: - Running

    func run() -> [String] {
        boot()
        let limit = end.addingTimeInterval(4 * 86_400)
        while true {
            steps += executor.runUntilIdle()
            let now = clock.now()
            if !quiet, now >= end {
                quiet = true
                arm.quiet.withLock { $0 = true }
            }
            if quiet, daemon != nil, !pausedAll { pauseAll() ; continue }
            if quiet, daemon != nil, store.openRuns == 0 { break }
            let wake = clock.nextWake ?? .distantFuture
            let next = events.first.map(\.at) ?? .distantFuture
            let at = min(wake, next)
            guard at <= limit else {
                violations.append("still busy four days after the last slot: \(store.state.openRuns.keys.sorted())")
                break
            }
            if next <= wake {
                let event = events.removeFirst()
                clock.advance(to: event.at)
                steps += executor.runUntilIdle()
                apply(event.event)
            } else {
                clock.advance(to: wake)
            }
        }
        stop()
        checkEnd()
        if trace {
            for record in store.records { print(offset(record.at), record.event) }
            for line in arm.runLog.withLock({ $0 }) { print("RUN", line) }
        }
        return violations
    }

    private func apply(_ event: Event) {
        switch event {
        case .crash:
            guard daemon != nil, !quiet else { return }
            crash()
            let back = clock.now().addingTimeInterval(dice.draw { $0.pick([1, 60, 600, 3 * 3600]) })
            push(back, .restart)
        case .restart:
            boot()
        case .foreignBuild(let template):
            guard !quiet else { return }
            arm.startForeignBuild(template)
            push(clock.now().addingTimeInterval(dice.draw { $0.seconds(3600...6 * 3600) }), .foreignBuild(template))
        }
    }

    /// A new life of the daemon on what the disk kept: recover, adopt, schedule.
    private func boot() {
        let life = store.incarnation
        let orchestrator = Orchestrator(config: config, journal: store, client: arm, clock: clock,
                                        logger: Logger(label: "simulation") { _ in SwiftLogNoOpLogHandler() })
        let task = Task(executorPreference: executor) {
            await SimIncarnation.$current.withValue(life) {
                do {
                    try await orchestrator.start()
                    try await orchestrator.run()
                } catch {
                    // A crash (its appends fail) or the final stop; nothing else throws here.
                }
            }
        }
        daemon = (orchestrator, task)
        lives.append((clock.now(), nil))
    }

    /// The process dies between two jobs: nothing more of this life is durable or reaches ARM.
    private func crash() {
        crashes += 1
        store.crash()
        stop()
    }

    private func stop() {
        guard let (orchestrator, task) = daemon else { return }
        let decided = self.decided
        Task(executorPreference: executor) { decided.add(await orchestrator.decisions) }
        steps += executor.runUntilIdle()
        task.cancel()
        steps += executor.runUntilIdle()
        daemon = nil
        lives[lives.count - 1].to = clock.now()
    }

    /// After the last slot, every schedule is paused through the operator's path, so the slots that
    /// keep coming are skipped and the open runs can drain.
    private func pauseAll() {
        pausedAll = true
        guard let orchestrator = daemon?.orchestrator else { return }
        let names = schedules.map(\.name)
        Task(executorPreference: executor) {
            for name in names { _ = try? await orchestrator.pause(name, until: nil, reason: "the simulation ends", by: "simulation") }
        }
    }

    // MARK: - Invariants

    func checkEnd() {
        violations += arm.writeViolations
        let records = store.records
        var finals: [SlotKey: Int] = [:]
        var due: Set<SlotKey> = []
        for record in records {
            // A slot's story starts with its slot-due: anything journaled before it would reopen or orphan the run.
            switch record.event {
            case .slotDue(let k, _): due.insert(k)
            case .triggerRequested: break
            default:
                if let k = record.event.slot, !due.contains(k) {
                    violations.append("\(k): \(record.event.typeName) at \(offset(record.at)) before its slot-due")
                }
            }
            switch record.event {
            case .finished(let k, _, _), .slotSkipped(let k, _): finals[k, default: 0] += 1
            case .slotDue(let k, _): finals[k] = finals[k] ?? 0
            default: break
            }
        }
        for (key, count) in finals where count != 1 {
            violations.append("\(key): \(count) final records (want exactly 1)")
        }
        let sim = arm.snapshot
        for (key, count) in sim.runsPerSlot() where count > 1 {
            violations.append("\(key): \(count) Runs accepted for one slot")
        }
        let open = store.state.openRuns
        if !open.isEmpty { violations.append("open at the end: \(open.keys.sorted())") }
        checkTimeouts(sim)
        checkSlotsWhileUp(Set(finals.keys.filter { !$0.manual }.map { "\($0.schedule)@\($0.slotMillis)" }))
    }

    /// No daemon build runs past its deadline plus cancel_wait without a cancel from the daemon.
    private func checkTimeouts(_ sim: SimARM) {
        let now = clock.now()
        for (name, template) in sim.templates {
            let timeout = Double(template.timeoutMinutes > 0 ? template.timeoutMinutes : 240) * 60
            for build in template.builds {
                guard let slot = build.slot, let schedule = schedules.first(where: { $0.name == slot.schedule }) else { continue }
                let deadline = build.startedAt.addingTimeInterval(timeout)
                let ranUntil = min(build.state(at: now).ended ?? now, template.deletedAt ?? .distantFuture)
                let slack = schedule.pollMax + 10 + down(from: build.startedAt, to: ranUntil)
                guard ranUntil > deadline.addingTimeInterval(schedule.cancelWait + slack) else { continue }
                let cancelled = sim.cancels[name, default: []].contains { $0 >= build.startedAt && $0 <= deadline.addingTimeInterval(slack) }
                if !cancelled {
                    violations.append("\(slot): build on \(name) started \(offset(build.startedAt)) ran \(Int(ranUntil.timeIntervalSince(deadline)))s past its deadline without a cancel")
                }
            }
        }
    }

    /// Every slot whose firing time fell while the daemon lived is journaled (due or skipped),
    /// including the ones that came due while a start-up was adopting open runs.
    private func checkSlotsWhileUp(_ recorded: Set<String>) {
        for life in lives {
            let to = life.to ?? clock.now()
            for schedule in schedules {
                var slot = schedule.cron.next(after: life.from)
                while let t = slot, t.addingTimeInterval(schedule.jitter + 60) < to {
                    if !recorded.contains("\(schedule.name)@\(t.journalMillis)") {
                        violations.append("\(schedule.name)@\(t.journalMillis) (\(offset(t))) came due while the daemon lived (\(offset(life.from))-\(offset(to))) and was never journaled")
                    }
                    slot = schedule.cron.next(after: t)
                }
            }
        }
    }

    /// Time the daemon was down, or in an ARM storm: not counted against its deadlines.
    private func down(from a: Date, to b: Date) -> TimeInterval {
        var gaps: [(Date, Date)] = arm.faults.storms
        for (previous, next) in zip(lives, lives.dropFirst()) { gaps.append((previous.to ?? next.from, next.from)) }
        return gaps.reduce(0) { sum, window in sum + max(0, min(b, window.1).timeIntervalSince(max(a, window.0))) }
    }

    func offset(_ t: Date) -> String { "\(Int(t.timeIntervalSince(start)))s" }

    private func push(_ at: Date, _ event: Event) {
        order += 1
        events.append((at, order, event))
        events.sort { ($0.at, $0.order) < ($1.at, $1.order) }
    }
}

/// A count that tasks of the simulated daemon add to.
final class SimCounter: Sendable {
    private let count = Mutex(0)
    func add(_ n: Int) { count.withLock { $0 += n } }
    var value: Int { count.withLock { $0 } }
}
