import ArgumentParser
import AzureClient
import Config
import FoundationEssentials
import Logging
import Orchestration
import Transport

/// `imagebuildd templates`: the image templates as Azure has them, read-only (Run and Cancel go
/// through the daemon, so the journal stays the record).
struct Templates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and show image templates, and their run outputs (read-only; uses the config's credentials).",
        subcommands: [TemplatesList.self, TemplatesShow.self, TemplatesOutputs.self])
}

/// Options every `templates` subcommand shares: where the credentials and endpoints come from.
struct TemplateSource: ParsableArguments {
    @Option(help: "The YAML config file (its azure: section, and its schedules for SCHEDULED).")
    var config = "/etc/imagebuildd/config.yaml"

    @Option(help: "Subscription id (default: every subscription the config's schedules use).")
    var subscription: String?

    @Option(name: .customLong("resource-group"), help: "Only this resource group.")
    var resourceGroup: String?

    @Flag(help: "JSON instead of a table.")
    var json = false

    /// The config and an ARM client for it; warnings of the client go to stderr.
    func connect() async -> (DaemonConfig, ImageTemplatesClient, AsyncHTTPTransport) {
        let loaded: DaemonConfig
        do { loaded = try ConfigLoader(file: config).load() } catch { Terminal.failure("\(error)") }
        var logger = Logger(label: "imagebuildd") { _ in StderrLogHandler() }
        logger.logLevel = .error
        let transport: AsyncHTTPTransport
        do { transport = try AsyncHTTPTransport(caFile: loaded.azure.caFile) } catch { Terminal.failure("\(config): azure: \(error)") }
        do {
            return (loaded, try AzureWiring.client(loaded.azure, transport: transport, logger: logger), transport)
        } catch {
            try? await transport.shutdown()
            Terminal.failure("\(config): azure: \(error)")
        }
    }

    /// One ARM call about template `name`, the transport shut down after it; an error ends the
    /// command naming the template.
    func fetch<T>(_ name: String, _ operation: (ImageTemplatesClient, ImageTemplateID) async throws -> T) async -> (DaemonConfig, ImageTemplateID, T) {
        let (config, client, transport) = await connect()
        let id = resolve(name, in: config)
        do {
            let value = try await operation(client, id)
            try? await transport.shutdown()
            return (config, id, value)
        } catch {
            try? await transport.shutdown()
            Terminal.failure("\(id.subscriptionID)/\(id.resourceGroup)/\(name): \(error)")
        }
    }

    /// The subscriptions to look in.
    func subscriptions(_ config: DaemonConfig) -> [String] {
        if let subscription { return [subscription] }
        var seen: [String] = []
        for schedule in config.schedules where !seen.contains(schedule.target.subscriptionID) { seen.append(schedule.target.subscriptionID) }
        for source in config.discovery?.sources ?? [] where !seen.contains(source.subscriptionID) { seen.append(source.subscriptionID) }
        if seen.isEmpty { Terminal.failure("no subscription: pass --subscription, or list schedules in \(self.config)") }
        return seen
    }

    /// NAME as a template id: from --subscription/--resource-group, else from the schedules that build it.
    func resolve(_ name: String, in config: DaemonConfig) -> ImageTemplateID {
        if let subscription, let resourceGroup { return ImageTemplateID(subscriptionID: subscription, resourceGroup: resourceGroup, name: name) }
        var found: [ImageTemplateID] = []
        for schedule in config.schedules where schedule.target.name == name
            && (subscription == nil || schedule.target.subscriptionID == subscription)
            && (resourceGroup == nil || schedule.target.resourceGroup == resourceGroup) && !found.contains(schedule.target) {
            found.append(schedule.target)
        }
        switch found.count {
        case 1: return found[0]
        case 0: Terminal.failure("no schedule in \(self.config) builds a template named \(name); pass --subscription and --resource-group")
        default:
            Terminal.failure("\(name) names \(found.count) templates: "
                             + found.map { "\($0.subscriptionID)/\($0.resourceGroup)" }.joined(separator: ", ") + "; pass --subscription and --resource-group")
        }
    }
}

struct TemplatesList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List image templates (List / ListByResourceGroup, every page).")

    @OptionGroup var source: TemplateSource

    @Flag(help: "Only the templates no schedule in the config covers.")
    var unscheduled = false

    func run() async throws {
        let (config, client, transport) = await source.connect()
        var rows: [TemplateSummary] = []
        for subscription in source.subscriptions(config) {
            let templates: [ImageTemplate]
            do {
                if let group = source.resourceGroup {
                    templates = try await client.listByResourceGroup(subscriptionID: subscription, resourceGroup: group)
                } else {
                    templates = try await client.list(subscriptionID: subscription)
                }
            } catch {
                try? await transport.shutdown()
                Terminal.failure("listing templates in subscription \(subscription): \(error)")
            }
            rows += templates.map { TemplateSummary($0, subscription: subscription, schedules: config.schedules,
                                                    tagPrefix: config.discovery?.tagPrefix ?? "imagebuildd.") }
        }
        if unscheduled { rows = rows.filter { $0.scheduled.isEmpty } }
        rows.sort { ($0.resourceGroup.lowercased(), $0.name.lowercased()) < ($1.resourceGroup.lowercased(), $1.name.lowercased()) }
        try? await transport.shutdown()
        if source.json {
            print(HistoryJSON.array(rows.map(\.json)))
            return
        }
        var table = [["NAME", "RESOURCE GROUP", "LOCATION", "PROVISIONING", "LAST RUN", "TIMEOUT", "SOURCE", "DISTRIBUTE", "SCHEDULED", "TAG CRON"]]
        for r in rows {
            table.append([r.name, r.resourceGroup, r.location, r.provisioning, r.lastRun, "\(r.timeoutMinutes)m", r.source, r.distribute,
                          r.scheduled.isEmpty ? "-" : r.scheduled.joined(separator: ","), r.taggedCron ?? "-"])
        }
        print(Columns.render(table))
    }
}

struct TemplatesShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one image template with every field Azure returns.")

    @OptionGroup var source: TemplateSource

    @Argument(help: "The template's name.")
    var name: String

    func run() async throws {
        let (config, id, template) = await source.fetch(name) { client, id in try await client.get(id) }
        if source.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(template), as: UTF8.self))
            return
        }
        let summary = TemplateSummary(template, subscription: id.subscriptionID, schedules: config.schedules)
        let p = template.properties
        let vm = p?.vmProfile
        var lines: [(String, String)] = [
            ("Name", summary.name), ("Id", template.id ?? "-"), ("Resource group", summary.resourceGroup), ("Location", summary.location),
            ("Provisioning", summary.provisioning),
        ]
        if let error = p?.provisioningError { lines.append(("Provisioning error", error.message ?? "-")) }
        lines += [
            ("Last run", summary.lastRun), ("Last run message", p?.lastRunStatus?.message.flatMap { $0.isEmpty ? nil : $0 } ?? "-"),
            ("Build timeout", "\(summary.timeoutMinutes)m" + ((p?.buildTimeoutInMinutes ?? 0) > 0 ? "" : " (Azure's default)")),
            ("Source", summary.source),
            ("Customize", (p?.customize ?? []).map(TemplateSummary.describe).joined(separator: "; ").nonEmpty ?? "-"),
            ("Distribute", summary.distribute),
            ("VM size", vm?.vmSize ?? "-"), ("OS disk", vm?.osDiskSizeGB.map { "\($0) GB" } ?? "-"),
            ("VM identities", vm?.userAssignedIdentities?.joined(separator: ", ").nonEmpty ?? "-"),
            ("Staging resource group", p?.stagingResourceGroup ?? "-"), ("Exact staging resource group", p?.exactStagingResourceGroup ?? "-"),
            ("Identity", (template.identity?.type ?? "-") + (template.identity?.userAssignedIdentities.map { " " + $0.keys.sorted().joined(separator: ", ") } ?? "")),
            ("Tags", (template.tags ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ").nonEmpty ?? "-"),
            ("Scheduled by", summary.scheduled.isEmpty ? "-" : summary.scheduled.joined(separator: ", ")),
        ]
        let width = lines.map(\.0.count).max() ?? 0
        for (key, value) in lines { print(Columns.padded(key + ":", to: width + 2) + value) }
    }
}

struct TemplatesOutputs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "outputs", abstract: "List a template's run outputs (artifact ids and URIs).")

    @OptionGroup var source: TemplateSource

    @Argument(help: "The template's name.")
    var name: String

    func run() async throws {
        let (_, _, outputs) = await source.fetch(name) { client, id in try await client.listRunOutputs(id) }
        if source.json {
            print(HistoryJSON.array(outputs.map { o in
                HistoryJSON.object([("name", HistoryJSON.quoted(o.name)), ("artifact_id", HistoryJSON.quoted(o.properties?.artifactId)),
                                 ("artifact_uri", HistoryJSON.quoted(o.properties?.artifactUri)),
                                 ("provisioning_state", HistoryJSON.quoted(o.properties?.provisioningState?.rawValue))])
            }))
            return
        }
        if outputs.isEmpty {
            print("\(name) has no run outputs (no successful run yet)")
            return
        }
        var table = [["NAME", "ARTIFACT ID", "ARTIFACT URI"]]
        for o in outputs { table.append([o.name ?? "-", o.properties?.artifactId ?? "-", o.properties?.artifactUri ?? "-"]) }
        print(Columns.render(table))
    }
}

/// One template as a row: what `templates list` shows and its `--json` contract.
struct TemplateSummary {
    var name: String
    var id: String
    var subscription: String
    var resourceGroup: String
    var location: String
    var provisioningState: String
    var provisioningErrorCode: String?
    var provisioningErrorMessage: String?
    var runState: String?
    var runSubState: String?
    var runStart: String?
    var runEnd: String?
    var timeoutMinutes: Int
    var sourceType: String
    var sourceImage: String
    var distributors: [(type: String, target: String, runOutputName: String?)]
    var scheduled: [String]
    /// The discovery cron tag's value, whether or not discovery is on.
    var taggedCron: String?

    init(_ t: ImageTemplate, subscription: String, schedules: [ScheduleConfig], tagPrefix: String = "imagebuildd.") {
        let p = t.properties
        taggedCron = t.tags?.first { $0.key.lowercased() == (tagPrefix + "cron").lowercased() }?.value
        name = t.name ?? "-"
        id = t.id ?? ""
        self.subscription = subscription
        // The id is the authority on the resource group (ARM's casing).
        let parts = id.split(separator: "/")
        resourceGroup = parts.firstIndex { $0.lowercased() == "resourcegroups" }.flatMap { parts.indices.contains($0 + 1) ? String(parts[$0 + 1]) : nil } ?? "-"
        location = t.location ?? "-"
        provisioningState = p?.provisioningState?.rawValue ?? "-"
        provisioningErrorCode = p?.provisioningError?.provisioningErrorCode
        provisioningErrorMessage = p?.provisioningError?.message
        runState = p?.lastRunStatus?.runState?.rawValue
        runSubState = p?.lastRunStatus?.runSubState?.rawValue
        runStart = p?.lastRunStatus?.startTime?.text
        runEnd = p?.lastRunStatus?.endTime?.text
        timeoutMinutes = p?.fields.effectiveBuildTimeoutMinutes ?? ImageTemplatePropertiesFields.defaultBuildTimeoutMinutes
        (sourceType, sourceImage) = Self.source(p?.source)
        distributors = (p?.distribute ?? []).map(Self.distributor)
        let group = resourceGroup
        scheduled = schedules.filter {
            $0.target.subscriptionID.lowercased() == subscription.lowercased() && $0.target.resourceGroup.lowercased() == group.lowercased()
                && $0.target.name.lowercased() == (t.name ?? "").lowercased()
        }.map(\.name)
    }

    var provisioning: String { provisioningState + (provisioningErrorCode.map { " (\($0))" } ?? "") }
    var lastRun: String {
        guard let runState else { return "-" }
        return runState + (runSubState.map { "/\($0)" } ?? "") + (runEnd.map { " " + String($0.prefix(16)).replacing("T", with: " ") } ?? "")
    }
    var source: String { sourceType + (sourceImage.isEmpty ? "" : " " + sourceImage) }
    var distribute: String { distributors.map { "\($0.type):\($0.target)" }.joined(separator: ",").nonEmpty ?? "-" }

    var json: String {
        HistoryJSON.object([
            ("name", HistoryJSON.quoted(name)), ("id", HistoryJSON.quoted(id)), ("subscription_id", HistoryJSON.quoted(subscription)),
            ("resource_group", HistoryJSON.quoted(resourceGroup)), ("location", HistoryJSON.quoted(location)),
            ("provisioning_state", HistoryJSON.quoted(provisioningState)), ("provisioning_error_code", HistoryJSON.quoted(provisioningErrorCode)),
            ("provisioning_error_message", HistoryJSON.quoted(provisioningErrorMessage)),
            ("last_run", runState == nil ? "null" : HistoryJSON.object([
                ("run_state", HistoryJSON.quoted(runState)), ("run_substate", HistoryJSON.quoted(runSubState)),
                ("start_time", HistoryJSON.quoted(runStart)), ("end_time", HistoryJSON.quoted(runEnd)),
            ])),
            ("build_timeout_minutes", "\(timeoutMinutes)"),
            ("source", HistoryJSON.object([("type", HistoryJSON.quoted(sourceType)), ("image", HistoryJSON.quoted(sourceImage))])),
            ("distribute", HistoryJSON.array(distributors.map {
                HistoryJSON.object([("type", HistoryJSON.quoted($0.type)), ("target", HistoryJSON.quoted($0.target)), ("run_output_name", HistoryJSON.quoted($0.runOutputName))])
            })),
            ("scheduled", HistoryJSON.array(scheduled.map { HistoryJSON.quoted($0) })),
            ("tag_cron", HistoryJSON.quoted(taggedCron)),
        ])
    }

    static func source(_ source: ImageTemplateSource?) -> (String, String) {
        switch source {
        case .platformImage(let s)?: ("PlatformImage", [s.publisher, s.offer, s.sku, s.version].compactMap { $0 }.joined(separator: ":"))
        case .managedImage(let s)?: ("ManagedImage", s.imageId ?? "")
        case .sharedImageVersion(let s)?: ("SharedImageVersion", s.imageVersionId ?? "")
        case .unknown(let type, _)?: (type, "")
        case nil: ("-", "")
        }
    }

    static func distributor(_ d: ImageTemplateDistributor) -> (type: String, target: String, runOutputName: String?) {
        switch d {
        case .managedImage(let v): ("ManagedImage", v.imageId ?? "-", v.runOutputName)
        case .sharedImage(let v): ("SharedImage", v.galleryImageId ?? "-", v.runOutputName)
        case .vhd(let v): ("VHD", v.uri ?? "(staging storage)", v.runOutputName)
        case .unknown(let type, _): (type, "-", d.runOutputName)
        }
    }

    static func describe(_ c: ImageTemplateCustomizer) -> String {
        switch c {
        case .shell(let s): "Shell " + (s.name ?? "")
        case .powerShell(let s): "PowerShell " + (s.name ?? "")
        case .windowsRestart(let s): "WindowsRestart " + (s.name ?? "")
        case .windowsUpdate(let s): "WindowsUpdate " + (s.name ?? "")
        case .file(let s): "File " + (s.name ?? "")
        case .unknown(let type, _): type
        }
    }
}

/// Tables as `systemctl list-timers` prints them.
enum Columns {
    /// Columns padded to their widest cell, two spaces apart; the last column unpadded.
    static func render(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { $0.offset == row.count - 1 ? $0.element : padded($0.element, to: widths[$0.offset]) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// `text` followed by spaces up to `width` characters.
    static func padded(_ text: String, to width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }
}

extension String {
    /// nil for the empty string.
    var nonEmpty: String? { isEmpty ? nil : self }
}
