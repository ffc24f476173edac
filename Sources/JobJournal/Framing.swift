/// Record framing: `u32 length | u32 CRC-32C(payload) | payload`, both integers little-endian.
enum Framing {
    static let headerSize = 8
    /// A length above this is damage, not a record; snapshots of large estates stay well below it.
    static let maxPayload = 256 << 20
    /// Every payload starts with these bytes, which lets a damage scan find record boundaries cheaply.
    static let payloadPrefix = Array(#"{"seq":"#.utf8)

    static func frame(_ payload: [UInt8], into out: inout [UInt8]) {
        let length = UInt32(payload.count)
        let crc = CRC32C.checksum(payload)
        withUnsafeBytes(of: length.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: crc.littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: payload)
    }
}

/// Why the bytes at some offset are not a record.
public enum FrameDamage: Error, Sendable, Equatable, CustomStringConvertible {
    case truncatedHeader(available: Int)
    case zeroLength
    case lengthTooLarge(UInt32)
    case truncatedPayload(length: UInt32, available: Int)
    case checksumMismatch(stored: UInt32, computed: UInt32)

    public var description: String {
        switch self {
        case .truncatedHeader(let n): "record header cut short (\(n) of \(Framing.headerSize) bytes)"
        case .zeroLength: "zero record length"
        case .lengthTooLarge(let n): "record length \(n) exceeds the \(Framing.maxPayload)-byte limit"
        case .truncatedPayload(let n, let a): "record length \(n) runs past the end of the segment (\(a) bytes left)"
        case .checksumMismatch(let s, let c):
            "checksum mismatch (stored 0x\(String(s, radix: 16)), computed 0x\(String(c, radix: 16)))"
        }
    }
}

/// Walks the frames of one segment held in memory.
struct FrameScanner {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// The next payload, nil at a clean end, or the damage at `offset` (which then stays put).
    mutating func next() -> Result<UnsafeRawBufferPointer, FrameDamage>? {
        guard offset < bytes.count else { return nil }
        switch FrameScanner.frame(at: offset, in: bytes) {
        case .success(let payload):
            offset += Framing.headerSize + payload.count
            return .success(payload)
        case .failure(let damage):
            return .failure(damage)
        }
    }

    static func frame(at offset: Int, in bytes: UnsafeRawBufferPointer) -> Result<UnsafeRawBufferPointer, FrameDamage> {
        let available = bytes.count - offset
        guard available >= Framing.headerSize else { return .failure(.truncatedHeader(available: available)) }
        let length = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian
        let stored = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self).littleEndian
        guard length > 0 else { return .failure(.zeroLength) }
        guard length <= Framing.maxPayload else { return .failure(.lengthTooLarge(length)) }
        guard Int(length) <= available - Framing.headerSize else {
            return .failure(.truncatedPayload(length: length, available: available - Framing.headerSize))
        }
        let start = offset + Framing.headerSize
        let payload = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + Int(length))])
        let computed = CRC32C.checksum(payload)
        guard computed == stored else { return .failure(.checksumMismatch(stored: stored, computed: computed)) }
        return .success(payload)
    }

    /// Whether any intact record starts after `offset`. Damage followed by an intact record cannot
    /// be a torn write (the writer never leaves a hole before acknowledged data), so it is corruption.
    func intactRecordAfter(_ offset: Int) -> Int? {
        let prefix = Framing.payloadPrefix
        var p = offset + 1
        while p + Framing.headerSize + prefix.count <= bytes.count {
            let start = p + Framing.headerSize
            if bytes[start] == prefix[0], zip(prefix, bytes[start..<(start + prefix.count)]).allSatisfy({ $0 == $1 }),
               case .success = FrameScanner.frame(at: p, in: bytes) {
                return p
            }
            p += 1
        }
        return nil
    }
}
