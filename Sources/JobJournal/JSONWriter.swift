/// Writes compact JSON straight into bytes; the journal's payloads need nothing more, and
/// Foundation's encoder would cost more than the fsync it precedes.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    // Whether the innermost open container has no member yet; a closed container is a member of its parent.
    private var empty = true

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    mutating func objectStart() {
        bytes.append(UInt8(ascii: "{"))
        empty = true
    }

    mutating func objectEnd() {
        bytes.append(UInt8(ascii: "}"))
        empty = false
    }

    mutating func arrayStart() {
        bytes.append(UInt8(ascii: "["))
        empty = true
    }

    mutating func arrayEnd() {
        bytes.append(UInt8(ascii: "]"))
        empty = false
    }

    /// Starts an array element.
    mutating func element() {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
    }

    /// Starts an object member.
    mutating func key(_ key: String) {
        element()
        string(key)
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func int(_ value: Int64) {
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func field(_ name: String, _ value: String?) {
        guard let value else { return }
        key(name)
        string(value)
    }

    mutating func field(_ name: String, _ value: Int64?) {
        guard let value else { return }
        key(name)
        int(value)
    }

    /// `"name":true`, or nothing when false: flags are absent unless set.
    mutating func flag(_ name: String, _ value: Bool) {
        guard value else { return }
        key(name)
        bytes.append(contentsOf: "true".utf8)
    }
}
