import AzureClient
import Foundation
import Scheduler

/// How `build_timeout` is set: from the template's `buildTimeoutInMinutes`, or fixed.
enum BuildTimeout: Sendable, Equatable {
    case template
    case fixed(Duration)

    /// The timeout for a template whose `buildTimeoutInMinutes` is `minutes` (0 or nil means 240).
    func seconds(templateMinutes minutes: Int?) -> Int64 {
        switch self {
        case .template: Int64((minutes ?? 0) > 0 ? minutes! : 240) * 60
        case .fixed(let duration): duration.components.seconds
        }
    }
}

/// Exponential polling of a running build.
struct PollSettings: Sendable, Equatable {
    var initial: Duration
    var max: Duration
    var multiplier: Double
}

/// The `azure:` section.
struct AzureSettings: Sendable, Equatable {
    enum CredentialKind: String, Sendable, CaseIterable { case clientSecret = "client-secret", workloadIdentity = "workload-identity",
                                                           managedIdentity = "managed-identity", `default` }
    var resourceManagerEndpoint = URL(string: "https://management.azure.com")!
    var authorityHost = URL(string: "https://login.microsoftonline.com")!
    var audience = "https://management.azure.com/"
    var caFile: String?
    var apiVersion = AzureClientConfiguration.defaultAPIVersion
    var credential = CredentialKind.default
    var tenantID: String?
    var clientID: String?
    var clientSecretFile: String?
}

/// One scheduled template with every default resolved.
struct ScheduleConfig: Sendable {
    var name: String
    var target: ImageTemplateID
    var cron: CronSchedule
    var timezone: String
    var overlap: OverlapPolicy
    var catchUp: Duration
    var jitter: Duration
    var buildTimeout: BuildTimeout
    var cancelWait: Duration
    var poll: PollSettings
}

/// The whole configuration file, validated.
struct DaemonConfig: Sendable {
    var file: String
    var azure: AzureSettings
    var stateDirectory: String
    var maxConcurrentBuilds: Int
    var schedules: [ScheduleConfig]
}

extension Duration {
    /// Seconds as a floating-point number.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// `90s`, `15m`, `4h`, `1h30m`.
    static func parseConfig(_ text: String) -> Duration? {
        guard !text.isEmpty, text.range(of: #"^(\d+[smh])+$"#, options: .regularExpression) != nil else { return nil }
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
    var configText: String {
        let s = components.seconds
        if s > 0, s % 3600 == 0 { return "\(s / 3600)h" }
        if s > 0, s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
