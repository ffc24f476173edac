/// A YAML node of the config: scalars stay text (the loader types them), every node knows where it
/// starts, so each rejection can name its line and column.
public struct YAMLNode: Sendable {
    /// How a scalar was written; quotes move a value's first character one column right.
    public enum Style: Sendable { case plain, singleQuoted, doubleQuoted, literal, folded }

    public enum Kind: Sendable {
        case scalar(String, Style)
        case sequence([YAMLNode])
        case mapping([(key: YAMLNode, value: YAMLNode)])
    }

    public let kind: Kind
    /// 1-based line and column (in characters) of the node's first character.
    public let line: Int
    public let column: Int

    /// The text of a scalar; nil for a list or mapping.
    public var scalar: String? { if case .scalar(let text, _) = kind { text } else { nil } }
    public var style: Style? { if case .scalar(_, let style) = kind { style } else { nil } }
}

/// Why a document is not YAML this reader accepts, and where.
public struct YAMLError: Error, Sendable {
    public let line: Int
    public let column: Int
    public let message: String
}

/// The YAML a config needs, read in one pass: block mappings and lists, flow `[…]` and `{…}`,
/// plain, quoted and block (`|`, `>`) scalars, comments, one document.
///
/// Anchors, aliases, tags, explicit `?` keys and multi-line plain scalars are refused with their
/// position rather than half-supported: a config is short, and an error is better than a surprise.
/// (Yams did this before, but its NSRegularExpression-based resolver pulled ICU into the binary.)
public enum YAML {
    /// The document's root node, or nil for a file with nothing but comments and blank lines.
    public static func compose(_ text: String) throws(YAMLError) -> YAMLNode? {
        var reader = YAMLReader(text)
        return try reader.document()
    }
}

/// The parser's cursor: bytes of UTF-8, a position, and the line starts for marks.
struct YAMLReader {
    private let bytes: [UInt8]
    private var position = 0
    private var lineStarts: [Int] = [0]
    private var depth = 0
    /// Entries of the collections being read, innermost last. Each collection is copied out at its
    /// exact size when it ends: no array grows and frees its way through the heap, so the tree is
    /// a few blocks that leave no holes behind once the config has been read.
    private var openItems: [YAMLNode] = []
    private var openPairs: [(key: YAMLNode, value: YAMLNode)] = []
    /// Deeper nesting than any config needs; it bounds the recursion on hostile input.
    private static let maxDepth = 64

    init(_ text: String) {
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        self.bytes = bytes
        for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") { lineStarts.append(index + 1) }
    }

    // MARK: Positions

    private func mark(_ at: Int) -> (line: Int, column: Int) {
        var lo = 0, hi = lineStarts.count
        while lo + 1 < hi {
            let mid = (lo + hi) / 2
            if lineStarts[mid] <= at { lo = mid } else { hi = mid }
        }
        let column = String(decoding: bytes[lineStarts[lo]..<min(at, bytes.count)], as: UTF8.self).unicodeScalars.count + 1
        return (lo + 1, column)
    }

    private func error(_ message: String, at: Int? = nil) -> YAMLError {
        let (line, column) = mark(at ?? position)
        return YAMLError(line: line, column: column, message: message)
    }

    private func node(_ kind: YAMLNode.Kind, at: Int) -> YAMLNode {
        let (line, column) = mark(at)
        return YAMLNode(kind: kind, line: line, column: column)
    }

    private var peek: UInt8? { position < bytes.count ? bytes[position] : nil }
    private func byte(at index: Int) -> UInt8? { index < bytes.count ? bytes[index] : nil }
    private func isBlank(_ b: UInt8?) -> Bool { b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }
    private func isBreak(_ b: UInt8?) -> Bool { b == nil || b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r") }
    private func isBlankOrBreak(_ b: UInt8?) -> Bool { isBlank(b) || isBreak(b) }

    private var lineStart: Int { lineStarts[mark(position).line - 1] }

    /// The column (0-based, in bytes of leading spaces) of the current line's content.
    private var indent: Int { position - lineStart }

    // MARK: Lines

    /// Skips spaces and tabs, then a comment if one starts here.
    private mutating func skipBlanksAndComment() {
        while isBlank(peek) { position += 1 }
        if peek == UInt8(ascii: "#") { while !isBreak(peek) { position += 1 } }
    }

    /// Past the end of the current line; false at the end of input.
    @discardableResult
    private mutating func skipLineBreak() -> Bool {
        if peek == UInt8(ascii: "\r") { position += 1 }
        if peek == UInt8(ascii: "\n") { position += 1; return true }
        return false
    }

    /// To the first content of the next line that has some, checking the characters on the way:
    /// leaves `position` at that content (after its indentation), or at the end of input.
    private mutating func nextContentLine() throws(YAMLError) {
        while true {
            let start = position
            while peek == UInt8(ascii: " ") { position += 1 }
            if peek == UInt8(ascii: "\t") {
                // A tab before content is indentation, which YAML forbids; after spaces on a blank line it is fine.
                var probe = position
                while isBlank(byte(at: probe)) { probe += 1 }
                if !isBreak(byte(at: probe)) && byte(at: probe) != UInt8(ascii: "#") {
                    throw error("a tab in indentation; YAML indents with spaces only")
                }
            }
            skipBlanksAndComment()
            if peek == nil { return }
            if isBreak(peek) {
                guard skipLineBreak() else { throw error("a carriage return not followed by a line feed") }
                continue
            }
            position = start
            while peek == UInt8(ascii: " ") { position += 1 }
            return
        }
    }

    /// After a value on its line: only blanks and a comment may follow.
    private mutating func endOfLine() throws(YAMLError) {
        let before = position
        while isBlank(peek) { position += 1 }
        if peek == UInt8(ascii: "#") {
            guard position > before || isBlank(byte(at: position - 1)) else { throw error("a comment needs a space before `#`") }
            while !isBreak(peek) { position += 1 }
        }
        guard isBreak(peek) else { throw error("unexpected text after the value") }
    }

    private func isDocumentMarker(_ text: String) -> Bool {
        indent == 0 && bytes[position...].starts(with: Array(text.utf8)) && isBlankOrBreak(byte(at: position + 3))
    }

    // MARK: Document

    mutating func document() throws(YAMLError) -> YAMLNode? {
        try checkCharacters()
        try nextContentLine()
        if peek == UInt8(ascii: "%") { throw error("YAML directives are not supported") }
        if isDocumentMarker("---") {
            position += 3
            skipBlanksAndComment()
            guard isBreak(peek) else { throw error("content on the `---` line; start it on the next line") }
            skipLineBreak()
            try nextContentLine()
        }
        guard peek != nil, !isDocumentMarker("...") else { return nil }
        let root = try blockNode(parentIndent: -1)
        try nextContentLine()
        if isDocumentMarker("...") {
            position += 3
            try endOfLine()
            skipLineBreak()
            try nextContentLine()
            guard peek == nil else { throw error("content after the end of the document (`...`)") }
        } else if isDocumentMarker("---") {
            throw error("a second document; the config is one document")
        } else if peek != nil {
            throw error("unexpected text at this indentation; check the spaces before it")
        }
        return root
    }

    /// Control characters other than tab, line feed and carriage return are refused up front.
    private func checkCharacters() throws(YAMLError) {
        for (index, byte) in bytes.enumerated() where (byte < 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D) || byte == 0x7F {
            throw error("control character 0x\(String(byte, radix: 16)) is not allowed", at: index)
        }
    }

    private mutating func closeItems(from first: Int) -> [YAMLNode] {
        defer { openItems.removeSubrange(first...) }
        return Array(openItems[first...])
    }

    private mutating func closePairs(from first: Int) -> [(key: YAMLNode, value: YAMLNode)] {
        defer { openPairs.removeSubrange(first...) }
        return Array(openPairs[first...])
    }

    // MARK: Block structure

    /// The node whose first line starts at `position` (already past its indentation).
    private mutating func blockNode(parentIndent: Int) throws(YAMLError) -> YAMLNode {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw error("nested more than \(Self.maxDepth) levels deep") }
        let column = indent
        if isSequenceEntry { return try blockSequence(column: column) }
        if try startsMappingEntry() { return try blockMapping(column: column) }
        return try inlineValue(parentIndent: parentIndent)
    }

    private var isSequenceEntry: Bool { peek == UInt8(ascii: "-") && isBlankOrBreak(byte(at: position + 1)) }

    private mutating func blockSequence(column: Int) throws(YAMLError) -> YAMLNode {
        let start = position
        let firstItem = openItems.count
        while true {
            let dash = position
            position += 1
            while isBlank(peek) { position += 1 }
            if isBreak(peek) || peek == UInt8(ascii: "#") {
                skipBlanksAndComment()
                skipLineBreak()
                try nextContentLine()
                if peek != nil, indent > column {
                    openItems.append(try blockNode(parentIndent: column))
                } else {
                    openItems.append(node(.scalar("", .plain), at: dash + 1))
                }
            } else {
                // `- item` or `- key: value`: the entry's content sets the indentation of what follows.
                openItems.append(try blockNode(parentIndent: column))
            }
            try nextContentLine()
            guard peek != nil, indent == column, !isDocumentMarker("---"), !isDocumentMarker("...") else { break }
            guard isSequenceEntry else { break }
        }
        if peek != nil, indent > column {
            throw error("unexpected indentation after a list entry")
        }
        return node(.sequence(closeItems(from: firstItem)), at: start)
    }

    /// Whether the line from here is `key: …` (a colon followed by a blank or the line's end).
    private mutating func startsMappingEntry() throws(YAMLError) -> Bool {
        let saved = position
        defer { position = saved }
        switch peek {
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            _ = try quoted(parentIndent: -1)
            while isBlank(peek) { position += 1 }
            return peek == UInt8(ascii: ":")
        case UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: ">"), UInt8(ascii: "#"):
            return false
        default:
            while !isBreak(peek) {
                if peek == UInt8(ascii: ":"), isBlankOrBreak(byte(at: position + 1)) { return true }
                if peek == UInt8(ascii: "#"), position > saved, isBlank(byte(at: position - 1)) { return false }
                position += 1
            }
            return false
        }
    }

    private mutating func blockMapping(column: Int) throws(YAMLError) -> YAMLNode {
        let start = position
        let firstPair = openPairs.count
        while true {
            let key = try mappingKey()
            // At the colon; an empty value is marked just after it.
            position += 1
            let afterColon = position
            while isBlank(peek) { position += 1 }
            let value: YAMLNode
            if isBreak(peek) || peek == UInt8(ascii: "#") {
                skipBlanksAndComment()
                skipLineBreak()
                try nextContentLine()
                if peek != nil, indent > column {
                    value = try blockNode(parentIndent: column)
                } else if peek != nil, indent == column, isSequenceEntry {
                    // A list may sit at its key's own indentation.
                    value = try blockSequence(column: column)
                } else {
                    value = node(.scalar("", .plain), at: afterColon)
                }
            } else {
                if isSequenceEntry { throw error("a list entry on its key's line; start the list on the next line") }
                value = try inlineValue(parentIndent: column)
            }
            openPairs.append((key, value))
            try nextContentLine()
            guard peek != nil, indent == column, !isDocumentMarker("---"), !isDocumentMarker("...") else { break }
            if isSequenceEntry { throw error("a list entry where a key was expected") }
            guard try startsMappingEntry() else { throw error("expected `key: value` at this indentation") }
        }
        if peek != nil, indent > column {
            throw error("unexpected indentation; a value that continues on the next line must be quoted")
        }
        return node(.mapping(closePairs(from: firstPair)), at: start)
    }

    /// A key up to its colon: plain or quoted, on one line.
    private mutating func mappingKey() throws(YAMLError) -> YAMLNode {
        let start = position
        switch peek {
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            let key = try quoted(parentIndent: -1)
            guard key.line == mark(position).line else { throw error("a key must fit on one line", at: start) }
            while isBlank(peek) { position += 1 }
            return key
        case UInt8(ascii: "?"):
            throw error("explicit `?` keys are not supported")
        default:
            try refuseIndicator()
            var end = position
            while !(peek == UInt8(ascii: ":") && isBlankOrBreak(byte(at: position + 1))) {
                position += 1
                if !isBlank(byte(at: position - 1)) { end = position }
            }
            return node(.scalar(String(decoding: bytes[start..<end], as: UTF8.self), .plain), at: start)
        }
    }

    /// The characters YAML reserves for features this reader refuses.
    private func refuseIndicator() throws(YAMLError) {
        switch peek {
        case UInt8(ascii: "&"): throw error("anchors (`&`) are not supported; repeat the value")
        case UInt8(ascii: "*"): throw error("aliases (`*`) are not supported; repeat the value")
        case UInt8(ascii: "!"): throw error("tags (`!`) are not supported; quote the value if it starts with `!`")
        case UInt8(ascii: "@"), UInt8(ascii: "`"): throw error("`@` and `` ` `` are reserved in YAML; quote the value")
        case UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: ","):
            throw error("`\(String(decoding: [peek ?? 0], as: UTF8.self))` cannot start a value; quote it")
        case UInt8(ascii: "?") where isBlankOrBreak(byte(at: position + 1)): throw error("explicit `?` keys are not supported")
        case UInt8(ascii: "%") where indent == 0: throw error("YAML directives are not supported")
        default: return
        }
    }

    // MARK: Values on a line

    /// A value that starts on this line: a scalar, a flow collection or a block scalar. Consumes the
    /// rest of the line (a comment may follow) but not its break.
    private mutating func inlineValue(parentIndent: Int) throws(YAMLError) -> YAMLNode {
        let value: YAMLNode
        switch peek {
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            value = try quoted(parentIndent: parentIndent)
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            value = try flowNode()
        case UInt8(ascii: "|"), UInt8(ascii: ">"):
            return try blockScalar(parentIndent: parentIndent)
        default:
            value = try plainScalar()
        }
        try endOfLine()
        return value
    }

    /// A plain scalar to the end of its line or a ` #` comment; a `: ` inside it is an error.
    private mutating func plainScalar() throws(YAMLError) -> YAMLNode {
        try refuseIndicator()
        let start = position
        var end = position
        while !isBreak(peek) {
            if peek == UInt8(ascii: "#"), position > start, isBlank(byte(at: position - 1)) { break }
            if peek == UInt8(ascii: ":"), isBlankOrBreak(byte(at: position + 1)) {
                throw error("a mapping cannot start on its key's line; put `key: value` on the next line, indented")
            }
            position += 1
            if !isBlank(byte(at: position - 1)) { end = position }
        }
        return node(.scalar(String(decoding: bytes[start..<end], as: UTF8.self), .plain), at: start)
    }

    // MARK: Quoted scalars

    private mutating func quoted(parentIndent: Int) throws(YAMLError) -> YAMLNode {
        let start = position
        let double = peek == UInt8(ascii: "\"")
        position += 1
        var out: [UInt8] = []
        while true {
            guard let current = peek else { throw error("unterminated \(double ? "double" : "single")-quoted string", at: start) }
            if isBreak(current) {
                // Folding: a line break and the next line's indentation are one space; blank lines are newlines.
                while let last = out.last, isBlank(last) { out.removeLast() }
                var breaks = 0
                while isBreak(peek), peek != nil {
                    guard skipLineBreak() else { throw error("a carriage return not followed by a line feed") }
                    breaks += 1
                    while isBlank(peek) { position += 1 }
                }
                if peek != nil, indent <= parentIndent, !isBreak(peek) {
                    throw error("a continued quoted string must be indented more than its key", at: position)
                }
                out += breaks == 1 ? [UInt8(ascii: " ")] : Array(repeating: UInt8(ascii: "\n"), count: breaks - 1)
                continue
            }
            if !double, current == UInt8(ascii: "'") {
                if byte(at: position + 1) == UInt8(ascii: "'") { out.append(current); position += 2; continue }
                position += 1
                break
            }
            if double, current == UInt8(ascii: "\"") { position += 1; break }
            if double, current == UInt8(ascii: "\\") {
                try escape(into: &out)
                continue
            }
            out.append(current)
            position += 1
        }
        return node(.scalar(String(decoding: out, as: UTF8.self), double ? .doubleQuoted : .singleQuoted), at: start)
    }

    private mutating func escape(into out: inout [UInt8]) throws(YAMLError) {
        let at = position
        position += 1
        guard let code = peek else { throw error("unterminated escape", at: at) }
        position += 1
        let simple: [UInt8: String] = [
            UInt8(ascii: "0"): "\0", UInt8(ascii: "a"): "\u{07}", UInt8(ascii: "b"): "\u{08}", UInt8(ascii: "t"): "\t",
            UInt8(ascii: "\t"): "\t", UInt8(ascii: "n"): "\n", UInt8(ascii: "v"): "\u{0B}", UInt8(ascii: "f"): "\u{0C}",
            UInt8(ascii: "r"): "\r", UInt8(ascii: "e"): "\u{1B}", UInt8(ascii: " "): " ", UInt8(ascii: "\""): "\"",
            UInt8(ascii: "/"): "/", UInt8(ascii: "\\"): "\\", UInt8(ascii: "N"): "\u{85}", UInt8(ascii: "_"): "\u{A0}",
            UInt8(ascii: "L"): "\u{2028}", UInt8(ascii: "P"): "\u{2029}",
        ]
        if let text = simple[code] { out += Array(text.utf8); return }
        if isBreak(code) {
            // An escaped line break joins the lines with nothing between them.
            position -= 1
            skipLineBreak()
            while isBlank(peek) { position += 1 }
            return
        }
        let digits: Int
        switch code {
        case UInt8(ascii: "x"): digits = 2
        case UInt8(ascii: "u"): digits = 4
        case UInt8(ascii: "U"): digits = 8
        default: throw error("unknown escape `\\\(String(decoding: [code], as: UTF8.self))`", at: at)
        }
        guard position + digits <= bytes.count,
              let value = UInt32(String(decoding: bytes[position..<(position + digits)], as: UTF8.self), radix: 16),
              let scalar = Unicode.Scalar(value) else {
            throw error("expected \(digits) hex digits naming a Unicode character after `\\\(String(decoding: [code], as: UTF8.self))`", at: at)
        }
        position += digits
        out += Array(String(Character(scalar)).utf8)
    }

    // MARK: Block scalars

    /// `|` or `>` with optional chomping (`-`, `+`) and indentation digit; content on the lines below.
    private mutating func blockScalar(parentIndent: Int) throws(YAMLError) -> YAMLNode {
        let start = position
        let folded = peek == UInt8(ascii: ">")
        position += 1
        var chomp: UInt8?
        var explicit: Int?
        for _ in 0..<2 {
            if peek == UInt8(ascii: "-") || peek == UInt8(ascii: "+"), chomp == nil { chomp = peek; position += 1 }
            else if let b = peek, (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(b), explicit == nil {
                explicit = Int(b - UInt8(ascii: "0")); position += 1
            }
        }
        try endOfLine()
        skipLineBreak()
        var lines: [ArraySlice<UInt8>] = []
        var contentIndent = explicit.map { max(parentIndent, 0) + $0 }
        while peek != nil {
            let lineBegin = position
            var spaces = 0
            while byte(at: position + spaces) == UInt8(ascii: " ") { spaces += 1 }
            var end = position + spaces
            while !isBreak(byte(at: end)) { end += 1 }
            let isEmpty = end == position + spaces
            if contentIndent == nil, !isEmpty {
                guard spaces > parentIndent else { break }
                contentIndent = spaces
            }
            if !isEmpty, let contentIndent, spaces < contentIndent {
                guard spaces <= parentIndent else { throw error("a block scalar line indented less than its first line", at: lineBegin + spaces) }
                break
            }
            lines.append(isEmpty ? [] : bytes[(lineBegin + (contentIndent ?? 0))..<end])
            position = end
            guard skipLineBreak() else { break }
        }
        // Trailing empty lines belong to chomping; the position goes back to the last content line's end.
        var trailing = 0
        while let last = lines.last, last.isEmpty { lines.removeLast(); trailing += 1 }
        // Folding joins two adjacent plain lines with a space; empty lines and more-indented lines keep their breaks.
        var text: [UInt8] = []
        var empties = 0
        var previousMoreIndented: Bool?
        for line in lines {
            if line.isEmpty { empties += 1; continue }
            let moreIndented = isBlank(line.first)
            if let previous = previousMoreIndented {
                let join = folded && !previous && !moreIndented
                if join && empties == 0 { text.append(UInt8(ascii: " ")) }
                text += Array(repeating: UInt8(ascii: "\n"), count: join ? empties : empties + 1)
            } else {
                text += Array(repeating: UInt8(ascii: "\n"), count: empties)
            }
            text += line
            empties = 0
            previousMoreIndented = moreIndented
        }
        switch chomp {
        case UInt8(ascii: "-"): break
        case UInt8(ascii: "+"): if !lines.isEmpty { text += Array(repeating: UInt8(ascii: "\n"), count: 1 + trailing) }
        default: if !lines.isEmpty { text.append(UInt8(ascii: "\n")) }
        }
        // Leave the cursor at the start of the line that ended the scalar, as other values leave it at a break.
        if position > 0, position <= bytes.count, byte(at: position - 1) == UInt8(ascii: "\n") { position -= 1 }
        if position > 0, byte(at: position - 1) == UInt8(ascii: "\r") { position -= 1 }
        return node(.scalar(String(decoding: text, as: UTF8.self), folded ? .folded : .literal), at: start)
    }

    // MARK: Flow collections

    /// Blanks, comments and line breaks between flow tokens.
    private mutating func skipFlowSpace() throws(YAMLError) {
        while true {
            skipBlanksAndComment()
            guard peek != nil, isBreak(peek) else { return }
            guard skipLineBreak() else { throw error("a carriage return not followed by a line feed") }
        }
    }

    private mutating func flowNode() throws(YAMLError) -> YAMLNode {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw error("nested more than \(Self.maxDepth) levels deep") }
        let start = position
        switch peek {
        case UInt8(ascii: "["):
            position += 1
            let firstItem = openItems.count
            try skipFlowSpace()
            while peek != UInt8(ascii: "]") {
                guard peek != nil else { throw error("unterminated `[`; expected `]`", at: start) }
                openItems.append(try flowNode())
                try skipFlowSpace()
                if peek == UInt8(ascii: ":") { throw error("a `key: value` pair inside `[…]` is not supported; use `{…}`") }
                if peek == UInt8(ascii: ",") { position += 1; try skipFlowSpace() }
                else if peek != UInt8(ascii: "]") { throw error(peek == nil ? "unterminated `[`; expected `]`" : "expected `,` or `]`") }
            }
            position += 1
            return node(.sequence(closeItems(from: firstItem)), at: start)
        case UInt8(ascii: "{"):
            position += 1
            let firstPair = openPairs.count
            try skipFlowSpace()
            while peek != UInt8(ascii: "}") {
                guard peek != nil else { throw error("unterminated `{`; expected `}`", at: start) }
                if peek == UInt8(ascii: "[") || peek == UInt8(ascii: "{") { throw error("expected a plain key") }
                let key = try flowNode()
                try skipFlowSpace()
                guard peek == UInt8(ascii: ":") else { throw error("expected `:` after the key") }
                position += 1
                let afterColon = position
                try skipFlowSpace()
                let value: YAMLNode
                if peek == UInt8(ascii: ",") || peek == UInt8(ascii: "}") {
                    value = node(.scalar("", .plain), at: afterColon)
                } else {
                    value = try flowNode()
                }
                openPairs.append((key, value))
                try skipFlowSpace()
                if peek == UInt8(ascii: ",") { position += 1; try skipFlowSpace() }
                else if peek != UInt8(ascii: "}") { throw error(peek == nil ? "unterminated `{`; expected `}`" : "expected `,` or `}`") }
            }
            position += 1
            return node(.mapping(closePairs(from: firstPair)), at: start)
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            return try quoted(parentIndent: -1)
        default:
            try refuseIndicator()
            if peek == UInt8(ascii: "|") || peek == UInt8(ascii: ">") { throw error("block scalars cannot appear inside `[…]` or `{…}`") }
            // A plain scalar inside a flow collection ends at `,`, a bracket, `: ` or a comment.
            var end = position
            let flowIndicators: Set<UInt8> = [UInt8(ascii: ","), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}")]
            while let b = peek, !isBreak(b), !flowIndicators.contains(b) {
                if b == UInt8(ascii: ":"), isBlankOrBreak(byte(at: position + 1)) || flowIndicators.contains(byte(at: position + 1) ?? 0) { break }
                if b == UInt8(ascii: "#"), position > start, isBlank(byte(at: position - 1)) { break }
                position += 1
                if !isBlank(b) { end = position }
            }
            position = end
            guard end > start else { throw error("expected a value") }
            return node(.scalar(String(decoding: bytes[start..<end], as: UTF8.self), .plain), at: start)
        }
    }
}
