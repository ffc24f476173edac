import AzureClient
import Config
import FoundationEssentials
import JobJournal
import Logging

/// Lists templates for discovery; `ImageTemplatesClient` follows `nextLink` through its pacer.
public protocol TemplateListing: Sendable {
    func list(subscriptionID: String) async throws(AzureError) -> [ImageTemplate]
    func listByResourceGroup(subscriptionID: String, resourceGroup: String) async throws(AzureError) -> [ImageTemplate]
}

extension ImageTemplatesClient: TemplateListing {}

extension TemplateListing {
    /// Every template of every source with its tags, and the sources whose listing failed (any
    /// failure makes the whole list partial: nothing may be retired on it).
    public func templates(in sources: [DiscoverySettings.Source]) async -> (listed: [(id: ImageTemplateID, tags: [String: String])], failures: [String]) {
        var listed: [(id: ImageTemplateID, tags: [String: String])] = []
        var failures: [String] = []
        for source in sources {
            do {
                let templates = if let group = source.resourceGroup {
                    try await listByResourceGroup(subscriptionID: source.subscriptionID, resourceGroup: group)
                } else {
                    try await list(subscriptionID: source.subscriptionID)
                }
                for template in templates {
                    guard let raw = template.id, let id = try? ImageTemplateID(resourceID: raw) else { continue }
                    listed.append((id, template.tags ?? [:]))
                }
            } catch {
                failures.append("\(source): \(error)")
            }
        }
        return (listed, failures)
    }
}

/// What one discovery pass did, for `imagebuildd discover`, status and metrics.
public struct DiscoveryReport: Sendable, Equatable {
    public var at: Date
    /// Every source listed to the last page: only then may a schedule be retired.
    public var complete: Bool
    /// Tagged templates found (scheduled), as names.
    public var found: [String]
    public var added: [String]
    public var changed: [String]
    public var retired: [String]
    /// Templates left out, and why.
    public var ignored: [IgnoredTemplate]
    /// The sources whose listing failed, with the error.
    public var failures: [String]
}

extension Orchestrator {
    /// `imagebuildd discover`, SIGHUP and the interval: lists every source and journals what changed.
    /// A pass already under way is waited for, not doubled.
    public func discover() async -> DiscoveryReport? {
        guard fileConfig.discovery != nil, lister != nil else { return nil }
        // Waiters, not a Task: an unstructured task would leave the caller's executor (the
        // simulation's, which must run every job).
        if discovering { return await withCheckedContinuation { discoveryWaiters.append($0) } }
        discovering = true
        let report = await pass()
        discovering = false
        for waiter in discoveryWaiters { waiter.resume(returning: report) }
        discoveryWaiters = []
        return report
    }

    /// Gauge values for `imagebuildd_discovery_errors{reason}`: templates left out per reason, and
    /// `list` for sources whose last listing failed.
    public var discoveryErrors: [String: Int] {
        guard let last = lastDiscovery else { return [:] }
        var counts: [String: Int] = [:]
        for problem in last.ignored { counts[problem.reason, default: 0] += 1 }
        if !last.failures.isEmpty { counts["list"] = last.failures.count }
        return counts
    }

    /// The merged config: the file's schedules, then the journal's discovered set.
    func applyDiscovered() {
        config = TagDiscovery.merge(fileConfig, discovered: Array(journal.state.discovered.values)).config
    }

    /// A new discovery loop (the old one ends at its next wake): a pass now, then every interval.
    func resetDiscovery() {
        discoveryGeneration += 1
        guard fileConfig.discovery != nil, lister != nil else { return }
        spawn(.discovery(generation: discoveryGeneration))
    }

    func runDiscovery(_ generation: Int) async {
        while generation == discoveryGeneration, !Task.isCancelled, let settings = fileConfig.discovery {
            _ = await discover()
            do { try await clock.sleep(until: clock.now().addingTimeInterval(settings.interval.seconds)) } catch { return }
        }
    }

    private func pass() async -> DiscoveryReport {
        guard let settings = fileConfig.discovery, let lister else {
            return DiscoveryReport(at: clock.now(), complete: false, found: [], added: [], changed: [], retired: [], ignored: [], failures: [])
        }
        let (listed, failures) = await lister.templates(in: settings.sources)
        let now = clock.now()
        guard failures.isEmpty else {
            // A partial list says nothing about what is gone: the set the journal holds stays.
            logger.warning("discovery: listing templates failed; the discovered schedules stay as they were: \(failures.joined(separator: "; "))",
                           metadata: ["EVENT": "discovery-failed"])
            let report = DiscoveryReport(at: now, complete: false, found: config.schedules.filter { $0.source != .config }.map(\.name),
                                         added: [], changed: [], retired: [], ignored: lastDiscovery?.ignored ?? [], failures: failures)
            lastDiscovery = report
            return report
        }
        let result = TagDiscovery.find(listed, config: fileConfig)
        let known = journal.state.discovered
        let foundNames = Set(result.found.map(\.name))
        // A template whose tags went bad keeps the schedule it had: a typo does not retire a nightly build.
        let badTemplates = Set(result.ignored.filter { $0.reason != "in-config" && $0.reason != "duplicate-name" }.map { $0.template.lowercased() })
        let listedTemplates = Set(listed.map { $0.id.resourcePath.lowercased() })
        let foundTemplates = Set(result.found.map { $0.template.lowercased() })
        var report = DiscoveryReport(at: now, complete: true, found: result.found.map(\.name), added: [], changed: [], retired: [],
                                     ignored: result.ignored, failures: [])
        do {
            for found in result.found where known[found.name] != found {
                try await record(.scheduleDiscovered(found), at: now)
                if known[found.name] == nil { report.added.append(found.name) } else { report.changed.append(found.name) }
                logger.notice("discovered schedule \(found.name) from the tags of \(found.template): cron \"\(found.tags["cron"] ?? "")\"",
                              metadata: ["SCHEDULE": "\(found.name)", "TEMPLATE": "\(found.template)",
                                         "EVENT": "schedule-discovered", "CRON": "\(found.tags["cron"] ?? "")"])
            }
            for (name, old) in known.sorted(by: { $0.key < $1.key }) where !foundNames.contains(name) {
                let template = old.template.lowercased()
                if badTemplates.contains(template), !foundTemplates.contains(template) { continue }
                let reason = !listedTemplates.contains(template) ? "the template is gone"
                    : foundTemplates.contains(template) ? "renamed by its \(settings.tagPrefix)schedule tag"
                    : result.ignored.contains(where: { $0.template.lowercased() == template && $0.reason == "in-config" }) ? "the config now builds the template"
                    : "its \(settings.tagPrefix)cron tag is gone"
                try await record(.scheduleRetired(schedule: name, reason: reason), at: now)
                report.retired.append(name)
                logger.notice("retired discovered schedule \(name): \(reason); a build still running is followed to its end",
                              metadata: ["SCHEDULE": "\(name)", "TEMPLATE": "\(old.template)", "EVENT": "schedule-retired"])
            }
        } catch {
            fail(error)
            lastDiscovery = report
            return report
        }
        for problem in result.ignored where !announcedProblems.contains(problem) {
            let level: Logger.Level = problem.reason == "in-config" ? .notice : .warning
            logger.log(level: level, "discovery ignores \(problem.template): \(problem.message)",
                       metadata: ["TEMPLATE": "\(problem.template)", "TAG": "\(problem.tag)", "REASON": "\(problem.reason)",
                                  "EVENT": "discovery-ignored"])
        }
        announcedProblems = Set(result.ignored)
        lastDiscovery = report
        if !report.added.isEmpty || !report.changed.isEmpty || !report.retired.isEmpty {
            await schedulesChanged()
            statusHandler(statusLine())
        }
        return report
    }
}
