import FoundationEssentials

/// The gateway's JSON: keys and values in base64, every int64 as a decimal string (proto3 JSON).
/// Only the fields the client reads or writes are modelled; the rest are ignored.
enum Wire {
    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
    static func bytes(_ base64: String?) -> [UInt8] { base64.flatMap { Data(base64Encoded: $0) }.map(Array.init) ?? [] }
    static func int(_ text: String?) -> Int64 { text.flatMap { Int64($0) } ?? 0 }

    struct Header: Decodable { var revision: String? }

    struct KeyValue: Decodable {
        var key: String?
        var value: String?
        var create_revision: String?
        var mod_revision: String?
        var version: String?
        var lease: String?
    }

    struct RangeRequest: Encodable {
        var key: String
        var range_end: String?
    }

    struct RangeResponse: Decodable {
        var header: Header?
        var kvs: [KeyValue]?
    }

    struct PutRequest: Encodable {
        var key: String
        var value: String
        var lease: String?
    }

    struct PutResponse: Decodable { var header: Header? }

    struct DeleteRequest: Encodable {
        var key: String
        var range_end: String?
    }

    struct DeleteResponse: Decodable {
        var header: Header?
        var deleted: String?
    }

    struct Compare: Encodable {
        var result: String
        var target: String
        var key: String
        var create_revision: String?
        var mod_revision: String?
        var version: String?
        var value: String?
        var lease: String?
    }

    struct RequestOp: Encodable {
        var request_range: RangeRequest?
        var request_put: PutRequest?
        var request_delete_range: DeleteRequest?
    }

    struct TxnRequest: Encodable {
        var compare: [Compare]
        var success: [RequestOp]
        var failure: [RequestOp]
    }

    struct ResponseOp: Decodable {
        var response_range: RangeResponse?
        var response_put: PutResponse?
        var response_delete_range: DeleteResponse?
    }

    struct TxnResponse: Decodable {
        var header: Header?
        var succeeded: Bool?
        var responses: [ResponseOp]?
    }

    struct LeaseGrantRequest: Encodable {
        var TTL: String
        var ID: String
    }

    struct LeaseGrantResponse: Decodable {
        var ID: String?
        var TTL: String?
        var error: String?
    }

    struct LeaseID: Encodable { var ID: String }

    struct LeaseKeepAliveResponse: Decodable {
        struct Result: Decodable {
            var ID: String?
            var TTL: String?
        }
        var result: Result?
    }

    struct AuthenticateRequest: Encodable {
        var name: String
        var password: String
    }

    struct AuthenticateResponse: Decodable { var token: String? }

    /// What the gateway answers instead when a call fails: a gRPC status.
    struct Failure: Decodable {
        var error: String?
        var message: String?
        var code: Int?
    }
}
