import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// Writes the exposition for node_exporter's textfile collector: a temporary file in the same
/// directory (without the `.prom` suffix the collector reads), synced, then renamed over the target,
/// so a scrape never sees half a file.
public struct TextfileExporter: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// Writes `bytes` atomically; throws with the path and errno text.
    public func write(_ bytes: [UInt8]) throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TextfileError(path: temporary, what: "create", errno: errno) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                let code = errno
                Glibc.close(fd)
                throw TextfileError(path: temporary, what: "write", errno: code)
            }
            offset += written
        }
        if fsync(fd) != 0 {
            let code = errno
            Glibc.close(fd)
            throw TextfileError(path: temporary, what: "fsync", errno: code)
        }
        Glibc.close(fd)
        guard rename(temporary, path) == 0 else { throw TextfileError(path: path, what: "rename onto", errno: errno) }
    }
}

/// A textfile that could not be written.
public struct TextfileError: Error, CustomStringConvertible {
    public var path: String
    public var what: String
    public var errno: Int32

    public var description: String { "cannot \(what) \(path): \(String(cString: strerror(errno)))" }
}
