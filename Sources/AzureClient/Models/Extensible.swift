import Synchronization

/// A typed model plus every JSON member it does not name, so decoding then encoding loses nothing.
///
/// ARM adds properties in new api-versions; a daemon that PUTs back what it read must not strip
/// them. `Fields` is a plain synthesized `Codable` struct whose property names are the wire names;
/// its members are reached directly through dynamic member lookup (`template.properties?.source`).
@dynamicMemberLookup
public struct Extensible<Fields: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    /// The members this client models.
    public var fields: Fields
    /// The members it does not, verbatim.
    public var additionalMembers: [String: JSONValue]

    public init(_ fields: Fields, additionalMembers: [String: JSONValue] = [:]) {
        self.fields = fields
        self.additionalMembers = additionalMembers
    }

    public subscript<T>(dynamicMember keyPath: KeyPath<Fields, T>) -> T {
        fields[keyPath: keyPath]
    }

    public subscript<T>(dynamicMember keyPath: WritableKeyPath<Fields, T>) -> T {
        get { fields[keyPath: keyPath] }
        set { fields[keyPath: keyPath] = newValue }
    }

    public init(from decoder: any Decoder) throws {
        fields = try Fields(from: decoder)
        let known = KnownMembers.names(of: fields)
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        var extra: [String: JSONValue] = [:]
        for key in container.allKeys where !known.contains(key.stringValue) {
            extra[key.stringValue] = try container.decode(JSONValue.self, forKey: key)
        }
        additionalMembers = extra
    }

    public func encode(to encoder: any Encoder) throws {
        try fields.encode(to: encoder)
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        for (key, value) in additionalMembers.sorted(by: { $0.key < $1.key }) {
            try container.encode(value, forKey: AnyCodingKey(key))
        }
    }
}

/// The member names each `Fields` type models, found once per type: a poll decodes a template every
/// few seconds per build, and reflecting on every decode cost more than the decoding.
enum KnownMembers {
    private static let cache = Mutex<[ObjectIdentifier: Set<String>]>([:])

    static func names<Fields>(of fields: Fields) -> Set<String> {
        let id = ObjectIdentifier(Fields.self)
        if let names = cache.withLock({ $0[id] }) { return names }
        // Synthesized coding keys are the stored property names, which Mirror lists.
        let names = Set(Mirror(reflecting: fields).children.compactMap(\.label))
        cache.withLock { $0[id] = names }
        return names
    }
}
