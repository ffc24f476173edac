import Transport
import EtcdStore
import Foundation
import Testing

/// Every test that starts etcd, one at a time: a single three-member cluster runs at any moment.
@Suite(.serialized, .enabled(if: EtcdCluster.available, "etcd-server is not installed (make deps)"))
struct EtcdTests {}

/// The client against a real three-member etcd cluster on loopback.
extension EtcdTests {
@Suite struct EtcdClientTests {
    /// A three-member cluster and one HTTP transport for the test's clients, shut down however it ends.
    func withCluster(_ body: (EtcdCluster, AsyncHTTPTransport) async throws -> Void) async throws {
        let cluster = try EtcdCluster(size: 3)
        let transport = try AsyncHTTPTransport(connectTimeout: .seconds(1))
        do { try await body(cluster, transport) } catch {
            try? await transport.shutdown()
            throw error
        }
        try await transport.shutdown()
    }

    func client(_ cluster: EtcdCluster, _ transport: AsyncHTTPTransport, username: String? = nil, password: String? = nil) -> EtcdClient {
        EtcdClient(endpoints: cluster.endpoints, transport: transport, timeout: .seconds(2), username: username, password: password)
    }

    @Test func keysAndPrefixes() async throws {
        try await withCluster { cluster, transport in
        let etcd = client(cluster, transport)
        #expect(try await etcd.get("/t/missing") == nil)
        let first = try await etcd.put("/t/a", Array("1".utf8))
        try await etcd.put("/t/b", Array("2".utf8))
        try await etcd.put("/u/c", Array("3".utf8))
        let a = try #require(try await etcd.get("/t/a"))
        #expect(a.value == Array("1".utf8) && a.createRevision == first && a.version == 1)
        #expect(try await etcd.list(prefix: "/t/").map(\.key) == ["/t/a", "/t/b"])
        #expect(try await etcd.delete("/t/a") == 1)
        #expect(try await etcd.list(prefix: "/t/").map(\.key) == ["/t/b"])
        }
    }

    /// The election and the fence: create-if-absent under a lease, and writes that hold only while
    /// the writer's leader key is the one that exists.
    @Test func campaignAndFencedWrites() async throws {
        try await withCluster { cluster, transport in
        let etcd = client(cluster, transport)
        let leaseA = try await etcd.grantLease(ttl: 30)
        let leaseB = try await etcd.grantLease(ttl: 30)
        let campaignA = try await etcd.transaction(if: [.createRevision("/ib/leader", equals: 0)],
                                                  then: [.put("/ib/leader", Array("a".utf8), lease: leaseA.id)], else: [.get("/ib/leader")])
        #expect(campaignA.succeeded)
        let campaignB = try await etcd.transaction(if: [.createRevision("/ib/leader", equals: 0)],
                                                  then: [.put("/ib/leader", Array("b".utf8), lease: leaseB.id)], else: [.get("/ib/leader")])
        #expect(!campaignB.succeeded)
        let holder = try #require(campaignB.gets.first ?? nil)
        #expect(holder.value == Array("a".utf8) && holder.lease == leaseA.id && holder.createRevision == campaignA.revision)

        let fencedByA = try await etcd.transaction(if: [.createRevision("/ib/leader", equals: campaignA.revision)],
                                                  then: [.put("/ib/run/s1@1", Array("requested".utf8))])
        #expect(fencedByA.succeeded)
        // A loses its lease: its key goes, B takes over, and A's fence no longer holds.
        try await etcd.revokeLease(leaseA.id)
        #expect(try await etcd.get("/ib/leader") == nil)
        let campaignB2 = try await etcd.transaction(if: [.createRevision("/ib/leader", equals: 0)],
                                                   then: [.put("/ib/leader", Array("b".utf8), lease: leaseB.id)])
        #expect(campaignB2.succeeded)
        let deposed = try await etcd.transaction(if: [.createRevision("/ib/leader", equals: campaignA.revision)],
                                                then: [.put("/ib/run/s1@2", Array("requested".utf8))])
        #expect(!deposed.succeeded)
        #expect(try await etcd.get("/ib/run/s1@2") == nil)
        }
    }

    /// Real time: a lease nobody renews expires, and its keys with it.
    @Test func leasesExpireUnlessKeptAlive() async throws {
        try await withCluster { cluster, transport in
        let etcd = client(cluster, transport)
        let lease = try await etcd.grantLease(ttl: 2)
        try await etcd.put("/ib/alive", [1], lease: lease.id)
        for _ in 0..<3 {
            try await Task.sleep(for: .seconds(1))
            #expect(try await etcd.keepAlive(lease.id) >= 1)
        }
        #expect(try await etcd.get("/ib/alive") != nil)
        let deadline = ContinuousClock.now + .seconds(10)
        while try await etcd.get("/ib/alive") != nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(try await etcd.get("/ib/alive") == nil)
        await #expect(throws: EtcdError.self) { try await etcd.keepAlive(lease.id) }
        }
    }

    /// A dead member is skipped; with a majority gone nothing is written; with quorum back it is.
    @Test func failoverAndQuorum() async throws {
        try await withCluster { cluster, transport in
        let etcd = client(cluster, transport)
        try await etcd.put("/ib/k", [0])
        cluster.kill("m0")
        // If m0 led, the others elect a new leader first (about a second with etcd's timing).
        try cluster.waitUntilHealthy(["m1", "m2"])
        try await etcd.put("/ib/k", [1])
        #expect(try await etcd.get("/ib/k")?.value == [1])
        cluster.kill("m1")
        do {
            try await etcd.put("/ib/k", [2])
            Issue.record("a write succeeded with one member of three")
        } catch {
            switch error as? EtcdError {
            case .unavailable?, .outcomeUnknown?: break
            default: Issue.record("unexpected \(error)")
            }
        }
        await #expect(throws: EtcdError.self) { try await etcd.get("/ib/k") }
        try cluster.start("m0")
        try cluster.waitUntilHealthy(["m0", "m2"])
        try await etcd.put("/ib/k", [3])
        #expect(try await etcd.get("/ib/k")?.value == [3])
        }
    }

    @Test func authenticatesAndNeverShowsTheSecret() async throws {
        try await withCluster { cluster, transport in
        let secret = "s3cret-\(UUID().uuidString)"
        _ = try cluster.etcdctl(["user", "add", "root", "--new-user-password", secret])
        _ = try cluster.etcdctl(["auth", "enable"])
        let etcd = client(cluster, transport, username: "root", password: secret)
        try await etcd.put("/ib/auth", [7])
        #expect(try await etcd.get("/ib/auth")?.value == [7])
        let anonymous = client(cluster, transport)
        await #expect(throws: EtcdError.self) { try await anonymous.put("/ib/auth", [8]) }
        let wrong = client(cluster, transport, username: "root", password: "not-\(secret)")
        do {
            try await wrong.put("/ib/auth", [9])
            Issue.record("a wrong password was accepted")
        } catch {
            #expect(!"\(error)".contains(secret), "\(error)")
            #expect("\(error)".contains("authentication as root failed"))
        }
        }
    }
}
}

/// etcd with `--client-cert-auth` over TLS: the client certificate is what lets the daemon in, and
/// the server's certificate is verified against the configured CA.
extension EtcdTests {
@Suite struct EtcdTLSTests {
    @Test func aClientCertificateOpensTheDoorAndTheServerIsVerified() async throws {
        let certificates = FileManager.default.temporaryDirectory.appendingPathComponent("etcd-tls-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: certificates) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let generate = Process()
        generate.executableURL = root.appendingPathComponent("scripts/gen-test-ca.sh")
        generate.arguments = [certificates.path]
        try generate.run()
        generate.waitUntilExit()
        try #require(generate.terminationStatus == 0)
        let cluster = try EtcdCluster(size: 1, tls: certificates)
        let file = { (name: String) in certificates.appendingPathComponent(name).path }

        let trusted = try AsyncHTTPTransport(caFile: file("ca.pem"), connectTimeout: .seconds(2), clientCertificate: (file("client.pem"), file("client-key.pem")))
        // The same CA, no client certificate: etcd refuses the handshake.
        let anonymous = try AsyncHTTPTransport(caFile: file("ca.pem"), connectTimeout: .seconds(2))
        // A client certificate but not etcd's CA: the server is not trusted, and the error says what to set.
        let untrusting = try AsyncHTTPTransport(connectTimeout: .seconds(2), trustHint: "set cluster.etcd.ca_file",
                                                clientCertificate: (file("client.pem"), file("client-key.pem")))
        do {
            let client = EtcdClient(endpoints: cluster.endpoints, transport: trusted, timeout: .seconds(5))
            try await client.put("/tls/k", Array("v".utf8))
            #expect(try await client.get("/tls/k")?.value == Array("v".utf8))
            await #expect(throws: EtcdError.self) { _ = try await EtcdClient(endpoints: cluster.endpoints, transport: anonymous, timeout: .seconds(5)).get("/tls/k") }
            do {
                _ = try await EtcdClient(endpoints: cluster.endpoints, transport: untrusting, timeout: .seconds(5)).get("/tls/k")
                Issue.record("an untrusted etcd server was accepted")
            } catch {
                #expect("\(error)".contains("cluster.etcd.ca_file"), "\(error)")
            }
        } catch {
            Issue.record("\(error)")
        }
        for transport in [trusted, anonymous, untrusting] { try await transport.shutdown() }
    }
}
}
