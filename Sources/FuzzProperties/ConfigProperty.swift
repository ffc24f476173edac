import Config
import Orchestration

/// YAML bytes → a config, or an error located at `file:line:column` inside the file; never a trap.
public enum ConfigProperty {
    static let maxLength = 4096

    public static func check(_ data: [UInt8]) -> PropertyFailure? {
        guard data.count <= maxLength else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        // No environment: the state directory and secrets must come from the file or defaults.
        let loader = ConfigLoader(file: "fuzz.yaml", environment: [:])
        do {
            _ = try loader.parse(text)
        } catch {
            let lines = yamlLines(text)
            guard error.line >= 1, error.line <= lines + 1, error.column >= 1,
                  // Bytes, not Characters: a key that starts with a combining mark joins the space before it.
                  error.description.utf8.starts(with: "fuzz.yaml:\(error.line):\(error.column): ".utf8) else {
                return PropertyFailure("error not located inside the file (\(lines) lines): \(error)")
            }
        }
        return nil
    }

    /// Lines as YAML 1.1 (libyaml) counts them: `\r\n`, `\r`, `\n`, NEL, LS and PS each end one.
    static func yamlLines(_ text: String) -> Int {
        var lines = 1
        var previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            if ["\r", "\u{85}", "\u{2028}", "\u{2029}"].contains(scalar) || (scalar == "\n" && previous != "\r") { lines += 1 }
            previous = scalar
        }
        return lines
    }
}
