/// A string enumeration from an ARM schema that tolerates values it does not know.
///
/// Values are matched case-insensitively: 2018-02-01-preview sends `running`, later versions
/// `Running`. A value outside `known` decodes to the type's unknown case and re-encodes verbatim.
public protocol ARMEnum: Codable, Sendable, Hashable, CustomStringConvertible {
    /// Every named case, in schema spelling.
    static var known: [Self] { get }
    /// The wire spelling of a named case, or the raw string of an unknown one.
    var rawValue: String { get }
    /// The unknown case carrying `raw`.
    static func unknown(_ raw: String) -> Self
}

extension ARMEnum {
    public init(rawValue raw: String) {
        let folded = raw.lowercased()
        self = Self.known.first { $0.rawValue.lowercased() == folded } ?? Self.unknown(raw)
    }

    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    /// Whether this is one of the named cases.
    public var isKnown: Bool { Self.known.contains(self) }
}
