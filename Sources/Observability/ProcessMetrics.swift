import FoundationEssentials
import Prometheus
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The standard `process_*` series, read from /proc/self at each scrape (as the Go and Python
/// clients do).
final class ProcessMetrics: Sendable {
    private let cpu: Counter
    private let resident: Gauge
    private let virtual: Gauge
    private let start: Gauge
    private let openFDs: Gauge
    private let maxFDs: Gauge
    private let exportedCPU = Mutex(0.0)
    private let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    private let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))

    init(registry: PrometheusCollectorRegistry) {
        cpu = registry.makeCounter(name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.")
        resident = registry.makeGauge(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.")
        virtual = registry.makeGauge(name: "process_virtual_memory_bytes", help: "Virtual memory size in bytes.")
        start = registry.makeGauge(name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.")
        openFDs = registry.makeGauge(name: "process_open_fds", help: "Number of open file descriptors.")
        maxFDs = registry.makeGauge(name: "process_max_fds", help: "Maximum number of open file descriptors.")
    }

    func refresh() {
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            // Fields after the command name, which may itself hold spaces and parentheses.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // fields[0] is field 3 (state): utime is 14, stime 15, starttime 22, vsize 23, rss 24.
            if fields.count > 21, let utime = Double(fields[11]), let stime = Double(fields[12]),
               let started = Double(fields[19]), let vsize = Double(fields[20]), let rss = Double(fields[21]) {
                let seconds = (utime + stime) / ticks
                let delta = exportedCPU.withLock { exported in
                    defer { exported = max(exported, seconds) }
                    return seconds - exported
                }
                if delta > 0 { cpu.increment(by: delta) }
                virtual.set(vsize)
                resident.set(rss * pageSize)
                start.set(Self.bootedAt() + started / ticks)
            }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") { openFDs.set(Double(entries.count)) }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { maxFDs.set(Double(limit.rlim_cur)) }
    }

    /// When the machine booted, from the clocks rather than /proc/stat, which `ProcSubset=pid` hides.
    private static func bootedAt() -> Double {
        var boot = timespec(), real = timespec()
        clock_gettime(CLOCK_BOOTTIME, &boot)
        clock_gettime(CLOCK_REALTIME, &real)
        return Double(real.tv_sec) + Double(real.tv_nsec) / 1e9 - Double(boot.tv_sec) - Double(boot.tv_nsec) / 1e9
    }
}
