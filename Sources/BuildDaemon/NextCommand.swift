import ArgumentParser
import Config
import FoundationEssentials
import Orchestration
import Scheduler

/// `imagebuildd next`: the fire times a cron expression gives, one RFC 3339 UTC instant a line.
struct Next: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the next fire times of a cron expression.",
        discussion: "Exit status 2 for a bad expression, zone or time; the error names the column and what is allowed.")

    @Option(help: "The cron expression, e.g. '0 2 * * *', '@daily' or 'CRON_TZ=Europe/Berlin 30 2 * * *'.")
    var cron: String?

    @Option(help: "List each schedule of this config file instead (lines: NAME INSTANT).")
    var config: String?

    @Option(help: "IANA time zone for the expression (a CRON_TZ= prefix wins).")
    var timezone = "UTC"

    @Option(help: "List fire times strictly after this RFC 3339 instant (default: now).")
    var after: String?

    @Option(help: "How many fire times to print.")
    var count = 5

    @Flag(help: "Print a JSON array with each instant's local time and offset.")
    var json = false

    func run() throws {
        if let config {
            guard cron == nil else { Terminal.usage("give --cron or --config, not both") }
            let loaded: DaemonConfig
            do { loaded = try ConfigLoader(file: config).load() } catch { Terminal.usage("\(error)") }
            for schedule in loaded.schedules {
                for time in fireTimes(schedule.cron, expression: schedule.cron.expression) { print("\(schedule.name) \(RFC3339.string(time))") }
            }
            return
        }
        guard let cron else { Terminal.usage("--cron EXPRESSION or --config FILE is required") }
        let schedule: CronSchedule
        do {
            schedule = try CronParser.parse(cron, timeZone: timezone)
        } catch {
            Terminal.usage("cron expression \"\(cron)\": \(error)")
        }
        let times = fireTimes(schedule, expression: cron)
        if json {
            let objects = times.map { t in
                let offset = schedule.timeZone.offset(at: Int(t.timeIntervalSince1970))
                return "  {\"utc\": \"\(RFC3339.string(t))\", \"local\": \"\(RFC3339.local(t, offsetSeconds: offset))\", \"time_zone\": \"\(schedule.timeZone.identifier)\", \"utc_offset_seconds\": \(offset)}"
            }
            print("[\n" + objects.joined(separator: ",\n") + "\n]")
        } else {
            for t in times { print(RFC3339.string(t)) }
        }
    }

    private func fireTimes(_ schedule: CronSchedule, expression cron: String) -> [Date] {
        var cursor = Date()
        if let after {
            guard let parsed = RFC3339.parse(after) else {
                Terminal.usage("--after \"\(after)\": expected an RFC 3339 time such as 2027-03-28T01:00:00Z")
            }
            cursor = parsed
        }
        guard count > 0 else { Terminal.usage("--count must be at least 1") }
        var times: [Date] = []
        while times.count < count {
            guard let next = schedule.next(after: cursor) else {
                if times.isEmpty {
                    Terminal.usage("cron expression \"\(cron)\": no fire time within 5 years after \(RFC3339.string(cursor))")
                }
                break
            }
            times.append(next)
            cursor = next
        }
        return times
    }
}
