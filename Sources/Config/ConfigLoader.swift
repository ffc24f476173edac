import AzureClient
import FoundationEssentials
import Scheduler
import Transport

/// A config problem, located: `file:line:column: key: what was expected`.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int
    public var column: Int
    public var key: String
    public var message: String

    public var description: String {
        "\(file):\(line):\(column): \(key.isEmpty ? "" : key + ": ")\(message)"
    }
}

/// Reads and validates the YAML config. Every rejection names file:line:column and the key.
public struct ConfigLoader {
    public let file: String
    public var environment: [String: String]

    public init(file: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.file = file
        self.environment = environment
    }

    public func load() throws(ConfigError) -> DaemonConfig {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigError(file: file, line: 0, column: 0, key: "", message: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: file, line: 0, column: 0, key: "", message: "not UTF-8 text")
        }
        return try parse(text)
    }

    public func parse(_ text: String) throws(ConfigError) -> DaemonConfig {
        let composed: YAMLNode?
        do {
            composed = try YAML.compose(text)
        } catch {
            throw ConfigError(file: file, line: error.line, column: error.column, key: "", message: "invalid YAML: \(error.message)")
        }
        guard let root = composed else {
            throw ConfigError(file: file, line: 1, column: 1, key: "", message: "the file is empty; expected a mapping with `schedules:`")
        }
        let top = try mapping(root, "", allowed: ["azure", "state_directory", "control", "metrics", "notify", "defaults", "schedules", "cluster",
                                                 "discover", "discover_interval", "discover_tag_prefix"])
        var control = ControlSettings(socket: (environment["RUNTIME_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) }
            ?? "/run/imagebuildd") + "/control.sock")
        if let node = top["control"] {
            let map = try mapping(node, "control", allowed: ["socket", "operators_group"])
            if let n = map["socket"] { control.socket = try string(n, "control.socket") }
            if let n = map["operators_group"] { control.operatorsGroup = try string(n, "control.operators_group") }
        }
        var azure = AzureSettings()
        if let node = top["azure"] { azure = try azureSettings(node) }
        let metrics = try top["metrics"].map { n throws(ConfigError) in try metricsSettings(n) } ?? MetricsSettings()
        let notify = try top["notify"].map { n throws(ConfigError) in try notifySinks(n) } ?? []
        let cluster = try top["cluster"].map { n throws(ConfigError) in try clusterSettings(n) }
        let stateDirectory = try top["state_directory"].map { n throws(ConfigError) in try string(n, "state_directory") }
            ?? environment["STATE_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) } ?? "/var/lib/imagebuildd"
        var defaults = Defaults()
        var maxConcurrent = 10
        if let node = top["defaults"] {
            let map = try mapping(node, "defaults", allowed: Defaults.keys + ["max_concurrent_builds"])
            try defaults.apply(map, prefix: "defaults", loader: self)
            if let n = map["max_concurrent_builds"] {
                maxConcurrent = try integer(n, "defaults.max_concurrent_builds", range: 1...100_000)
            }
        }
        let discovery = try discoverySettings(top)
        // With discovery, the schedules may all come from tags.
        let schedulesNode = top["schedules"] ?? (discovery == nil ? nil : YAMLNode(kind: .sequence([]), line: root.line, column: root.column))
        guard let schedulesNode else {
            throw ConfigError(file: file, line: root.line, column: root.column, key: "schedules",
                              message: "missing; expected a list of schedules (or `discover:` to find them in template tags)")
        }
        guard case .sequence(let list) = schedulesNode.kind else {
            throw located(schedulesNode, "schedules", "expected a list of schedules")
        }
        var schedules: [ScheduleConfig] = []
        var names: Set<String> = []
        // Exactly: a doubling array's spare half is 1.8 MB of idle memory at 10,000 schedules.
        schedules.reserveCapacity(list.count)
        for (index, node) in list.enumerated() {
            let schedule = try self.schedule(node, "schedules[\(index)]", defaults: defaults)
            guard names.insert(schedule.name).inserted else {
                throw located(node, "schedules[\(index)].name", "duplicate schedule name \"\(schedule.name)\"; names identify slots and must be unique")
            }
            schedules.append(schedule)
        }
        return DaemonConfig(file: file, azure: azure, stateDirectory: stateDirectory, control: control, metrics: metrics, notify: notify,
                            maxConcurrentBuilds: maxConcurrent, schedules: schedules, cluster: cluster, defaults: defaults, discovery: discovery)
    }

    private func discoverySettings(_ top: [String: YAMLNode]) throws(ConfigError) -> DiscoverySettings? {
        guard let node = top["discover"] else {
            for key in ["discover_interval", "discover_tag_prefix"] {
                if let n = top[key] { throw located(n, key, "has no effect without `discover:`, the subscriptions to list templates in") }
            }
            return nil
        }
        guard case .sequence(let list) = node.kind, !list.isEmpty else {
            throw located(node, "discover", "expected a non-empty list such as [{subscription_id: …, resource_group: …}]")
        }
        var sources: [DiscoverySettings.Source] = []
        for (index, item) in list.enumerated() {
            let path = "discover[\(index)]"
            let map = try mapping(item, path, allowed: ["subscription_id", "resource_group"])
            guard let s = map["subscription_id"] else { throw located(item, path + ".subscription_id", "missing; every source needs subscription_id") }
            let subscription = try string(s, path + ".subscription_id")
            let group = try map["resource_group"].map { n throws(ConfigError) in try string(n, path + ".resource_group") }
            // A name that passes stands in for the template: only the subscription and group are checked here.
            let probe = ImageTemplateID(subscriptionID: subscription, resourceGroup: group ?? "rg", name: "template")
            if let problem = probe.validationProblem {
                let isGroup = problem.hasPrefix("resource group")
                throw located(isGroup ? map["resource_group"]! : s, path + (isGroup ? ".resource_group" : ".subscription_id"), problem)
            }
            let source = DiscoverySettings.Source(subscriptionID: subscription, resourceGroup: group)
            guard !sources.contains(source) else { throw located(item, path, "duplicate source \(source)") }
            sources.append(source)
        }
        var settings = DiscoverySettings(sources: sources)
        if let n = top["discover_interval"] {
            settings.interval = try duration(n, "discover_interval")
            guard settings.interval >= .seconds(30) else { throw located(n, "discover_interval", "must be at least 30s: each pass lists every template") }
        }
        if let n = top["discover_tag_prefix"] {
            let prefix = try string(n, "discover_tag_prefix")
            guard prefix.isASCII(count: 1...64, { $0 > 0x20 && $0 < 0x7f && !"<>%&\\?/".utf8.contains($0) }) else {
                throw located(n, "discover_tag_prefix", "\"\(prefix)\" must be 1-64 printable ASCII characters without < > % & \\ ? / (what Azure allows in a tag name)")
            }
            settings.tagPrefix = prefix
        }
        return settings
    }

    // MARK: Sections

    /// The keys that may appear in `defaults:` and be overridden per schedule.
    public struct Defaults: Sendable {
        static let keys = ["timezone", "overlap", "catch_up", "jitter", "build_timeout", "cancel_wait", "poll", "pause_after_failures", "stale_after"]
        var timezone = "UTC"
        var overlap = OverlapPolicy.skip
        var catchUp = Duration.seconds(12 * 3600)
        var jitter = Duration.zero
        public var buildTimeout = BuildTimeout.template
        var cancelWait = Duration.seconds(30 * 60)
        var poll = PollSettings(initial: .seconds(30), max: .seconds(300), multiplier: 2)
        var pauseAfterFailures: Int?
        var staleAfter: Duration?

        /// The built-in defaults, before any `defaults:` section.
        public init() {}

        mutating func apply(_ map: [String: YAMLNode], prefix: String, loader: ConfigLoader) throws(ConfigError) {
            if let n = map["timezone"] {
                let zone = try loader.string(n, prefix + ".timezone")
                guard ZoneTimeline.named(zone) != nil else {
                    throw loader.located(n, prefix + ".timezone", "unknown time zone \"\(zone)\"; expected an IANA name such as Europe/Berlin or UTC")
                }
                timezone = zone
            }
            if let n = map["overlap"] {
                let text = try loader.string(n, prefix + ".overlap")
                guard let policy = OverlapPolicy(rawValue: text) else {
                    throw loader.located(n, prefix + ".overlap", "\"\(text)\" is not one of skip, queue, replace")
                }
                overlap = policy
            }
            if let n = map["pause_after_failures"] {
                pauseAfterFailures = try loader.string(n, prefix + ".pause_after_failures") == "off" ? nil
                    : try loader.integer(n, prefix + ".pause_after_failures", range: 1...1000)
            }
            if let n = map["stale_after"] {
                if try loader.string(n, prefix + ".stale_after") == "off" { staleAfter = nil }
                else {
                    let value = try loader.duration(n, prefix + ".stale_after", expected: "\"off\" or a duration of at least 1m, such as 36h")
                    guard value >= .seconds(60) else { throw loader.located(n, prefix + ".stale_after", "must be at least 1m") }
                    staleAfter = value
                }
            }
            if let n = map["catch_up"] { catchUp = try loader.duration(n, prefix + ".catch_up") }
            if let n = map["jitter"] { jitter = try loader.duration(n, prefix + ".jitter") }
            if let n = map["cancel_wait"] { cancelWait = try loader.duration(n, prefix + ".cancel_wait") }
            if let n = map["build_timeout"] {
                if try loader.string(n, prefix + ".build_timeout") == "template" { buildTimeout = .template }
                else {
                    let value = try loader.duration(n, prefix + ".build_timeout", expected: "\"template\" or a duration such as 4h or 90m")
                    guard value > .zero else { throw loader.located(n, prefix + ".build_timeout", "must be longer than 0s") }
                    buildTimeout = .fixed(value)
                }
            }
            if let n = map["poll"] {
                let p = try loader.mapping(n, prefix + ".poll", allowed: ["initial", "max", "multiplier"])
                if let v = p["initial"] { poll.initial = try loader.duration(v, prefix + ".poll.initial") }
                if let v = p["max"] { poll.max = try loader.duration(v, prefix + ".poll.max") }
                if let v = p["multiplier"] {
                    let text = try loader.string(v, prefix + ".poll.multiplier")
                    guard let m = Double(text), m >= 1, m <= 10 else {
                        throw loader.located(v, prefix + ".poll.multiplier", "\"\(text)\" is not a number from 1 to 10")
                    }
                    poll.multiplier = m
                }
                guard poll.initial > .zero else { throw loader.located(n, prefix + ".poll.initial", "must be longer than 0s") }
                guard poll.max >= poll.initial else { throw loader.located(n, prefix + ".poll.max", "must be at least poll.initial") }
            }
        }
    }

    private func azureSettings(_ node: YAMLNode) throws(ConfigError) -> AzureSettings {
        let map = try mapping(node, "azure", allowed: ["resource_manager_endpoint", "authority_host", "audience", "ca_file", "api_version",
                                                       "credential", "tenant_id", "client_id", "client_secret_file"])
        var azure = AzureSettings()
        if let n = map["resource_manager_endpoint"] { azure.resourceManagerEndpoint = try url(n, "azure.resource_manager_endpoint") }
        if let n = map["authority_host"] { azure.authorityHost = try url(n, "azure.authority_host") }
        if let n = map["audience"] { azure.audience = try string(n, "azure.audience") }
        if let n = map["ca_file"] {
            let path = try string(n, "azure.ca_file")
            guard FileManager.default.isReadableFile(atPath: path) else { throw located(n, "azure.ca_file", "cannot read \(path)") }
            azure.caFile = path
        }
        if let n = map["api_version"] {
            azure.apiVersion = try string(n, "azure.api_version")
            do { try AzureClientConfiguration(apiVersion: azure.apiVersion).validate() } catch {
                throw located(n, "azure.api_version", "\"\(azure.apiVersion)\" is not an api-version from 2018-02-01-preview to 2025-10-01")
            }
        }
        if let n = map["credential"] {
            let text = try string(n, "azure.credential")
            guard let kind = AzureSettings.CredentialKind(rawValue: text) else {
                throw located(n, "azure.credential", "\"\(text)\" is not one of \(AzureSettings.CredentialKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            azure.credential = kind
        }
        if let n = map["tenant_id"] { azure.tenantID = try string(n, "azure.tenant_id") }
        if let n = map["client_id"] { azure.clientID = try string(n, "azure.client_id") }
        if let n = map["client_secret_file"] { azure.clientSecretFile = try string(n, "azure.client_secret_file") }
        if [.clientSecret, .workloadIdentity].contains(azure.credential) {
            for (key, value) in [("tenant_id", azure.tenantID), ("client_id", azure.clientID)] where value == nil {
                throw located(node, "azure.\(key)", "required when credential is \(azure.credential.rawValue)")
            }
        }
        return azure
    }

    private func metricsSettings(_ node: YAMLNode) throws(ConfigError) -> MetricsSettings {
        let map = try mapping(node, "metrics", allowed: ["listen", "textfile", "textfile_interval"])
        var metrics = MetricsSettings()
        if let n = map["listen"] {
            let text = try string(n, "metrics.listen")
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
                throw located(n, "metrics.listen", "\"\(text)\" is not host:port, such as 127.0.0.1:9469 (port 0: any free port, logged)")
            }
            var host = String(text[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { throw located(n, "metrics.listen", "\"\(text)\" has no host; use 127.0.0.1:\(port) or 0.0.0.0:\(port)") }
            metrics.listen = (host, port)
        }
        if let n = map["textfile"] {
            let path = try string(n, "metrics.textfile")
            guard path.hasPrefix("/"), path.hasSuffix(".prom") else {
                throw located(n, "metrics.textfile", "\"\(path)\" must be an absolute path ending in .prom (node_exporter reads only those)")
            }
            metrics.textfile = path
        }
        if let n = map["textfile_interval"] {
            metrics.textfileInterval = try duration(n, "metrics.textfile_interval")
            guard metrics.textfileInterval >= .seconds(1) else { throw located(n, "metrics.textfile_interval", "must be at least 1s") }
        }
        return metrics
    }

    private func clusterSettings(_ node: YAMLNode) throws(ConfigError) -> ClusterSettings {
        let map = try mapping(node, "cluster", allowed: ["etcd", "prefix", "lease_ttl", "node_name"])
        guard let etcdNode = map["etcd"] else { throw located(node, "cluster.etcd", "missing; expected a mapping with endpoints") }
        let etcd = try mapping(etcdNode, "cluster.etcd", allowed: ["endpoints", "ca_file", "cert_file", "key_file", "username",
                                                                   "password_credential", "password_file", "password_env"])
        guard let endpointsNode = etcd["endpoints"] else { throw located(etcdNode, "cluster.etcd.endpoints", "missing; expected a list of etcd client URLs") }
        guard case .sequence(let list) = endpointsNode.kind, !list.isEmpty else {
            throw located(endpointsNode, "cluster.etcd.endpoints", "expected a non-empty list of etcd client URLs such as https://10.0.0.4:2379")
        }
        var endpoints: [URL] = []
        for item in list {
            let text = try string(item, "cluster.etcd.endpoints")
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host?.isEmpty == false,
                  url.path.isEmpty || url.path == "/", url.query == nil, url.user == nil else {
                throw located(item, "cluster.etcd.endpoints", "\"\(text)\" is not an etcd client URL such as https://10.0.0.4:2379")
            }
            endpoints.append(url)
        }
        let hostName = environment["IMAGEBUILDD_NODE_NAME"] ?? ProcessInfo.processInfo.hostName
        var settings = ClusterSettings(endpoints: endpoints, nodeName: hostName)
        for key in ["ca_file", "cert_file", "key_file"] {
            guard let n = etcd[key] else { continue }
            let path = try string(n, "cluster.etcd.\(key)")
            guard path.hasPrefix("/") else { throw located(n, "cluster.etcd.\(key)", "\"\(path)\" must be an absolute path") }
            switch key {
            case "ca_file": settings.caFile = path
            case "cert_file": settings.certFile = path
            default: settings.keyFile = path
            }
        }
        if (settings.certFile == nil) != (settings.keyFile == nil) {
            let given = settings.certFile == nil ? "key_file" : "cert_file"
            throw located(etcd[given] ?? etcdNode, "cluster.etcd.\(given)", "cert_file and key_file go together")
        }
        if let n = etcd["username"] { settings.username = try string(n, "cluster.etcd.username") }
        let passwords = ["password_credential", "password_file", "password_env"].filter { etcd[$0] != nil }
        if passwords.count > 1 { throw located(etcd[passwords[1]] ?? etcdNode, "cluster.etcd.\(passwords[1])", "give one of password_credential, password_file, password_env") }
        if let n = etcd["password_credential"] { settings.password = .systemdCredential(try string(n, "cluster.etcd.password_credential")) }
        if let n = etcd["password_file"] { settings.password = .file(try string(n, "cluster.etcd.password_file")) }
        if let n = etcd["password_env"] { settings.password = .environment(try string(n, "cluster.etcd.password_env")) }
        if settings.username != nil, settings.password == nil {
            throw located(etcd["username"] ?? etcdNode, "cluster.etcd.username", "needs one of password_credential, password_file, password_env")
        }
        if settings.password != nil, settings.username == nil {
            throw located(etcd[passwords[0]] ?? etcdNode, "cluster.etcd.\(passwords[0])", "a password needs cluster.etcd.username")
        }
        if settings.username != nil, settings.certFile != nil {
            throw located(etcd["username"] ?? etcdNode, "cluster.etcd.username", "give a client certificate or a username, not both")
        }
        if let n = map["prefix"] {
            let prefix = try string(n, "cluster.prefix")
            guard prefix.hasPrefix("/"), prefix.hasSuffix("/"), prefix.count > 1, prefix.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw located(n, "cluster.prefix", "\"\(prefix)\" must start and end with / and hold printable ASCII, such as /imagebuildd/")
            }
            settings.prefix = prefix
        }
        if let n = map["lease_ttl"] {
            settings.leaseTTL = try duration(n, "cluster.lease_ttl")
            guard settings.leaseTTL >= .seconds(3), settings.leaseTTL <= .seconds(300) else {
                throw located(n, "cluster.lease_ttl", "must be from 3s to 300s")
            }
        }
        if let n = map["node_name"] { settings.nodeName = try string(n, "cluster.node_name") }
        guard settings.nodeName.isASCII(count: 1...64, { $0.isASCIIAlphanumeric || "._-".utf8.contains($0) }) else {
            throw located(map["node_name"] ?? node, "cluster.node_name",
                          "\"\(settings.nodeName)\" must be 1-64 letters, digits, '.', '_' or '-' (set node_name when the host name is not)")
        }
        return settings
    }

    private func notifySinks(_ node: YAMLNode) throws(ConfigError) -> [NotifySink] {
        guard case .sequence(let list) = node.kind else { throw located(node, "notify", "expected a list of webhooks") }
        var sinks: [NotifySink] = []
        for (index, item) in list.enumerated() {
            let path = "notify[\(index)]"
            let map = try mapping(item, path, allowed: ["url", "events", "secret_credential", "secret_file", "secret_env", "retry_for"])
            guard let urlNode = map["url"] else { throw located(item, path + ".url", "missing; every webhook needs a url") }
            let text = try string(urlNode, path + ".url")
            // The URL is not echoed: its query often carries the receiver's token.
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host?.isEmpty == false else {
                throw located(urlNode, path + ".url", "expected an absolute http:// or https:// URL")
            }
            var sink = NotifySink(url: url)
            if let n = map["events"] {
                guard case .sequence(let events) = n.kind, !events.isEmpty else { throw located(n, path + ".events", "expected a non-empty list of events") }
                sink.events = []
                for event in events {
                    let name = try string(event, path + ".events")
                    guard let value = NotifyEvent(rawValue: name) else {
                        throw located(event, path + ".events", "\"\(name)\" is not one of \(NotifyEvent.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    sink.events.insert(value)
                }
            }
            let secrets = ["secret_credential", "secret_file", "secret_env"].filter { map[$0] != nil }
            if secrets.count > 1 { throw located(map[secrets[1]]!, path + "." + secrets[1], "give one of secret_credential, secret_file, secret_env") }
            if let n = map["secret_credential"] { sink.secret = .systemdCredential(try string(n, path + ".secret_credential")) }
            if let n = map["secret_file"] { sink.secret = .file(try string(n, path + ".secret_file")) }
            if let n = map["secret_env"] { sink.secret = .environment(try string(n, path + ".secret_env")) }
            if let n = map["retry_for"] {
                sink.retryFor = try duration(n, path + ".retry_for")
                guard sink.retryFor >= .seconds(1) else { throw located(n, path + ".retry_for", "must be at least 1s") }
            }
            if sinks.contains(where: { $0.url == url }) { throw located(urlNode, path + ".url", "the same webhook is listed twice") }
            sinks.append(sink)
        }
        return sinks
    }

    private func schedule(_ node: YAMLNode, _ path: String, defaults: Defaults) throws(ConfigError) -> ScheduleConfig {
        let map = try mapping(node, path, allowed: ["name", "subscription_id", "resource_group", "template", "cron"] + Defaults.keys)
        func required(_ key: String) throws(ConfigError) -> (String, YAMLNode) {
            guard let n = map[key] else { throw located(node, "\(path).\(key)", "missing; every schedule needs name, subscription_id, resource_group, template and cron") }
            return (try string(n, "\(path).\(key)"), n)
        }
        let (name, nameNode) = try required("name")
        guard name.utf8.first?.isASCIIAlphanumeric == true,
              name.isASCII(count: 1...64, { $0.isASCIIAlphanumeric || "._-".utf8.contains($0) }) else {
            throw located(nameNode, "\(path).name", "\"\(name)\" must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        let (subscription, subscriptionNode) = try required("subscription_id")
        let (group, groupNode) = try required("resource_group")
        let (template, templateNode) = try required("template")
        let target = ImageTemplateID(subscriptionID: subscription, resourceGroup: group, name: template)
        if let problem = target.validationProblem {
            let node = problem.hasPrefix("subscription") ? subscriptionNode : problem.hasPrefix("resource group") ? groupNode : templateNode
            let key = problem.hasPrefix("subscription") ? "subscription_id" : problem.hasPrefix("resource group") ? "resource_group" : "template"
            throw located(node, "\(path).\(key)", problem)
        }
        var resolved = defaults
        try resolved.apply(map, prefix: path, loader: self)
        let (expression, cronNode) = try required("cron")
        let cron: CronSchedule
        do {
            cron = try CronParser.parse(expression, timeZone: resolved.timezone)
        } catch {
            // Point at the offending token inside the value (plain or quoted scalar).
            let quoteOffset = cronNode.style == .plain ? 0 : 1
            throw ConfigError(file: file, line: cronNode.line, column: cronNode.column + quoteOffset + max(error.column - 1, 0),
                              key: "\(path).cron", message: error.description)
        }
        return ScheduleConfig(name: name, target: target, cron: cron, timezone: cron.timeZone.identifier, overlap: resolved.overlap,
                              catchUp: resolved.catchUp, jitter: resolved.jitter, buildTimeout: resolved.buildTimeout,
                              cancelWait: resolved.cancelWait, poll: resolved.poll, pauseAfterFailures: resolved.pauseAfterFailures,
                              staleAfter: resolved.staleAfter)
    }

    // MARK: Typed scalars

    public func located(_ node: YAMLNode, _ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: node.line, column: node.column, key: key, message: message)
    }

    public func mapping(_ node: YAMLNode, _ path: String, allowed: [String]) throws(ConfigError) -> [String: YAMLNode] {
        guard case .mapping(let pairs) = node.kind else { throw located(node, path, "expected a mapping of keys to values") }
        var result: [String: YAMLNode] = [:]
        for (keyNode, value) in pairs {
            guard let key = keyNode.scalar else { throw located(keyNode, path, "expected a plain key") }
            let full = path.isEmpty ? key : "\(path).\(key)"
            guard allowed.contains(key) else {
                throw located(keyNode, full, "unknown key; expected one of \(allowed.joined(separator: ", "))")
            }
            guard result[key] == nil else { throw located(keyNode, full, "duplicate key") }
            result[key] = value
        }
        return result
    }

    public func string(_ node: YAMLNode, _ key: String) throws(ConfigError) -> String {
        guard let scalar = node.scalar else { throw located(node, key, "expected a single value, not a list or mapping") }
        // A fresh copy: the config outlives the parse tree, and a string that shared the tree's
        // storage would pin the tree's pages in memory (about 8 MB at 10,000 schedules).
        return String(decoding: Array(scalar.utf8), as: UTF8.self)
    }

    public func integer(_ node: YAMLNode, _ key: String, range: ClosedRange<Int>) throws(ConfigError) -> Int {
        let text = try string(node, key)
        guard let value = Int(text), range.contains(value) else {
            throw located(node, key, "\"\(text)\" is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    public func duration(_ node: YAMLNode, _ key: String, expected: String = "a duration such as 90s, 15m or 4h") throws(ConfigError) -> Duration {
        let text = try string(node, key)
        guard let value = Duration.parseConfig(text) else { throw located(node, key, "\"\(text)\" is not \(expected)") }
        return value
    }

    private func url(_ node: YAMLNode, _ key: String) throws(ConfigError) -> URL {
        let text = try string(node, key)
        guard let url = URL(string: text), url.host != nil else { throw located(node, key, "\"\(text)\" is not an absolute URL") }
        do { try AzureClientConfiguration.checkEndpoint(url, what: key) } catch { throw located(node, key, error.description) }
        return url
    }
}
