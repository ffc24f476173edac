import AzureSimulator
import Foundation
import Subprocess
import Testing

/// `imagebuildd templates list/show/outputs` against the simulator: paging, a failed provisioning,
/// templates with and without runs, table and JSON.
@Suite(.serialized) struct TemplatesTests {
    static func templates(_ h: DaemonHarness, _ arguments: String...) async throws -> (Bool, String, String) {
        let result = try await Subprocess.run(.path(binary), arguments: Arguments(["templates"] + arguments + ["--config", h.configPath]),
                                              environment: h.environment, output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        return (result.terminationStatus.isSuccess, result.standardOutput, result.standardError)
    }

    @Test func listShowAndOutputsFollowPagesAndShowWhatAzureSays() async throws {
        // 1.5 s of real time before the first slot (600x): a daemon starting beside thirty other test
        // processes can take most of a second.
        let h = try await DaemonHarness.start(origin: "2027-03-01T00:45:00Z", scale: 600, templates: [
            SeedTemplate(name: "ubuntu-golden", runOutputNames: ["managed", "gallery"], behavior: DaemonTests.behavior(.succeed, minutes: 1),
                         stagingResourceGroup: "aib-staging", tags: ["team": "platform", "os": "ubuntu"]),
            SeedTemplate(name: "windows-golden", buildTimeoutInMinutes: 90),
            SeedTemplate(name: "broken", provisioningError: .init(code: "BadSourceType", message: "The source image was not found.")),
            SeedTemplate(name: "rhel-golden", tags: ["imagebuildd.cron": "0 4 * * *"]),
            SeedTemplate(resourceGroup: "other", name: "debian-golden"),
        ], pageSize: 2)
        defer { Task { try await h.stop() } }
        try h.writeConfig("""
            schedules:
            \(DaemonHarness.schedule("ubuntu-nightly", template: "ubuntu-golden", cron: "0 1 * * *"))
            \(DaemonHarness.schedule("windows-nightly", template: "windows-golden", cron: "0 3 * * *"))
            """)
        // One real run of ubuntu-golden through the daemon, so it has a last run and outputs.
        let (status, log) = try await h.runDaemon(until: DaemonTests.date("2027-03-01T01:10:00Z"))
        #expect(status.isSuccess, "\(log)")

        let (listed, table, listErrors) = try await Self.templates(h, "list")
        #expect(listed, "\(listErrors)")
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("NAME") == true && lines.first?.contains("SCHEDULED") == true, "\(table)")
        #expect(lines.count == 6, "five templates over three pages:\n\(table)")
        let ubuntu = try #require(lines.first { $0.hasPrefix("ubuntu-golden") })
        #expect(ubuntu.contains("Succeeded") && ubuntu.contains("PlatformImage Canonical:0001-com-ubuntu-server-jammy:22_04-lts:latest")
                && ubuntu.contains("ManagedImage:/subscriptions/") && ubuntu.contains("  ubuntu-nightly  ") && ubuntu.hasSuffix("  -"), "\(ubuntu)")
        #expect(lines.first { $0.hasPrefix("broken") }?.contains("Failed (BadSourceType)") == true, "\(table)")
        #expect(lines.first { $0.hasPrefix("windows-golden") }?.contains("90m") == true)
        #expect(lines.first { $0.hasPrefix("rhel-golden") }.map { $0.contains("  -  ") && $0.contains("240m") && $0.split(separator: " ").joined(separator: " ").hasSuffix(" - 0 4 * * *") } == true,
                "no run, unscheduled, its discovery tag's cron shown:\n\(table)")

        let (_, json, _) = try await Self.templates(h, "list", "--json")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(rows.count == 5)
        let byName = Dictionary(uniqueKeysWithValues: rows.map { ($0["name"] as? String ?? "", $0) })
        #expect((byName["ubuntu-golden"]?["last_run"] as? [String: Any])?["run_state"] as? String == "Succeeded")
        #expect(byName["rhel-golden"]?["last_run"] is NSNull)
        #expect(byName["broken"]?["provisioning_state"] as? String == "Failed" && byName["broken"]?["provisioning_error_code"] as? String == "BadSourceType")
        #expect(byName["ubuntu-golden"]?["scheduled"] as? [String] == ["ubuntu-nightly"] && byName["rhel-golden"]?["scheduled"] as? [String] == [])
        #expect((byName["ubuntu-golden"]?["distribute"] as? [[String: Any]])?.count == 2)
        #expect(byName["rhel-golden"]?["tag_cron"] as? String == "0 4 * * *" && byName["ubuntu-golden"]?["tag_cron"] is NSNull)

        let (_, unscheduled, _) = try await Self.templates(h, "list", "--unscheduled", "--json")
        let names = (try JSONSerialization.jsonObject(with: Data(unscheduled.utf8)) as? [[String: Any]])?.compactMap { $0["name"] as? String }.sorted()
        #expect(names == ["broken", "debian-golden", "rhel-golden"])
        let (_, inGroup, _) = try await Self.templates(h, "list", "--resource-group", "other", "--json")
        #expect((try JSONSerialization.jsonObject(with: Data(inGroup.utf8)) as? [[String: Any]])?.count == 1)

        let (shown, show, showErrors) = try await Self.templates(h, "show", "ubuntu-golden")
        #expect(shown, "\(showErrors)")
        for expected in ["Staging resource group:", "/resourceGroups/aib-staging", "Exact staging resource group:", "VM size:", "Standard_D2s_v3",
                         "Identity:", "UserAssigned", "Tags:", "os=ubuntu, team=platform", "Scheduled by:", "ubuntu-nightly", "Customize:", "Shell patch"] {
            #expect(show.contains(expected), "\(expected) in:\n\(show)")
        }
        let (_, showJSON, _) = try await Self.templates(h, "show", "ubuntu-golden", "--json")
        let resource = try #require(try JSONSerialization.jsonObject(with: Data(showJSON.utf8)) as? [String: Any])
        #expect((resource["identity"] as? [String: Any])?["type"] as? String == "UserAssigned")
        #expect(((resource["properties"] as? [String: Any])?["vmProfile"] as? [String: Any])?["vmSize"] as? String == "Standard_D2s_v3")
        #expect((resource["tags"] as? [String: String])?["team"] == "platform")
        let (brokenShown, broken, _) = try await Self.templates(h, "show", "broken", "--subscription", DaemonHarness.subscription, "--resource-group", "images")
        #expect(brokenShown && broken.contains("Failed (BadSourceType)") && broken.contains("The source image was not found."), "\(broken)")

        let (_, outputs, _) = try await Self.templates(h, "outputs", "ubuntu-golden")
        #expect(outputs.contains("ARTIFACT ID") && outputs.contains("managed") && outputs.contains("gallery"), "\(outputs)")
        let (_, outputsJSON, _) = try await Self.templates(h, "outputs", "ubuntu-golden", "--json")
        let artifacts = try #require(try JSONSerialization.jsonObject(with: Data(outputsJSON.utf8)) as? [[String: Any]])
        #expect(artifacts.count == 2 && artifacts.allSatisfy { ($0["artifact_id"] as? String)?.hasPrefix("/subscriptions/") == true })
        let (_, none, _) = try await Self.templates(h, "outputs", "windows-golden")
        #expect(none.contains("no run outputs"))

        // Read-only, and errors say what to do.
        let (unknown, _, unknownErrors) = try await Self.templates(h, "show", "nope")
        #expect(!unknown && unknownErrors.contains("no schedule in") && unknownErrors.contains("--resource-group"))
        #expect(h.simulator.count(.run) == 1 && h.simulator.count(.cancel) == 0, "the commands never Run or Cancel")
        #expect(h.simulator.count(.list) >= 3, "List followed nextLink")
    }
}
