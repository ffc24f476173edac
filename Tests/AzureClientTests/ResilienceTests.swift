import AzureClient
import AzureSimulator
import Foundation
import Testing
import Transport

/// Tokens, throttling, server errors, lost answers and secrets, against the simulator.
@Suite struct ResilienceTests {
    let seed = SeedTemplate(name: "ubuntu", behavior: TemplateBehavior(outcome: .hang, phaseSeconds: [1, 1]))
    var id: ImageTemplateID { Harness.template("ubuntu") }

    @Test func expiredTokenIsRefreshedExactlyOnce() async throws {
        let h = try await Harness.start(Scenario(templates: [seed]))
        defer { Task { try await h.stop() } }
        _ = try await h.client.get(id)
        #expect(h.simulator.tokensIssued == 1)
        h.simulator.expireAllTokens()
        _ = try await h.client.get(id)
        #expect(h.simulator.tokensIssued == 2)
        let answers = h.simulator.requests.filter { $0.operation == .get }.map(\.status)
        #expect(answers == [200, 401, 200])
        #expect(await h.client.tokens.fetchCount == 2)
    }

    @Test func tokenIsRefreshedAheadOfExpiryWithoutA401() async throws {
        // A 2 s token is refreshed at half-life, so the second call never meets an expired token.
        let h = try await Harness.start(Scenario(templates: [seed], tokenLifetimeSeconds: 2))
        defer { Task { try await h.stop() } }
        _ = try await h.client.get(id)
        try await Task.sleep(for: .milliseconds(1200))
        _ = try await h.client.get(id)
        #expect(h.simulator.tokensIssued == 2)
        #expect(h.simulator.requests.allSatisfy { $0.status != 401 })
    }

    @Test func concurrentCallersShareOneTokenFetch() async throws {
        let h = try await Harness.start(Scenario(templates: [seed]))
        defer { Task { try await h.stop() } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 { group.addTask { _ = try await h.client.get(id) } }
            try await group.waitForAll()
        }
        #expect(h.simulator.tokensIssued == 1)
        h.simulator.expireAllTokens()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 { group.addTask { _ = try await h.client.get(id) } }
            try await group.waitForAll()
        }
        #expect(h.simulator.tokensIssued == 2, "twenty 401s must share one refresh")
    }

    @Test func throttlingHonoursRetryAfter() async throws {
        let h = try await Harness.start(Scenario(templates: [seed]))
        defer { Task { try await h.stop() } }
        h.simulator.inject(FaultRule(.status(429, retryAfterSeconds: 1), on: .get, count: 1))
        _ = try await h.client.get(id)
        let gets = h.simulator.requests.filter { $0.operation == .get }
        #expect(gets.map(\.status) == [429, 200])
        let gap = h.simulator.gaps(.get)
        #expect(gap.count == 1 && gap[0] >= 1.0, "retried after \(gap) s; Retry-After said 1 s")
    }

    @Test func serverErrorsAreRetriedThenSucceed() async throws {
        let h = try await Harness.start(Scenario(templates: [seed]))
        defer { Task { try await h.stop() } }
        h.simulator.inject(FaultRule(.status(503, retryAfterSeconds: nil), on: .get, count: 2))
        h.simulator.inject(FaultRule(.dropConnection, on: .listRunOutputs, count: 1))
        _ = try await h.client.get(id)
        #expect(h.simulator.requests.filter { $0.operation == .get }.map(\.status) == [503, 503, 200])
        _ = try await h.client.listRunOutputs(id)
        #expect(h.simulator.count(.listRunOutputs) == 2)
    }

    @Test func anExhaustedBudgetGivesTheTypedError() async throws {
        let h = try await Harness.start(Scenario(templates: [seed]))
        defer { Task { try await h.stop() } }
        h.simulator.inject(FaultRule(.status(500, retryAfterSeconds: nil), on: .get, count: 100))
        await #expect {
            _ = try await h.client.get(id)
        } throws: { error in
            guard case .retriesExhausted(let operation, let attempts, let last)? = error as? AzureError else { return false }
            return operation == "Get" && attempts == 4 && last.contains("HTTP 500") && last.contains("InternalServerError")
        }
        #expect(h.simulator.count(.get) == 4)
    }

    @Test func anAmbiguousRunIsReportedAndReachesTheServerOnce() async throws {
        let h = try await Harness.start(Scenario(templates: [seed]))
        defer { Task { try await h.stop() } }
        h.simulator.inject(FaultRule(.dropAfterProcessing, on: .run, count: 1))
        await #expect {
            _ = try await h.client.run(id)
        } throws: { error in
            if case .ambiguous("Run", _, let ids)? = error as? AzureError { return !ids.clientRequestID.isEmpty }
            return false
        }
        #expect(h.simulator.count(.run) == 1)
        // The server did act: the caller reconciles through lastRunStatus.
        #expect(try await h.client.get(id).properties?.lastRunStatus?.runState == .running)
        // A 503 on Run may also come after ARM acted: ambiguous too, never retried.
        h.simulator.inject(FaultRule(.status(503, retryAfterSeconds: nil), on: .cancel, count: 1))
        await #expect { _ = try await h.client.cancel(id) } throws: { if case .ambiguous? = $0 as? AzureError { true } else { false } }
        #expect(h.simulator.count(.cancel) == 1)
        // A 429 is throttling before the provider sees the request, so Run/Cancel may retry it.
        h.simulator.inject(FaultRule(.status(429, retryAfterSeconds: 0), on: .cancel, count: 1))
        _ = try await h.client.cancel(id)
        #expect(h.simulator.count(.cancel) == 3)
    }

    @Test func aRunWhoseConnectionIsRefusedIsNotAmbiguous() async throws {
        // async-http-client retries refused connects until the connect timeout; keep it short here.
        let transport = try AsyncHTTPTransport(connectTimeout: .milliseconds(300))
        defer { Task { try await transport.shutdown() } }
        struct Fixed: TokenCredential {
            let name = "fixed"
            func fetchToken(scope: String) async throws -> AccessToken { AccessToken(token: "t", expiresOn: Date().addingTimeInterval(3600)) }
        }
        let configuration = AzureClientConfiguration(resourceManagerEndpoint: URL(string: "http://127.0.0.1:1")!,
                                                     retry: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(10)))
        let client = try ImageTemplatesClient(configuration: configuration, credential: Fixed(), transport: transport)
        await #expect {
            _ = try await client.run(id)
        } throws: { error in
            if case .retriesExhausted("Run", 2, let last)? = error as? AzureError { return last.contains("not sent") }
            return false
        }
    }

    @Test func noSecretOrTokenAppearsInErrorsOrLogs() async throws {
        let secret = "s3cr3t-\(UUID().uuidString)"
        let principal = SimulatedPrincipal(clientSecret: secret)
        // Wrong secret: an authentication error that names the credential, not the secret.
        let wrong = try await Harness.start(Scenario(templates: [seed], principal: principal)) { url, transport, p in
            ClientSecretCredential(tenantID: p.tenantId, clientID: p.clientId, secret: .literal(secret + "-wrong"), authorityHost: url, transport: transport)
        }
        var descriptions: [String] = []
        do { _ = try await wrong.client.get(id) } catch { descriptions.append("\(error)"); descriptions.append(String(reflecting: error)) }
        #expect(descriptions.first?.contains("AADSTS7000215") == true)
        try await wrong.stop()

        let right = try await Harness.start(Scenario(templates: [seed], principal: principal)) { url, transport, p in
            ClientSecretCredential(tenantID: p.tenantId, clientID: p.clientId, secret: .literal(secret), authorityHost: url, transport: transport)
        }
        defer { Task { try await right.stop() } }
        right.simulator.inject(FaultRule(.status(503, retryAfterSeconds: 0), on: .get, count: 1))
        _ = try await right.client.get(id)
        right.simulator.expireAllTokens()
        _ = try await right.client.get(id)
        let token = try await right.client.tokens.token(scope: right.client.configuration.scope)
        do { _ = try await right.client.get(Harness.template("missing")) } catch { descriptions.append("\(error)"); descriptions.append(String(reflecting: error)) }
        descriptions.append("\(token)")
        descriptions.append(String(reflecting: token))
        let everything = descriptions + right.logs.all + wrong.logs.all
        #expect(right.logs.all.contains { $0.contains("retrying") }, "the retry was logged")
        for text in everything {
            #expect(!text.contains(secret), "secret leaked: \(text)")
            #expect(!text.contains(token.token), "token leaked: \(text)")
        }
    }
}
