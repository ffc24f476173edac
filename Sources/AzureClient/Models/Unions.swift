/// Reads only the discriminator of a polymorphic ARM object.
private struct Discriminator: Decodable {
    var type: String
}

/// Decodes a union by its `type` member, case-insensitively; anything else becomes `.unknown`.
func decodeUnion<U>(_ decoder: any Decoder, _ cases: [(String, (any Decoder) throws -> U)],
                    unknown: (String, JSONValue) -> U) throws -> U {
    let type = try Discriminator(from: decoder).type
    if let (_, make) = cases.first(where: { $0.0.lowercased() == type.lowercased() }) {
        return try make(decoder)
    }
    return unknown(type, try JSONValue(from: decoder))
}

/// Where a template's build starts.
public enum ImageTemplateSource: Codable, Sendable, Equatable {
    case platformImage(Extensible<PlatformImageSource>)
    case managedImage(Extensible<ManagedImageSource>)
    case sharedImageVersion(Extensible<SharedImageVersionSource>)
    /// A source type this client does not know (e.g. `ISO` in 2018-02-01-preview), kept verbatim.
    case unknown(type: String, json: JSONValue)

    public init(from decoder: any Decoder) throws {
        self = try decodeUnion(decoder, [
            ("PlatformImage", { .platformImage(try .init(from: $0)) }),
            ("ManagedImage", { .managedImage(try .init(from: $0)) }),
            ("SharedImageVersion", { .sharedImageVersion(try .init(from: $0)) }),
        ], unknown: { .unknown(type: $0, json: $1) })
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .platformImage(let value): try value.encode(to: encoder)
        case .managedImage(let value): try value.encode(to: encoder)
        case .sharedImageVersion(let value): try value.encode(to: encoder)
        case .unknown(_, let json): try json.encode(to: encoder)
        }
    }
}

/// A step that changes the build VM.
public enum ImageTemplateCustomizer: Codable, Sendable, Equatable {
    case shell(Extensible<ScriptStep>)
    case powerShell(Extensible<ScriptStep>)
    case windowsRestart(Extensible<ScriptStep>)
    case windowsUpdate(Extensible<ScriptStep>)
    case file(Extensible<ScriptStep>)
    case unknown(type: String, json: JSONValue)

    public init(from decoder: any Decoder) throws {
        self = try decodeUnion(decoder, [
            ("Shell", { .shell(try .init(from: $0)) }),
            ("PowerShell", { .powerShell(try .init(from: $0)) }),
            ("WindowsRestart", { .windowsRestart(try .init(from: $0)) }),
            ("WindowsUpdate", { .windowsUpdate(try .init(from: $0)) }),
            ("File", { .file(try .init(from: $0)) }),
        ], unknown: { .unknown(type: $0, json: $1) })
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .shell(let value), .powerShell(let value), .windowsRestart(let value),
             .windowsUpdate(let value), .file(let value):
            try value.encode(to: encoder)
        case .unknown(_, let json): try json.encode(to: encoder)
        }
    }
}

/// A check run in the build VM before distribution.
public enum ImageTemplateInVMValidator: Codable, Sendable, Equatable {
    case shell(Extensible<ScriptStep>)
    case powerShell(Extensible<ScriptStep>)
    case file(Extensible<ScriptStep>)
    case unknown(type: String, json: JSONValue)

    public init(from decoder: any Decoder) throws {
        self = try decodeUnion(decoder, [
            ("Shell", { .shell(try .init(from: $0)) }),
            ("PowerShell", { .powerShell(try .init(from: $0)) }),
            ("File", { .file(try .init(from: $0)) }),
        ], unknown: { .unknown(type: $0, json: $1) })
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .shell(let value), .powerShell(let value), .file(let value): try value.encode(to: encoder)
        case .unknown(_, let json): try json.encode(to: encoder)
        }
    }
}

/// Where a finished image goes; each distributor yields one run output named `runOutputName`.
public enum ImageTemplateDistributor: Codable, Sendable, Equatable {
    case managedImage(Extensible<ManagedImageDistributor>)
    case sharedImage(Extensible<SharedImageDistributor>)
    case vhd(Extensible<VhdDistributor>)
    case unknown(type: String, json: JSONValue)

    public init(from decoder: any Decoder) throws {
        self = try decodeUnion(decoder, [
            ("ManagedImage", { .managedImage(try .init(from: $0)) }),
            ("SharedImage", { .sharedImage(try .init(from: $0)) }),
            ("VHD", { .vhd(try .init(from: $0)) }),
        ], unknown: { .unknown(type: $0, json: $1) })
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .managedImage(let value): try value.encode(to: encoder)
        case .sharedImage(let value): try value.encode(to: encoder)
        case .vhd(let value): try value.encode(to: encoder)
        case .unknown(_, let json): try json.encode(to: encoder)
        }
    }

    /// The name under which this distributor's run output appears; unknown types keep theirs too.
    public var runOutputName: String? {
        switch self {
        case .managedImage(let value): value.runOutputName
        case .sharedImage(let value): value.runOutputName
        case .vhd(let value): value.runOutputName
        case .unknown(_, let json): json["runOutputName"]?.stringValue
        }
    }
}
