import FoundationEssentials
import JobJournal

/// The per-schedule families, rendered from the journal's facts the way kube-state-metrics renders
/// its objects: each schedule's lines are kept as bytes, rendered again only when its row changes,
/// and a scrape writes them under one header per family. No client-library object per series.
struct ScheduleExposition {
    /// Name, type and help of each family, in the order a scrape writes them.
    static let families: [(name: String, type: String, help: String)] = [
        ("imagebuildd_schedule_info", "gauge", "One series per schedule: its template, cron expression and time zone; always 1."),
        ("imagebuildd_schedule_next_run_timestamp_seconds", "gauge", "When the schedule's next slot comes due (Unix seconds)."),
        ("imagebuildd_schedule_last_run_timestamp_seconds", "gauge",
         "When the schedule's newest build that ran finished (Unix seconds); absent until one has."),
        ("imagebuildd_schedule_last_success_timestamp_seconds", "gauge",
         "When the schedule's newest successful build finished (Unix seconds); absent until one has."),
        ("imagebuildd_schedule_paused", "gauge", "1 while the schedule is paused (imagebuildd pause, or pause_after_failures)."),
        ("imagebuildd_schedule_stale", "gauge", "1 once no build succeeded within stale_after; a success clears it."),
        ("imagebuildd_runs_total", "counter",
         "Finished runs per schedule and outcome (skipped counts slots not built); rebuilt from the journal."),
    ]

    /// One schedule's lines: all families' in one buffer, `ends[i]` where family i's lines end.
    private struct Rendered {
        var name: String
        /// The row's hash when it was rendered: a different hash means render again.
        var hash: Int
        var bytes: [UInt8]
        var ends: [Int32]
    }

    /// The schedules in the order the last update gave them.
    private var entries: [Rendered] = []
    /// How many schedules were rendered (again), for tests and the bench.
    private(set) var renders = 0
    /// The section deflated for gzip scrapes, until a schedule's lines change.
    private var compressed: Gzip.Part?

    /// Brings the cache up to date with the orchestrator's rows: new and changed schedules are
    /// rendered, unchanged ones kept, and schedules no longer configured dropped.
    mutating func update(_ rows: [ScheduleRow]) {
        var changed = rows.count != entries.count
        // The same schedules in the same order (every scrape but a reload's): compared in place.
        if !changed {
            for (index, row) in rows.enumerated() {
                let hash = row.hashValue
                guard entries[index].name == row.name else {
                    changed = true
                    break
                }
                if entries[index].hash != hash {
                    entries[index] = Self.render(row, hash: hash)
                    renders += 1
                    compressed = nil
                }
            }
            if !changed { return }
        }
        var kept: [String: Rendered] = [:]
        for entry in entries { kept[entry.name] = entry }
        entries = rows.map { row in
            let hash = row.hashValue
            if let entry = kept[row.name], entry.hash == hash { return entry }
            renders += 1
            return Self.render(row, hash: hash)
        }
        compressed = nil
    }

    /// The section deflated, kept until a schedule's lines change (see `Gzip.Part`).
    mutating func deflated() -> Gzip.Part? {
        if let compressed { return compressed }
        var bytes: [UInt8] = []
        write(into: &bytes)
        compressed = Gzip.part(bytes)
        return compressed
    }

    /// The families, each under its HELP and TYPE lines (a family without series is left out).
    func write(into out: inout [UInt8]) {
        for (index, family) in Self.families.enumerated() {
            var header = false
            for schedule in entries {
                let start = index == 0 ? 0 : Int(schedule.ends[index - 1])
                let end = Int(schedule.ends[index])
                guard end > start else { continue }
                if !header {
                    out.append(contentsOf: "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n".utf8)
                    header = true
                }
                out.append(contentsOf: schedule.bytes[start..<end])
            }
        }
    }

    /// Every series of one schedule, in family order.
    private static func render(_ row: ScheduleRow, hash: Int) -> Rendered {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        var ends: [Int32] = []
        ends.reserveCapacity(families.count)
        let schedule = "{schedule=\"\(escaped(row.name))\""
        func line(_ family: Int, _ labels: String, _ value: String) {
            bytes.append(contentsOf: "\(families[family].name)\(labels)} \(value)\n".utf8)
        }
        line(0, schedule + ",template=\"\(escaped(row.target.template))\",subscription_id=\"\(escaped(row.target.subscriptionID))\""
             + ",resource_group=\"\(escaped(row.target.resourceGroup))\",cron=\"\(escaped(row.cron))\",timezone=\"\(escaped(row.timezone))\"", "1.0")
        ends.append(Int32(bytes.count))
        for (family, instant) in [(1, row.next), (2, row.facts.lastRun), (3, row.facts.lastSuccess)] {
            if let instant { line(family, schedule, "\(instant.timeIntervalSince1970)") }
            ends.append(Int32(bytes.count))
        }
        line(4, schedule, row.paused ? "1.0" : "0.0")
        ends.append(Int32(bytes.count))
        line(5, schedule, row.facts.staleSince != nil ? "1.0" : "0.0")
        ends.append(Int32(bytes.count))
        // succeeded and failed from the start, so rate() has a zero to begin from.
        for outcome in RunOutcome.allCases where outcome == .succeeded || outcome == .failed || row.facts.runs[outcome] != nil {
            line(6, schedule + ",outcome=\"\(outcome.rawValue)\"", "\(row.facts.runs[outcome] ?? 0)")
        }
        ends.append(Int32(bytes.count))
        return Rendered(name: row.name, hash: hash, bytes: bytes, ends: ends)
    }

    /// A label value as the text format wants it: backslash, double quote and newline escaped.
    static func escaped(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") }) else { return value }
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
