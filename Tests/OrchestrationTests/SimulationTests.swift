import Foundation
import Testing

/// Thousands of seeded histories of the real orchestrator in a simulated world (see `Simulation`),
/// single-node and as a cluster. `SIM_SEEDS=N` runs more of each mode in proportion (`make sim`);
/// `SIM_SEED=S` replays one (with `SIM_CLUSTER=1`, a cluster seed).
@Suite struct SimulationTests {
    static let environment = ProcessInfo.processInfo.environment
    static let total = Int(environment["SIM_SEEDS"] ?? "") ?? 2000
    /// An eighth of the seeds are clusters: each costs several single-node ones (two or three
    /// elections renewing every two seconds, for an hour and the drain after it).
    static let clusterTotal = total / 8
    static let chunks = 8

    @Test(arguments: 0..<chunks)
    func seededHistoriesKeepEveryInvariant(chunk: Int) {
        search(chunk: chunk, total: Self.total - Self.clusterTotal, clustered: false)
    }

    @Test(arguments: 0..<chunks)
    func seededClusterHistoriesKeepEveryInvariant(chunk: Int) {
        search(chunk: chunk, total: Self.clusterTotal, clustered: true)
    }

    /// Holds its thread for the whole chunk: `make test` runs the search on its own, after the
    /// tests that keep real time, so neither slows the other.
    func search(chunk: Int, total: Int, clustered: Bool) {
        if let one = Self.environment["SIM_SEED"].flatMap(UInt64.init) {
            guard chunk == 0, clustered == (Self.environment["SIM_CLUSTER"] != nil) else { return }
            var simulation = Simulation(seed: one, clustered: clustered)
            report(one, &simulation)
            return
        }
        let per = (total + Self.chunks - 1) / Self.chunks
        var failures = 0
        var decisions = 0
        var steps = 0
        let started = ContinuousClock.now
        for seed in UInt64(chunk * per)..<UInt64(min(total, (chunk + 1) * per)) where failures < 3 {
            var simulation = Simulation(seed: seed, clustered: clustered)
            if !report(seed, &simulation) { failures += 1 }
            decisions += simulation.decisions
            steps += simulation.steps
        }
        let elapsed = started.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("simulation \(clustered ? "cluster" : "single-node") chunk \(chunk): \(per) seeds, \(decisions) decisions, \(steps) jobs in \(String(format: "%.2f", seconds)) s (\(Int(Double(decisions) / max(seconds, 1e-9))) decisions/s, \(Int(Double(steps) / max(seconds, 1e-9))) jobs/s)")
    }

    /// Seeds that failed before a fix, replayed on every run. Each fails with its fix reverted.
    /// - 854, 2075, 3413, 3462, 3743, 3925: a slot that came due while start-up adopted open runs was
    ///   never journaled (the slot timer started after adoption; the cluster soak found it first).
    /// - 1263, 1268, 1763: a slot's `slot-due` was never journaled when the table admitted or
    ///   superseded it before its task ran (new work replaced the run's backlog, facts and all);
    ///   found by this simulation of the real driver.
    /// - 176, 258: a schedule's first slot, missed while the daemon was down, was never run (start-up
    ///   took a schedule without a last slot as appearing then, not when it was first seen; the
    ///   cluster soak's smoke run found it first).
    @Test(arguments: [854, 2075, 3413, 3462, 3743, 3925, 1263, 1268, 1763, 176, 258] as [UInt64])
    func regressionSeeds(seed: UInt64) {
        var simulation = Simulation(seed: seed, discovery: false)
        report(seed, &simulation)
    }

    /// Cluster seeds that failed before a fix, replayed on every run. Each fails with its fix reverted.
    /// - 296: a slot that came due while a new leader adopted open runs was never journaled (the
    ///   single-node adoption bug, as the cluster soak first met it).
    /// - 55, 133, 177: after a write whose outcome etcd never answered (and which had applied), the
    ///   store appended again at the same seqs and overwrote durable facts.
    /// - 60: a schedule's first slot, due while no node led, was never run by the next leader.
    @Test(arguments: [296, 55, 133, 177, 60] as [UInt64])
    func clusterRegressionSeeds(seed: UInt64) {
        var simulation = Simulation(seed: seed, clustered: true, discovery: false)
        report(seed, &simulation)
    }

    /// Seeds with schedules discovered from tags that failed before a fix. Each fails with its fix reverted.
    /// - 321, 587 (and cluster 31): a discovery pass that changed the schedules at the instant a slot
    ///   was due stepped over it (a new slot timer started after now; reloads had the same flaw).
    /// - 85: a changed cron goes on from its own next slot, not from the old cron's.
    @Test(arguments: [321, 587, 85] as [UInt64])
    func discoveryRegressionSeeds(seed: UInt64) {
        var simulation = Simulation(seed: seed, discovery: true)
        report(seed, &simulation)
    }

    @Test(arguments: [31] as [UInt64])
    func discoveryClusterRegressionSeeds(seed: UInt64) {
        var simulation = Simulation(seed: seed, clustered: true, discovery: true)
        report(seed, &simulation)
    }

    @discardableResult
    func report(_ seed: UInt64, _ simulation: inout Simulation) -> Bool {
        let violations = simulation.run()
        if Self.environment["SIM_SEED"] != nil {
            for record in simulation.journal { print(simulation.offset(record.at), record.event) }
        }
        guard violations.isEmpty else {
            let mode = simulation.cluster == nil ? "" : "SIM_CLUSTER=1 "
            Issue.record("seed \(seed): \(violations.count) invariant violations (\(simulation.crashes) crashes, \(simulation.steps) steps):\n  \(violations.prefix(8).joined(separator: "\n  "))\nreplay: \(mode)SIM_SEED=\(seed) swift test --filter OrchestrationTests.SimulationTests")
            return false
        }
        return true
    }
}
