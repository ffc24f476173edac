import Foundation

/// Real etcd members (Debian's etcd-server) on loopback, each with its own data directory.
final class EtcdCluster {
    static let binary = "/usr/bin/etcd"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    struct Member {
        let name: String
        let clientPort: Int
        let peerPort: Int
        let tls: Bool
        var clientURL: URL { URL(string: "\(tls ? "https" : "http")://127.0.0.1:\(clientPort)")! }
        var peerURL: String { "http://127.0.0.1:\(peerPort)" }
    }

    let members: [Member]
    let directory: URL
    /// With TLS: the directory of scripts/gen-test-ca.sh's CA, server and client certificates.
    let tls: URL?
    private var processes: [String: Process] = [:]

    /// `tls`: serve clients over https only, and require a client certificate signed by the same CA.
    init(size: Int, tls: URL? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("etcd-\(UUID().uuidString)")
        self.tls = tls
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        members = (0..<size).map { Member(name: "m\($0)", clientPort: freePort(), peerPort: freePort(), tls: tls != nil) }
        for member in members { try start(member.name) }
        try waitUntilHealthy(members.map(\.name))
    }

    var endpoints: [URL] { members.map(\.clientURL) }

    func start(_ name: String) throws {
        let member = members.first { $0.name == name }!
        let cluster = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = [
            "--name", member.name, "--data-dir", directory.appendingPathComponent(member.name).path,
            "--listen-client-urls", member.clientURL.absoluteString, "--advertise-client-urls", member.clientURL.absoluteString,
            "--listen-peer-urls", member.peerURL, "--initial-advertise-peer-urls", member.peerURL,
            "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", directory.lastPathComponent,
            // etcd's defaults, spelled out: faster ones made raft elect again and again on a loaded
            // 2-core machine running the rest of the tests beside it.
            "--heartbeat-interval", "100", "--election-timeout", "1000",
        ]
        if let tls {
            process.arguments! += ["--cert-file", tls.appendingPathComponent("cert.pem").path, "--key-file", tls.appendingPathComponent("key.pem").path,
                                   "--trusted-ca-file", tls.appendingPathComponent("ca.pem").path, "--client-cert-auth"]
        }
        let log = FileHandle(forWritingAtPath: directory.appendingPathComponent("\(name).log").path)
            ?? { FileManager.default.createFile(atPath: directory.appendingPathComponent("\(name).log").path, contents: nil)
                 return FileHandle(forWritingAtPath: directory.appendingPathComponent("\(name).log").path)! }()
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        processes[name] = process
    }

    func kill(_ name: String) {
        guard let process = processes.removeValue(forKey: name) else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Waits until each named member reports itself healthy (it has a leader), up to 30 s.
    func waitUntilHealthy(_ names: [String]) throws {
        let deadline = Date().addingTimeInterval(30)
        for name in names {
            let member = members.first { $0.name == name }!
            let url = member.clientURL.appendingPathComponent("health")
            while true {
                if tls == nil, let data = try? Data(contentsOf: url), String(decoding: data, as: UTF8.self).contains("\"true\"") { break }
                if tls != nil, (try? etcdctl(["endpoint", "health"], endpoints: [member.clientURL])) != nil { break }
                guard Date() < deadline else { throw EtcdClusterError(message: "etcd member \(name) not healthy within 30 s") }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    /// Runs etcdctl against the cluster (used to switch auth on, as an operator would).
    func etcdctl(_ arguments: [String], endpoints: [URL]? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/etcdctl")
        process.arguments = ["--endpoints", (endpoints ?? self.endpoints).map(\.absoluteString).joined(separator: ",")] + arguments
        if let tls {
            process.arguments! += ["--cacert", tls.appendingPathComponent("ca.pem").path, "--cert", tls.appendingPathComponent("client.pem").path,
                                   "--key", tls.appendingPathComponent("client-key.pem").path]
        }
        process.environment = ["ETCDCTL_API": "3"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw EtcdClusterError(message: "etcdctl \(arguments.joined(separator: " ")): \(output)") }
        return output
    }

    deinit {
        for name in Array(processes.keys) { kill(name) }
        try? FileManager.default.removeItem(at: directory)
    }
}

struct EtcdClusterError: Error { let message: String }

/// A loopback port nobody listens on now.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
