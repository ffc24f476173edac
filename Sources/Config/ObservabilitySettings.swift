import AzureClient
import FoundationEssentials

/// The `metrics:` section: a scrape endpoint, a node_exporter textfile, or both; off by default.
public struct MetricsSettings: Sendable, Equatable {
    /// `host:port` for `GET /metrics` (e.g. `127.0.0.1:9469`).
    public var listen: (host: String, port: Int)?
    /// Written atomically every `textfileInterval` for node_exporter's textfile collector.
    public var textfile: String?
    public var textfileInterval: Duration = .seconds(15)

    public init() {}

    public var isEnabled: Bool { listen != nil || textfile != nil }

    public static func == (a: MetricsSettings, b: MetricsSettings) -> Bool {
        a.listen?.host == b.listen?.host && a.listen?.port == b.listen?.port && a.textfile == b.textfile
            && a.textfileInterval == b.textfileInterval
    }
}

/// What a webhook can be told about.
public enum NotifyEvent: String, Sendable, CaseIterable, Hashable {
    case succeeded, partiallySucceeded, failed, canceled, timedOut, lost, skipped
    /// No success within `stale_after`.
    case stale
    /// A success after `stale`.
    case recovered
    case paused, resumed

    /// What `notify[].events` means when it is left out: everything a person must act on.
    public static let defaults: Set<NotifyEvent> = [.failed, .timedOut, .lost, .stale, .recovered, .paused]
}

/// One `notify:` entry: a webhook and the events it wants.
public struct NotifySink: Sendable, Equatable {
    public var url: URL
    public var events: Set<NotifyEvent>
    /// Where the HMAC key comes from; nil sends unsigned.
    public var secret: SecretSource?
    /// How long one notification is retried before the daemon gives up on it.
    public var retryFor: Duration

    public init(url: URL, events: Set<NotifyEvent> = NotifyEvent.defaults, secret: SecretSource? = nil, retryFor: Duration = .seconds(3600)) {
        self.url = url
        self.events = events
        self.secret = secret
        self.retryFor = retryFor
    }

    /// The sink's name in the journal: stable for the same URL across restarts and reorderings, and
    /// no way back to a token in the URL's query.
    public var id: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in url.absoluteString.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "sink-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The URL as logs may show it: scheme, host, port and path; never the query, fragment or user info,
    /// where chat webhooks carry their tokens.
    public var redactedURL: String { Self.redact(url) }

    public static func redact(_ url: URL) -> String {
        var parts = URLComponents()
        parts.scheme = url.scheme
        parts.host = url.host
        parts.port = url.port
        let path = url.path
        // Slack and Teams put the token in the path's last segments: keep only the first one.
        let segments = path.split(separator: "/")
        parts.path = segments.isEmpty ? "" : "/" + segments[0] + (segments.count > 1 ? "/…" : "")
        return (parts.string ?? "\(url.scheme ?? "")://\(url.host ?? "")") + (url.query != nil ? "?…" : "")
    }

    public static func == (a: NotifySink, b: NotifySink) -> Bool {
        a.url == b.url && a.events == b.events && a.secret?.description == b.secret?.description && a.retryFor == b.retryFor
    }
}
