/// An input that broke a property: what was expected and what happened instead.
public struct PropertyFailure: Error, CustomStringConvertible, Sendable {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Every input surface, by the name its fuzz target, corpus and regression folder share.
public enum InputSurface: String, CaseIterable, Sendable {
    case cron, config, journal, models, control

    /// Checks one input against this surface's property; nil when it holds.
    public func check(_ data: [UInt8]) -> PropertyFailure? {
        switch self {
        case .cron: CronProperty.check(data)
        case .config: ConfigProperty.check(data)
        case .journal: JournalProperty.check(data)
        case .models: ModelProperty.check(data)
        case .control: ControlProperty.check(data)
        }
    }
}

/// FNV-1a: a deterministic choice (an instant, a byte to change) drawn from the input itself, so a
/// saved crasher replays exactly.
func fnv1a(_ data: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in data {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    return hash
}
