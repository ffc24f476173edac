import Foundation
import JobJournal
import RunLifecycle
import Scheduler

/// One seeded history: the real run table and slot timer in a simulated world (ARM with faults,
/// latency, foreign builds, lagging status, deleted templates; crashes at effect boundaries that
/// drop everything in memory and recover from the journal). Everything is drawn from the seed.
struct Simulation {
    struct Schedule {
        var timer: TimerSchedule
        var target: BuildTarget
        var policy: RunPolicy
    }

    enum Kind {
        case slotTimer
        case answer(SlotKey, generation: Int, RunEvent)
        case restart
        case foreignBuild(String)
    }

    struct Pending: Comparable {
        var at: Date
        var order: Int
        var kind: Kind
        static func < (a: Pending, b: Pending) -> Bool { (a.at, a.order) < (b.at, b.order) }
        static func == (a: Pending, b: Pending) -> Bool { a.at == b.at && a.order == b.order }
    }

    let seed: UInt64
    var random: SimRandom
    var now: Date
    let start: Date
    let end: Date
    var schedules: [Schedule] = []
    var maxConcurrentBuilds: Int
    var arm = SimARM()

    // The daemon: nil while crashed.
    var table: RunTable?
    var timer: SlotTimer<[TimerSchedule]>?
    var generation: [SlotKey: Int] = [:]
    var inFlight: [SlotKey: Int] = [:]

    // The durable journal, folded as it grows.
    var journal: [JournalRecord] = []
    var journalState = JournalState(historyLimit: 1_000_000)

    // Faults.
    var failureRate: Double
    var ambiguousRate: Double
    var storms: [(Date, Date)] = []
    var crashRate: Double
    var downtime: [(Date, Date)] = []
    var quiet = false

    var queue = MinHeap<Pending>()
    var order = 0
    var violations: [String] = []
    var crashes = 0
    var steps = 0
    /// Decisions of tables lost in crashes.
    var decided = 0
    var decisions: Int { decided + (table?.decisions ?? 0) }
    /// Every slot the daemon journaled as due, and each final record per slot.
    var finals: [SlotKey: Int] = [:]
    /// `SIM_TRACE=schedule@slotMillis`: print every event that reaches this run.
    let trace = ProcessInfo.processInfo.environment["SIM_TRACE"]

    init(seed: UInt64) {
        self.seed = seed
        random = SimRandom(seed: seed)
        // Somewhere in 2027, at a whole minute.
        start = Date(timeIntervalSince1970: 1_798_761_600 + Double(random.int(0...364) * 86_400 + random.int(0...1439) * 60))
        now = start
        end = start.addingTimeInterval(Double(random.int(6...24)) * 3600)
        maxConcurrentBuilds = random.int(1...4)
        failureRate = random.pick([0, 0.02, 0.1, 0.3])
        ambiguousRate = random.pick([0, 0.05, 0.2])
        crashRate = random.pick([0, 0.002, 0.01, 0.03])
        let templateCount = random.int(1...4)
        let zones = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]
        let crons = ["*/20 * * * *", "0 * * * *", "30 */2 * * *", "15 3 * * *", "0,45 * * * *", "0 */3 * * *", "10,40 * * * *", "*/30 9-17 * * *"]
        for t in 0..<templateCount {
            let name = "tpl\(t)"
            var template = SimARM.Template(timeoutMinutes: random.pick([0, 20, 45, 90]), lag: random.chance(0.3) ? random.seconds(30...600) : 0)
            if random.chance(0.05) { template.deletedAt = start.addingTimeInterval(random.seconds(0...(end.timeIntervalSince(start)))) }
            arm.templates["/subscriptions/sub/resourcegroups/rg/\(name)"] = template
        }
        for s in 0..<random.int(1...5) {
            let template = "tpl\(random.int(0...(templateCount - 1)))"
            let zone = random.pick(zones)
            let cron = (try? CronParser.parse(random.pick(crons), timeZone: zone)) ?? (try! CronParser.parse("0 * * * *"))
            let policy = RunPolicy(overlap: random.pick(OverlapPolicy.allCases), cancelWait: random.pick([300, 600, 1800]),
                                   giveUpAfter: random.pick([1800, 3600, 12 * 3600]), pollInitial: random.pick([15, 30, 60]),
                                   pollMax: random.pick([120, 300]), pollMultiplier: 2)
            schedules.append(Schedule(timer: .init(name: "s\(s)", cron: cron, jitter: .seconds(random.pick([0, 0, 90])), catchUp: .seconds(random.pick([0, 3600, 12 * 3600]))),
                                      target: BuildTarget(subscriptionID: "sub", resourceGroup: "rg", template: template), policy: policy))
        }
        for _ in 0..<random.int(0...3) where failureRate > 0 {
            let a = start.addingTimeInterval(random.seconds(0...end.timeIntervalSince(start)))
            storms.append((a, a.addingTimeInterval(random.seconds(60...5400))))
        }
        for name in arm.templates.keys.sorted() where random.chance(0.4) {
            push(start.addingTimeInterval(random.seconds(0...end.timeIntervalSince(start))), .foreignBuild(name))
        }
    }

    // MARK: - Running

    mutating func run() -> [String] {
        restart()
        while let next = pop() {
            if next.at > end.addingTimeInterval(4 * 86_400) {
                violations.append("still busy four days after the last slot: \(next.kind)")
                break
            }
            now = max(now, next.at)
            if !quiet, now >= end { quiet = true }
            steps += 1
            switch next.kind {
            case .restart:
                restart()
            case .slotTimer:
                fireSlots()
            case .foreignBuild(let template):
                if !quiet {
                    _ = arm.run(template, slot: nil, at: now, duration: random.seconds(300...5400), outcome: "Succeeded", cancelTakes: random.seconds(30...300))
                    push(now.addingTimeInterval(random.seconds(3600...6 * 3600)), .foreignBuild(template))
                }
            case .answer(let key, let gen, let event):
                guard table != nil, generation[key] == gen else { continue }
                inFlight[key] = nil
                if let traced = trace, key.description.hasPrefix(traced) {
                    print(offset(now), key, table!.runs[key].map { "\($0.phase)" } ?? "-", "<-", event)
                }
                let work = table!.handle(key, event, now: now)
                execute(work, own: key)
            }
            if table != nil { checkStep() }
        }
        checkEnd()
        return violations
    }

    mutating func restart() {
        crashes += table == nil && now > start ? 1 : 0
        var recovered = RunTable.recover(journalState, maxConcurrentBuilds: maxConcurrentBuilds, now: now) { key in
            schedules.first { $0.timer.name == key.schedule }!.policy
        }
        table = recovered.0
        generation = [:]
        inFlight = [:]
        let lastSlot = journalState.lastSlot
        if !quiet {
            for due in SlotTimer.missedSlots(schedules.map(\.timer), now: now, lastSlot: { lastSlot[$0] }) {
                recovered.1 += table!.slotDue(SlotKey(schedule: schedules[due.schedule].timer.name, slot: due.slot),
                                              target: schedules[due.schedule].target, policy: schedules[due.schedule].policy, now: now)
            }
        }
        timer = SlotTimer(schedules: schedules.map(\.timer), now: now, lastSlot: { [table] in table!.lastSlot[$0] })
        execute(recovered.1, own: nil)
        armTimer()
    }

    mutating func armTimer() {
        guard !quiet, let at = timer?.nextFireAt, at < end else { return }
        push(at, .slotTimer)
    }

    mutating func fireSlots() {
        guard table != nil, !quiet else { return }
        for due in timer!.popDue(now: now) {
            let schedule = schedules[due.schedule]
            let work = table!.slotDue(SlotKey(schedule: schedule.timer.name, slot: due.slot), target: schedule.target, policy: schedule.policy, now: now)
            execute(work, own: nil)
            if table == nil { return }
        }
        armTimer()
    }

    /// Runs effects the way the driver does: records in order, then at most one continuation.
    /// A crash may strike before any effect.
    mutating func execute(_ work: [RunTable.Work], own: SlotKey?) {
        for item in work {
            if item.key != own || generation[item.key] == nil { generation[item.key, default: 0] += 1 }
            let gen = generation[item.key]!
            for (index, effect) in item.effects.enumerated() {
                if !quiet, random.chance(crashRate) { crash(); return }
                if effect.isContinuation, index != item.effects.count - 1 {
                    violations.append("\(item.key): a continuation is not the last effect: \(item.effects)")
                }
                perform(effect, item.key, gen)
            }
        }
    }

    mutating func crash() {
        decided += table?.decisions ?? 0
        table = nil
        timer = nil
        queue.removeAll { if case .answer = $0.kind { true } else if case .slotTimer = $0.kind { true } else { false } }
        let back = now.addingTimeInterval(random.pick([1, 60, 600, 3 * 3600]))
        downtime.append((now, back))
        push(back, .restart)
    }

    mutating func perform(_ effect: RunEffect, _ key: SlotKey, _ gen: Int) {
        let template = table!.runs[key]?.template ?? ""
        let latency = random.seconds(0.05...3)
        func answer(_ event: RunEvent) {
            inFlight[key] = gen
            push(now.addingTimeInterval(latency), .answer(key, generation: gen, event))
        }
        let storm = !quiet && storms.contains { $0.0 <= now && now < $0.1 }
        let failing = storm || (!quiet && random.chance(failureRate))
        let timeout = Int64((arm.templates[template]?.timeoutMinutes ?? 0) > 0 ? arm.templates[template]!.timeoutMinutes : 240) * 60
        switch effect {
        case .record(let event):
            let record = JournalRecord(seq: UInt64(journal.count + 1), at: now, event: event)
            journal.append(record)
            journalState.apply(record)
            switch event {
            case .finished(let k, _, _), .slotSkipped(let k, _): finals[k, default: 0] += 1
            case .slotDue(let k, _): finals[k] = finals[k] ?? 0
            default: break
            }
        case .log:
            break
        case .wake(let at):
            inFlight[key] = gen
            push(max(at, now), .answer(key, generation: gen, .wake))
        case .readTemplate:
            if failing { answer(.armUnavailable("503 ServerBusy")) }
            else if !arm.exists(template, at: now) { answer(.armRefused("404 ResourceNotFound", notFound: true)) }
            else { answer(.templateRead(timeoutSeconds: timeout)) }
        case .poll:
            if failing { answer(.pollFailed("429 TooManyRequests")) }
            else if !arm.exists(template, at: now) { answer(.templateGone) }
            else { answer(.observed(Observation(status: arm.lastRunStatus(template, at: now), timeoutSeconds: timeout))) }
        case .listOutputs:
            answer(.outputsListed(failing ? nil : [RunOutputRecord(name: "image", artifactID: "/images/\(key.slotMillis)")]))
        case .callRun:
            if failing { answer(.armUnavailable("429 TooManyRequests")); return }
            let dropBefore = !quiet && random.chance(ambiguousRate)
            if dropBefore { answer(.runAmbiguous("connection reset before the request was sent")); return }
            let result = arm.run(template, slot: key, at: now, duration: random.seconds(120...9000),
                                 outcome: random.pick(["Succeeded", "Succeeded", "Failed", "PartiallySucceeded"]),
                                 cancelTakes: random.chance(0.15) ? nil : random.seconds(30...900))
            if !quiet, random.chance(ambiguousRate) { answer(.runAmbiguous("connection reset after the request was sent")); return }
            switch result {
            case .accepted: answer(.runAccepted(correlationID: nil))
            case .conflict: answer(.runConflict("409 Conflict"))
            case .notFound: answer(.armRefused("404 ResourceNotFound", notFound: true))
            }
        case .callCancel:
            arm.cancels[template, default: []].append(now)
            if failing { answer(.cancelAnswered(error: "503 ServerBusy")); return }
            let accepted = arm.cancel(template, at: now)
            answer(.cancelAnswered(error: accepted ? nil : "409 the template is not building"))
        }
    }

    // MARK: - Invariants

    mutating func checkStep() {
        guard let table else { return }
        for problem in table.consistencyProblems() { violations.append("t=\(offset(now)): \(problem)") }
        for (key, run) in table.runs where run.phase.holdsTemplate && inFlight[key] != generation[key] {
            violations.append("t=\(offset(now)): \(key) \(run.phase.name) has nothing in flight: it would stall")
        }
        // The journal replays to the runs the table holds, with the same progress.
        let open = Set(journalState.openRuns.keys)
        if open != Set(table.runs.keys) {
            violations.append("t=\(offset(now)): journal open runs \(open.sorted()) but the table holds \(table.runs.keys.sorted())")
        }
        for (key, run) in table.runs {
            guard let record = journalState.openRuns[key] else { continue }
            let requested: Bool, accepted: Bool
            switch run.phase {
            case .waitingForCapacity, .queuedBehind, .preparing: (requested, accepted) = (false, false)
            case .requested, .retryingRun, .reconciling, .waitingForForeign: (requested, accepted) = (true, false)
            case .running, .cancelling, .listingOutputs: (requested, accepted) = (true, true)
            case .finished, .skipped: continue
            }
            if (record.requestedAt != nil) != requested || (record.acceptedAt != nil) != accepted {
                violations.append("t=\(offset(now)): \(key) is \(run.phase.name) but the journal says requested=\(record.requestedAt != nil) accepted=\(record.acceptedAt != nil)")
            }
        }
        if violations.count > 20 { violations = Array(violations.prefix(20)) }
    }

    mutating func checkEnd() {
        for (key, count) in arm.runsPerSlot() where count > 1 {
            violations.append("\(key): \(count) Runs accepted for one slot")
        }
        for (key, count) in finals where count != 1 {
            violations.append("\(key): \(count) final records (want exactly 1)")
        }
        if let table, !table.runs.isEmpty {
            violations.append("open at the end: \(table.runs.values.map { "\($0.key) \($0.phase.name)" }.sorted())")
        }
        // No daemon build runs past its deadline plus cancel_wait without a cancel from the daemon.
        for (name, template) in arm.templates {
            let timeout = Double(template.timeoutMinutes > 0 ? template.timeoutMinutes : 240) * 60
            for build in template.builds {
                guard let slot = build.slot, let schedule = schedules.first(where: { $0.timer.name == slot.schedule }) else { continue }
                let deadline = build.startedAt.addingTimeInterval(timeout)
                // Deleting a template ends what was building on it (nothing is left to cancel).
                let ranUntil = min(build.state(at: now).ended ?? now, template.deletedAt ?? .distantFuture)
                // Time the daemon was down, or ARM answered nothing, does not count against it.
                let slack = schedule.policy.pollMax + 10 + down(from: build.startedAt, to: ranUntil)
                guard ranUntil > deadline.addingTimeInterval(schedule.policy.cancelWait + slack) else { continue }
                let cancelled = arm.cancels[name, default: []].contains { $0 >= build.startedAt && $0 <= deadline.addingTimeInterval(slack) }
                if !cancelled {
                    let cancels = arm.cancels[name, default: []].map(offset)
                    violations.append("\(slot): build on \(name) started \(offset(build.startedAt)) ran \(Int(ranUntil.timeIntervalSince(deadline)))s past its deadline without a cancel (cancels at \(cancels))")
                }
            }
        }
    }

    func down(from a: Date, to b: Date) -> TimeInterval {
        (downtime + storms).reduce(0) { sum, window in sum + max(0, min(b, window.1).timeIntervalSince(max(a, window.0))) }
    }

    func offset(_ t: Date) -> String { "\(Int(t.timeIntervalSince(start)))s" }

    // MARK: - Event queue

    mutating func push(_ at: Date, _ kind: Kind) {
        order += 1
        queue.push(Pending(at: at, order: order, kind: kind))
    }

    mutating func pop() -> Pending? {
        queue.pop()
    }
}
