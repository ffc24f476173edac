import Config
import FoundationEssentials

/// The daemon's only source of time, so tests and the demo can compress days into seconds.
public protocol DaemonClock: Sendable {
    func now() -> Date
    /// Sleeps until `instant` on this clock (returns at once if it has passed). Throws on cancellation.
    func sleep(until instant: Date) async throws
}

extension DaemonClock {
    /// Sleeps for `duration` of this clock's time.
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: now().addingTimeInterval(duration.seconds))
    }
}

/// Wall-clock time: slots are civil times, so the clock that matters is the one people read.
public struct SystemClock: DaemonClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until instant: Date) async throws {
        let seconds = instant.timeIntervalSinceNow
        if seconds > 0 { try await Task.sleep(for: .seconds(seconds)) }
    }
}

/// Compressed time: `origin + (real now - realOrigin) × scale`. A pure function of real time, so
/// separate processes (the daemon after a restart, the simulator, a test) agree on it.
///
/// Set through `IMAGEBUILDD_TIME_SCALE=scale[@origin-RFC3339[@real-unix-seconds]]`; for tests and the demo only.
public struct ScaledClock: DaemonClock {
    public var origin: Date
    public var realOrigin: Date
    public var scale: Double

    public init(origin: Date, realOrigin: Date, scale: Double) {
        self.origin = origin
        self.realOrigin = realOrigin
        self.scale = scale
    }

    public func now() -> Date {
        origin.addingTimeInterval(Date().timeIntervalSince(realOrigin) * scale)
    }

    public func sleep(until instant: Date) async throws {
        let seconds = instant.timeIntervalSince(now()) / scale
        if seconds > 0 { try await Task.sleep(for: .seconds(seconds)) }
    }

    /// Parses the environment form; nil when `text` is malformed.
    public static func parse(_ text: String) -> ScaledClock? {
        let parts = text.split(separator: "@").map(String.init)
        guard let scale = Double(parts[0]), scale > 0 else { return nil }
        let now = Date()
        let origin = parts.count > 1 ? RFC3339.parse(parts[1]) : now
        let realOrigin = parts.count > 2 ? Double(parts[2]).map { Date(timeIntervalSince1970: $0) } : now
        guard let origin, let realOrigin, parts.count <= 3 else { return nil }
        return ScaledClock(origin: origin, realOrigin: realOrigin, scale: scale)
    }

    /// The environment form of this clock.
    public var environmentValue: String {
        "\(scale)@\(RFC3339.string(origin))@\(realOrigin.timeIntervalSince1970)"
    }
}
