import Foundation
import Synchronization

/// A datagram socket standing in for systemd's NOTIFY_SOCKET (or journald's socket): records every
/// datagram with the real time it arrived.
final class DatagramRecorder: Sendable {
    let path: String
    private let fd: Int32
    private let received = Mutex<[(Date, String)]>([])
    private let closed = Atomic<Bool>(false)

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw POSIXError(.ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (i, byte) in bytes.enumerated() { buffer[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let thread = Thread { [self] in self.receiveLoop() }
        thread.start()
    }

    private func receiveLoop() {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while !closed.load(ordering: .relaxed) {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 {
                let text = String(decoding: buffer[0..<n], as: UTF8.self)
                received.withLock { $0.append((Date(), text)) }
            }
        }
        close(fd)
        unlink(path)
    }

    /// Every datagram so far, in arrival order.
    var messages: [(at: Date, text: String)] { received.withLock { $0.map { (at: $0.0, text: $0.1) } } }

    func stop() { closed.store(true, ordering: .relaxed) }
}
