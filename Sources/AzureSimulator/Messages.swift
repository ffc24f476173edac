import Foundation

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
        path = components?.percentEncodedPath.removingPercentEncoding ?? uri
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
        self.query = query
    }

    /// The form fields of an `application/x-www-form-urlencoded` body.
    var form: [String: String] {
        var fields: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
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

    static func json(_ status: Int, _ object: Any, headers: [(String, String)] = []) -> SimResponse {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return SimResponse(status: status, headers: [("Content-Type", "application/json; charset=utf-8")] + headers, body: Array(data))
    }

    /// ARM's error envelope.
    static func armError(_ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) -> SimResponse {
        json(status, ["error": ["code": code, "message": message]], headers: headers)
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
