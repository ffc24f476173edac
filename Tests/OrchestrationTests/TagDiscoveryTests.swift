import AzureClient
import Config
import Foundation
import JobJournal
import Testing

/// What a template's tags make of a schedule, and what they do not: pure, no ARM.
@Suite struct TagDiscoveryTests {
    static let subscription = "00000000-0000-0000-0000-000000000000"

    static func config(_ extra: String = "") throws -> DaemonConfig {
        try ConfigLoader(file: "test.yaml", environment: [:]).parse("""
            defaults: { timezone: Europe/Berlin, overlap: queue }
            discover:
              - subscription_id: \(subscription)
            \(extra)
            schedules:
              - { name: nightly, subscription_id: \(subscription), resource_group: images, template: configured, cron: "0 2 * * *" }
            """)
    }

    static func template(_ name: String, group: String = "images", _ tags: [String: String]) -> (id: ImageTemplateID, tags: [String: String]) {
        (ImageTemplateID(subscriptionID: subscription, resourceGroup: group, name: name), tags)
    }

    @Test func tagsMakeSchedulesUnderTheDefaults() throws {
        let config = try Self.config()
        let result = TagDiscovery.find([
            Self.template("ubuntu", ["imagebuildd.cron": "30 3 * * *"]),
            Self.template("win", group: "Win(Images)", ["ImageBuildD.Cron": "@daily", "imagebuildd.schedule": "windows", "imagebuildd.overlap": "skip",
                                                        "imagebuildd.build_timeout": "3h", "imagebuildd.stale_after": "36h", "imagebuildd.pause_after_failures": "3"]),
            Self.template("untagged", ["owner": "platform"]),
        ], config: config)
        #expect(result.ignored.isEmpty, "\(result.ignored)")
        #expect(result.found.map(\.name) == ["images/ubuntu", "windows"])
        let merged = TagDiscovery.merge(config, discovered: result.found).config
        #expect(merged.schedules.map(\.name) == ["nightly", "images/ubuntu", "windows"])
        let ubuntu = merged.schedules[1]
        #expect(ubuntu.timezone == "Europe/Berlin" && ubuntu.overlap == .queue && ubuntu.source == .tag(template: ubuntu.target.resourcePath))
        let windows = merged.schedules[2]
        #expect(windows.overlap == .skip && windows.buildTimeout == .fixed(.seconds(3 * 3600)) && windows.staleAfter == .seconds(36 * 3600)
                && windows.pauseAfterFailures == 3 && windows.target.resourceGroup == "Win(Images)")
    }

    @Test func badTagsAreIgnoredOneTemplateAtATime() throws {
        let config = try Self.config()
        let result = TagDiscovery.find([
            Self.template("a", ["imagebuildd.cron": "61 * * * *"]),
            Self.template("b", ["imagebuildd.cron": "@daily", "imagebuildd.timezone": "Mars/Olympus"]),
            Self.template("c", ["imagebuildd.cron": "@daily", "imagebuildd.overlap": "sometimes"]),
            Self.template("d", ["imagebuildd.cron": "@daily", "imagebuildd.timzone": "UTC"]),
            Self.template("e", ["imagebuildd.cron": "@daily", "imagebuildd.schedule": String(repeating: "x", count: 257)]),
            Self.template("f", ["imagebuildd.cron": "@daily", "imagebuildd.schedule": "nightly"]),
            Self.template("configured", ["imagebuildd.cron": "@hourly"]),
            Self.template("g", ["imagebuildd.cron": "@daily", "imagebuildd.schedule": "-bad"]),
            Self.template("h", ["imagebuildd.cron": "@daily", "imagebuildd.build_timeout": "0s"]),
            Self.template("ok", ["imagebuildd.cron": "@daily"]),
        ], config: config)
        let reasons = Dictionary(uniqueKeysWithValues: result.ignored.map { ($0.template.components(separatedBy: "/").last!, $0.reason) })
        #expect(reasons == ["a": "cron", "b": "timezone", "c": "overlap", "d": "unknown-tag", "e": "too-long", "f": "duplicate-name",
                            "configured": "in-config", "g": "schedule", "h": "build_timeout"], "\(result.ignored)")
        #expect(result.found.map(\.name) == ["images/ok"])
        let cron = result.ignored.first { $0.reason == "cron" }
        #expect(cron?.tag == "imagebuildd.cron" && cron?.message.contains("61") == true, "\(String(describing: cron))")
    }

    @Test func aPrefixOfOurOwnAndTheDiscoverKeysAreChecked() throws {
        let config = try Self.config("discover_tag_prefix: golden-\ndiscover_interval: 10m")
        #expect(config.discovery?.interval == .seconds(600))
        let result = TagDiscovery.find([Self.template("a", ["golden-cron": "@daily"]), Self.template("b", ["imagebuildd.cron": "@daily"])], config: config)
        #expect(result.found.map(\.name) == ["images/a"])
        #expect(throws: ConfigError.self) { try Self.config("discover_interval: 5s") }
        #expect(throws: ConfigError.self) {
            try ConfigLoader(file: "t.yaml", environment: [:]).parse("discover_interval: 5m\nschedules: []\n")
        }
        let onlyTags = try ConfigLoader(file: "t.yaml", environment: [:]).parse("discover: [{subscription_id: \(Self.subscription), resource_group: images}]\n")
        #expect(onlyTags.schedules.isEmpty && onlyTags.discovery?.sources.first?.resourceGroup == "images")
        let without = try ConfigLoader(file: "t.yaml", environment: [:]).parse("schedules: []\n")
        let found = DiscoveredSchedule(name: "images/a", template: Self.template("a", [:]).id.resourcePath, tags: ["cron": "@daily"])
        #expect(TagDiscovery.merge(without, discovered: [found]).config.schedules.isEmpty, "discover: taken out schedules nothing")
        #expect(TagDiscovery.merge(onlyTags, discovered: [found]).config.schedules.map(\.name) == ["images/a"])
    }
}
