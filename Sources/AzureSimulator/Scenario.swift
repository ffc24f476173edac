import FoundationEssentials

/// How one simulated template's builds go.
public struct TemplateBehavior: Codable, Sendable, Equatable {
    /// How a build ends.
    public enum Outcome: String, Codable, Sendable {
        case succeed, fail, partiallySucceed, hang
    }

    public var outcome: Outcome
    /// Seconds (real time, before `timeScale`) spent in each sub-state: Queued, Building, Customizing, Distributing.
    public var phaseSeconds: [Double]
    /// The message a failed build reports.
    public var failureMessage: String
    /// Seconds a cancel spends in Canceling; nil means a cancel never completes.
    public var cancelSeconds: Double?
    /// Seconds after Run during which `lastRunStatus` and run outputs still show the previous build,
    /// as ARM can lag behind an accepted Run.
    public var statusLagSeconds: Double

    public init(outcome: Outcome = .succeed, phaseSeconds: [Double] = [1, 1, 1, 1],
                failureMessage: String = "Customizer 'install-patches' failed: exit status 1", cancelSeconds: Double? = 1,
                statusLagSeconds: Double = 0) {
        self.outcome = outcome
        self.phaseSeconds = phaseSeconds
        self.failureMessage = failureMessage
        self.cancelSeconds = cancelSeconds
        self.statusLagSeconds = statusLagSeconds
    }

    enum CodingKeys: String, CodingKey { case outcome, phaseSeconds, failureMessage, cancelSeconds, cancelNeverCompletes, statusLagSeconds }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        outcome = try c.decodeIfPresent(Outcome.self, forKey: .outcome) ?? .succeed
        phaseSeconds = try c.decodeIfPresent([Double].self, forKey: .phaseSeconds) ?? [1, 1, 1, 1]
        failureMessage = try c.decodeIfPresent(String.self, forKey: .failureMessage) ?? "Customizer 'install-patches' failed: exit status 1"
        let never = try c.decodeIfPresent(Bool.self, forKey: .cancelNeverCompletes) ?? false
        cancelSeconds = never ? nil : (try c.decodeIfPresent(Double.self, forKey: .cancelSeconds) ?? 1)
        statusLagSeconds = try c.decodeIfPresent(Double.self, forKey: .statusLagSeconds) ?? 0
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(outcome, forKey: .outcome)
        try c.encode(phaseSeconds, forKey: .phaseSeconds)
        try c.encode(failureMessage, forKey: .failureMessage)
        if let cancelSeconds { try c.encode(cancelSeconds, forKey: .cancelSeconds) } else { try c.encode(true, forKey: .cancelNeverCompletes) }
        try c.encode(statusLagSeconds, forKey: .statusLagSeconds)
    }
}

/// A template that exists when the simulator starts.
public struct SeedTemplate: Codable, Sendable, Equatable {
    public var subscriptionId: String
    public var resourceGroup: String
    public var name: String
    public var location: String
    public var buildTimeoutInMinutes: Int?
    /// One run output per name, as distributors' `runOutputName`.
    public var runOutputNames: [String]
    public var behavior: TemplateBehavior
    /// Provisioning that failed (`provisioningState: Failed` with this error); nil provisions fine.
    public var provisioningError: ProvisioningFailure?
    public var stagingResourceGroup: String?
    public var tags: [String: String]?

    /// ARM's `provisioningError` of a template whose creation failed.
    public struct ProvisioningFailure: Codable, Sendable, Equatable {
        public var code: String
        public var message: String
        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    public init(subscriptionId: String = "00000000-0000-0000-0000-000000000000", resourceGroup: String = "images", name: String,
                location: String = "westeurope", buildTimeoutInMinutes: Int? = nil, runOutputNames: [String] = ["image"],
                behavior: TemplateBehavior = TemplateBehavior(), provisioningError: ProvisioningFailure? = nil,
                stagingResourceGroup: String? = nil, tags: [String: String]? = nil) {
        self.provisioningError = provisioningError
        self.stagingResourceGroup = stagingResourceGroup
        self.tags = tags
        self.subscriptionId = subscriptionId
        self.resourceGroup = resourceGroup
        self.name = name
        self.location = location
        self.buildTimeoutInMinutes = buildTimeoutInMinutes
        self.runOutputNames = runOutputNames
        self.behavior = behavior
    }
}

/// The service principal the token endpoint accepts.
public struct SimulatedPrincipal: Codable, Sendable, Equatable {
    public var tenantId: String
    public var clientId: String
    /// The client secret; a federated assertion is accepted when it equals `federatedToken`.
    public var clientSecret: String
    public var federatedToken: String

    public init(tenantId: String = "11111111-1111-1111-1111-111111111111", clientId: String = "22222222-2222-2222-2222-222222222222",
                clientSecret: String = "simulator-secret", federatedToken: String = "simulator-federated-token") {
        self.tenantId = tenantId
        self.clientId = clientId
        self.clientSecret = clientSecret
        self.federatedToken = federatedToken
    }
}

/// Everything `imagebuildd simulate --scenario FILE` reads (JSON); every member is optional.
public struct Scenario: Codable, Sendable {
    public var templates: [SeedTemplate]
    public var principal: SimulatedPrincipal
    /// Token lifetime in seconds.
    public var tokenLifetimeSeconds: Double
    /// Simulated seconds per real second for build phases (10 = ten times faster).
    public var timeScale: Double
    /// Items per page in list answers (so clients must follow `nextLink`).
    public var pageSize: Int
    /// Faults to inject, in order.
    public var faults: [FaultRule]
    /// Enforce ARM's per-subscription buckets (reads 250 burst at 25/s, writes 200 at 10/s), answering
    /// 429 with Retry-After when a client exceeds them.
    public var armRateLimits: Bool

    public init(templates: [SeedTemplate] = [], principal: SimulatedPrincipal = SimulatedPrincipal(), tokenLifetimeSeconds: Double = 3600,
                timeScale: Double = 1, pageSize: Int = 50, faults: [FaultRule] = [], armRateLimits: Bool = true) {
        self.templates = templates
        self.principal = principal
        self.tokenLifetimeSeconds = tokenLifetimeSeconds
        self.timeScale = timeScale
        self.pageSize = pageSize
        self.faults = faults
        self.armRateLimits = armRateLimits
    }

    enum CodingKeys: String, CodingKey { case templates, principal, tokenLifetimeSeconds, timeScale, pageSize, faults, armRateLimits }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Scenario()
        templates = try c.decodeIfPresent([SeedTemplate].self, forKey: .templates) ?? d.templates
        principal = try c.decodeIfPresent(SimulatedPrincipal.self, forKey: .principal) ?? d.principal
        tokenLifetimeSeconds = try c.decodeIfPresent(Double.self, forKey: .tokenLifetimeSeconds) ?? d.tokenLifetimeSeconds
        timeScale = try c.decodeIfPresent(Double.self, forKey: .timeScale) ?? d.timeScale
        pageSize = try c.decodeIfPresent(Int.self, forKey: .pageSize) ?? d.pageSize
        faults = try c.decodeIfPresent([FaultRule].self, forKey: .faults) ?? d.faults
        armRateLimits = try c.decodeIfPresent(Bool.self, forKey: .armRateLimits) ?? d.armRateLimits
    }
}

/// The operations the simulator tells apart, for fault rules and the request log.
public enum SimulatedOperation: String, Codable, Sendable, CaseIterable {
    case list, listByResourceGroup, get, createOrUpdate, update, delete, run, cancel, listRunOutputs, getRunOutput
    case operationStatus, token, openIDConfiguration, managedIdentityToken
    /// `GET /simulator/requests`: the request log's counts, for tools outside the process.
    case simulatorStatistics
    /// `POST /simulator/faults`: one more fault rule, for tools outside the process.
    case simulatorFaults

    /// Whether ARM (not an identity endpoint) serves this operation; a fault rule without an
    /// operation applies to these.
    public var isARM: Bool { ![.token, .openIDConfiguration, .managedIdentityToken, .simulatorStatistics, .simulatorFaults].contains(self) }
}

/// What a fault does to a matching request.
public enum Fault: Sendable, Equatable {
    /// Answer with this status and ARM's error envelope, optionally with `Retry-After` seconds.
    case status(Int, retryAfterSeconds: Int?)
    /// Delay the answer.
    case latency(milliseconds: Int)
    /// Close the connection without processing the request.
    case dropConnection
    /// Process the request, then close the connection without answering.
    case dropAfterProcessing
    /// Process the request only after this long, as if it were still on the wire; then answer at once.
    case hold(milliseconds: Int)
}

/// Applies `fault` to the next `count` requests of `operation` (any ARM operation when nil).
///
/// In a scenario file: `{"operation": "get", "count": 3, "status": 429, "retryAfterSeconds": 2}`,
/// `{"latencyMs": 800}`, `{"holdMs": 6000}` (processed that much later), `{"drop": "before"}` or
/// `{"drop": "after"}` (after processing). `POST /simulator/faults` with one such object adds it at run time, ahead of the others
/// (the first rule that matches a request applies).
public struct FaultRule: Codable, Sendable, Equatable {
    public var operation: SimulatedOperation?
    /// Only requests about this template (by name, any case); any when nil.
    public var template: String?
    public var fault: Fault
    public var count: Int

    public init(_ fault: Fault, on operation: SimulatedOperation? = nil, template: String? = nil, count: Int = 1) {
        self.operation = operation
        self.template = template
        self.fault = fault
        self.count = count
    }

    enum CodingKeys: String, CodingKey { case operation, template, count, status, retryAfterSeconds, latencyMs, holdMs, drop }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        operation = try c.decodeIfPresent(SimulatedOperation.self, forKey: .operation)
        template = try c.decodeIfPresent(String.self, forKey: .template)
        count = try c.decodeIfPresent(Int.self, forKey: .count) ?? 1
        if let status = try c.decodeIfPresent(Int.self, forKey: .status) {
            fault = .status(status, retryAfterSeconds: try c.decodeIfPresent(Int.self, forKey: .retryAfterSeconds))
        } else if let latency = try c.decodeIfPresent(Int.self, forKey: .latencyMs) {
            fault = .latency(milliseconds: latency)
        } else if let hold = try c.decodeIfPresent(Int.self, forKey: .holdMs) {
            fault = .hold(milliseconds: hold)
        } else if let drop = try c.decodeIfPresent(String.self, forKey: .drop) {
            switch drop {
            case "before": fault = .dropConnection
            case "after": fault = .dropAfterProcessing
            default:
                throw DecodingError.dataCorruptedError(forKey: .drop, in: c, debugDescription: "expected \"before\" or \"after\", got \"\(drop)\"")
            }
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath,
                                                    debugDescription: "a fault needs one of \"status\", \"latencyMs\", \"holdMs\" or \"drop\""))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(operation, forKey: .operation)
        try c.encodeIfPresent(template, forKey: .template)
        try c.encode(count, forKey: .count)
        switch fault {
        case .status(let status, let retryAfter):
            try c.encode(status, forKey: .status)
            try c.encodeIfPresent(retryAfter, forKey: .retryAfterSeconds)
        case .latency(let milliseconds): try c.encode(milliseconds, forKey: .latencyMs)
        case .hold(let milliseconds): try c.encode(milliseconds, forKey: .holdMs)
        case .dropConnection: try c.encode("before", forKey: .drop)
        case .dropAfterProcessing: try c.encode("after", forKey: .drop)
        }
    }
}
