import FoundationEssentials

/// `lastRunStatus.runState`.
public enum RunState: ARMEnum {
    case ready, running, canceling, succeeded, partiallySucceeded, failed, canceled
    case unknown(String)

    public static let known: [RunState] = [.ready, .running, .canceling, .succeeded, .partiallySucceeded, .failed, .canceled]

    public var rawValue: String {
        switch self {
        case .ready: "Ready"
        case .running: "Running"
        case .canceling: "Canceling"
        case .succeeded: "Succeeded"
        case .partiallySucceeded: "PartiallySucceeded"
        case .failed: "Failed"
        case .canceled: "Canceled"
        case .unknown(let raw): raw
        }
    }

    /// Whether a run in this state has ended. `ready` (2018-02-01-preview) means no run is active.
    public var isTerminal: Bool {
        switch self {
        case .running, .canceling: false
        case .unknown: false
        default: true
        }
    }
}

/// `lastRunStatus.runSubState`.
public enum RunSubState: ARMEnum {
    case queued, building, customizing, optimizing, validating, distributing
    case unknown(String)

    public static let known: [RunSubState] = [.queued, .building, .customizing, .optimizing, .validating, .distributing]

    public var rawValue: String {
        switch self {
        case .queued: "Queued"
        case .building: "Building"
        case .customizing: "Customizing"
        case .optimizing: "Optimizing"
        case .validating: "Validating"
        case .distributing: "Distributing"
        case .unknown(let raw): raw
        }
    }
}

/// `provisioningState` of a template or run output.
public enum ProvisioningState: ARMEnum {
    case creating, updating, succeeded, failed, deleting, canceled
    case unknown(String)

    public static let known: [ProvisioningState] = [.creating, .updating, .succeeded, .failed, .deleting, .canceled]

    public var rawValue: String {
        switch self {
        case .creating: "Creating"
        case .updating: "Updating"
        case .succeeded: "Succeeded"
        case .failed: "Failed"
        case .deleting: "Deleting"
        case .canceled: "Canceled"
        case .unknown(let raw): raw
        }
    }
}

/// The status of a template's most recent run.
public struct LastRunStatusFields: Codable, Sendable, Equatable {
    public var startTime: ARMDate?
    public var endTime: ARMDate?
    public var runState: RunState?
    public var runSubState: RunSubState?
    public var message: String?

    public init(startTime: ARMDate? = nil, endTime: ARMDate? = nil, runState: RunState? = nil,
                runSubState: RunSubState? = nil, message: String? = nil) {
        self.startTime = startTime
        self.endTime = endTime
        self.runState = runState
        self.runSubState = runSubState
        self.message = message
    }
}
public typealias LastRunStatus = Extensible<LastRunStatusFields>

/// Why the template could not be provisioned.
public struct ProvisioningErrorFields: Codable, Sendable, Equatable {
    public var provisioningErrorCode: String?
    public var message: String?
}
public typealias ProvisioningError = Extensible<ProvisioningErrorFields>

/// An RFC 3339 instant as ARM writes it, keeping the original text for a lossless round trip.
public struct ARMDate: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The text as received (or as produced from `date`).
    public var text: String
    /// The instant, or nil when ARM sent something that is not RFC 3339.
    public var date: Date? { Self.parse(text) }

    public init(_ date: Date) {
        text = Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }

    public init(text: String) { self.text = text }

    public init(from decoder: any Decoder) throws { text = try decoder.singleValueContainer().decode(String.self) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    public var description: String { text }

    /// Parses RFC 3339 with or without fractional seconds (ARM uses up to seven digits).
    static func parse(_ text: String) -> Date? {
        var s = text
        var fraction = 0.0
        if let dot = s.firstIndex(of: ".") {
            let digitsEnd = s[dot...].dropFirst().firstIndex { !$0.isNumber } ?? s.endIndex
            fraction = Double("0" + s[dot..<digitsEnd]) ?? 0
            s.removeSubrange(dot..<digitsEnd)
        }
        if !s.hasSuffix("Z"), !s.dropFirst(19).contains(where: { $0 == "+" || $0 == "-" }) { s += "Z" }
        guard let whole = try? Date(s, strategy: .iso8601) else { return nil }
        return whole.addingTimeInterval(fraction)
    }
}
