import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// An ARM + Entra ID token endpoint on loopback that models image builds as state machines, with
/// fault injection and a request log. Used by tests, `imagebuildd simulate` and `imagebuildd demo`.
public final class AzureSimulator: Sendable {
    /// PEM files for serving https.
    public struct TLSFiles: Sendable {
        public var certificateChain: String
        public var privateKey: String
        public init(certificateChain: String, privateKey: String) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
        }
        /// `cert.pem` and `key.pem` in `directory` (as `scripts/gen-test-ca.sh` writes them).
        public init(directory: String) {
            self.init(certificateChain: directory + "/cert.pem", privateKey: directory + "/key.pem")
        }
    }

    private let arm: SimulatedARM
    private let channel: any Channel
    /// The simulator's clock; build phases and token lifetimes run on it.
    public let now: @Sendable () -> Date
    /// The bound port.
    public let port: Int
    /// `http(s)://127.0.0.1:PORT`, the base for ARM and the token endpoint alike.
    public let baseURL: URL

    /// Binds and starts serving. `port` 0 picks a free port.
    /// `now` lets tests and the demo share a compressed clock with the daemon.
    public init(scenario: Scenario = Scenario(), host: String = "127.0.0.1", port: Int = 0, tls: TLSFiles? = nil,
                now: @escaping @Sendable () -> Date = { Date() }) async throws {
        let arm = SimulatedARM(scenario: scenario)
        self.arm = arm
        self.now = now
        let sslContext: NIOSSLContext?
        if let tls {
            let configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificateChain).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)))
            sslContext = try NIOSSLContext(configuration: configuration)
        } else {
            sslContext = nil
        }
        // With port 0 the base URL is known only after binding; handlers read it from this box.
        let baseBox = BaseURLBox()
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(SimulatorHTTPHandler(arm: arm, base: baseBox.value, now: now))
                }
            }
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
        channel = try await bootstrap.bind(host: host, port: port).get()
        self.port = channel.localAddress?.port ?? port
        let scheme = tls == nil ? "http" : "https"
        baseURL = URL(string: "\(scheme)://\(host):\(self.port)")!
        baseBox.set(baseURL.absoluteString)
    }

    /// Stops listening.
    public func shutdown() async throws {
        try await channel.close()
    }

    /// Waits until the listening channel closes.
    public func waitUntilClosed() async throws {
        try await channel.closeFuture.get()
    }

    /// Adds (or replaces) a template.
    public func addTemplate(_ seed: SeedTemplate) { arm.add(seed) }

    /// Changes how a template's next builds go.
    public func setBehavior(subscriptionID: String, resourceGroup: String, template: String, _ behavior: TemplateBehavior) {
        arm.setBehavior(subscription: subscriptionID, resourceGroup: resourceGroup, name: template, behavior)
    }

    /// Sets a template's tags, as its owner's Terraform or `az tag update` would.
    public func setTags(subscriptionID: String, resourceGroup: String, template: String, _ tags: [String: String]) {
        arm.setTags(subscription: subscriptionID, resourceGroup: resourceGroup, name: template, tags)
    }

    /// Deletes a template out of band (whatever it is doing), as someone in the portal would.
    public func removeTemplate(subscriptionID: String, resourceGroup: String, template: String) {
        arm.remove(subscription: subscriptionID, resourceGroup: resourceGroup, name: template)
    }

    /// Queues a fault for matching requests.
    public func inject(_ rule: FaultRule) { arm.inject(rule) }

    /// Ends every fault still queued (an outage is over).
    public func clearFaults() { arm.clearFaults() }

    /// Makes every issued token expired, as if its lifetime had passed.
    public func expireAllTokens() { arm.expireTokens() }

    /// Every request so far, in arrival order.
    public var requests: [LoggedRequest] { arm.requests }

    /// How many tokens the token endpoints issued.
    public var tokensIssued: Int { arm.tokensIssued }

    /// The principal the token endpoint accepts.
    public var principal: SimulatedPrincipal { arm.principal }

    /// Requests of `operation` (for `template`, when given).
    public func count(_ operation: SimulatedOperation, template: String? = nil) -> Int {
        requests.filter { $0.operation == operation && (template == nil || $0.template?.lowercased() == template?.lowercased()) }.count
    }

    /// Seconds between consecutive requests of `operation` (for `template`, when given).
    public func gaps(_ operation: SimulatedOperation, template: String? = nil) -> [TimeInterval] {
        let times = requests.filter { $0.operation == operation && (template == nil || $0.template?.lowercased() == template?.lowercased()) }.map(\.at)
        return zip(times.dropFirst(), times).map { $0.timeIntervalSince($1) }
    }
}

/// Holds the base URL, known only after binding, for handlers created later.
private final class BaseURLBox: Sendable {
    private let storage = Mutex("")
    var value: String { storage.withLock { $0 } }
    func set(_ value: String) { storage.withLock { $0 = value } }
}
