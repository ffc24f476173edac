import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOPosix

/// `GET /metrics` over HTTP/1.1 on the configured address; every other path is 404.
public final class MetricsEndpoint: Sendable {
    private let host: String
    private let port: Int
    private let render: Render

    /// The exposition, gzip-compressed when asked and able: the body, and whether it is gzip.
    public typealias Render = @Sendable (_ gzip: Bool) async -> (body: [UInt8], gzip: Bool)

    public init(host: String, port: Int, render: @escaping Render) {
        self.host = host
        self.port = port
        self.render = render
    }

    /// Serves until cancelled. Throws when the address cannot be bound.
    public func run(onListening: @Sendable (Int) -> Void = { _ in }) async throws {
        let render = self.render
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ScrapeHandler(render: render))
                }
            }
            .bind(host: host, port: port).get()
        onListening(channel.localAddress?.port ?? port)
        await withTaskCancellationHandler {
            try? await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}

/// Answers one request at a time per connection; a scrape renders on the caller's executor.
private final class ScrapeHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let render: MetricsEndpoint.Render

    init(render: @escaping MetricsEndpoint.Render) {
        self.render = render
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let keepAlive = head.isKeepAlive
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let loop = context.eventLoop
        let respond = NIOLoopBound((context, self), eventLoop: loop)
        func reply(_ status: HTTPResponseStatus, _ type: String, _ body: [UInt8], head isHead: Bool, gzip: Bool = false) {
            let (context, handler) = respond.value
            var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", "\(body.count)")])
            if gzip { headers.add(name: "Content-Encoding", value: "gzip") }
            if status == .ok { headers.add(name: "Vary", value: "Accept-Encoding") }
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(handler.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            if !isHead { context.write(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil) }
            context.writeAndFlush(handler.wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
        }
        guard head.method == .GET || head.method == .HEAD else {
            reply(.methodNotAllowed, "text/plain; charset=utf-8", Array("only GET\n".utf8), head: false)
            return
        }
        guard path == "/metrics" else {
            reply(.notFound, "text/plain; charset=utf-8", Array("imagebuildd serves /metrics\n".utf8), head: head.method == .HEAD)
            return
        }
        let render = self.render
        let isHead = head.method == .HEAD
        let wantsGzip = head.headers["Accept-Encoding"].contains { Gzip.accepted(by: $0) }
        // Rendered (and compressed) off the event loop, in the scrape's own task.
        loop.makeFutureWithTask { await render(wantsGzip) }.whenSuccess { body, gzip in
            reply(.ok, "text/plain; version=0.0.4; charset=utf-8", body, head: isHead, gzip: gzip)
        }
    }
}
