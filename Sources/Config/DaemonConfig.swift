import AzureClient
import FoundationEssentials
import JobJournal
import RunLifecycle
import Scheduler
import Transport

/// How `build_timeout` is set: from the template's `buildTimeoutInMinutes`, or fixed.
public enum BuildTimeout: Sendable, Equatable {
    case template
    case fixed(Duration)

    /// The timeout for a template whose `buildTimeoutInMinutes` is `minutes` (0 or nil means 240).
    public func seconds(templateMinutes minutes: Int?) -> Int64 {
        switch self {
        case .template: Int64(ImageTemplatePropertiesFields.effectiveBuildTimeoutMinutes(minutes)) * 60
        case .fixed(let duration): duration.components.seconds
        }
    }
}

/// Exponential polling of a running build.
public struct PollSettings: Sendable, Equatable {
    public var initial: Duration
    public var max: Duration
    public var multiplier: Double
}

/// The `azure:` section.
public struct AzureSettings: Sendable, Equatable {
    public enum CredentialKind: String, Sendable, CaseIterable { case clientSecret = "client-secret", workloadIdentity = "workload-identity",
                                                           managedIdentity = "managed-identity", `default` }
    public var resourceManagerEndpoint = URL(string: "https://management.azure.com")!
    public var authorityHost = URL(string: "https://login.microsoftonline.com")!
    public var audience = "https://management.azure.com/"
    public var caFile: String?
    public var apiVersion = AzureClientConfiguration.defaultAPIVersion
    public var credential = CredentialKind.default
    public var tenantID: String?
    public var clientID: String?
    public var clientSecretFile: String?
}

/// One scheduled template with every default resolved.
public struct ScheduleConfig: Sendable {
    public var name: String
    public var target: ImageTemplateID
    public var cron: CronSchedule
    public var timezone: String
    public var overlap: OverlapPolicy
    public var catchUp: Duration
    public var jitter: Duration
    public var buildTimeout: BuildTimeout
    public var cancelWait: Duration
    public var poll: PollSettings
    public var pauseAfterFailures: Int?
    /// No success for this long (or, never having succeeded, since first seen) makes it stale; nil is off.
    public var staleAfter: Duration?
    public var source: ScheduleSource = .config
}

/// Where a schedule came from: the config file, or a template's tags (`status` shows which).
public enum ScheduleSource: Sendable, Equatable, CustomStringConvertible {
    case config
    /// Discovered in the tags of this template (its ARM resource id).
    case tag(template: String)

    /// `config`, or `tag:<template id>`.
    public var description: String {
        switch self {
        case .config: "config"
        case .tag(let template): "tag:\(template)"
        }
    }
}

/// The `control:` section: where the operator socket lives and who may change things through it.
public struct ControlSettings: Sendable, Equatable {
    /// Default `$RUNTIME_DIRECTORY/control.sock` (`/run/imagebuildd/control.sock` under the shipped unit).
    public var socket: String
    /// Members may trigger, pause, resume and cancel; anyone who can open the socket may read status.
    public var operatorsGroup = "imagebuildd-operators"
}

/// The whole configuration file, validated.
public struct DaemonConfig: Sendable {
    public var file: String
    public var azure: AzureSettings
    public var stateDirectory: String
    public var control: ControlSettings
    public var metrics: MetricsSettings
    public var notify: [NotifySink]
    public var maxConcurrentBuilds: Int
    public var schedules: [ScheduleConfig]
    /// Cluster mode; nil: single-node on the local journal.
    public var cluster: ClusterSettings?
    /// What `defaults:` resolved to: discovered schedules take them as the config's own do.
    public var defaults: ConfigLoader.Defaults
    /// `discover:`: schedules from template tags; nil when no source is listed.
    public var discovery: DiscoverySettings?
}

/// `discover:`, `discover_interval` and `discover_tag_prefix`: where discovery lists templates, how
/// often, and which tags it reads.
public struct DiscoverySettings: Sendable, Equatable {
    /// A subscription, or one resource group of it.
    public struct Source: Sendable, Equatable, CustomStringConvertible {
        public var subscriptionID: String
        public var resourceGroup: String?

        public var description: String {
            "/subscriptions/\(subscriptionID)" + (resourceGroup.map { "/resourceGroups/\($0)" } ?? "")
        }
    }

    public var sources: [Source]
    public var interval: Duration = .seconds(300)
    public var tagPrefix = "imagebuildd."
}

/// `cluster:`: several daemons, one leader, the run state in etcd.
public struct ClusterSettings: Sendable, Equatable {
    /// etcd members' client URLs (http:// or https://).
    public var endpoints: [URL]
    public var caFile: String?
    /// A client certificate and its key (PEM), for etcd's `--client-cert-auth`.
    public var certFile: String?
    public var keyFile: String?
    public var username: String?
    /// Where the password comes from; never the password itself.
    public var password: SecretSource?
    /// Every key the cluster writes starts with it; ends in `/`.
    public var prefix = "/imagebuildd/"
    public var leaseTTL = Duration.seconds(10)
    /// This node's name in the leader key and in status; the host name unless given.
    public var nodeName: String

    public static func == (a: ClusterSettings, b: ClusterSettings) -> Bool {
        (a.endpoints, a.caFile, a.certFile, a.keyFile, a.username) == (b.endpoints, b.caFile, b.certFile, b.keyFile, b.username)
            && (a.password?.description, a.prefix, a.leaseTTL, a.nodeName) == (b.password?.description, b.prefix, b.leaseTTL, b.nodeName)
    }
}

extension Duration {
    /// Seconds as a floating-point number.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// `90s`, `15m`, `4h`, `1h30m`.
    public static func parseConfig(_ text: String) -> Duration? {
        // One or more groups of digits and a unit.
        let units = Set("smh".utf8)
        let bytes = Array(text.utf8)
        guard let first = bytes.first, first.isASCIIDigit, let last = bytes.last, units.contains(last),
              bytes.allSatisfy({ $0.isASCIIDigit || units.contains($0) }),
              !zip(bytes, bytes.dropFirst()).contains(where: { units.contains($0) && units.contains($1) }) else { return nil }
        var total: Int64 = 0
        var number: Int64 = 0
        for character in text {
            if let digit = character.wholeNumberValue {
                let (product, overflow) = number.multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                number = product + Int64(digit)
            } else {
                let unit: Int64 = character == "s" ? 1 : character == "m" ? 60 : 3600
                let (part, overflow) = number.multipliedReportingOverflow(by: unit)
                guard !overflow, part < 100 * 365 * 86_400 else { return nil }
                total += part
                number = 0
            }
        }
        return .seconds(total)
    }

    /// The shortest config spelling (`4h`, `90s`).
    public var configText: String {
        let s = components.seconds
        if s > 0, s % 3600 == 0 { return "\(s / 3600)h" }
        if s > 0, s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}

extension ScheduleConfig {
    /// What the state machine follows for this schedule's runs.
    public var runPolicy: RunPolicy {
        RunPolicy(overlap: overlap, cancelWait: cancelWait.seconds, giveUpAfter: max(catchUp.seconds, 3600),
                  pollInitial: poll.initial.seconds, pollMax: poll.max.seconds, pollMultiplier: poll.multiplier,
                  pauseAfterFailures: pauseAfterFailures)
    }

    /// Where this schedule's slots build, as the journal records it.
    public var buildTarget: BuildTarget { target.buildTarget }
}

extension ConfigLoader.Defaults {
    /// The settings of runs whose schedule has left the config: they still finish.
    public var runPolicy: RunPolicy {
        RunPolicy(overlap: overlap, cancelWait: cancelWait.seconds, giveUpAfter: max(catchUp.seconds, 3600),
                  pollInitial: poll.initial.seconds, pollMax: poll.max.seconds, pollMultiplier: poll.multiplier,
                  pauseAfterFailures: pauseAfterFailures)
    }
}

// The journal's target and ARM's resource id: the one place they convert.
extension ImageTemplateID {
    public var buildTarget: BuildTarget {
        BuildTarget(subscriptionID: subscriptionID, resourceGroup: resourceGroup, template: name)
    }
}

extension BuildTarget {
    public var templateID: ImageTemplateID {
        ImageTemplateID(subscriptionID: subscriptionID, resourceGroup: resourceGroup, name: template)
    }
}

/// The slot timer runs on the configured schedules themselves.
extension ScheduleConfig: SlotSchedule {}
