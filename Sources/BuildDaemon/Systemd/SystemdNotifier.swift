import CSystemd
import FoundationEssentials
import Glibc
import Orchestration

/// `sd_notify` for Type=notify: READY, STATUS, WATCHDOG, RELOADING, STOPPING, EXTEND_TIMEOUT_USEC.
/// Every call is a no-op when `NOTIFY_SOCKET` is unset (not started by systemd).
struct SystemdNotifier: Sendable {
    func send(_ assignments: String...) {
        _ = sd_notify(0, assignments.joined(separator: "\n"))
    }

    func ready(status: String) { send("READY=1", "STATUS=" + status) }
    func status(_ line: String) { send("STATUS=" + line) }
    func watchdog() { send("WATCHDOG=1") }
    func stopping() { send("STOPPING=1", "STATUS=stopping: builds keep running in Azure") }

    /// RELOADING=1 needs the CLOCK_MONOTONIC time of the reload (systemd 253+ matches it to the request).
    func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        send("RELOADING=1", "MONOTONIC_USEC=\(UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000)", "STATUS=reloading the configuration")
    }

    /// Asks for more start-up time (recovery of a long journal, adoption of many runs).
    func extendTimeout(_ duration: Duration, status: String) {
        send("EXTEND_TIMEOUT_USEC=\(duration.components.seconds * 1_000_000)", "STATUS=" + status)
    }

    /// Half of `WATCHDOG_USEC` when the watchdog is enabled for this process, else nil.
    static func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec / 2))
    }
}
