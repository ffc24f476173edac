import Benchmark
import Foundation
import Scheduler

// Next-fire computations for issue "Scheduler: fire times …"; the peer is robfig/cron v3 doing the
// same chained `Next` calls (Benchmarks/robfig-cron), run by scripts/bench.sh in the same `make bench`.

let start = Int(Date(timeIntervalSince1970: 1_798_761_600).timeIntervalSince1970)  // 2027-01-01T00:00:00Z

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 2000
    )
    for zone in ["UTC", "Europe/Berlin"] {
        for expression in ["0 2 * * *", "*/15 * * * *", "0 0 29 2 *", "0 9-17 * * MON-FRI"] {
            let schedule = try! CronParser.parse(expression, timeZone: zone)
            Benchmark("next: \(expression) \(zone)") { benchmark in
                // Chained steps, restarting every 16 (as the Go peer does) so that 29 February never
                // runs into 2100, which has none: both engines give up after five years.
                var t = start
                for i in benchmark.scaledIterations {
                    if i % 16 == 0 { t = start }
                    t = schedule.next(after: t)!
                }
                blackHole(t)
            }
        }
    }
}
