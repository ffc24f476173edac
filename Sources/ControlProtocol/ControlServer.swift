import FoundationEssentials
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// The control socket: a Unix stream socket speaking Varlink. Every connection is a child task of
/// `run()`; a peer that sends garbage, too much, or half a message loses its own connection only.
public struct ControlServer: Sendable {
    public let path: String
    /// Members of this group (and root) may call the mutating methods.
    public let operatorsGroup: String
    let service: any ControlService
    let denied: @Sendable (String, Peer) -> Void
    /// A connection that sends nothing for this long is closed.
    let idleTimeout: TimeAmount

    public init(path: String, operatorsGroup: String, service: any ControlService, idleTimeout: TimeAmount = .seconds(30),
                denied: @escaping @Sendable (String, Peer) -> Void) {
        self.path = path
        self.operatorsGroup = operatorsGroup
        self.service = service
        self.idleTimeout = idleTimeout
        self.denied = denied
    }

    /// Binds the socket (mode 0666: reading status is for anyone who can reach it; changing things
    /// is checked per call) and serves until cancelled, then removes the socket file.
    public func run() async throws {
        // Outside systemd there is no RuntimeDirectory= to make the folder.
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(IdleStateHandler(readTimeout: idleTimeout), CloseWhenIdle())
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        chmod(path, 0o666)
        defer { unlink(path) }
        do {
            try await withTaskCancellationHandler {
                try await server.executeThenClose { connections in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in connections {
                            group.addTask { await serve(connection) }
                        }
                    }
                }
            } onCancel: {
                server.channel.close(promise: nil)
            }
        } catch where Task.isCancelled {
            // Closing the listening socket is how cancellation ends the loop; that is a clean stop.
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let peer = await Self.peer(of: connection.channel, operatorsGroup: operatorsGroup)
        do {
            try await connection.executeThenClose { inbound, outbound in
                var frames = VarlinkFrameReader()
                for try await buffer in inbound {
                    for message in try frames.append(buffer.readableBytesView) {
                        guard let peer else { return }
                        if var reply = await ControlDispatcher.reply(to: message, peer: peer, service: service, denied: denied) {
                            reply.append(0)
                            try await outbound.write(ByteBuffer(bytes: reply))
                        }
                    }
                }
            }
        } catch {
            // This connection's problem (too large, idle, reset): it is closed; the daemon goes on.
        }
    }

    /// `SO_PEERCRED`, and whether that user may change things: root, or a member of the operators
    /// group by the system's group database.
    static func peer(of channel: any Channel, operatorsGroup: String) async -> Peer? {
        guard let provider = channel as? any SocketOptionProvider,
              let credentials: PeerCredentials = try? await provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET),
                                                                                           name: SocketOptionName(17)).get() else {
            return nil
        }
        let user = userName(credentials.uid)
        let mayChange = credentials.uid == 0 || isMember(uid: credentials.uid, gid: credentials.gid, user: user, of: operatorsGroup)
        return Peer(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid, user: user, mayChange: mayChange)
    }

    /// `struct ucred` (glibc hides it without _GNU_SOURCE); `SO_PEERCRED` is 17 on Linux.
    struct PeerCredentials: Sendable {
        var pid: Int32
        var uid: UInt32
        var gid: UInt32
    }

    static func userName(_ uid: uid_t) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else { return nil }
        return String(cString: name)
    }

    static func isMember(uid: uid_t, gid: gid_t, user: String?, of group: String) -> Bool {
        var entry = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrnam_r(group, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return false }
        let target = entry.gr_gid
        if gid == target { return true }
        guard let user else { return false }
        var count: Int32 = 256
        var groups = [gid_t](repeating: 0, count: Int(count))
        guard getgrouplist(user, gid, &groups, &count) >= 0 else { return false }
        return groups.prefix(Int(count)).contains(target)
    }
}

/// Closes a connection that has been silent past the idle timeout (a half-sent message included).
final class CloseWhenIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
