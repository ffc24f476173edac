import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// `HTTPTransport` over async-http-client: TLS always verified, an optional extra CA.
public final class AsyncHTTPTransport: HTTPTransport {
    private let client: HTTPClient

    /// - Parameters:
    ///   - caFile: PEM file with extra trust anchors (sovereign clouds, Azure Stack Hub, proxies, tests).
    ///   - connectTimeout: bound on establishing a connection.
    public init(caFile: String? = nil, connectTimeout: Duration = .seconds(10)) throws(AzureError) {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        if let caFile {
            do {
                let certificates = try NIOSSLCertificate.fromPEMFile(caFile)
                guard !certificates.isEmpty else { throw AzureError.configuration("CA file \(caFile) holds no certificate") }
                tls.additionalTrustRoots = [.certificates(certificates)]
            } catch let error as AzureError {
                throw error
            } catch {
                throw .configuration("cannot read CA file \(caFile): \(error)")
            }
        }
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
            throw Self.classify(error, responseStarted: sent)
        }
    }

    /// Only failures that provably happen before a byte of the request is written count as not sent.
    private static func classify(_ error: any Error, responseStarted: Bool) -> TransportFailure {
        let text = String(describing: error)
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
