import Foundation
import JobJournal

/// Azure VM Image Builder as the simulation sees it: templates whose builds run for a drawn time,
/// answer 409 while building, cancel (or fail to), report `lastRunStatus` with a lag, and vanish.
/// Calls are answered at the instant they are made; the simulation adds latency and faults.
struct SimARM {
    struct Build {
        var template: String
        var startedAt: Date
        var duration: TimeInterval
        var outcome: String
        /// The slot whose Run started it; nil for a build started outside the daemon.
        var slot: SlotKey?
        var cancelRequestedAt: Date?
        /// How long a requested cancel takes; nil when it never completes (the build runs its course).
        var cancelTakes: TimeInterval?

        func state(at t: Date) -> (state: String, ended: Date?) {
            let natural = startedAt.addingTimeInterval(duration)
            if let c = cancelRequestedAt, let takes = cancelTakes, c.addingTimeInterval(takes) < natural {
                let done = c.addingTimeInterval(takes)
                if t >= done { return ("Canceled", done) }
            }
            if t >= natural { return (outcome, natural) }
            return (cancelRequestedAt != nil && t >= cancelRequestedAt! ? "Canceling" : "Running", nil)
        }

        func isBuilding(at t: Date) -> Bool { state(at: t).ended == nil }
    }

    struct Template {
        var timeoutMinutes: Int
        var lag: TimeInterval
        var deletedAt: Date?
        var builds: [Build] = []
        /// Its tags from each instant on, oldest first (discovery reads them).
        var tagHistory: [(at: Date, tags: [String: String])] = []

        func tags(at t: Date) -> [String: String] { tagHistory.last { $0.at <= t }?.tags ?? [:] }
    }

    var templates: [String: Template] = [:]
    /// Every Cancel the daemon sent (whether or not it arrived), per template, with when.
    var cancels: [String: [Date]] = [:]

    enum RunAnswer { case accepted, conflict, notFound }

    func exists(_ template: String, at t: Date) -> Bool {
        guard let tpl = templates[template] else { return false }
        return tpl.deletedAt.map { t < $0 } ?? true
    }

    func current(_ template: String) -> Build? { templates[template]?.builds.last }

    mutating func run(_ template: String, slot: SlotKey?, at t: Date, duration: TimeInterval, outcome: String, cancelTakes: TimeInterval?) -> RunAnswer {
        guard exists(template, at: t) else { return .notFound }
        if let build = current(template), build.isBuilding(at: t) { return .conflict }
        templates[template]!.builds.append(Build(template: template, startedAt: t, duration: duration, outcome: outcome, slot: slot,
                                                 cancelTakes: cancelTakes))
        return .accepted
    }

    mutating func cancel(_ template: String, at t: Date) -> Bool {
        guard exists(template, at: t), let index = templates[template]?.builds.indices.last,
              templates[template]!.builds[index].isBuilding(at: t) else { return false }
        if templates[template]!.builds[index].cancelRequestedAt == nil { templates[template]!.builds[index].cancelRequestedAt = t }
        return true
    }

    /// `lastRunStatus` as a Get shows it: during the lag after a build starts, still the previous one.
    func lastRunStatus(_ template: String, at t: Date) -> RunStatus? {
        guard let tpl = templates[template] else { return nil }
        let visible = tpl.builds.last { $0.startedAt.addingTimeInterval(tpl.lag) <= t }
        guard let build = visible else { return nil }
        let (state, ended) = build.state(at: t)
        return RunStatus(runState: state, runSubState: ended == nil ? "Building" : nil, startedAt: build.startedAt, endedAt: ended)
    }

    /// Daemon-started builds per slot.
    func runsPerSlot() -> [SlotKey: Int] {
        var counts: [SlotKey: Int] = [:]
        for tpl in templates.values { for build in tpl.builds { if let slot = build.slot { counts[slot, default: 0] += 1 } } }
        return counts
    }
}
