import FoundationEssentials

/// The few text operations the wire formats need, on ASCII and without Foundation's ICU-backed APIs
/// (whose data would add 34 MB to the binary for what a dozen lines do).
extension String {
    /// Without leading and trailing spaces, tabs and line breaks.
    public var trimmedASCIIWhitespace: String {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || (0x09...0x0D).contains($0) }
        let bytes = Array(utf8)
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }

    /// Every UTF-8 byte other than an ASCII letter, digit or one of `unescaped` as `%XX`.
    public func percentEncoded(keeping unescaped: String) -> String {
        let keep = Set(unescaped.utf8)
        var out = ""
        for byte in utf8 {
            if byte.isASCIIAlphanumeric || keep.contains(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// The text with leading zeros up to `width` characters: `"7".zeroPadded(to: 2)` is `"07"`.
    public func zeroPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }

    /// Whether the text is `count` bytes long with each byte accepted by `allowed`.
    public func isASCII(count: ClosedRange<Int>, _ allowed: (UInt8) -> Bool) -> Bool {
        count.contains(utf8.count) && utf8.allSatisfy(allowed)
    }
}

extension UInt8 {
    /// A-Z, a-z or 0-9.
    public var isASCIIAlphanumeric: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self)
    }

    /// 0-9.
    public var isASCIIDigit: Bool { (0x30...0x39).contains(self) }
}
