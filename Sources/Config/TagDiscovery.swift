import AzureClient
import FoundationEssentials
import JobJournal
import Scheduler
import Transport

/// A tagged template that discovery does not schedule, and why: logged once per change, counted by
/// `reason`, shown in status as "ignored: <message>".
public struct IgnoredTemplate: Error, Hashable, Sendable {
    /// The template's ARM resource id.
    public var template: String
    /// The full tag name at fault (`imagebuildd.cron`), or "" when no single tag is.
    public var tag: String
    /// A short label for the metric: the tag's suffix, `unknown-tag`, `too-long`, `in-config`, `duplicate-name`.
    public var reason: String
    public var message: String

    public init(template: String, tag: String, reason: String, message: String) {
        self.template = template
        self.tag = tag
        self.reason = reason
        self.message = message
    }
}

/// What one complete discovery pass made of the templates it listed.
public struct DiscoveryResult: Sendable, Equatable {
    /// The schedules the tags describe, sorted by name.
    public var found: [DiscoveredSchedule]
    public var ignored: [IgnoredTemplate]
}

/// Schedules from template tags: which templates carry them, the schedule each describes (under
/// the config's `defaults:`, with the config's cron syntax), and how they join the config's own.
/// Pure: the orchestrator lists, this decides, the journal keeps the result.
public enum TagDiscovery {
    /// The tag suffixes a template may carry (with the prefix, `imagebuildd.cron` and so on).
    public static let suffixes = ["cron", "timezone", "overlap", "build_timeout", "stale_after", "pause_after_failures", "schedule"]

    /// Azure's limit for a tag value.
    static let maximumValueLength = 256

    /// From the templates a complete pass listed: one schedule per template that carries the cron
    /// tag, or the reason it is ignored. A template a config schedule builds stays the config's.
    public static func find(_ templates: [(id: ImageTemplateID, tags: [String: String])], config: DaemonConfig) -> DiscoveryResult {
        guard let settings = config.discovery else { return DiscoveryResult(found: [], ignored: []) }
        let configured = Set(config.schedules.map { $0.target.resourcePath.lowercased() })
        var names = Set(config.schedules.map(\.name))
        var found: [DiscoveredSchedule] = []
        var ignored: [IgnoredTemplate] = []
        for (id, allTags) in templates.sorted(by: { $0.id.resourcePath.lowercased() < $1.id.resourcePath.lowercased() }) {
            let template = id.resourcePath
            var tags: [String: String] = [:]
            // Tag names are case-insensitive in Azure.
            for (name, value) in allTags where name.lowercased().hasPrefix(settings.tagPrefix.lowercased()) {
                tags[String(name.dropFirst(settings.tagPrefix.count)).lowercased()] = value
            }
            guard tags["cron"] != nil else { continue }
            if let unknown = tags.keys.sorted().first(where: { !suffixes.contains($0) }) {
                ignored.append(IgnoredTemplate(template: template, tag: settings.tagPrefix + unknown, reason: "unknown-tag",
                                               message: "unknown tag \(settings.tagPrefix + unknown); expected one of "
                                                   + suffixes.map { settings.tagPrefix + $0 }.joined(separator: ", ")))
                continue
            }
            if let long = tags.keys.sorted().first(where: { tags[$0]!.utf8.count > maximumValueLength }) {
                ignored.append(IgnoredTemplate(template: template, tag: settings.tagPrefix + long, reason: "too-long",
                                               message: "the value of \(settings.tagPrefix + long) is longer than \(maximumValueLength) characters"))
                continue
            }
            if configured.contains(template.lowercased()) {
                ignored.append(IgnoredTemplate(template: template, tag: settings.tagPrefix + "cron", reason: "in-config",
                                               message: "a schedule in \(config.file) builds this template; the config wins"))
                continue
            }
            let name = tags["schedule"] ?? "\(id.resourceGroup)/\(id.name)"
            let candidate = DiscoveredSchedule(name: name, template: template, tags: tags)
            switch schedule(candidate, config: config) {
            case .failure(let problem):
                ignored.append(problem)
            case .success:
                guard names.insert(name).inserted else {
                    ignored.append(IgnoredTemplate(template: template, tag: settings.tagPrefix + "schedule", reason: "duplicate-name",
                                                   message: "the schedule name \"\(name)\" is taken by another schedule; set \(settings.tagPrefix)schedule to a unique one"))
                    continue
                }
                found.append(candidate)
            }
        }
        return DiscoveryResult(found: found.sorted { $0.name < $1.name }, ignored: ignored)
    }

    /// The schedule a discovered template's tags describe, under the config's defaults.
    public static func schedule(_ found: DiscoveredSchedule, config: DaemonConfig) -> Result<ScheduleConfig, IgnoredTemplate> {
        let prefix = config.discovery?.tagPrefix ?? "imagebuildd."
        func ignored(_ suffix: String, _ message: String) -> Result<ScheduleConfig, IgnoredTemplate> {
            .failure(IgnoredTemplate(template: found.template, tag: prefix + suffix, reason: suffix, message: "\(prefix + suffix): \(message)"))
        }
        let id: ImageTemplateID
        do { id = try ImageTemplateID(resourceID: found.template) } catch {
            return .failure(IgnoredTemplate(template: found.template, tag: "", reason: "template", message: error.description))
        }
        guard found.name.utf8.first?.isASCIIAlphanumeric == true,
              found.name.isASCII(count: 1...maximumValueLength, { $0.isASCIIAlphanumeric || "._-()/".utf8.contains($0) }) else {
            return ignored("schedule", "\"\(found.name)\" must be letters, digits, '.', '_', '-', '(', ')' or '/', starting with a letter or digit")
        }
        guard let expression = found.tags["cron"] else { return ignored("cron", "missing") }
        // Each tag is read as the config reads the same key: one scalar node per tag, no file lines.
        let loader = ConfigLoader(file: found.template, environment: [:])
        var map: [String: YAMLNode] = [:]
        for suffix in ["timezone", "overlap", "build_timeout", "stale_after", "pause_after_failures"] {
            if let value = found.tags[suffix] { map[suffix] = YAMLNode(kind: .scalar(value, .plain), line: 0, column: 0) }
        }
        var resolved = config.defaults
        do {
            try resolved.apply(map, prefix: "tag", loader: loader)
        } catch {
            let suffix = String(error.key.dropFirst(4).prefix { $0 != "." })
            return ignored(suffix, error.message)
        }
        let cron: CronSchedule
        do { cron = try CronParser.parse(expression, timeZone: resolved.timezone) } catch {
            return ignored("cron", "\"\(expression)\": \(error.description)")
        }
        return .success(ScheduleConfig(name: found.name, target: id, cron: cron, timezone: cron.timeZone.identifier, overlap: resolved.overlap,
                                       catchUp: resolved.catchUp, jitter: resolved.jitter, buildTimeout: resolved.buildTimeout,
                                       cancelWait: resolved.cancelWait, poll: resolved.poll, pauseAfterFailures: resolved.pauseAfterFailures,
                                       staleAfter: resolved.staleAfter, source: .tag(template: found.template)))
    }

    /// The config with the discovered schedules after its own; a discovered one whose name or
    /// template a config schedule now has (the config changed since) is left out, and so is one
    /// whose tags no longer make a schedule under the current defaults. Without `discover:` (it was
    /// taken out of the config) the journal's discovered set schedules nothing.
    public static func merge(_ config: DaemonConfig, discovered: [DiscoveredSchedule]) -> (config: DaemonConfig, ignored: [IgnoredTemplate]) {
        guard config.discovery != nil else { return (config, []) }
        var merged = config
        var ignored: [IgnoredTemplate] = []
        var names = Set(config.schedules.map(\.name))
        let configured = Set(config.schedules.map { $0.target.resourcePath.lowercased() })
        for found in discovered.sorted(by: { $0.name < $1.name }) {
            guard !configured.contains(found.template.lowercased()) else { continue }
            switch schedule(found, config: config) {
            case .success(let schedule) where names.insert(schedule.name).inserted:
                merged.schedules.append(schedule)
            case .success:
                continue
            case .failure(let problem):
                ignored.append(problem)
            }
        }
        return (merged, ignored)
    }
}
