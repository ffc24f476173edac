import Transport
import FoundationEssentials
import Synchronization

/// A key as etcd holds it, with the revisions a fencing compare names.
public struct EtcdKeyValue: Sendable, Equatable {
    public init(key: String, value: [UInt8], createRevision: Int64, modRevision: Int64, version: Int64, lease: Int64) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }

    public var key: String
    public var value: [UInt8]
    public var createRevision: Int64
    public var modRevision: Int64
    public var version: Int64
    /// The lease the key lives under; 0 for none.
    public var lease: Int64
}

/// One condition of a transaction.
public enum EtcdCompare: Sendable, Equatable {
    /// The key was created at `revision` (0: the key does not exist). The leader fence.
    case createRevision(String, equals: Int64)
    /// The key was last written at `revision`.
    case modRevision(String, equals: Int64)
    /// The key holds exactly `value`.
    case value(String, equals: [UInt8])

    var wire: Wire.Compare {
        switch self {
        case .createRevision(let key, let revision):
            Wire.Compare(result: "EQUAL", target: "CREATE", key: Wire.base64(Array(key.utf8)), create_revision: String(revision))
        case .modRevision(let key, let revision):
            Wire.Compare(result: "EQUAL", target: "MOD", key: Wire.base64(Array(key.utf8)), mod_revision: String(revision))
        case .value(let key, let value):
            Wire.Compare(result: "EQUAL", target: "VALUE", key: Wire.base64(Array(key.utf8)), value: Wire.base64(value))
        }
    }
}

/// The etcd operations the election and the cluster run store use: `EtcdClient` in production, a
/// simulated cluster in the seeded simulation.
public protocol EtcdKV: Sendable {
    func get(_ key: String) async throws(EtcdError) -> EtcdKeyValue?
    func list(prefix: String) async throws(EtcdError) -> [EtcdKeyValue]
    func transaction(if compares: [EtcdCompare], then success: [EtcdOperation], else failure: [EtcdOperation]) async throws(EtcdError)
        -> EtcdTransactionResult
    func grantLease(ttl: Int) async throws(EtcdError) -> EtcdLease
    /// Throws `refused` once the lease has expired.
    func keepAlive(_ lease: Int64) async throws(EtcdError) -> Int
    func revokeLease(_ lease: Int64) async throws(EtcdError)
}

extension EtcdKV {
    public func transaction(if compares: [EtcdCompare], then success: [EtcdOperation]) async throws(EtcdError) -> EtcdTransactionResult {
        try await transaction(if: compares, then: success, else: [])
    }
}

/// One operation of a transaction.
public enum EtcdOperation: Sendable {
    case get(String)
    case put(String, [UInt8], lease: Int64 = 0)
    case delete(String)
    /// Every key that starts with the prefix.
    case deletePrefix(String)
    /// Every key from `from` up to, not including, `to`.
    case deleteRange(from: String, to: String)

    var wire: Wire.RequestOp {
        switch self {
        case .get(let key): Wire.RequestOp(request_range: .init(key: Wire.base64(Array(key.utf8))))
        case .put(let key, let value, let lease):
            Wire.RequestOp(request_put: .init(key: Wire.base64(Array(key.utf8)), value: Wire.base64(value), lease: lease == 0 ? nil : String(lease)))
        case .delete(let key): Wire.RequestOp(request_delete_range: .init(key: Wire.base64(Array(key.utf8))))
        case .deletePrefix(let prefix):
            Wire.RequestOp(request_delete_range: .init(key: Wire.base64(Array(prefix.utf8)),
                                                       range_end: Wire.base64(EtcdClient.prefixEnd(Array(prefix.utf8)))))
        case .deleteRange(let from, let to):
            Wire.RequestOp(request_delete_range: .init(key: Wire.base64(Array(from.utf8)), range_end: Wire.base64(Array(to.utf8))))
        }
    }
}

/// What a transaction did: which branch ran, at which revision, and what its gets found.
public struct EtcdTransactionResult: Sendable {
    public init(succeeded: Bool, revision: Int64, gets: [EtcdKeyValue?]) {
        self.succeeded = succeeded
        self.revision = revision
        self.gets = gets
    }

    public var succeeded: Bool
    public var revision: Int64
    /// One entry per `.get` of the branch that ran, in order; nil where the key was absent.
    public var gets: [EtcdKeyValue?]
}

/// A granted lease.
public struct EtcdLease: Sendable, Equatable {
    public init(id: Int64, ttl: Int) {
        self.id = id
        self.ttl = ttl
    }

    public var id: Int64
    public var ttl: Int
}

/// Why a call failed, split by what the caller may conclude.
public enum EtcdError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No member answered, or none had a leader (quorum lost): nothing was applied.
    case unavailable(String)
    /// A write was sent and no answer came: it may or may not have been applied.
    case outcomeUnknown(String)
    /// The cluster answered and refused (a gRPC status from the gateway).
    case refused(code: Int, message: String)
    /// The answer was not what the gateway sends.
    case malformed(String)

    public var description: String {
        switch self {
        case .unavailable(let why): "etcd unavailable: \(why)"
        case .outcomeUnknown(let why): "etcd write outcome unknown: \(why)"
        case .refused(let code, let message): "etcd refused (gRPC \(code)): \(message)"
        case .malformed(let why): "etcd answer malformed: \(why)"
        }
    }
}

/// etcd v3 through its JSON gateway (`POST /v3/kv/…`, `/v3/lease/…`, `/v3/auth/authenticate`) over
/// the daemon's HTTP transport: one dependency less than gRPC, and every call is one request.
///
/// Members are tried in turn: a call moves to the next one when a member cannot be reached or has
/// no leader, and the member that answered is asked first next time. A write is never repeated
/// once it may have arrived (`outcomeUnknown`); reads are. With `username`, a token is fetched from
/// the member and sent as `Authorization`; neither the password nor the token appears in errors.
public final class EtcdClient: EtcdKV {
    private let endpoints: [URL]
    private let transport: any HTTPTransport
    private let timeout: Duration
    private let username: String?
    private let password: String?
    private let preferred = Mutex(0)
    private let token = Mutex<String?>(nil)

    public init(endpoints: [URL], transport: any HTTPTransport, timeout: Duration = .seconds(5),
                username: String? = nil, password: String? = nil) {
        precondition(!endpoints.isEmpty, "an etcd client needs at least one endpoint")
        self.endpoints = endpoints
        self.transport = transport
        self.timeout = timeout
        self.username = username
        self.password = password
    }

    /// The key's current value, or nil if it does not exist.
    public func get(_ key: String) async throws(EtcdError) -> EtcdKeyValue? {
        let response: Wire.RangeResponse = try await call("v3/kv/range", Wire.RangeRequest(key: Wire.base64(Array(key.utf8))), idempotent: true)
        return try response.kvs?.first.map(Self.keyValue)
    }

    /// Every key under `prefix`, in key order.
    public func list(prefix: String) async throws(EtcdError) -> [EtcdKeyValue] {
        let request = Wire.RangeRequest(key: Wire.base64(Array(prefix.utf8)), range_end: Wire.base64(Self.prefixEnd(Array(prefix.utf8))))
        let response: Wire.RangeResponse = try await call("v3/kv/range", request, idempotent: true)
        return try (response.kvs ?? []).map(Self.keyValue)
    }

    /// Writes the key (under `lease` if not 0); returns the revision of the write.
    @discardableResult
    public func put(_ key: String, _ value: [UInt8], lease: Int64 = 0) async throws(EtcdError) -> Int64 {
        let request = Wire.PutRequest(key: Wire.base64(Array(key.utf8)), value: Wire.base64(value), lease: lease == 0 ? nil : String(lease))
        let response: Wire.PutResponse = try await call("v3/kv/put", request, idempotent: false)
        return Wire.int(response.header?.revision)
    }

    /// Deletes the key; returns how many keys were deleted (0 or 1).
    @discardableResult
    public func delete(_ key: String) async throws(EtcdError) -> Int64 {
        let response: Wire.DeleteResponse = try await call("v3/kv/deleterange", Wire.DeleteRequest(key: Wire.base64(Array(key.utf8))), idempotent: false)
        return Wire.int(response.deleted)
    }

    /// If every compare holds, the `success` operations, else the `failure` ones, atomically.
    public func transaction(if compares: [EtcdCompare], then success: [EtcdOperation], else failure: [EtcdOperation]) async throws(EtcdError) -> EtcdTransactionResult {
        let request = Wire.TxnRequest(compare: compares.map(\.wire), success: success.map(\.wire), failure: failure.map(\.wire))
        let response: Wire.TxnResponse = try await call("v3/kv/txn", request, idempotent: false)
        var gets: [EtcdKeyValue?] = []
        for op in response.responses ?? [] {
            guard let range = op.response_range else { continue }
            if let first = range.kvs?.first { gets.append(try Self.keyValue(first)) } else { gets.append(nil) }
        }
        return EtcdTransactionResult(succeeded: response.succeeded ?? false, revision: Wire.int(response.header?.revision), gets: gets)
    }

    /// A new lease of `ttl` seconds; keys put under it vanish when it expires or is revoked.
    public func grantLease(ttl: Int) async throws(EtcdError) -> EtcdLease {
        let response: Wire.LeaseGrantResponse = try await call("v3/lease/grant", Wire.LeaseGrantRequest(TTL: String(ttl), ID: "0"), idempotent: false)
        if let error = response.error, !error.isEmpty { throw .refused(code: 0, message: error) }
        guard let id = response.ID.flatMap({ Int64($0) }), id != 0 else { throw .malformed("lease grant without an ID") }
        return EtcdLease(id: id, ttl: Int(Wire.int(response.TTL)))
    }

    /// Renews the lease; returns the TTL it has again. Throws `refused` once the lease has expired.
    public func keepAlive(_ lease: Int64) async throws(EtcdError) -> Int {
        let response: Wire.LeaseKeepAliveResponse = try await call("v3/lease/keepalive", Wire.LeaseID(ID: String(lease)), idempotent: true)
        let ttl = Int(Wire.int(response.result?.TTL))
        // An expired lease is answered with TTL 0 (or none), not an error.
        guard ttl > 0 else { throw .refused(code: 5, message: "lease \(String(lease, radix: 16)) expired") }
        return ttl
    }

    /// Ends the lease now; its keys are deleted.
    public func revokeLease(_ lease: Int64) async throws(EtcdError) {
        let _: Wire.PutResponse = try await call("v3/lease/revoke", Wire.LeaseID(ID: String(lease)), idempotent: true)
    }

    // MARK: Calls

    private func call<Request: Encodable, Response: Decodable>(_ path: String, _ request: Request, idempotent: Bool) async throws(EtcdError) -> Response {
        let body: [UInt8]
        do { body = Array(try JSONEncoder().encode(request)) } catch { throw .malformed("cannot encode \(path): \(error)") }
        var problems: [String] = []
        let first = preferred.withLock { $0 }
        for offset in 0..<endpoints.count {
            let index = (first + offset) % endpoints.count
            let member = endpoints[index]
            var reauthenticated = false
            while true {
                var headers = [("Content-Type", "application/json")]
                if username != nil { headers.append(("Authorization", try await authToken(member))) }
                let response: HTTPResponseData
                do {
                    response = try await transport.send(HTTPRequestData(method: "POST", url: member.appending(path: path), headers: headers, body: body),
                                                        timeout: timeout)
                } catch {
                    switch error {
                    case .notSent(let why):
                        problems.append("\(Self.name(member)): \(why)")
                    case .maybeSent(let why):
                        guard idempotent else { throw .outcomeUnknown("\(path) to \(Self.name(member)): \(why)") }
                        problems.append("\(Self.name(member)): \(why)")
                    }
                    break
                }
                if response.status == 200 {
                    preferred.withLock { $0 = index }
                    do { return try JSONDecoder().decode(Response.self, from: Data(response.body)) } catch {
                        throw .malformed("\(path) from \(Self.name(member)): \(error)")
                    }
                }
                let failure = try? JSONDecoder().decode(Wire.Failure.self, from: Data(response.body))
                let code = failure?.code ?? 0
                let message = failure?.message ?? failure?.error ?? "HTTP \(response.status)"
                if username != nil, !reauthenticated, message.contains("invalid auth token") || message.contains("user name is empty") {
                    token.withLock { $0 = nil }
                    reauthenticated = true
                    continue
                }
                // UNAVAILABLE: this member has no leader, or is stopping; another may have one. A write
                // that timed out in raft (DEADLINE_EXCEEDED) may still commit, so it is not retried.
                if code == 14 {
                    problems.append("\(Self.name(member)): \(message)")
                    break
                }
                if code == 4 || message.contains("request timed out") {
                    guard idempotent else { throw .outcomeUnknown("\(path) to \(Self.name(member)): \(message)") }
                    problems.append("\(Self.name(member)): \(message)")
                    break
                }
                throw .refused(code: code, message: message)
            }
        }
        throw .unavailable(problems.joined(separator: "; "))
    }

    /// A token for `member`, fetched once and kept until the cluster says it is no longer valid.
    private func authToken(_ member: URL) async throws(EtcdError) -> String {
        if let cached = token.withLock({ $0 }) { return cached }
        guard let username, let password else { throw .malformed("no credentials") }
        let body: [UInt8]
        do { body = Array(try JSONEncoder().encode(Wire.AuthenticateRequest(name: username, password: password))) } catch {
            throw .malformed("cannot encode the authentication request")
        }
        let response: HTTPResponseData
        do {
            response = try await transport.send(HTTPRequestData(method: "POST", url: member.appending(path: "v3/auth/authenticate"),
                                                                headers: [("Content-Type", "application/json")], body: body), timeout: timeout)
        } catch {
            throw .unavailable("authenticating at \(Self.name(member)): \(error)")
        }
        guard response.status == 200, let fresh = (try? JSONDecoder().decode(Wire.AuthenticateResponse.self, from: Data(response.body)))?.token,
              !fresh.isEmpty else {
            let failure = try? JSONDecoder().decode(Wire.Failure.self, from: Data(response.body))
            throw .refused(code: failure?.code ?? 0, message: "authentication as \(username) failed: \(failure?.message ?? "HTTP \(response.status)")")
        }
        token.withLock { $0 = fresh }
        return fresh
    }

    private static func keyValue(_ wire: Wire.KeyValue) throws(EtcdError) -> EtcdKeyValue {
        guard let key = String(validating: Wire.bytes(wire.key), as: UTF8.self) else { throw .malformed("a key that is not UTF-8") }
        return EtcdKeyValue(key: key, value: Wire.bytes(wire.value), createRevision: Wire.int(wire.create_revision),
                            modRevision: Wire.int(wire.mod_revision), version: Wire.int(wire.version), lease: Wire.int(wire.lease))
    }

    /// The end of the range of keys that start with `prefix` (etcd's `prefix + 1` rule).
    static func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xFF { end[end.count - 1] = last + 1; return end }
            end.removeLast()
        }
        return [0]
    }

    private static func name(_ member: URL) -> String {
        "\(member.host ?? "?"):\(member.port.map(String.init) ?? "")"
    }
}
