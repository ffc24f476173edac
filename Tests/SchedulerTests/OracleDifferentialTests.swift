import Foundation
import Testing
@testable import Scheduler

/// Our answers against croniter and `systemd-analyze calendar`, from the committed table that
/// `scripts/gen-cron-oracles.py` generates (this test needs neither Python nor systemd).
@Suite struct OracleDifferentialTests {
    struct Row: Decodable {
        var expression: String
        var zone: String
        var after: String
        var croniter: [String]?
        var systemd: [String]?
        var reference: [String]
        var dst_edge: Bool
        /// A day field is `*/S` and the other is restricted: croniter ANDs (Vixie cron), the contract ORs.
        var star_step_day: Bool
        var matches: [String]

        var hasNames: Bool { expression.split(separator: " ").dropFirst(3).contains { $0.contains(where: \.isLetter) } }
    }

    static let rows: [Row] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/cron-oracles.jsonl")
        let text = try! String(contentsOf: url, encoding: .utf8)
        return text.split(separator: "\n").map { try! JSONDecoder().decode(Row.self, from: Data($0.utf8)) }
    }()

    @Test func theTableIsSubstantial() {
        #expect(Self.rows.count >= 2000)
        #expect(Self.rows.filter(\.dst_edge).count >= 100)
        #expect(Self.rows.filter(\.hasNames).count >= 400)
        // Upper, lower and mixed-case names all occur.
        let names = Self.rows.filter(\.hasNames).map(\.expression)
        #expect(names.contains { $0.contains("JUL") } && names.contains { $0.contains("wed") } && names.contains { $0.contains("Sat") })
        #expect(Set(Self.rows.map(\.zone)).isSuperset(of: ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Europe/Dublin", "Pacific/Chatham", "America/Sao_Paulo"]))
    }

    @Test func equalToTheOraclesWhereTheyAgreeAwayFromDST() throws {
        var compared = 0
        for row in Self.rows where !row.dst_edge {
            let ours = try fires(row.expression, row.zone, after: row.after, count: row.reference.count)
            let oracles = [row.star_step_day ? nil : row.croniter, row.systemd].compactMap { $0 }
            guard let first = oracles.first, oracles.allSatisfy({ $0 == first }) else { continue }
            #expect(ours == first, "\(row.expression) in \(row.zone) after \(row.after)")
            compared += 1
        }
        #expect(compared >= 800)
    }

    /// Every disagreement with an oracle is one of the contract's documented rules: DST, or the
    /// day-field OR when a field is `*/S` rather than exactly `*`.
    @Test func everyDisagreementIsADocumentedRule() {
        for row in Self.rows {
            for (name, answer) in [("croniter", row.croniter), ("systemd", row.systemd)] where answer != nil && !row.matches.contains(name) {
                #expect(row.dst_edge || (name == "croniter" && row.star_step_day), "\(name): \(row.expression) in \(row.zone) after \(row.after)")
            }
        }
    }

    /// At DST edges the contract decides; the table records which oracle, if any, agrees with it.
    @Test func followTheContractAtDSTEdgesAndMatchTheOraclesTheTableNames() throws {
        var agreements = ["croniter": 0, "systemd": 0]
        var edges = ["croniter": 0, "systemd": 0]
        for row in Self.rows {
            let ours = try fires(row.expression, row.zone, after: row.after, count: row.reference.count)
            #expect(ours == row.reference, "\(row.expression) in \(row.zone) after \(row.after)")
            guard row.dst_edge else { continue }
            for (name, answer) in [("croniter", row.croniter), ("systemd", row.systemd)] {
                guard let answer else { continue }
                edges[name, default: 0] += 1
                #expect((answer == ours) == row.matches.contains(name), "\(name): \(row.expression) in \(row.zone) after \(row.after)")
                if answer == ours { agreements[name, default: 0] += 1 }
            }
        }
        print("at DST edges: croniter agrees in \(agreements["croniter"]!)/\(edges["croniter"]!), systemd in \(agreements["systemd"]!)/\(edges["systemd"]!)")
    }
}
