import Foundation
import Testing

/// Thousands of seeded histories of the real run table in a simulated world (see `Simulation`).
/// `SIM_SEEDS=N` runs more (`make sim`); `SIM_SEED=S` replays one.
@Suite struct SimulationTests {
    static let environment = ProcessInfo.processInfo.environment
    static let total = Int(environment["SIM_SEEDS"] ?? "") ?? 2000
    static let chunks = 8

    @Test(arguments: 0..<chunks)
    func seededHistoriesKeepEveryInvariant(chunk: Int) {
        if let one = Self.environment["SIM_SEED"].flatMap(UInt64.init) {
            guard chunk == 0 else { return }
            report(one, Simulation(seed: one))
            return
        }
        let per = (Self.total + Self.chunks - 1) / Self.chunks
        var failures = 0
        for seed in UInt64(chunk * per)..<UInt64(min(Self.total, (chunk + 1) * per)) where failures < 3 {
            if !report(seed, Simulation(seed: seed)) { failures += 1 }
        }
    }

    @discardableResult
    func report(_ seed: UInt64, _ simulation: Simulation) -> Bool {
        var simulation = simulation
        let violations = simulation.run()
        if Self.environment["SIM_SEED"] != nil {
            for record in simulation.journal { print(simulation.offset(record.at), record.event) }
        }
        guard violations.isEmpty else {
            Issue.record("seed \(seed): \(violations.count) invariant violations (\(simulation.crashes) crashes, \(simulation.steps) steps):\n  \(violations.prefix(8).joined(separator: "\n  "))\nreplay: SIM_SEED=\(seed) swift test --filter OrchestrationTests.SimulationTests")
            return false
        }
        return true
    }
}
