import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The command line's side: one call per connection over the control socket.
public struct ControlClient: Sendable {
    /// Why a call did not get an answer.
    public enum Failure: Error, CustomStringConvertible, Sendable {
        /// No daemon listens (no socket, or nobody accepting): `imagebuildd is not running`.
        case notRunning(path: String, reason: String)
        case io(String)
        case badReply(String)

        public var description: String {
            switch self {
            case .notRunning(let path, let reason): "imagebuildd is not running (no socket at \(path): \(reason))"
            case .io(let reason): "control socket: \(reason)"
            case .badReply(let reason): "control socket: unreadable reply: \(reason)"
            }
        }
    }

    public let path: String
    public let timeoutSeconds: Int

    public init(path: String, timeoutSeconds: Int = 30) {
        self.path = path
        self.timeoutSeconds = timeoutSeconds
    }

    struct Request<P: Encodable>: Encodable {
        var method: String
        var parameters: P
    }

    struct Answer<R: Decodable>: Decodable {
        var parameters: R?
        var error: String?
    }

    struct ErrorAnswer: Decodable {
        var error: String
        var parameters: ControlError.Parameters?
    }

    /// Calls `method` (qualified) with `parameters`; the daemon's Varlink error is thrown as `ControlError`.
    public func call<P: Encodable, R: Decodable>(_ method: String, _ parameters: P, as: R.Type) throws -> R {
        let request = try ControlInterface.encoder.encode(Request(method: method, parameters: parameters))
        let reply = try exchange([UInt8](request))
        if let failure = try? ControlInterface.decoder.decode(ErrorAnswer.self, from: Data(reply)) {
            throw ControlError(failure.error, failure.parameters ?? .init())
        }
        do {
            guard let value = try ControlInterface.decoder.decode(Answer<R>.self, from: Data(reply)).parameters else {
                throw Failure.badReply("no parameters")
            }
            return value
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure.badReply("\(error)")
        }
    }

    /// Sends one message and reads one reply (both NUL-terminated).
    func exchange(_ message: [UInt8]) throws(Failure) -> [UInt8] {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .io("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw .io("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            if [ENOENT, ECONNREFUSED].contains(errno) { throw .notRunning(path: path, reason: reason) }
            throw .io("connect \(path): \(reason)")
        }
        var out = message + [0]
        var sent = 0
        while sent < out.count {
            let n = out.withUnsafeMutableBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw .io("send: \(String(cString: strerror(errno)))") }
            sent += n
        }
        var frames = VarlinkFrameReader(limit: 64 << 20)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else {
                throw .io(n == 0 ? "the daemon closed the connection without an answer" : "recv: \(String(cString: strerror(errno)))")
            }
            do {
                if let reply = try frames.append(chunk.prefix(n)).first { return reply }
            } catch {
                throw .badReply("larger than \(frames.limit) bytes")
            }
        }
    }
}
