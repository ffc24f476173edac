import AzureClient
import Foundation

/// JSON bytes → each ARM model, or a decoding error. Whatever decodes, decode → encode → decode is a
/// fixed point: the same value, and the same bytes when encoded again.
public enum ModelProperty {
    static let maxLength = 1 << 16

    public static func check(_ data: [UInt8]) -> PropertyFailure? {
        guard data.count <= maxLength else { return nil }
        let bytes = Data(data)
        return roundTrip(ImageTemplate.self, bytes) ?? roundTrip(ImageTemplateUpdate.self, bytes)
            ?? roundTrip(RunOutput.self, bytes) ?? roundTrip(LastRunStatus.self, bytes)
    }

    static func roundTrip<T: Codable & Equatable>(_ type: T.Type, _ data: Data) -> PropertyFailure? {
        guard let first = try? JSONDecoder().decode(T.self, from: data) else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        do {
            let encoded = try encoder.encode(first)
            let second = try JSONDecoder().decode(T.self, from: encoded)
            guard second == first else {
                return PropertyFailure("\(T.self): decode → encode → decode changed the value; encoded: \(String(decoding: encoded, as: UTF8.self))")
            }
            let again = try encoder.encode(second)
            guard again == encoded else {
                return PropertyFailure("\(T.self): encoding is not a fixed point: \(String(decoding: encoded, as: UTF8.self)) then \(String(decoding: again, as: UTF8.self))")
            }
        } catch {
            return PropertyFailure("\(T.self): decoded, but its encoding does not decode again: \(error)")
        }
        return nil
    }
}
