/// A JSON payload that could not be read, with the byte offset inside the payload.
struct JSONReaderError: Error, CustomStringConvertible {
    var offset: Int
    var expected: String
    var description: String { "invalid JSON at payload byte \(offset): expected \(expected)" }
}

/// A pull reader over one payload. Recovery reads a million of these, so it avoids Foundation's
/// decoder (about 8 µs a record here) and allocates only the strings it returns.
struct JSONReader {
    private let bytes: UnsafeRawBufferPointer
    private var i = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    private func fail(_ expected: String) -> JSONReaderError {
        JSONReaderError(offset: i, expected: expected)
    }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        skipSpace()
        guard i < bytes.count, bytes[i] == byte else { return false }
        i += 1
        return true
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws {
        guard consume(byte) else { throw fail(what) }
    }

    /// Requires that nothing but white space follows the value just read.
    mutating func end() throws {
        skipSpace()
        guard i == bytes.count else { throw fail("end of payload") }
    }

    /// Calls `body` with each member name; `body` must read or skip the value.
    mutating func object(_ body: (inout JSONReader, String) throws -> Void) throws {
        try rawObject { r, name in try body(&r, String(decoding: name, as: UTF8.self)) }
    }

    /// Like `object`, with each member name as raw bytes: recovery matches names without making
    /// a String per member. A name with escapes is decoded into a temporary buffer first.
    mutating func rawObject(_ body: (inout JSONReader, UnsafeRawBufferPointer) throws -> Void) throws {
        try expect(UInt8(ascii: "{"), "'{'")
        if consume(UInt8(ascii: "}")) { return }
        repeat {
            if let name = try rawString() {
                try expect(UInt8(ascii: ":"), "':'")
                try body(&self, name)
            } else {
                let name = Array(try string().utf8)
                try expect(UInt8(ascii: ":"), "':'")
                try name.withUnsafeBytes { try body(&self, $0) }
            }
        } while consume(UInt8(ascii: ","))
        try expect(UInt8(ascii: "}"), "',' or '}'")
    }

    /// The bytes of the next string if it has no escapes (consumed), else nil (nothing consumed).
    mutating func rawString() throws -> UnsafeRawBufferPointer? {
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("a string") }
        var end = i + 1
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\") { end += 1 }
        guard end < bytes.count else { throw fail("end of string") }
        guard bytes[end] == UInt8(ascii: "\"") else { return nil }
        defer { i = end + 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[(i + 1)..<end])
    }

    /// Calls `body` once per element; `body` must read or skip it.
    mutating func array(_ body: (inout JSONReader) throws -> Void) throws {
        try expect(UInt8(ascii: "["), "'['")
        if consume(UInt8(ascii: "]")) { return }
        repeat {
            try body(&self)
        } while consume(UInt8(ascii: ","))
        try expect(UInt8(ascii: "]"), "',' or ']'")
    }

    /// Consumes `null` if it is next.
    mutating func null() -> Bool {
        skipSpace()
        guard i + 4 <= bytes.count, bytes[i] == UInt8(ascii: "n"), bytes[i + 1] == UInt8(ascii: "u"),
              bytes[i + 2] == UInt8(ascii: "l"), bytes[i + 3] == UInt8(ascii: "l") else { return false }
        i += 4
        return true
    }

    mutating func optionalString() throws -> String? {
        null() ? nil : try string()
    }

    mutating func optionalInt() throws -> Int64? {
        null() ? nil : try int()
    }

    mutating func string() throws -> String {
        try expect(UInt8(ascii: "\""), "a string")
        let start = i
        while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\") { i += 1 }
        guard i < bytes.count else { throw fail("end of string") }
        if bytes[i] == UInt8(ascii: "\"") {
            defer { i += 1 }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        }
        var out = Array(bytes[start..<i])
        while i < bytes.count {
            let byte = bytes[i]
            i += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard i < bytes.count else { throw fail("an escape") }
                let escape = bytes[i]
                i += 1
                switch escape {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"): try unicodeEscape(into: &out)
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                default: throw fail("a valid escape")
                }
            default:
                out.append(byte)
            }
        }
        throw fail("end of string")
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("four hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = Character(Unicode.Scalar(bytes[i])).hexDigitValue else { throw fail("a hex digit") }
            value = value << 4 | UInt32(digit)
            i += 1
        }
        return value
    }

    private mutating func unicodeEscape(into out: inout [UInt8]) throws {
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar) {
            guard i + 2 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                throw fail("a low surrogate")
            }
            i += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw fail("a low surrogate") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let unicode = Unicode.Scalar(scalar) else { throw fail("a valid code point") }
        out.append(contentsOf: Array(String(Character(unicode)).utf8))
    }

    mutating func int() throws -> Int64 {
        skipSpace()
        var negative = false
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        let start = i
        var value: Int64 = 0
        while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(bytes[i] - 0x30))
            guard !o1, !o2 else { throw fail("an integer in 64 bits") }
            value = a
            i += 1
        }
        guard i > start else { throw fail("an integer") }
        return negative ? -value : value
    }

    mutating func bool() throws -> Bool {
        skipSpace()
        for (word, value) in [("true", true), ("false", false)] {
            let w = Array(word.utf8)
            if i + w.count <= bytes.count, zip(w, bytes[i..<(i + w.count)]).allSatisfy({ $0 == $1 }) {
                i += w.count
                return value
            }
        }
        throw fail("true or false")
    }

    /// Skips any value, so that members a later version adds are ignored rather than fatal.
    mutating func skipValue() throws {
        skipSpace()
        guard i < bytes.count else { throw fail("a value") }
        switch bytes[i] {
        case UInt8(ascii: "{"): try object { r, _ in try r.skipValue() }
        case UInt8(ascii: "["): try array { r in try r.skipValue() }
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try bool()
        case UInt8(ascii: "n"): guard null() else { throw fail("null") }
        default:
            // Numbers: integers are all we write, but accept a fraction or exponent from elsewhere.
            let start = i
            while i < bytes.count, "+-.eE0123456789".utf8.contains(bytes[i]) { i += 1 }
            guard i > start else { throw fail("a value") }
        }
    }
}
