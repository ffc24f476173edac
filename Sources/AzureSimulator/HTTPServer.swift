import FoundationEssentials
import NIOCore
import NIOHTTP1

/// Collects one HTTP/1 request at a time and answers it from the simulated ARM.
final class SimulatorHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let arm: SimulatedARM
    private let base: String
    private let now: @Sendable () -> Date
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(arm: SimulatedARM, base: String, now: @escaping @Sendable () -> Date) {
        self.arm = arm
        self.base = base
        self.now = now
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.removeAll(keepingCapacity: true)
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            self.head = nil
            let request = SimRequest(method: head.method.rawValue, uri: head.uri,
                                     headers: head.headers.map { ($0.name, $0.value) }, body: body)
            let keepAlive = head.isKeepAlive
            let version = head.version
            let response = arm.handle(request, base: base, now: now())
            if response.hold > 0 {
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(Int64(response.hold * 1000))) {
                    let (handler, context) = bound.value
                    // Processed even if the client has gone: a request on the wire still arrives.
                    let late = handler.arm.handle(request, base: handler.base, now: handler.now(), faultsApply: false)
                    handler.write(late, context: context, keepAlive: keepAlive, version: version)
                }
                return
            }
            if response.latency > 0 {
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(Int64(response.latency * 1000))) {
                    let (handler, context) = bound.value
                    handler.write(response, context: context, keepAlive: keepAlive, version: version)
                }
            } else {
                write(response, context: context, keepAlive: keepAlive, version: version)
            }
        }
    }

    private func write(_ response: SimResponse, context: ChannelHandlerContext, keepAlive: Bool, version: HTTPVersion) {
        if response.drop {
            context.close(promise: nil)
            return
        }
        var headers = HTTPHeaders(response.headers)
        headers.replaceOrAdd(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "x-ms-request-id", value: UUID().uuidString.lowercased())
        headers.add(name: "x-ms-correlation-request-id", value: UUID().uuidString.lowercased())
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        if !response.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        let promise: EventLoopPromise<Void>? = keepAlive ? nil : context.eventLoop.makePromise()
        promise?.futureResult.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
