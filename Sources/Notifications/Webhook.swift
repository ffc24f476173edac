import Crypto
import FoundationEssentials

/// One webhook as the dispatcher sends to it: where, how it signs, and for how long it retries.
public struct Webhook: Sendable {
    /// The name the journal's `notify-done` records use (stable per URL).
    public var id: String
    public var url: URL
    /// What logs may show of the URL.
    public var redactedURL: String
    /// The HMAC-SHA256 key; nil sends the body unsigned.
    public var secret: [UInt8]?
    /// How long after the intent was journaled the daemon keeps trying.
    public var retryFor: Duration

    public init(id: String, url: URL, redactedURL: String, secret: [UInt8]?, retryFor: Duration) {
        self.id = id
        self.url = url
        self.redactedURL = redactedURL
        self.secret = secret
        self.retryFor = retryFor
    }

    /// `sha256=<hex>` of the body under the secret, as `X-Imagebuildd-Signature` carries it.
    public static func signature(body: [UInt8], secret: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: secret))
        return "sha256=" + mac.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
