import AzureClient
import Config
import EtcdStore
import Foundation
import JobJournal
import Leadership
import Logging
import Orchestration
import Scheduler
import Synchronization

/// One seeded history of the real `Orchestrator` (its run table, slot timer, driver and adoption) in a
/// simulated world: virtual time, ARM with latency, throttling, outages, lost answers, foreign
/// builds, lagging status and deleted templates; single-node on a disk whose unsynced appends a
/// crash drops, or a cluster of two or three nodes, each running the real term loop, election and
/// cluster run store against a simulated etcd (lost quorum, lost answers, leases that expire),
/// whose nodes crash and stall. Every job runs on one thread in an order the seed fixes, so a seed
/// replays exactly.
final class Simulation {
    struct Schedule {
        var name: String
        var template: String
        var cron: CronSchedule
        var jitter: TimeInterval
        var cancelWait: TimeInterval
        var pollMax: TimeInterval
        var catchUp: TimeInterval
    }

    enum Event {
        case crash
        case restart(node: Int)
        case foreignBuild(String)
        /// A node's process stops (SIGSTOP, a long pause) for this long.
        case stall(TimeInterval)
        /// A template's owner changes its tags (discovery reads them).
        case retag(String)
    }

    /// The cluster: its etcd, and each node's current life (nil while it is down).
    struct Cluster {
        var etcd: SimEtcd
        var keys: ClusterKeys
        var ttl: Duration
        var nodes: [NodeLife?]
        var terms = SimTerms()
        var stalls: [(node: Int, from: Date, to: Date)] = []
    }

    struct NodeLife {
        var life: Int
        var task: Task<Void, Never>
    }

    let seed: UInt64
    let start: Date
    let end: Date
    let clock: SimClock
    let dice: SimDice
    let executor = SimExecutor()
    let store: SimStore
    let ledger: SimLedger
    let arm: SimTemplates
    private(set) var cluster: Cluster?
    let config: DaemonConfig
    var schedules: [Schedule] = []

    private var events: [(at: Date, order: Int, event: Event)] = []
    private var order = 0
    private var daemon: (orchestrator: Orchestrator, task: Task<Void, Never>)?
    /// When each life of the daemon (of each node) began, and when it ended (nil while it lives).
    private(set) var lives: [(node: Int, from: Date, to: Date?)] = []
    private var lifeCount = 0
    private var quiet = false
    private var pausedAll = false
    private let decided = SimCounter()
    /// When each single-node life (by its index in `lives`) had adopted and began to schedule.
    private let ready = SimMoments()

    /// Whether the daemon discovers schedules from the templates' tags (a third of the seeds).
    let discovers: Bool
    var violations: [String] = []
    var crashes = 0
    var steps = 0
    var decisions: Int { decided.value }
    var journal: [JournalRecord] { ledger.records }
    /// `SIM_TRACE=1`: print every journal record as the history replays.
    let trace = ProcessInfo.processInfo.environment["SIM_TRACE"] != nil

    /// - Parameter clustered: a cluster of two or three nodes on simulated etcd, over a shorter span.
    /// - Parameter discovery: whether schedules also come from template tags; by default drawn from
    ///   a stream of its own, so that the seeds that do not discover replay as they did before it.
    init(seed: UInt64, clustered: Bool = false, discovery: Bool? = nil) {
        self.seed = seed
        var tagging = SimRandom(seed: seed ^ 0x0D15_C0DE_7A65)
        // Drawn either way: a seed given `discovery: true` replays as the search ran it.
        let tagged = tagging.int(0...2) == 0
        discovers = discovery ?? tagged
        var random = SimRandom(seed: seed)
        // Somewhere in 2027, at a whole minute.
        start = Date(timeIntervalSince1970: 1_798_761_600 + Double(random.int(0...364) * 86_400 + random.int(0...1439) * 60))
        let hours = random.int(6...24)
        // A cluster's election renews every two seconds: hours of it cost what days of one node do.
        end = start.addingTimeInterval(Double(clustered ? 1 : hours) * 3600)
        clock = SimClock(start)
        dice = SimDice(seed: random.next())
        store = SimStore(clock: clock, dice: dice)
        ledger = clustered ? SimLedger() : store.ledger
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
        let faults = SimTemplates.Faults(failureRate: failureRate, ambiguousRate: ambiguousRate, storms: storms)
        var armState = sim

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
        if discovers {
            yaml = """
                discover:
                  - { subscription_id: 00000000-0000-0000-0000-000000000000, resource_group: rg }
                discover_interval: \(tagging.pick(["2m", "10m", "45m"]))

                """ + yaml
        }
        do {
            config = try ConfigLoader(file: "simulation.yaml", environment: [:]).parse(yaml)
        } catch {
            fatalError("seed \(seed): the simulation's own config does not load: \(error)\n\(yaml)")
        }
        for (schedule, d) in zip(config.schedules, drawn) {
            schedules.append(Schedule(name: schedule.name, template: d.1, cron: schedule.cron, jitter: Double(d.3),
                                      cancelWait: Double(d.5), pollMax: Double(d.7), catchUp: Double(d.4)))
        }
        var due: [(Date, Event)] = []
        for _ in 0..<crashCount {
            due.append((start.addingTimeInterval(random.seconds(1...end.timeIntervalSince(start))), .crash))
        }
        for name in sim.templates.keys.sorted() where random.chance(0.4) {
            due.append((start.addingTimeInterval(random.seconds(0...end.timeIntervalSince(start))), .foreignBuild(name)))
        }
        if discovers {
            for name in sim.templates.keys.sorted() {
                armState.templates[name]!.tagHistory.append((start, Self.drawTags(name, &tagging)))
                for _ in 0..<tagging.int(0...3) {
                    due.append((start.addingTimeInterval(tagging.seconds(0...end.timeIntervalSince(start))), .retag(name)))
                }
            }
        }
        guard clustered else {
            let store = self.store
            arm = SimTemplates(arm: armState, clock: clock, dice: dice, ledger: ledger, executor: executor, faults: faults) {
                let life = SimIncarnation.current
                return life == store.incarnation ? nil : "from a daemon life (\(life)) that had ended"
            }
            for (at, event) in due { push(at, event) }
            return
        }
        // The cluster's own draws come after the single-node ones, so those seeds replay as before.
        let span = end.timeIntervalSince(start)
        let ttl = Duration.seconds(random.pick([10, 20]))
        var outages: [(Date, Date)] = []
        for _ in 0..<random.pick([0, 0, 1, 2]) {
            let a = start.addingTimeInterval(random.seconds(0...span))
            outages.append((a, a.addingTimeInterval(random.seconds(5...120))))
        }
        let keys = ClusterKeys(prefix: "/imagebuildd/")
        let etcd = SimEtcd(clock: clock, dice: dice, ledger: ledger, logPrefix: keys.prefix + "log/",
                           outages: outages, unknownRate: random.pick([0, 0.01, 0.05]))
        var armFaults = faults
        armFaults.lateRate = random.pick([0, 0.02, 0.1])
        // Builds of minutes, not hours: the drain after the last slot runs every node's election too.
        armFaults.buildScale = 0.25
        arm = SimTemplates(arm: armState, clock: clock, dice: dice, ledger: ledger, executor: executor, faults: armFaults) {
            let life = SimIncarnation.current
            let holder = etcd.holder(of: keys.leader)
            return holder == life ? nil : "from node life \(life), whose fence is closed (the leader key's live lease: \(holder.map { "life \($0)" } ?? "none"))"
        }
        cluster = Cluster(etcd: etcd, keys: keys, ttl: ttl, nodes: Array(repeating: nil, count: random.int(2...3)))
        for (at, event) in due { push(at, event) }
        let seconds = Double(ttl.components.seconds)
        for _ in 0..<random.pick([0, 1, 2, 3]) {
            push(start.addingTimeInterval(random.seconds(1...span)), .stall(random.seconds(seconds / 2...seconds * 3)))
        }
    }

    // MARK: - Running

    func run() -> [String] {
        if let cluster {
            for node in cluster.nodes.indices { boot(node) }
        } else {
            boot(0)
        }
        let limit = end.addingTimeInterval(4 * 86_400)
        while true {
            steps += executor.runUntilIdle()
            let now = clock.now()
            if !quiet, now >= end {
                quiet = true
                arm.quiet.withLock { $0 = true }
                // Every tagged schedule retires at the next pass, so the runs can drain.
                if discovers { for name in arm.snapshot.templates.keys { arm.setTags(name, [:]) } }
                cluster?.etcd.quiet.withLock { $0 = true }
            }
            if quiet, !pausedAll {
                pauseAll()
                if pausedAll, cluster == nil { continue }
            }
            if quiet, pausedAll, ledger.openRuns == 0, cluster != nil || daemon != nil { break }
            let wake = clock.nextWake ?? .distantFuture
            let next = events.first.map(\.at) ?? .distantFuture
            let at = min(wake, next)
            guard at <= limit else {
                violations.append("still busy four days after the last slot: \(ledger.state.openRuns.keys.sorted())")
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
        stopAll()
        checkEnd()
        if trace {
            for record in ledger.records { print(offset(record.at), record.event) }
            for line in arm.runLog.withLock({ $0 }) { print("RUN", line) }
            for term in cluster?.terms.all ?? [] { print("TERM", term) }
        }
        return violations
    }

    private func apply(_ event: Event) {
        switch event {
        case .crash:
            guard !quiet, let node = victim() else { return }
            crash(node)
            let back = clock.now().addingTimeInterval(dice.draw { $0.pick(cluster == nil ? [1, 60, 600, 3 * 3600] : [1, 30, 120]) })
            push(back, .restart(node: node))
        case .restart(let node):
            boot(node)
        case .foreignBuild(let template):
            guard !quiet else { return }
            arm.startForeignBuild(template)
            push(clock.now().addingTimeInterval(dice.draw { $0.seconds(3600...6 * 3600) }), .foreignBuild(template))
        case .retag(let template):
            guard !quiet else { return }
            arm.setTags(template, dice.draw { Self.drawTags(template, &$0) })
        case .stall(let seconds):
            guard !quiet, let node = victim() else { return }
            let until = clock.now().addingTimeInterval(seconds)
            cluster?.stalls.append((node, clock.now(), until))
            clock.stall(node, until: until)
        }
    }

    /// The node a fault hits: the single daemon; in a cluster the leader half the time, else any live node.
    private func victim() -> Int? {
        guard let cluster else { return daemon == nil ? nil : 0 }
        let live = cluster.nodes.indices.filter { cluster.nodes[$0] != nil }
        guard !live.isEmpty else { return nil }
        if let leader = cluster.terms.leading?.node, live.contains(leader), dice.draw({ $0.chance(0.5) }) { return leader }
        return dice.draw { $0.pick(live) }
    }

    /// A new life of the daemon (or of one cluster node) on what the disk (or etcd) kept.
    private func boot(_ node: Int) {
        lives.append((node, clock.now(), nil))
        guard var cluster else {
            let life = store.incarnation
            let ready = self.ready
            let index = lives.count - 1
            let clock = self.clock
            let orchestrator = Orchestrator(config: config, journal: store, client: arm, clock: clock,
                                            logger: Logger(label: "simulation") { _ in SwiftLogNoOpLogHandler() }, lister: arm)
            let task = Task(executorPreference: executor) {
                await SimIncarnation.$current.withValue(life) {
                    do {
                        try await orchestrator.start()
                        ready.mark(index, clock.now())
                        try await orchestrator.run()
                    } catch {
                        // A crash (its appends fail) or the final stop; nothing else throws here.
                    }
                }
            }
            daemon = (orchestrator, task)
            return
        }
        lifeCount += 1
        let life = lifeCount
        let time = clock.leaseClock(origin: start)
        let election = LeaderElection(client: cluster.etcd, key: cluster.keys.leader, node: "node-\(node)", ttl: cluster.ttl, clock: time)
        let host = SimNodeHost(node: node, life: life, election: election, etcd: cluster.etcd, keys: cluster.keys, config: config, arm: arm,
                               clock: clock, executor: executor, terms: cluster.terms, time: time)
        let loop = TermLoop(mode: .cluster(retryDelay: cluster.ttl / 3), host: host, tick: cluster.ttl / 8)
        let terms = cluster.terms
        let task = Task(executorPreference: executor) {
            await SimNode.$current.withValue(node) {
                await SimIncarnation.$current.withValue(life) {
                    if let failure = await loop.run() { terms.exited(node: node, life: life, failure) }
                }
            }
        }
        cluster.nodes[node] = NodeLife(life: life, task: task)
        self.cluster = cluster
    }

    /// The process dies between two jobs: nothing more of this life is durable or reaches ARM (a
    /// cluster node's lease lives on in etcd until it expires).
    private func crash(_ node: Int) {
        crashes += 1
        if cluster == nil { store.crash() }
        stop(node)
    }

    private func stop(_ node: Int) {
        if var cluster {
            guard let life = cluster.nodes[node] else { return }
            life.task.cancel()
            steps += executor.runUntilIdle()
            cluster.nodes[node] = nil
            self.cluster = cluster
        } else {
            guard let (orchestrator, task) = daemon else { return }
            let decided = self.decided
            Task(executorPreference: executor) { decided.add(await orchestrator.decisions) }
            steps += executor.runUntilIdle()
            task.cancel()
            steps += executor.runUntilIdle()
            daemon = nil
        }
        if let index = lives.lastIndex(where: { $0.node == node && $0.to == nil }) { lives[index].to = clock.now() }
    }

    private func stopAll() {
        for node in cluster?.nodes.indices ?? 0..<1 { stop(node) }
        if let cluster { decided.add(cluster.terms.decisions) }
    }

    /// After the last slot, every schedule is paused through the operator's path (on the leader, in
    /// a cluster), so the slots that keep coming are skipped and the open runs can drain.
    private func pauseAll() {
        let names = schedules.map(\.name)
        if cluster == nil {
            // A daemon that is down is paused when it is back.
            // As the control socket does: a daemon that is down, or still adopting, is paused once it schedules.
            guard let orchestrator = daemon?.orchestrator, ready.at(lives.count - 1) != nil else { return }
            pausedAll = true
            Task(executorPreference: executor) {
                for name in names { _ = try? await orchestrator.pause(name, until: nil, reason: "the simulation ends", by: "simulation") }
            }
            return
        }
        let paused = ledger.state.paused
        if names.allSatisfy({ paused[$0] != nil }) {
            pausedAll = true
            return
        }
        guard let terms = cluster?.terms, let leader = terms.leading, terms.startPausing() else { return }
        let missing = names.filter { paused[$0] == nil }
        Task(executorPreference: executor) {
            for name in missing { _ = try? await leader.orchestrator.pause(name, until: nil, reason: "the simulation ends", by: "simulation") }
            terms.donePausing()
        }
    }

    // MARK: - Invariants

    func checkEnd() {
        violations += arm.writeViolations
        violations += ledger.overwritten
        violations += cluster?.terms.exits ?? []
        let records = ledger.records
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
        let open = ledger.state.openRuns
        if !open.isEmpty { violations.append("open at the end: \(open.keys.sorted())") }
        checkTimeouts(sim)
        let recorded = Set(finals.keys.filter { !$0.manual }.map { "\($0.schedule)@\($0.slotMillis)" })
        checkSlotsWhileUp(recorded)
        checkLatestMissed(recorded)
        checkDiscovery(recorded)
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

    /// Every slot whose firing time fell while the daemon lived (in a cluster: while a term ran) is
    /// journaled (due or skipped), including the ones that came due while a start-up or a new leader
    /// was adopting open runs. In a cluster, not the slots that came due while etcd had no quorum or
    /// the leader was stalled: no fact can be written then, and the next term's catch-up rule applies.
    private func checkSlotsWhileUp(_ recorded: Set<String>) {
        for span in upSpans() {
            for schedule in schedules {
                var slot = schedule.cron.next(after: span.from)
                while let t = slot, t.addingTimeInterval(schedule.jitter + 60) < span.to {
                    let window = (t, t.addingTimeInterval(schedule.jitter + 60))
                    if !recorded.contains("\(schedule.name)@\(t.journalMillis)"), !span.excluded.contains(where: { $0.0 < window.1 && window.0 < $0.1 }) {
                        violations.append("\(schedule.name)@\(t.journalMillis) (\(offset(t))) came due while the daemon lived (\(offset(span.from))-\(offset(span.to))) and was never journaled")
                    }
                    slot = schedule.cron.next(after: t)
                }
            }
        }
    }

    /// While the daemon lived (in a cluster: each term), with the windows nobody could write a fact.
    private func upSpans() -> [(from: Date, to: Date, excluded: [(Date, Date)])] {
        guard let cluster else { return lives.map { ($0.from, $0.to ?? clock.now(), []) } }
        return cluster.terms.all.map { term in
            (term.from, term.to ?? clock.now(), cluster.etcd.outages + cluster.stalls.filter { $0.node == term.node }.map { ($0.from, $0.to) })
        }
    }

    /// A template's tags as an owner sets them: a cron, a bad cron, a name of its own, a tag
    /// discovery does not know, or none.
    static func drawTags(_ template: String, _ random: inout SimRandom) -> [String: String] {
        let cron = random.pick(["*/20 * * * *", "0 * * * *", "15 */2 * * *", "5,35 * * * *"])
        switch random.int(0...9) {
        case 0...3: return ["imagebuildd.cron": cron]
        case 4: return ["imagebuildd.cron": cron, "imagebuildd.schedule": "renamed-\(template)"]
        case 5: return ["imagebuildd.cron": "61 * * * *"]
        case 6: return ["imagebuildd.cron": cron, "imagebuildd.colour": "blue"]
        default: return [:]
        }
    }

    /// Discovery's facts are true to the tags, and a discovered schedule is a schedule: a schedule
    /// is discovered only with tags its template had as the pass listed it, and retired only when
    /// its template's tags had changed or the template was gone (never for a failed list); every
    /// slot of a discovered schedule that came due while it was discovered and the daemon lived is
    /// journaled.
    private func checkDiscovery(_ recorded: Set<String>) {
        guard discovers else { return }
        let sim = arm.snapshot
        func ours(_ tags: [String: String]) -> [String: String] {
            var mine: [String: String] = [:]
            for (key, value) in tags where key.lowercased().hasPrefix("imagebuildd.") { mine[String(key.dropFirst(12)).lowercased()] = value }
            return mine
        }
        // The template's tags (nil once deleted) at every instant of [a, b].
        func states(_ id: String, _ a: Date, _ b: Date) -> [[String: String]?] {
            let name = id.components(separatedBy: "/").last ?? id
            guard let template = sim.templates[name] else { return [nil] }
            let instants = [a] + template.tagHistory.map(\.at).filter { $0 > a && $0 <= b } + (template.deletedAt.map { $0 > a && $0 <= b ? [$0] : [] } ?? [])
            return instants.map { t in sim.exists(name, at: t) ? ours(template.tags(at: t)) : nil }
        }
        var current: [String: (found: DiscoveredSchedule, at: Date)] = [:]
        var spans: [(found: DiscoveredSchedule, from: Date, to: Date)] = []
        for record in ledger.records {
            switch record.event {
            case .scheduleDiscovered(let found):
                if !states(found.template, record.at.addingTimeInterval(-60), record.at).contains(where: { $0 == found.tags }) {
                    violations.append("\(found.name) discovered at \(offset(record.at)) with tags \(found.tags) its template did not have")
                }
                if let previous = current[found.name] { spans.append((previous.found, previous.at, record.at)) }
                current[found.name] = (found, record.at)
            case .scheduleRetired(let name, let reason):
                guard let previous = current.removeValue(forKey: name) else {
                    violations.append("\(name) retired at \(offset(record.at)) without having been discovered")
                    continue
                }
                if !states(previous.found.template, record.at.addingTimeInterval(-60), record.at).contains(where: { $0 != previous.found.tags }) {
                    violations.append("\(name) retired at \(offset(record.at)) (\(reason)) while its template's tags were unchanged")
                }
                spans.append((previous.found, previous.at, record.at))
            default:
                break
            }
        }
        for (found, at) in current.values { spans.append((found, at, end)) }
        let up = upSpans()
        for (found, from, to) in spans {
            guard let expression = found.tags["cron"], let cron = try? CronParser.parse(expression, timeZone: "UTC") else { continue }
            for span in up {
                let until = min(to, span.to, end)
                var slot = cron.next(after: max(from.addingTimeInterval(60), span.from))
                while let t = slot, t.addingTimeInterval(60) < until {
                    let window = (t, t.addingTimeInterval(60))
                    if !recorded.contains("\(found.name)@\(t.journalMillis)"), !span.excluded.contains(where: { $0.0 < window.1 && window.0 < $0.1 }) {
                        violations.append("\(found.name)@\(t.journalMillis) (\(offset(t))) came due while discovered (\(offset(from))-\(offset(to))) and the daemon lived, and was never journaled")
                    }
                    slot = cron.next(after: t)
                }
            }
        }
    }

    /// At each start-up (in a cluster: each term that adopted), every schedule's latest slot that came
    /// due while nobody acted is journaled when it lies within its catch-up window and after the
    /// schedule was first seen, even when it would have been the schedule's first slot. A start whose
    /// life or term ended, or met an outage or a stall, within two minutes may not have got to it.
    private func checkLatestMissed(_ recorded: Set<String>) {
        var seen: [String: Date] = [:]
        for record in ledger.records {
            if case .scheduleSeen(let name) = record.event, seen[name] == nil { seen[name] = record.at }
        }
        var starts: [(from: Date, ready: Date, to: Date, excluded: [(Date, Date)])] = []
        if let cluster {
            starts = cluster.terms.all.compactMap { term in
                term.adoptedAt.map { (term.from, $0, term.to ?? clock.now(), cluster.etcd.outages + cluster.stalls.filter { $0.node == term.node }.map { ($0.from, $0.to) }) }
            }
        } else {
            starts = lives.indices.compactMap { index in
                ready.at(index).map { (lives[index].from, $0, lives[index].to ?? clock.now(), []) }
            }
        }
        for start in starts where start.to > start.ready.addingTimeInterval(120) {
            guard !start.excluded.contains(where: { $0.0 < start.ready.addingTimeInterval(120) && start.from < $0.1 }) else { continue }
            for schedule in schedules where schedule.catchUp >= 120 {
                guard let first = seen[schedule.name], first < start.from else { continue }
                // A minute inside the window: the term counts its missed slots a little after it began.
                var cursor = max(first, start.from.addingTimeInterval(60 - schedule.catchUp))
                var latest: Date?
                while let t = schedule.cron.next(after: cursor), t <= start.from {
                    latest = t
                    cursor = t
                }
                if let t = latest, !recorded.contains("\(schedule.name)@\(t.journalMillis)") {
                    violations.append("\(schedule.name)@\(t.journalMillis) (\(offset(t))): the latest slot missed before the start at \(offset(start.from)) (first seen \(offset(first))) was never journaled")
                }
            }
        }
    }

    /// Time nobody could act (the daemon down, no leader, etcd without quorum, a stalled node) or
    /// ARM was in a storm: not counted against a build's deadline.
    private func down(from a: Date, to b: Date) -> TimeInterval {
        var gaps: [(Date, Date)] = arm.faults.storms
        if let cluster {
            gaps += cluster.etcd.outages + cluster.stalls.map { ($0.from, $0.to) }
            var covered = start
            for term in cluster.terms.all.filter({ $0.adoptedAt != nil }).sorted(by: { $0.from < $1.from }) {
                if term.from > covered { gaps.append((covered, term.from)) }
                covered = max(covered, term.to ?? clock.now())
            }
            if covered < clock.now() { gaps.append((covered, clock.now())) }
        } else {
            for (previous, next) in zip(lives, lives.dropFirst()) { gaps.append((previous.to ?? next.from, next.from)) }
        }
        return gaps.reduce(0) { sum, window in sum + max(0, min(b, window.1).timeIntervalSince(max(a, window.0))) }
    }

    func offset(_ t: Date) -> String { "\(Int(t.timeIntervalSince(start)))s" }

    private func push(_ at: Date, _ event: Event) {
        order += 1
        events.append((at, order, event))
        events.sort { ($0.at, $0.order) < ($1.at, $1.order) }
    }
}

/// Instants the simulated daemon's tasks note, by index.
final class SimMoments: Sendable {
    private let moments = Mutex<[Int: Date]>([:])
    func mark(_ index: Int, _ at: Date) { moments.withLock { $0[index] = at } }
    func at(_ index: Int) -> Date? { moments.withLock { $0[index] } }
}

/// A count that tasks of the simulated daemon add to.
final class SimCounter: Sendable {
    private let count = Mutex(0)
    func add(_ n: Int) { count.withLock { $0 += n } }
    var value: Int { count.withLock { $0 } }
}
