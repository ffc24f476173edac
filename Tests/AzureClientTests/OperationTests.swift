import AzureClient
import AzureSimulator
import Foundation
import Testing

/// Every operation against the simulator over real loopback sockets.
@Suite struct OperationTests {
    let fast = TemplateBehavior(outcome: .succeed, phaseSeconds: [0.1, 0.1, 0.1, 0.1])

    func waitUntilEnded(_ client: ImageTemplatesClient, _ id: ImageTemplateID, limit: Duration = .seconds(10)) async throws -> LastRunStatus {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let status = try await client.get(id).properties?.lastRunStatus, status.runState?.isTerminal == true { return status }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw AzureError.transport(operation: "test", reason: "build did not end")
    }

    @Test func runSucceedsAndRunOutputsAppear() async throws {
        // Phases long enough that the build is still running when the next request arrives, even on
        // a loaded machine (0.1 s phases were over before the get on a busy CI runner).
        let steady = TemplateBehavior(outcome: .succeed, phaseSeconds: [1, 1, 1, 1])
        let h = try await Harness.start(Scenario(templates: [SeedTemplate(name: "ubuntu", runOutputNames: ["managed", "gallery"], behavior: steady)]))
        defer { Task { try await h.stop() } }
        let id = Harness.template("ubuntu")
        #expect(try await h.client.listRunOutputs(id).isEmpty)
        let accepted = try await h.client.run(id)
        #expect(accepted.status == 202 && accepted.operationURL != nil)
        let running = try await h.client.get(id).properties?.lastRunStatus
        #expect(running?.runState == .running && running?.startTime?.date != nil)
        let ended = try await waitUntilEnded(h.client, id, limit: .seconds(30))
        #expect(ended.runState == .succeeded && ended.endTime != nil)
        let outputs = try await h.client.listRunOutputs(id)
        #expect(Set(outputs.compactMap(\.name)) == ["managed", "gallery"])
        let one = try await h.client.getRunOutput(id, name: "gallery")
        #expect(one.properties?.artifactId?.hasSuffix("ubuntu-gallery") == true && one.properties?.provisioningState == .succeeded)
        #expect(h.simulator.requests.filter { $0.operation != .token }.allSatisfy { $0.hadClientRequestID && $0.apiVersion == "2024-02-01" })
    }

    @Test func failedBuildCarriesItsMessageAndRunWhileRunningIsAConflict() async throws {
        // Still building when the second Run arrives, however loaded the machine.
        let failing = TemplateBehavior(outcome: .fail, phaseSeconds: [1, 1, 1, 1], failureMessage: "customizer exited 3")
        let h = try await Harness.start(Scenario(templates: [SeedTemplate(name: "win", behavior: failing)]))
        defer { Task { try await h.stop() } }
        let id = Harness.template("win")
        _ = try await h.client.run(id)
        await #expect {
            _ = try await h.client.run(id)
        } throws: { error in
            let azure = error as? AzureError
            return azure?.status == 409 && azure?.armCode == "OperationNotAllowed"
        }
        #expect(h.simulator.count(.run, template: "win") == 2)
        let ended = try await waitUntilEnded(h.client, id, limit: .seconds(30))
        #expect(ended.runState == .failed && ended.message == "customizer exited 3")
    }

    @Test func cancelGoesThroughCancelingToCanceled() async throws {
        // Canceling lasts 3 s, so the get after the cancel sees it however slow the machine is.
        let hang = TemplateBehavior(outcome: .hang, phaseSeconds: [0.05, 0.05], cancelSeconds: 3)
        let h = try await Harness.start(Scenario(templates: [SeedTemplate(name: "stuck", behavior: hang)]))
        defer { Task { try await h.stop() } }
        let id = Harness.template("stuck")
        _ = try await h.client.run(id)
        let accepted = try await h.client.cancel(id)
        #expect(accepted.status == 202)
        #expect(try await h.client.get(id).properties?.lastRunStatus?.runState == .canceling)
        let ended = try await waitUntilEnded(h.client, id, limit: .seconds(30))
        #expect(ended.runState == .canceled)
    }

    @Test func createUpdateListPageAndDelete() async throws {
        let h = try await Harness.start(Scenario(templates: (1...5).map { SeedTemplate(name: "t\($0)") }, pageSize: 2))
        defer { Task { try await h.stop() } }
        #expect(try await h.client.list(subscriptionID: Harness.subscription).count == 5)
        #expect(h.simulator.count(.list) == 3)
        #expect(try await h.client.listByResourceGroup(subscriptionID: Harness.subscription, resourceGroup: "images").count == 5)
        #expect(try await h.client.listByResourceGroup(subscriptionID: Harness.subscription, resourceGroup: "other").isEmpty)

        var template = try await h.client.get(Harness.template("t1"))
        template.tags = ["owner": "platform"]
        template.properties?.buildTimeoutInMinutes = 90
        template.additionalMembers["futureMember"] = .string("kept")
        let created = try await h.client.createOrUpdate(Harness.template("copy"), template)
        #expect(created.properties?.provisioningState == .succeeded && created.properties?.buildTimeoutInMinutes == 90)
        #expect(created.name == "copy" && created.additionalMembers["futureMember"] == .string("kept"))
        #expect(h.simulator.count(.operationStatus) >= 1)

        let updated = try await h.client.update(Harness.template("copy"), ImageTemplateUpdate(tags: ["owner": "sre"], vmProfile: VmProfile(VmProfileFields(vmSize: "Standard_D4s_v3"))))
        #expect(updated.tags == ["owner": "sre"] && updated.properties?.vmProfile?.vmSize == "Standard_D4s_v3")

        try await h.client.delete(Harness.template("copy"))
        await #expect {
            _ = try await h.client.get(Harness.template("copy"))
        } throws: { ($0 as? AzureError)?.status == 404 && ($0 as? AzureError)?.armCode == "ResourceNotFound" }
    }

    @Test func namesAreValidatedBeforeAnyRequest() async throws {
        let h = try await Harness.start()
        defer { Task { try await h.stop() } }
        for bad in ["", "a/b", "..", "x..y", "has space", String(repeating: "a", count: 65), "é"] {
            await #expect(throws: AzureError.self) { _ = try await h.client.get(ImageTemplateID(subscriptionID: Harness.subscription, resourceGroup: "images", name: bad)) }
        }
        await #expect(throws: AzureError.self) { _ = try await h.client.run(ImageTemplateID(subscriptionID: "../x", resourceGroup: "images", name: "t")) }
        await #expect(throws: AzureError.self) { _ = try await h.client.listByResourceGroup(subscriptionID: Harness.subscription, resourceGroup: "a/b") }
        await #expect(throws: AzureError.self) { _ = try await h.client.getRunOutput(Harness.template("t"), name: "../secrets") }
        #expect(h.simulator.requests.isEmpty)
    }

    @Test func olderAPIVersionsWork() async throws {
        let h = try await Harness.start(Scenario(templates: [SeedTemplate(name: "old", behavior: fast)]), apiVersion: "2018-02-01-preview")
        defer { Task { try await h.stop() } }
        let id = Harness.template("old")
        _ = try await h.client.run(id)
        let ended = try await waitUntilEnded(h.client, id)
        #expect(ended.runState == .succeeded)
        await #expect(throws: AzureError.self) { _ = try await h.client.cancel(id) }
        #expect(h.simulator.requests.allSatisfy { $0.operation == .token || $0.apiVersion == "2018-02-01-preview" })
    }

    @Test func configurationIsChecked() {
        #expect(throws: AzureError.self) { try AzureClientConfiguration(resourceManagerEndpoint: URL(string: "http://management.example.com")!).validate() }
        #expect(throws: AzureError.self) { try AzureClientConfiguration(apiVersion: "2017-01-01").validate() }
        #expect(throws: AzureError.self) { try AzureClientConfiguration(apiVersion: "2026-01-01").validate() }
        #expect(throws: Never.self) { try AzureClientConfiguration(resourceManagerEndpoint: URL(string: "http://127.0.0.1:9")!).validate() }
        #expect(throws: Never.self) { try AzureClientConfiguration(resourceManagerEndpoint: URL(string: "https://management.usgovcloudapi.net")!, apiVersion: "2020-02-14").validate() }
        #expect(AzureClientConfiguration().scope == "https://management.azure.com/.default")
    }

    @Test func aScenarioFileSeedsTemplatesAndFaults() async throws {
        let json = #"""
        {"templates": [{"subscriptionId": "00000000-0000-0000-0000-000000000000", "resourceGroup": "images", "name": "from-file",
                        "location": "westeurope", "runOutputNames": ["a"], "behavior": {"outcome": "fail", "cancelNeverCompletes": true}}],
         "faults": [{"operation": "get", "status": 503, "count": 1}, {"operation": "run", "drop": "after"}]}
        """#
        let scenario = try JSONDecoder().decode(Scenario.self, from: Data(json.utf8))
        #expect(scenario.templates.first?.behavior.cancelSeconds == nil && scenario.faults.count == 2)
        let h = try await Harness.start(scenario)
        defer { Task { try await h.stop() } }
        _ = try await h.client.get(Harness.template("from-file"))
        #expect(h.simulator.requests.filter { $0.operation == .get }.map(\.status) == [503, 200])
        await #expect(throws: AzureError.self) { _ = try await h.client.run(Harness.template("from-file")) }
        #expect { try JSONDecoder().decode(Scenario.self, from: Data(#"{"faults": [{"drop": "sideways"}]}"#.utf8)) } throws: {
            "\($0)".contains("before")
        }
    }
}
