import FoundationEssentials

/// A parsed HTTP request as the simulator sees it.
struct SimRequest: Sendable {
    var method: String
    var path: String
    var query: [String: String]
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        let folded = name.lowercased()
        return headers.first { $0.0.lowercased() == folded }?.1
    }

    init(method: String, uri: String, headers: [(String, String)], body: [UInt8]) {
        self.method = method
        self.headers = headers
        self.body = body
        let components = URLComponents(string: uri)
        path = components.flatMap { Self.percentDecoded($0.percentEncodedPath) } ?? uri
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
        self.query = query
    }

    /// `%XX` escapes decoded; nil for a malformed escape or bytes that are not UTF-8.
    static func percentDecoded(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var input = Array(text.utf8)[...]
        while let byte = input.popFirst() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard input.count >= 2, let value = UInt8(String(decoding: input.prefix(2), as: UTF8.self), radix: 16) else { return nil }
            bytes.append(value)
            input = input.dropFirst(2)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The form fields of an `application/x-www-form-urlencoded` body.
    var form: [String: String] {
        var fields: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                Self.percentDecoded(String($0.map { $0 == "+" ? " " : $0 })) ?? String($0)
            }
            fields[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return fields
    }
}

/// What the simulator answers, or how it misbehaves instead.
struct SimResponse: Sendable {
    var status: Int
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    /// Close the connection instead of answering.
    var drop = false
    /// Wait this long before answering.
    var latency: Double = 0
    /// Not processed yet: hand the request back after this long, its fault spent.
    var hold: Double = 0

    static func json(_ status: Int, _ document: JSON, headers: [(String, String)] = []) -> SimResponse {
        SimResponse(status: status, headers: [("Content-Type", "application/json; charset=utf-8")] + headers, body: document.bytes)
    }

    /// ARM's error envelope.
    static func armError(_ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) -> SimResponse {
        json(status, ["error": ["code": .string(code), "message": .string(message)]], headers: headers)
    }

    static func empty(_ status: Int, headers: [(String, String)] = []) -> SimResponse {
        SimResponse(status: status, headers: headers)
    }
}

/// One request as the log records it.
public struct LoggedRequest: Sendable {
    public var at: Date
    public var method: String
    public var path: String
    public var operation: SimulatedOperation?
    /// The answer's status; nil when the connection was dropped.
    public var status: Int?
    /// The template named in the path, if any.
    public var template: String?
    /// The api-version the client asked for.
    public var apiVersion: String?
    /// Whether the request carried an `x-ms-client-request-id`.
    public var hadClientRequestID: Bool
}
