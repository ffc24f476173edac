import AzureSimulator
import Foundation
import Subprocess
import Testing

/// Schedules from template tags, against the real daemon and the simulator: three pages of
/// templates whose tags are added, changed and removed between passes, bad tags, a template the
/// config already builds, an ARM outage across a restart, a discovered slot on time, and a
/// retirement while its build runs.
@Suite struct DiscoveryTests {
    static let group = "/subscriptions/\(DaemonHarness.subscription)/resourceGroups/images/providers/Microsoft.VirtualMachineImages/imageTemplates/"

    static func status(_ h: DaemonHarness) async throws -> [String: Any] {
        let result = try await ControlTests.cli(h, ["status", "--json"])
        return (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    static func schedules(_ reply: [String: Any]) -> [String: [String: Any]] {
        var byName: [String: [String: Any]] = [:]
        for s in reply["schedules"] as? [[String: Any]] ?? [] { byName[s["schedule"] as? String ?? ""] = s }
        return byName
    }

    static func ignored(_ reply: [String: Any]) -> [String: String] {
        var byTemplate: [String: String] = [:]
        for i in (reply["discovery"] as? [String: Any])?["ignored"] as? [[String: Any]] ?? [] {
            byTemplate[(i["template"] as? String ?? "").components(separatedBy: "/").last ?? ""] = i["reason"] as? String
        }
        return byTemplate
    }

    @Test func tagsBecomeSchedulesAndOnlyACompleteListRetiresThem() async throws {
        let build = TemplateBehavior(outcome: .succeed, phaseSeconds: [120, 120, 120, 120])
        let h = try await DaemonHarness.start(origin: "2027-01-01T00:00:00Z", scale: 120, templates: [
            SeedTemplate(name: "t1", behavior: build, tags: ["imagebuildd.cron": "*/10 * * * *"]),
            SeedTemplate(name: "t2", behavior: build, tags: ["imagebuildd.cron": "61 * * * *"]),
            SeedTemplate(name: "t3", behavior: build, tags: [:]),
            SeedTemplate(name: "configured", behavior: build, tags: ["imagebuildd.cron": "@hourly"]),
        ], pageSize: 1)
        defer { Task { try await h.stop() } }
        try h.writeConfig("""
            defaults:
              poll: { initial: 30s, max: 1m, multiplier: 2 }
            discover:
              - subscription_id: \(DaemonHarness.subscription)
                resource_group: images
            discover_interval: 1h
            schedules:
            \(DaemonHarness.schedule("configured", template: "configured", cron: "0 5 * * *"))
            """)
        let (first, log) = try await h.runDaemon { send in
            // Three pages listed; t1 scheduled, t2's cron and the configured template ignored.
            var reply: [String: Any] = [:]
            _ = try await eventually(within: 20) {
                reply = try await Self.status(h)
                return Self.schedules(reply)["images/t1"] != nil && Self.ignored(reply).count == 2
            }
            let t1 = Self.schedules(reply)["images/t1"]
            #expect(t1?["source"] as? String == "tag:" + Self.group + "t1", "\(reply)")
            #expect(t1?["cron"] as? String == "*/10 * * * *")
            #expect(Self.schedules(reply)["configured"]?["source"] as? String == "config")
            #expect(Self.ignored(reply) == ["t2": "cron", "configured": "in-config"], "\(reply)")
            #expect(h.simulator.count(.listByResourceGroup) >= 3, "three pages of one template each")

            // The discovered schedule's first slot fires on time.
            _ = try await eventually(within: 30) {
                try await h.history(schedule: "images/t1").contains { $0["slot"] as? String == "2027-01-01T00:10:00Z" && $0["outcome"] as? String == "succeeded" }
            }
            #expect(try await h.history(schedule: "images/t1").first?["slot"] as? String == "2027-01-01T00:10:00Z")

            // Tags added and changed between passes.
            h.simulator.setTags(subscriptionID: DaemonHarness.subscription, resourceGroup: "images", template: "t3",
                                ["imagebuildd.cron": "0 3 * * *", "imagebuildd.schedule": "nightly-t3", "imagebuildd.timezone": "Europe/Berlin"])
            h.simulator.setTags(subscriptionID: DaemonHarness.subscription, resourceGroup: "images", template: "t1", ["imagebuildd.cron": "5 * * * *"])
            let pass = try await ControlTests.cli(h, ["discover"])
            #expect(pass.status == .exited(0) && pass.stdout.contains("added: nightly-t3") && pass.stdout.contains("changed: images/t1"),
                    "\(pass.stdout) \(pass.stderr)")
            reply = try await Self.status(h)
            #expect(Self.schedules(reply)["nightly-t3"]?["timezone"] as? String == "Europe/Berlin")
            #expect(Self.schedules(reply)["images/t1"]?["cron"] as? String == "5 * * * *")

            // An outage: the list fails, nothing is retired although t3 lost its tag meanwhile.
            h.simulator.inject(FaultRule(.status(503, retryAfterSeconds: nil), on: .listByResourceGroup, count: 1_000_000))
            h.simulator.setTags(subscriptionID: DaemonHarness.subscription, resourceGroup: "images", template: "t3", [:])
            let failed = try await ControlTests.cli(h, ["discover"])
            #expect(failed.status == .exited(1) && failed.stdout.contains("incomplete"), "\(failed.stdout) \(failed.stderr)")
            #expect(Self.schedules(try await Self.status(h))["nightly-t3"] != nil)
            try send(.terminate)
        }
        #expect(first == .exited(0), "\(log)")
        #expect(log.contains("EVENT=discovery-ignored") || log.contains("discovery ignores"), "\(log)")

        // A restart during the outage still schedules the discovered set, from the journal.
        let (second, log2) = try await h.runDaemon { send in
            var reply: [String: Any] = [:]
            _ = try await eventually(within: 20) {
                reply = try await Self.status(h)
                return Self.schedules(reply)["nightly-t3"] != nil
            }
            #expect(Self.schedules(reply)["nightly-t3"] != nil && Self.schedules(reply)["images/t1"] != nil, "\(reply)")
            // The outage ends: the next pass retires nightly-t3; then t1 is retired while it builds.
            h.simulator.clearFaults()
            // (The start-up pass may still be retrying, and retire it first.)
            let pass = try await ControlTests.cli(h, ["discover"])
            #expect(pass.status == .exited(0), "\(pass.stdout) \(pass.stderr)")
            #expect(Self.schedules(try await Self.status(h))["nightly-t3"] == nil)
            #expect(try await h.records("schedule-retired", schedule: "nightly-t3").count == 1)
            _ = try await eventually(within: 60) {
                (Self.schedules(try await Self.status(h))["images/t1"]?["state"] as? String) == "running"
            }
            let building = Self.schedules(try await Self.status(h))["images/t1"]
            #expect(building?["state"] as? String == "running", "\(String(describing: building))")
            h.simulator.setTags(subscriptionID: DaemonHarness.subscription, resourceGroup: "images", template: "t1", [:])
            let retire = try await ControlTests.cli(h, ["discover"])
            #expect(retire.status == .exited(0) && retire.stdout.contains("retired: images/t1"), "\(retire.stdout) \(retire.stderr)")
            #expect(Self.schedules(try await Self.status(h))["images/t1"] == nil)
            // Its build is followed to its end, and history keeps the schedule.
            _ = try await eventually(within: 30) {
                try await h.history(schedule: "images/t1").filter { $0["outcome"] as? String == "succeeded" }.count >= 2
            }
            try send(.terminate)
        }
        #expect(second == .exited(0), "\(log2)")
        let runs = try await h.history(schedule: "images/t1")
        #expect(runs.filter { $0["outcome"] as? String == "succeeded" }.count >= 2, "\(runs)")
        #expect(try await h.records("schedule-retired", schedule: "images/t1").count == 1)
    }
}
