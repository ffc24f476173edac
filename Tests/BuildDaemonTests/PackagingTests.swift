import Foundation
import Subprocess
import SystemPackage
import Testing

/// The unit and the catalog, checked by systemd's own tools.
@Suite struct PackagingTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let hasSystemdAnalyze = FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze")

    @Test(.enabled(if: hasSystemdAnalyze, "systemd-analyze is not installed"))
    func systemdAnalyzeRatesTheUnitOneAndAHalfOrBetter() async throws {
        let unit = Self.root + "/packaging/systemd/imagebuildd.service"
        let result = try await Subprocess.run(.path("/usr/bin/systemd-analyze"), arguments: ["security", "--offline=yes", "--no-pager", unit],
                                              output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        let text = (result.standardOutput ?? "") + (result.standardError ?? "")
        let match = try #require(text.firstMatch(of: try Regex(#"Overall exposure level for imagebuildd\.service: (\d+\.\d)"#)), "\(text.suffix(500))")
        let level = try #require(Double(match.output[1].substring ?? ""))
        #expect(level <= 1.5, "exposure \(level)")
        print("systemd-analyze security --offline=yes: exposure \(level)")
    }

    static let hasSysusers = FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-sysusers")

    /// The operators group comes from sysusers.d, checked by systemd's own tool against an empty root.
    /// FoundationEssentials only: swift-corelibs-foundation would bring CoreFoundation and ICU's
    /// 34 MB of data back into the release binary. The debug build links Foundation dynamically, so
    /// its libraries show which of them any module used.
    @Test func theDaemonLinksFoundationEssentialsButNotFoundationOrICU() async throws {
        let result = try await Subprocess.run(.path("/usr/bin/ldd"), arguments: [binary.string],
                                              output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        #expect(result.terminationStatus.isSuccess, "\(result.standardError ?? "")")
        let libraries = (result.standardOutput ?? "").split(separator: "\n").compactMap { $0.split(whereSeparator: \.isWhitespace).first.map(String.init) }
        #expect(libraries.contains { $0.hasPrefix("libFoundationEssentials") })
        let corelibs = libraries.filter { $0.hasPrefix("libFoundation.") || $0.contains("ICU") || $0.hasPrefix("libFoundationInternationalization") || $0.hasPrefix("libicu") }
        #expect(corelibs.isEmpty, "the daemon links \(corelibs)")
    }

    @Test(.enabled(if: hasSysusers, "systemd-sysusers is not installed"))
    func sysusersCreatesTheOperatorsGroup() async throws {
        let root = NSTemporaryDirectory() + "sysusers-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let result = try await Subprocess.run(.path("/usr/bin/systemd-sysusers"),
                                              arguments: ["--dry-run", "--root=\(root)", Self.root + "/packaging/systemd/imagebuildd.sysusers"],
                                              output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        #expect(result.terminationStatus.isSuccess, "\(result.standardError ?? "")")
        #expect(((result.standardOutput ?? "") + (result.standardError ?? "")).contains("Creating group 'imagebuildd-operators'"))
    }

    @Test func theUnitIsNotifyWithWatchdogStateAndCredentials() throws {
        let unit = try String(contentsOfFile: Self.root + "/packaging/systemd/imagebuildd.service", encoding: .utf8)
        for line in ["Type=notify", "WatchdogSec=", "Restart=on-failure", "ExecReload=", "StateDirectory=imagebuildd", "ConfigurationDirectory=imagebuildd",
                     "LoadCredential=client-secret:", "DynamicUser=yes", "RuntimeDirectory=imagebuildd", "RuntimeDirectoryMode=0755"] {
            #expect(unit.contains(line), "missing \(line)")
        }
    }

    @Test func theCatalogExplainsEveryMessageIDAndJournalctlIndexesIt() async throws {
        let catalog = try String(contentsOfFile: Self.root + "/packaging/systemd/imagebuildd.catalog", encoding: .utf8)
        let source = try String(contentsOfFile: Self.root + "/Sources/BuildDaemon/Systemd/JournalLogHandlers.swift", encoding: .utf8)
        let ids = source.matches(of: try Regex(#""([0-9a-f]{32})""#)).compactMap { $0.output[1].substring.map(String.init) }
        #expect(ids.count == 20)
        #expect(Set(ids).count == ids.count, "a MESSAGE_ID is used twice")
        for cause in ["timeout-cancel", "replace-cancel", "operator-cancel"] {
            #expect(source.contains("\"\(cause)\": \""), "no MESSAGE_ID of its own for \(cause)")
        }
        for id in ids { #expect(catalog.contains("-- " + id), "catalog lacks \(id)") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/journalctl") else { return }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/usr/lib/systemd/catalog", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.root + "/packaging/systemd/imagebuildd.catalog", toPath: root + "/usr/lib/systemd/catalog/imagebuildd.catalog")
        let update = try await Subprocess.run(.path("/usr/bin/journalctl"), arguments: ["--root=" + root, "--update-catalog"],
                                              output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        #expect(update.terminationStatus.isSuccess, "\(update.standardError ?? "")")
        let list = try await Subprocess.run(.path("/usr/bin/journalctl"), arguments: ["--root=" + root, "--list-catalog"],
                                            output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        for id in ids { #expect((list.standardOutput ?? "").contains(id), "journalctl did not index \(id): \(list.standardError ?? "")") }
        try? FileManager.default.removeItem(atPath: root)
    }
}
