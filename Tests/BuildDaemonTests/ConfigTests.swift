import Foundation
import Subprocess
import Testing

/// `imagebuildd check-config` and `next --config` on good and bad files, through the real binary.
@Suite struct ConfigTests {
    static let head = """
        azure:
          credential: client-secret
          tenant_id: 11111111-1111-1111-1111-111111111111
          client_id: 22222222-2222-2222-2222-222222222222
          client_secret_file: SECRET
        state_directory: /tmp/imagebuildd-config-test

        """

    func write(_ body: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data("not-a-real-secret\n".utf8).write(to: URL(fileURLWithPath: directory + "/secret"))
        let path = directory + "/config.yaml"
        try Data((Self.head.replacingOccurrences(of: "SECRET", with: directory + "/secret") + body).utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static let schedule = """
        schedules:
          - name: ubuntu-nightly
            subscription_id: 00000000-0000-0000-0000-000000000000
            resource_group: images
            template: ubuntu-2204-golden
            cron: "0 2 * * *"
            timezone: Europe/Berlin
        """

    @Test func aGoodConfigPrintsEachSchedulesNextRun() async throws {
        let path = try write("defaults:\n  overlap: queue\n  build_timeout: 3h\n  poll: { initial: 30s, max: 5m, multiplier: 2 }\n" + Self.schedule)
        let result = try await imagebuildd("check-config", "--config", path)
        #expect(result.status == .exited(0), "\(result.stderr)")
        #expect(result.stdout.contains("OK, 1 schedule") && result.stdout.contains("ubuntu-nightly: ubuntu-2204-golden") && result.stdout.contains("overlap queue"))
        let next = try await imagebuildd("next", "--config", path, "--after", "2027-03-27T00:00:00Z", "--count", "2")
        #expect(next.status == .exited(0), "\(next.stderr)")
        #expect(next.stdout.contains("ubuntu-nightly 2027-03-27T01:00:00Z") && next.stdout.contains("ubuntu-nightly 2027-03-28T01:00:00Z"))
    }

    @Test(arguments: [
        ("unknown_key: 1", "13:5: schedules[0].unknown_key: unknown key"),
        ("catch_up: 12 hours", "13:15: schedules[0].catch_up: \"12 hours\" is not a duration"),
        ("overlap: sometimes", "13:14: schedules[0].overlap: \"sometimes\" is not one of skip, queue, replace"),
        ("timezone: Mars/Olympus", "13:15: schedules[0].timezone: unknown time zone"),
        ("build_timeout: 0s", "13:20: schedules[0].build_timeout: must be longer than 0s"),
        ("poll: [30s]", "13:11: schedules[0].poll: expected a mapping"),
        ("stale_after: soon", "13:18: schedules[0].stale_after: \"soon\" is not \"off\" or a duration of at least 1m, such as 36h"),
        ("stale_after: 30s", "13:18: schedules[0].stale_after: must be at least 1m"),
    ])
    func badValuesNameFileLineColumnAndKey(line: String, expected: String) async throws {
        // Line 13 holds the schedule's timezone; the bad line takes its place.
        let path = try write(Self.schedule.replacingOccurrences(of: "timezone: Europe/Berlin", with: line))
        let result = try await imagebuildd("check-config", "--config", path)
        #expect(result.status == .exited(1))
        #expect(result.stderr.contains(path + ":" + expected), "\(result.stderr)")
    }

    @Test func cronErrorsPointAtTheToken() async throws {
        let path = try write(Self.schedule.replacingOccurrences(of: "\"0 2 * * *\"", with: "\"0 25 * * *\""))
        let result = try await imagebuildd("check-config", "--config", path)
        #expect(result.status == .exited(1))
        #expect(result.stderr.contains(path + ":12:14: schedules[0].cron:") && result.stderr.contains("\"25\": out of range"), "\(result.stderr)")
    }

    @Test func theShippedExamplesTogetherAreAValidClusterConfig() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let example = try String(contentsOfFile: root + "/packaging/systemd/config.yaml", encoding: .utf8)
        let cluster = try String(contentsOfFile: root + "/packaging/systemd/cluster.yaml", encoding: .utf8)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/config.yaml"
        try Data((example + "\n" + cluster).utf8).write(to: URL(fileURLWithPath: path))
        // As under the shipped unit: the client secret is a systemd credential.
        try Data("not-a-real-secret\n".utf8).write(to: URL(fileURLWithPath: directory + "/client-secret"))
        let result = try await Subprocess.run(.path(binary), arguments: ["check-config", "--config", path],
                                              environment: .inherit.updating(["CREDENTIALS_DIRECTORY": directory, "STATE_DIRECTORY": nil]),
                                              output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        #expect(result.terminationStatus == .exited(0), "\(result.standardError)")
    }

    @Test(arguments: [
        ("cluster: {}", "1:10: cluster.etcd: missing"),
        ("cluster: { etcd: { endpoints: [] } }", "1:31: cluster.etcd.endpoints: expected a non-empty list"),
        ("cluster: { etcd: { endpoints: [etcd-1:2379] } }", "1:32: cluster.etcd.endpoints: \"etcd-1:2379\" is not an etcd client URL"),
        ("cluster: { etcd: { endpoints: [http://e:2379], cert_file: /c.pem } }", "1:59: cluster.etcd.cert_file: cert_file and key_file go together"),
        ("cluster: { etcd: { endpoints: [http://e:2379], username: u } }", "1:58: cluster.etcd.username: needs one of password_credential"),
        ("cluster: { etcd: { endpoints: [http://e:2379], password_env: P } }", "1:62: cluster.etcd.password_env: a password needs cluster.etcd.username"),
        ("cluster: { etcd: { endpoints: [http://e:2379] }, lease_ttl: 1s }", "1:61: cluster.lease_ttl: must be from 3s to 300s"),
        ("cluster: { etcd: { endpoints: [http://e:2379] }, prefix: imagebuildd }", "1:58: cluster.prefix: \"imagebuildd\" must start and end with /"),
        ("cluster: { etcd: { endpoints: [http://e:2379] }, node_name: \"a b\" }", "1:61: cluster.node_name: \"a b\" must be 1-64 letters"),
        ("cluster: { etcd: { endpoints: [http://e:2379], ca: x } }", "1:48: cluster.etcd.ca: unknown key"),
    ])
    func clusterMistakesAreLocated(line: String, expected: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/config.yaml"
        try Data((line + "\n" + Self.schedule).utf8).write(to: URL(fileURLWithPath: path))
        let result = try await imagebuildd("check-config", "--config", path)
        #expect(result.status == .exited(1))
        #expect(result.stderr.contains(path + ":" + expected), "\(result.stderr)")
    }

    @Test func structuralMistakes() async throws {
        let cases: [(String, String)] = [
            ("", "schedules: missing"),
            ("schedules: nightly\n", "schedules: expected a list"),
            (Self.schedule + "\n" + Self.schedule.replacingOccurrences(of: "schedules:\n", with: ""), "duplicate schedule name"),
            (Self.schedule.replacingOccurrences(of: "images", with: "bad/group"), "schedules[0].resource_group: resource group \"bad/group\""),
            (Self.schedule.replacingOccurrences(of: "    template: ubuntu-2204-golden\n", with: ""), "schedules[0].template: missing"),
            ("schedules:\n  - name: [unclosed\n", "invalid YAML"),
        ]
        for (body, expected) in cases {
            let path = try write(body)
            let result = try await imagebuildd("check-config", "--config", path)
            #expect(result.status == .exited(1), "\(expected)")
            #expect(result.stderr.contains(path + ":") && result.stderr.contains(expected), "\(expected): \(result.stderr)")
        }
        let missing = try await imagebuildd("check-config", "--config", "/nonexistent/config.yaml")
        #expect(missing.status == .exited(1) && missing.stderr.contains("/nonexistent/config.yaml"))
    }

    /// metrics: and notify: mistakes are located like any other; a webhook's URL is never echoed.
    @Test func metricsAndNotifyMistakes() async throws {
        let cases: [(String, String)] = [
            ("metrics: { listen: 9469 }\n", "7:20: metrics.listen: \"9469\" is not host:port"),
            ("metrics: { listen: \"127.0.0.1:99999\" }\n", "7:20: metrics.listen: \"127.0.0.1:99999\" is not host:port"),
            ("metrics: { textfile: imagebuildd.txt }\n", "7:22: metrics.textfile: \"imagebuildd.txt\" must be an absolute path ending in .prom"),
            ("metrics: { port: 1 }\n", "7:12: metrics.port: unknown key; expected one of listen, textfile, textfile_interval"),
            ("notify: { url: x }\n", "7:9: notify: expected a list of webhooks"),
            ("notify:\n  - events: [failed]\n", "8:5: notify[0].url: missing"),
            ("notify:\n  - url: \"ftp://hooks.example.com/?token=s3cr3t\"\n", "8:10: notify[0].url: expected an absolute http:// or https:// URL"),
            ("notify:\n  - url: https://hooks.example.com/x\n    events: [failed, exploded]\n", "9:22: notify[0].events: \"exploded\" is not one of"),
            ("notify:\n  - url: https://hooks.example.com/x\n    secret_file: /a\n    secret_env: B\n", "10:17: notify[0].secret_env: give one of"),
            ("notify:\n  - url: https://hooks.example.com/x\n    retry_for: forever\n", "9:16: notify[0].retry_for: \"forever\" is not a duration"),
        ]
        for (body, expected) in cases {
            let path = try write(body + Self.schedule)
            let result = try await imagebuildd("check-config", "--config", path)
            #expect(result.status == .exited(1), "\(expected)")
            #expect(result.stderr.contains(path + ":" + expected), "\(expected): \(result.stderr)")
            #expect(!result.stderr.contains("s3cr3t"))
        }
        // A webhook secret that cannot be read stops check-config, naming its source, not its URL's token.
        let path = try write("notify:\n  - url: https://hooks.example.com/T0/B0/tok3n?x=s3cr3t\n    secret_file: /nonexistent/webhook-secret\n" + Self.schedule)
        let result = try await imagebuildd("check-config", "--config", path)
        #expect(result.status == .exited(1) && result.stderr.contains("/nonexistent/webhook-secret"), "\(result.stderr)")
        #expect(!result.stderr.contains("s3cr3t") && !result.stderr.contains("tok3n"), "\(result.stderr)")
    }

    @Test func aMissingSecretIsCaughtOffline() async throws {
        let path = try write(Self.schedule)
        try FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent + "/secret")
        let result = try await imagebuildd("check-config", "--config", path)
        #expect(result.status == .exited(1) && result.stderr.contains("secret"), "\(result.stderr)")
    }
}
