import Glibc

/// Unbuffered writes to stdout and stderr: a line is out before the next step, as scripts and
/// journald's stream reader expect (print's buffered stdout would hold it).
enum StandardStreams {
    static func error(_ text: String) { write(text, to: STDERR_FILENO) }
    static func output(_ text: String) { write(text, to: STDOUT_FILENO) }

    private static func write(_ text: String, to fd: Int32) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
