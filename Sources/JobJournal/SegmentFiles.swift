#if canImport(Glibc)
import Glibc
#endif

/// The segment directory on disk: `NNNNNNNN.log` files, created 0600 in a 0700 directory, and
/// the system calls that make their contents and names durable.
enum SegmentFiles {
    static let suffix = ".log"
    static let tempSuffix = ".log.tmp"

    static func name(_ number: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits + suffix
    }

    static func path(_ directory: String, _ number: Int) -> String {
        directory + "/" + name(number)
    }

    static func check(_ result: Int32, _ operation: String, _ path: String) throws(JournalError) {
        if result < 0 { throw JournalError.io(operation: operation, path: path, errno: errno) }
    }

    /// Creates the directory (and its parents) with mode 0700 where missing.
    static func makeDirectory(_ directory: String) throws(JournalError) {
        var prefix = directory.hasPrefix("/") ? "" : "."
        for part in directory.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, 0o700) != 0, errno != EEXIST {
                throw JournalError.io(operation: "mkdir", path: prefix, errno: errno)
            }
        }
    }

    /// Segment numbers present, ascending, and leftover temporary files.
    static func list(_ directory: String) throws(JournalError) -> (segments: [Int], temporaries: [String]) {
        guard let dir = opendir(directory) else { throw JournalError.io(operation: "opendir", path: directory, errno: errno) }
        defer { closedir(dir) }
        var segments: [Int] = []
        var temporaries: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.hasSuffix(tempSuffix) {
                temporaries.append(name)
            } else if name.hasSuffix(suffix), name.count == 8 + suffix.count, let n = Int(name.prefix(8)) {
                segments.append(n)
            }
        }
        return (segments.sorted(), temporaries.sorted())
    }

    static func read(_ path: String) throws(JournalError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        try check(fd, "open", path)
        defer { close(fd) }
        var st = stat()
        try check(fstat(fd, &st), "fstat", path)
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if n < 0, errno == EINTR { continue }
            try check(Int32(n < 0 ? -1 : 0), "read", path)
            if n == 0 { break }
            done += n
        }
        return done == bytes.count ? bytes : Array(bytes[0..<done])
    }

    /// Writes all of `bytes` at `offset`.
    static func write(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(JournalError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
            if n < 0, errno == EINTR { continue }
            try check(Int32(n < 0 ? -1 : 0), "write", path)
            done += n
        }
    }

    /// Creates a new file exclusively, mode 0600.
    static func create(_ path: String) throws(JournalError) -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        try check(fd, "create", path)
        return fd
    }

    static func openForAppend(_ path: String) throws(JournalError) -> Int32 {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        try check(fd, "open", path)
        return fd
    }

    /// Makes a file's data durable; metadata other than the size is not needed to read it back.
    static func syncData(_ fd: Int32, _ path: String) throws(JournalError) {
        try check(fdatasync(fd), "fdatasync", path)
    }

    /// Makes a directory's entries (creations, renames, removals) durable.
    static func syncDirectory(_ directory: String) throws(JournalError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try check(fd, "open", directory)
        defer { close(fd) }
        try check(fsync(fd), "fsync", directory)
    }

    static func truncate(_ path: String, to size: Int) throws(JournalError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        try check(fd, "open", path)
        defer { close(fd) }
        try check(ftruncate(fd, off_t(size)), "ftruncate", path)
        try check(fsync(fd), "fsync", path)
    }

    static func remove(_ path: String) throws(JournalError) {
        try check(unlink(path), "unlink", path)
    }

    static func rename(_ from: String, _ to: String) throws(JournalError) {
        try check(Glibc.rename(from, to), "rename", from)
    }
}
