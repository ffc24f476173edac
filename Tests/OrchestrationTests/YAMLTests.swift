import Config
import Foundation
import Testing
@testable import Orchestration

/// The config's YAML reader against PyYAML (libyaml's reference parser in Python) on the same
/// bytes: same tree, same scalar text and style, same line and column for every node; where PyYAML
/// refuses a document, so do we. Documents using what we refuse on purpose are checked separately.
@Suite struct YAMLTests {
    static let corpus: [String] = [
        """
        # imagebuildd config
        azure:
          resource_manager_endpoint: https://management.azure.com
          api_version: "2024-02-01"   # pinned
        defaults:
          time_zone: Europe/Berlin
          build_timeout: 4h
        schedules:
          - name: nightly
            subscription_id: 00000000-0000-0000-0000-000000000000
            resource_group: images
            template: golden
            cron: '0 2 * * *'
          -   name: weekly
              cron: "0 3 * * MON"
        """,
        "schedules:\n- name: a\n  cron: 0 2 * * *\n- name: b\nother: x\n",
        "notify: [{url: 'https://h/x?y=1', events: [failed, stale]}, {url: \"https://h/z\"}]\n",
        "cluster: {etcd: {endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379], ca_file: /etc/ca.pem}, prefix: /imagebuildd/, lease_ttl: 10s}\n",
        "a: 'it''s'\nb: \"tab\\there \\\"q\\\" \\u00e9 \\x41 \\\\\"\nc: \"\"\nd: ''\n",
        "a:\nb:   \nc: # comment\n  \nd: ~\ne: null\n",
        "---\na: 1\n...\n",
        "---\n# only a comment\na: [1, 2,\n  3]\n",
        "list:\n  - - x\n    - y\n  - []\n  - {}\n  -\n  - k: v\n    j: w\n",
        "s: |\n  line one\n   indented\n\n  after blank\nt: >\n  folded\n  text\n\n  para\nu: |-\n  strip\nv: |+\n  keep\n\nw: x\n",
        "key with spaces: value with spaces   \n\"quoted key\": 1\n'single': 2\n",
        "url: http://example.com:8080/a#frag\nhash: a#b\ncolon: a:b\n",
        "multi: \"line one\n  line two\n\n  para\"\nnext: 'a\n  b'\n",
        "ünïcode: wert\nkey: \"日本語\"\n",
        "a:\n  b:\n    c:\n      d: [e, {f: g}]\n",
        "seq_at_key_indent:\n- 1\n- 2\nnext: 3\n",
        "a: 1\r\nb: 2\r\n",
        "\u{FEFF}a: bom\n",
        "- top\n- level\n- list\n",
        "just a scalar\n",
        "",
        "# nothing\n\n",
        "e: \"\\/slash\"\n",
        "flow: [a, 'b c', \"d\", [e], {f: g}]\n",
        "k: {a: , b: c}\n",
        "x: -1\ny: - not a list\n",
        // PyYAML refuses these too.
        "a: [1, 2\n",
        "a: {b: c\n",
        "a: \"unterminated\n",
        "a: b: c\n",
        "a:\n  b: 1\n c: 2\n",
        "a: 1\n---\nb: 2\n",
        "a:\n\t- tab\n",
        "- a\nb: c\n",
        "a: \"bad \\q escape\"\n",
        "a: 'x'y\n",
        "a: ]\n",
        "a: *ref\n",
        "a: @x\n",
        "a: ,x\n",
        "- }\n",
    ]

    /// What we refuse and PyYAML accepts, each with the message's start.
    static let refusedOnPurpose: [(String, String)] = [
        ("base: &b {x: 1}\nother: *b\n", "anchors"),
        ("a: !!str 5\n", "tags"),
        ("? complex\n: key\n", "explicit `?` keys"),
        ("a: plain\n  continued\n", "unexpected indentation"),
        ("%YAML 1.1\n---\na: 1\n", "YAML directives"),
        ("a: {b}\n", "expected `:`"),
        ("a: [b: c]\n", "a `key: value` pair inside"),
    ]

    @Test func agreesWithPyYAML() throws {
        let reference = try pyYAML(Self.corpus)
        for (document, expected) in zip(Self.corpus, reference) {
            let ours = Result { try YAML.compose(document).map(Tree.init) }
            switch (ours, expected) {
            case (.success(let tree), .tree(let theirs)):
                #expect(tree == theirs, "\(document.debugDescription)")
            case (.failure(let error as YAMLError), .refused(let line)):
                // libyaml reports some errors where it notices them, a line later; the line must be close.
                #expect(abs(error.line - line) <= 2, "\(document.debugDescription): ours \(error), PyYAML line \(line)")
            case (.success(let tree), .refused):
                Issue.record("accepted what PyYAML refuses: \(document.debugDescription) → \(String(describing: tree))")
            case (.failure(let error), .tree):
                Issue.record("refused what PyYAML accepts: \(document.debugDescription): \(error)")
            case (.failure(let error), _):
                Issue.record("unexpected error \(error)")
            }
        }
    }

    @Test func refusesWhatItDoesNotSupportWithAPosition() throws {
        let reference = try pyYAML(Self.refusedOnPurpose.map(\.0))
        for ((document, message), theirs) in zip(Self.refusedOnPurpose, reference) {
            if case .refused = theirs { Issue.record("PyYAML refuses \(document.debugDescription); move it to the corpus") }
            #expect {
                _ = try YAML.compose(document)
            } throws: { error in
                guard let error = error as? YAMLError else { return false }
                return error.message.contains(message) && error.line >= 1 && error.column >= 1
            }
        }
    }

    /// Seeded random trees written in random styles, read back by both readers.
    @Test func randomDocumentsAgree() throws {
        var random = SimRandom(seed: 0x5EED_0F_CAFE)
        let documents = (0..<400).map { _ in render(randomTree(&random, depth: 0), &random) }
        let reference = try pyYAML(documents)
        for (document, expected) in zip(documents, reference) {
            guard case .tree(let theirs) = expected else {
                Issue.record("generator wrote YAML that PyYAML refuses: \(document.debugDescription)")
                continue
            }
            do {
                let ours = try YAML.compose(document).map(Tree.init)
                #expect(ours == theirs, "\(document.debugDescription)")
            } catch {
                Issue.record("\(error) in \(document.debugDescription)")
            }
        }
    }

    @Test func hostileInputIsBounded() {
        #expect(throws: YAMLError.self) { try YAML.compose(String(repeating: "[", count: 10_000)) }
        #expect(throws: YAMLError.self) { try YAML.compose(String(repeating: "- ", count: 10_000) + "x") }
        #expect(throws: YAMLError.self) { try YAML.compose("a: \u{7}\n") }
    }

    // MARK: Trees

    /// A node as both readers can describe it: kind, scalar text and style, 1-based line and column.
    indirect enum Tree: Equatable, Decodable, CustomStringConvertible {
        case scalar(String, String, Int, Int)
        case sequence([Tree], Int, Int)
        case mapping([[Tree]], Int, Int)

        init(_ node: YAMLNode) {
            switch node.kind {
            case .scalar(let text, let style):
                let spelled = switch style {
                case .plain: "plain"
                case .singleQuoted: "'"
                case .doubleQuoted: "\""
                case .literal: "|"
                case .folded: ">"
                }
                self = .scalar(text, spelled, node.line, node.column)
            case .sequence(let items): self = .sequence(items.map(Tree.init), node.line, node.column)
            case .mapping(let pairs): self = .mapping(pairs.map { [Tree($0.key), Tree($0.value)] }, node.line, node.column)
            }
        }

        init(from decoder: any Decoder) throws {
            var fields = try decoder.unkeyedContainer()
            switch try fields.decode(String.self) {
            case "s":
                self = .scalar(try fields.decode(String.self), try fields.decode(String.self), try fields.decode(Int.self), try fields.decode(Int.self))
            case "q": self = .sequence(try fields.decode([Tree].self), try fields.decode(Int.self), try fields.decode(Int.self))
            default: self = .mapping(try fields.decode([[Tree]].self), try fields.decode(Int.self), try fields.decode(Int.self))
            }
        }

        var description: String {
            switch self {
            case .scalar(let text, let style, let line, let column): "\(style)\(text.debugDescription)@\(line):\(column)"
            case .sequence(let items, let line, let column): "[\(items.map(\.description).joined(separator: ", "))]@\(line):\(column)"
            case .mapping(let pairs, let line, let column): "{\(pairs.map { "\($0[0]): \($0[1])" }.joined(separator: ", "))}@\(line):\(column)"
            }
        }
    }

    enum Reference: Decodable {
        case tree(Tree?)
        case refused(line: Int)

        enum Keys: String, CodingKey { case tree, error }
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            if let line = try container.decodeIfPresent(Int.self, forKey: .error) { self = .refused(line: line) }
            else { self = .tree(try container.decodeIfPresent(Tree.self, forKey: .tree)) }
        }
    }

    /// Every document through `yaml.compose` in one python3 process.
    func pyYAML(_ documents: [String]) throws -> [Reference] {
        let script = #"""
        import json, sys, yaml
        def tree(n):
            line, col = n.start_mark.line + 1, n.start_mark.column + 1
            if isinstance(n, yaml.ScalarNode):
                return ["s", n.value, n.style or "plain", line, col]
            if isinstance(n, yaml.SequenceNode):
                return ["q", [tree(i) for i in n.value], line, col]
            return ["m", [[tree(k), tree(v)] for k, v in n.value], line, col]
        out = []
        for doc in json.load(sys.stdin):
            try:
                n = yaml.compose(doc, Loader=yaml.SafeLoader)
                out.append({"tree": tree(n) if n is not None else None})
            except yaml.YAMLError as e:
                mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
                out.append({"error": mark.line + 1 if mark else 1})
        json.dump(out, sys.stdout)
        """#
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let payload = try JSONSerialization.data(withJSONObject: documents)
        // Written from another thread: a large answer must not block on a full pipe while we write.
        let writer = Thread {
            input.fileHandleForWriting.write(payload)
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "python3 with PyYAML (python3-yaml) failed")
        return try JSONDecoder().decode([Reference].self, from: data)
    }

    // MARK: Random documents

    enum Value {
        case text(String)
        case list([Value])
        case map([(String, Value)])
    }

    func randomText(_ random: inout SimRandom) -> String {
        let pieces = ["nightly", "0 2 * * *", "Europe/Berlin", "4h", "a-b_c.d", "https://h:1/p?q=1", "it's", "say \"hi\"",
                      "x: y", "# not a comment", "tab\there", "line\nbreak", "ünï", "", " lead", "trail ", "-", "[x]", "{y}",
                      "true", "null", "007", "a,b", "back\\slash", "@home", "!bang", "&amp", "*star", "%pct", "`tick`", "é日本"]
        return pieces[Int.random(in: 0..<pieces.count, using: &random)]
    }

    func randomTree(_ random: inout SimRandom, depth: Int) -> Value {
        let roll = Int.random(in: 0..<10, using: &random)
        if depth >= 3 || roll < 4 { return .text(randomText(&random)) }
        let count = Int.random(in: 0...3, using: &random)
        if roll < 7 { return .list((0..<count).map { _ in randomTree(&random, depth: depth + 1) }) }
        var keys: [String] = []
        for index in 0..<max(count, 1) { keys.append(["name", "cron", "a b", "k\(index)", "ünï", "x-y"][Int.random(in: 0..<6, using: &random)] + "\(index)") }
        return .map(keys.map { ($0, randomTree(&random, depth: depth + 1)) })
    }

    /// A scalar in a style that can hold it: plain when safe, else single or double quotes. (A `:`
    /// inside a plain scalar in `[…]` is YAML 1.2, which we accept and PyYAML's YAML 1.1 refuses.)
    func scalar(_ text: String, _ random: inout SimRandom, flow: Bool) -> String {
        let plainSafe = !text.isEmpty && text.first.map { !"-[]{}#&*!|>'\"%@`, ?:".contains($0) } == true
            && !text.contains(": ") && !text.contains(" #") && !text.contains("\n") && !text.contains("\t")
            && text.last != " " && text.first != " " && text.last != ":" && !(flow && text.contains(where: { ",[]{}:".contains($0) }))
        let style = Int.random(in: 0..<3, using: &random)
        if plainSafe && style == 0 { return text }
        if style == 1 && !text.contains("\n") && !text.contains("\t") {
            return "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
        }
        var out = "\""
        for character in text {
            switch character {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.append(character)
            }
        }
        return out + "\""
    }

    func flow(_ value: Value, _ random: inout SimRandom) -> String {
        switch value {
        case .text(let text): scalar(text, &random, flow: true)
        case .list(let items): "[" + items.map { flow($0, &random) }.joined(separator: ", ") + "]"
        case .map(let pairs): "{" + pairs.map { scalar($0.0, &random, flow: true) + ": " + flow($0.1, &random) }.joined(separator: ", ") + "}"
        }
    }

    /// A whole document: a block root, or a scalar or flow collection alone.
    func render(_ value: Value, _ random: inout SimRandom) -> String {
        let text = body(value, &random, indent: 0)
        return String(text.dropFirst())
    }

    /// A value after `key:` or `-`: ` inline` on the same line, or a block on the lines below,
    /// with flow collections sprinkled in and comments after some values.
    func body(_ value: Value, _ random: inout SimRandom, indent: Int) -> String {
        let pad = String(repeating: " ", count: indent)
        let comment = Int.random(in: 0..<5, using: &random) == 0 ? "  # note" : ""
        switch value {
        case .text(let text):
            return " " + scalar(text, &random, flow: false) + comment + "\n"
        case .list(let items) where items.isEmpty || Int.random(in: 0..<4, using: &random) == 0:
            return " " + flow(value, &random) + comment + "\n"
        case .map(let pairs) where pairs.isEmpty || Int.random(in: 0..<4, using: &random) == 0:
            return " " + flow(value, &random) + comment + "\n"
        case .list(let items):
            return "\n" + items.map { pad + "-" + body($0, &random, indent: indent + 2) }.joined()
        case .map(let pairs):
            return "\n" + pairs.map { pad + scalar($0.0, &random, flow: false) + ":" + body($0.1, &random, indent: indent + 2) }.joined()
        }
    }
}
