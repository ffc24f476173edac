import FoundationEssentials

/// Where a client secret comes from. Read when needed, never logged.
public enum SecretSource: Sendable, CustomStringConvertible {
    /// An environment variable (`AZURE_CLIENT_SECRET`).
    case environment(String)
    /// A file; one trailing newline is ignored.
    case file(String)
    /// A systemd credential (`LoadCredential=NAME:...`), read from `$CREDENTIALS_DIRECTORY/NAME`.
    case systemdCredential(String)
    /// A value already read (from the environment captured by the default chain, or tests).
    case literal(String)

    public var description: String {
        switch self {
        case .environment(let name): "environment variable \(name)"
        case .file(let path): "file \(path)"
        case .systemdCredential(let name): "systemd credential \(name)"
        case .literal: "an inline secret"
        }
    }

    /// The secret, or an error naming the source (not its content).
    public func read(environment: [String: String] = ProcessInfo.processInfo.environment) throws(AzureError) -> String {
        let raw: String
        switch self {
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else { throw .configuration("\(self) is not set") }
            raw = value
        case .file(let path):
            raw = try Self.readFile(path, source: description)
        case .systemdCredential(let name):
            guard let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty else {
                throw .configuration("\(self): CREDENTIALS_DIRECTORY is not set (is LoadCredential= in the unit?)")
            }
            raw = try Self.readFile(directory + "/" + name, source: description)
        case .literal(let value):
            raw = value
        }
        let secret = raw.hasSuffix("\n") ? String(raw.dropLast()) : raw
        guard !secret.isEmpty else { throw .configuration("\(self) is empty") }
        return secret
    }

    static func readFile(_ path: String, source: String) throws(AzureError) -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw .configuration("\(source): cannot read \(path)")
        }
        return text
    }
}
