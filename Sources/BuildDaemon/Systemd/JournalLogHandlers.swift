import CSystemd
import FoundationEssentials
import Glibc
import Orchestration
import Logging

/// The fixed MESSAGE_ID of each event the daemon logs, as the journald catalog documents them.
enum MessageID {
    static let byEvent: [String: String] = [
        "slot-fired": "a6e508072d804b34a743c1dfe3b1bdf4",
        "slot-skipped": "e5cd00014b5b451d94456d37de08d183",
        "run-accepted": "2ffd5cbf53c24b1691d937bc84c817f8",
        "state-changed": "9eb0410c61a54e51a047b6d61d983cf0",
        "outputs-recorded": "8def757424e844db956669759ea2d311",
        "run-finished": "0e2b35762adb41f6bc942d29b08c7964",
        "timeout-cancel": "189a1032f2be4cd9b60e73e878bc99bd",
        "replace-cancel": "401933c1fb68447ea9a6c2d321f2e802",
        "operator-cancel": "274cd8266477450fa23468a440163f3c",
        "config-reloaded": "8ea49f546b9140d4a93428a61ad52248",
        "config-rejected": "1fa1196917ce4305b222f175e4f9b52f",
        "stale": "e2b8c06f9ff745119195623994e6d906",
        "recovered": "beefa316181046a4a7f8ed7a0735a451",
        "notify-abandoned": "e6a483f0ca3247b2aa7d1025e08baed5",
        "leadership-gained": "6514515fe587464bbe212727b64cbd69",
        "leadership-lost": "b57e5436c5f843f49aa3f0258e48918c",
        "schedule-discovered": "76c8404bfdfe4eee87176f526ebfaabf",
        "schedule-retired": "c0d39dd704764c60b7c15d061b33eeea",
        "discovery-ignored": "c070b4caf17441b09993a38657dfc3e1",
        "discovery-failed": "91e6e328c435408fbf7a993c197bb1c0",
    ]
}

/// Journal field names: upper case letters, digits and '_', not starting with '_' or a digit, at most 64.
func journalFieldName(_ key: String) -> String {
    var name = String(key.uppercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "_" })
    while let first = name.first, first == "_" || first.isNumber { name.removeFirst() }
    if name.isEmpty { name = "FIELD" }
    return String(name.prefix(64))
}

/// syslog priorities for swift-log levels.
func syslogPriority(_ level: Logger.Level) -> Int {
    switch level {
    case .trace, .debug: 7
    case .info: 6
    case .notice: 5
    case .warning: 4
    case .error: 3
    case .critical: 2
    }
}

/// A log handler that only decides how to write one event; metadata plumbing is shared.
protocol EventLogHandler: LogHandler {
    /// Writes one event with the handler's and the call's metadata merged.
    func emit(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata)
}

extension EventLogHandler {
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        emit(level: level, message: message, metadata: metadata.merging(explicit ?? [:]) { $1 })
    }
}

/// Native journald logging over `sd_journal_sendv`: PRIORITY, MESSAGE, SYSLOG_IDENTIFIER,
/// MESSAGE_ID per event, and every metadata key as its own field (TEMPLATE=, SLOT=, ...).
struct JournaldLogHandler: EventLogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    func emit(level: Logger.Level, message: Logger.Message, metadata merged: Logger.Metadata) {
        var fields = ["MESSAGE=\(message)", "PRIORITY=\(syslogPriority(level))", "SYSLOG_IDENTIFIER=imagebuildd"]
        if case .string(let event)? = merged["EVENT"], let id = MessageID.byEvent[event] { fields.append("MESSAGE_ID=" + id) }
        for (key, value) in merged { fields.append("\(journalFieldName(key))=\(value)") }
        // Field values may hold newlines; sd_journal_sendv frames those itself.
        let copies = fields.map { strdup($0)! }
        defer { copies.forEach { free($0) } }
        var vectors = copies.map { iovec(iov_base: UnsafeMutableRawPointer($0), iov_len: strlen($0)) }
        _ = sd_journal_sendv(&vectors, Int32(vectors.count))
    }
}

/// Plain lines on stderr with `<N>` priority prefixes (which journald's stream reader also understands).
struct StderrLogHandler: EventLogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    func emit(level: Logger.Level, message: Logger.Message, metadata merged: Logger.Metadata) {
        let details = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text = "<\(syslogPriority(level))>\(message)\(details.isEmpty ? "" : " [" + details + "]")\n"
        StandardStreams.error(text)
    }
}

/// Whether stderr is the journal stream systemd connected (`JOURNAL_STREAM=dev:ino` matches fd 2).
func stderrIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
    guard let stream = environment["JOURNAL_STREAM"] else { return false }
    let parts = stream.split(separator: ":")
    var info = stat()
    guard parts.count == 2, fstat(2, &info) == 0 else { return false }
    return UInt64(parts[0]) == UInt64(info.st_dev) && UInt64(parts[1]) == UInt64(info.st_ino)
}
