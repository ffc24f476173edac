import AzureClient
import AzureSimulator
import Foundation
import Testing
import Transport

/// ARM's per-subscription buckets: the simulator enforces them, the client's pacer stays inside them.
@Suite(.serialized) struct PacingTests {
    let id = Harness.template("paced")

    func burst(_ client: ImageTemplatesClient, _ count: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<count { group.addTask { _ = try await client.get(id) } }
            try await group.waitForAll()
        }
    }

    @Test func thePacerKeepsThreeHundredConcurrentReadsInsideTheBucket() async throws {
        let h = try await Harness.start(Scenario(templates: [SeedTemplate(name: "paced")]))
        defer { Task { try await h.stop() } }
        let started = ContinuousClock.now
        try await burst(h.client, 300)
        let elapsed = started.duration(to: .now)
        #expect(h.simulator.requests.filter { $0.status == 429 }.isEmpty, "the pacer let a 429 through")
        #expect(h.simulator.count(.get) == 300)
        // 225 at once (90% of ARM's 250), the other 75 at 22.5/s: over three seconds.
        #expect(elapsed >= .milliseconds(3000), "\(elapsed)")
        #expect(await h.client.pacer.waited > .zero)
    }

    @Test func withoutPacingTheSimulatorThrottlesAndTheClientStillGetsThrough() async throws {
        let simulator = try await AzureSimulator(scenario: Scenario(templates: [SeedTemplate(name: "paced")]))
        let transport = try AsyncHTTPTransport()
        let p = simulator.principal
        let credential = ClientSecretCredential(tenantID: p.tenantId, clientID: p.clientId, secret: .literal(p.clientSecret),
                                                authorityHost: simulator.baseURL, transport: transport)
        let unpaced = RequestPacer(reads: .init(burst: 1e9, perSecond: 1e9), writes: .init(burst: 1e9, perSecond: 1e9))
        let client = try ImageTemplatesClient(configuration: AzureClientConfiguration(resourceManagerEndpoint: simulator.baseURL,
                                                                                      retry: RetryPolicy(maxAttempts: 10, maxTotalDelay: .seconds(60))),
                                              credential: credential, transport: transport, pacer: unpaced)
        try await burst(client, 300)
        let throttled = simulator.requests.filter { $0.status == 429 }.count
        #expect(throttled > 0, "the simulator must enforce ARM's read bucket")
        #expect(simulator.requests.filter { $0.operation == .get && $0.status == 200 }.count == 300)
        try await transport.shutdown()
        try await simulator.shutdown()
    }

    @Test func remainingHeadersTightenTheBucket() async throws {
        let pacer = RequestPacer(reads: .init(burst: 100, perSecond: 10), writes: .armWrites, headroom: 1)
        await pacer.observe(subscription: "s", isWrite: false, remaining: 0)
        let started = ContinuousClock.now
        try await pacer.acquire(subscription: "s", isWrite: false)
        #expect(started.duration(to: .now) >= .milliseconds(90), "ARM said nothing is left: wait for a refill")
        // Other subscriptions have their own buckets.
        let other = ContinuousClock.now
        try await pacer.acquire(subscription: "t", isWrite: false)
        #expect(other.duration(to: .now) < .milliseconds(50))
    }
}
