import AsyncHTTPClient
import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A transport that cannot be set up: a certificate, key or CA file that cannot be used.
public struct TransportSetupError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}

/// `HTTPTransport` over async-http-client: TLS always verified, an optional extra CA.
public final class AsyncHTTPTransport: HTTPTransport {
    private let client: HTTPClient
    /// Why no https request can be verified (no system CA bundle and no CA file); nil when one can.
    private let trustProblem: String?
    /// What to do about a certificate nobody here trusts, for the error message.
    private let trustHint: String

    /// Where swift-nio-ssl looks for the system's trust anchors on Linux: a bundle file, else a directory.
    public static let systemTrustStores = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs"]

    /// - Parameters:
    ///   - caFile: PEM file with extra trust anchors (sovereign clouds, Azure Stack Hub, proxies, tests).
    ///   - connectTimeout: bound on establishing a connection.
    ///   - trustHint: the advice in "certificate for HOST not trusted: …".
    ///   - systemTrustStores: where the system's CA bundle may be (tests point it elsewhere).
    ///   - clientCertificate: PEM files of a certificate chain and its key, presented when a server asks (etcd's `--client-cert-auth`).
    public init(caFile: String? = nil, connectTimeout: Duration = .seconds(10), trustHint: String = "set azure.ca_file to a PEM file with its CA",
                systemTrustStores: [String] = AsyncHTTPTransport.systemTrustStores,
                clientCertificate: (certFile: String, keyFile: String)? = nil) throws(TransportSetupError) {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        if let (certFile, keyFile) = clientCertificate {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(certFile)
                guard !chain.isEmpty else { throw TransportSetupError("certificate file \(certFile) holds no certificate") }
                tls.certificateChain = chain.map { .certificate($0) }
            } catch let error as TransportSetupError {
                throw error
            } catch {
                throw TransportSetupError("cannot read certificate file \(certFile): \(error)")
            }
            // The key's bytes are never echoed: the error names the file only.
            do { tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)) } catch {
                throw TransportSetupError("cannot read private key file \(keyFile) (expected an unencrypted PEM key)")
            }
        }
        self.trustHint = trustHint
        // Without a system bundle, swift-nio-ssl fails every handshake with an empty error stack.
        let systemBundle = systemTrustStores.contains { FileManager.default.fileExists(atPath: $0) }
        var problem: String?
        if let caFile {
            do {
                let certificates = try NIOSSLCertificate.fromPEMFile(caFile)
                guard !certificates.isEmpty else { throw TransportSetupError("CA file \(caFile) holds no certificate") }
                if systemBundle { tls.additionalTrustRoots = [.certificates(certificates)] } else { tls.trustRoots = .certificates(certificates) }
            } catch let error as TransportSetupError {
                throw error
            } catch {
                throw TransportSetupError("cannot read CA file \(caFile): \(error)")
            }
        } else if !systemBundle {
            tls.trustRoots = .certificates([])
            problem = "cannot load the system CA bundle (\(systemTrustStores.joined(separator: ", ")) missing): install ca-certificates"
        }
        trustProblem = problem
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .init(connectTimeout))
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Releases connections; call once no request is in flight.
    public func shutdown() async throws {
        try await client.shutdown()
    }

    public func send(_ request: HTTPRequestData, timeout: Duration) async throws(TransportFailure) -> HTTPResponseData {
        if let trustProblem, request.url.scheme?.lowercased() == "https" { throw .notSent(trustProblem) }
        var outgoing = HTTPClientRequest(url: request.url.absoluteString)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        var sent = false
        do {
            let response = try await client.execute(outgoing, timeout: .init(timeout))
            sent = true
            let body = try await response.body.collect(upTo: 32 << 20)
            return HTTPResponseData(status: Int(response.status.code),
                                    headers: response.headers.map { ($0.name, $0.value) },
                                    body: Array(buffer: body))
        } catch {
            throw Self.classify(error, responseStarted: sent, host: request.url.host ?? "", hint: trustHint)
        }
    }

    /// Only failures that provably happen before a byte of the request is written count as not sent.
    private static func classify(_ error: any Error, responseStarted: Bool, host: String, hint: String) -> TransportFailure {
        let text = String(describing: error)
        // BoringSSL's reason codes are the only trace of why a handshake failed; say it in words.
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed") {
            return .notSent("certificate for \(host) not trusted: \(hint)")
        }
        if error is NIOSSLExtraError, text.contains("hostname") || text.contains("Hostname") {
            return .notSent("certificate for \(host) does not name \(host): \(text)")
        }
        if responseStarted { return .maybeSent(text) }
        if let client = error as? HTTPClientError {
            let beforeSending: [HTTPClientError] = [.connectTimeout, .invalidURL, .emptyHost, .tlsHandshakeTimeout,
                                                    .socksHandshakeTimeout, .httpProxyHandshakeTimeout]
            return beforeSending.contains(client) ? .notSent(text) : .maybeSent(text)
        }
        if error is NIOConnectionError || error is NIOSSLError { return .notSent(text) }
        if let io = error as? IOError, [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH].contains(io.errnoCode) {
            return .notSent(text)
        }
        return .maybeSent(text)
    }
}
