/// Varlink's framing: each message is one JSON object followed by a NUL byte. Bytes arrive in any
/// chunks; complete messages come out. A message longer than `limit` is an error, and the
/// connection that sent it is closed (nothing else is affected).
public struct VarlinkFrameReader: Sendable {
    public enum Failure: Error, Equatable, Sendable {
        case tooLarge(limit: Int)
    }

    public let limit: Int
    private var pending: [UInt8] = []

    public init(limit: Int = 1 << 20) {
        self.limit = limit
    }

    /// Appends bytes; returns every message they complete, without its NUL.
    public mutating func append<C: Collection<UInt8>>(_ bytes: C) throws(Failure) -> [[UInt8]] {
        var messages: [[UInt8]] = []
        for byte in bytes {
            if byte == 0 {
                messages.append(pending)
                pending.removeAll(keepingCapacity: true)
            } else {
                guard pending.count < limit else { throw .tooLarge(limit: limit) }
                pending.append(byte)
            }
        }
        return messages
    }

    /// Bytes of a message not yet ended by its NUL.
    public var partialCount: Int { pending.count }
}
