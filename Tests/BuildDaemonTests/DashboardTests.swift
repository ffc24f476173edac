import Foundation
import Subprocess
import Testing

/// The Grafana dashboard (`packaging/grafana/imagebuildd.json`): importable as the classic JSON
/// model, provisionable from a file (one datasource variable, no `__inputs`), and every query valid
/// PromQL as Debian's promtool parses it. That every metric it names exists is checked against a
/// real scrape in `ObservabilityProcessTests`.
@Suite struct DashboardTests {
    static let path = PackagingTests.root + "/packaging/grafana/imagebuildd.json"

    static func dashboard() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    static func panels(_ dashboard: [String: Any]) -> [[String: Any]] {
        (dashboard["panels"] as? [[String: Any]] ?? []).flatMap { [$0] + ($0["panels"] as? [[String: Any]] ?? []) }
    }

    /// Every query of every panel.
    static func expressions(_ dashboard: [String: Any]) -> [String] {
        panels(dashboard).flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
    }

    /// The `imagebuildd_…` metric names the queries use (a histogram's by its family name).
    static func metricNames(_ dashboard: [String: Any]) throws -> Set<String> {
        let pattern = try Regex(#"imagebuildd_[a-z_]+"#)
        return Set(expressions(dashboard).flatMap { $0.matches(of: pattern).map { String($0.output[0].substring ?? "") } }.map {
            for suffix in ["_bucket", "_sum", "_count"] where $0.hasSuffix(suffix) { return String($0.dropLast(suffix.count)) }
            return $0
        })
    }

    @Test func itIsTheClassicModelWithOneDatasourceVariableThatEveryQueryUses() throws {
        let d = try Self.dashboard()
        #expect(d["uid"] as? String == "imagebuildd" && (d["title"] as? String)?.isEmpty == false && d["schemaVersion"] is Int)
        #expect(d["__inputs"] == nil, "file provisioning breaks on __inputs")
        let text = try String(contentsOfFile: Self.path, encoding: .utf8)
        #expect(!text.contains("${DS_"), "file provisioning breaks on ${DS_…}")
        let variables = (d["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        let datasources = variables.filter { $0["type"] as? String == "datasource" }
        #expect(datasources.count == 1 && datasources.first?["name"] as? String == "datasource" && datasources.first?["query"] as? String == "prometheus")
        #expect(variables.contains { $0["name"] as? String == "schedule" && ($0["datasource"] as? [String: Any])?["uid"] as? String == "${datasource}" })
        let panels = Self.panels(d)
        #expect(panels.count >= 8)
        for panel in panels {
            let title = panel["title"] as? String ?? "?"
            #expect((panel["datasource"] as? [String: Any])?["uid"] as? String == "${datasource}", "panel \(title)")
            let targets = panel["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "panel \(title) has no query")
            for target in targets {
                #expect((target["datasource"] as? [String: Any])?["uid"] as? String == "${datasource}", "a target of \(title)")
            }
        }
        // The on-call questions, each with a panel.
        let titles = panels.compactMap { $0["title"] as? String }.joined(separator: "\n").lowercased()
        for topic in ["last success", "stale", "failures", "running and queued", "duration", "429", "leader", "notifications", "discovery"] {
            #expect(titles.contains(topic), "no panel about \(topic)")
        }
    }

    @Test func everyQueryParsesAsPromtoolReadsIt() async throws {
        let expressions = Self.expressions(try Self.dashboard())
        #expect(!expressions.isEmpty)
        // Grafana's variables as Prometheus will see them after substitution.
        let rules = expressions.enumerated().map { index, expr in
            let substituted = expr.replacing("$__rate_interval", with: "5m").replacing("$__range", with: "1d").replacing("$schedule", with: ".*")
            // A YAML single-quoted scalar: only ' itself needs escaping (doubled).
            return "      - record: dashboard:query_\(index)\n        expr: '\(substituted.replacing("'", with: "''"))'"
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dashboard-rules-\(UUID().uuidString).yml").path
        try Data(("groups:\n  - name: dashboard\n    rules:\n" + rules.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try await Subprocess.run(.name("promtool"), arguments: ["check", "rules", file],
                                              output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        #expect(result.terminationStatus.isSuccess, "promtool check rules: \(result.standardOutput) \(result.standardError)")
    }
}
