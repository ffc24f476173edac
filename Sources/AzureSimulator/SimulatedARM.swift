import FoundationEssentials
import Synchronization

/// The simulator's world: templates, builds, tokens, operations, injected faults and the request log.
/// Every request is handled under one lock, so its state changes are atomic.
final class SimulatedARM: Sendable {
    private struct Template: Sendable {
        var subscription: String
        var resourceGroup: String
        var name: String
        /// The resource as last PUT/PATCHed, without server-computed members.
        var definition: JSON
        var behavior: TemplateBehavior
        var build: Build?
        /// The build before `build`, still shown while ARM lags behind a new Run.
        var previousBuild: Build?
        var provisionedAt: Date
        var provisioningError: SeedTemplate.ProvisioningFailure?

        /// The build ARM reports at `now`.
        func visibleBuild(at now: Date) -> Build? {
            guard let build, now < build.startedAt.addingTimeInterval(build.behavior.statusLagSeconds / build.timeScale) else { return build }
            return previousBuild
        }
    }

    private enum Operation: Sendable {
        case run(template: String, build: String)
        case cancel(template: String, build: String)
        case provision(readyAt: Date)
        case delete(readyAt: Date)
    }

    private struct State: Sendable {
        var scenario: Scenario
        var templates: [String: Template] = [:]
        var operations: [String: Operation] = [:]
        var tokens: [String: Date] = [:]
        var tokensIssued = 0
        var faults: [FaultRule] = []
        var log: [LoggedRequest] = []
        var buckets: [String: (tokens: Double, updated: ContinuousClock.Instant)] = [:]
    }

    /// ARM's published per-subscription limits: (burst, refill per second).
    static let readLimit = (burst: 250.0, perSecond: 25.0)
    static let writeLimit = (burst: 200.0, perSecond: 10.0)

    private let state: Mutex<State>
    private let provider = "Microsoft.VirtualMachineImages"

    init(scenario: Scenario) {
        var initial = State(scenario: scenario)
        initial.faults = scenario.faults
        state = Mutex(initial)
        for seed in scenario.templates { add(seed) }
    }

    // MARK: Test and operator controls

    func add(_ seed: SeedTemplate) {
        var distribute: [JSON] = []
        for name in seed.runOutputNames {
            distribute.append(["type": "ManagedImage", "runOutputName": .string(name), "location": .string(seed.location),
                               "imageId": .string("/subscriptions/\(seed.subscriptionId)/resourceGroups/\(seed.resourceGroup)/providers/Microsoft.Compute/images/\(seed.name)-\(name)")])
        }
        var properties: JSON = [
            "source": ["type": "PlatformImage", "publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts", "version": "latest"],
            "customize": [["type": "Shell", "name": "patch", "inline": ["sudo apt-get update", "sudo apt-get -y upgrade"]]],
            "distribute": .array(distribute),
            "vmProfile": ["vmSize": "Standard_D2s_v3"],
        ]
        if let minutes = seed.buildTimeoutInMinutes { properties["buildTimeoutInMinutes"] = .int(minutes) }
        if let staging = seed.stagingResourceGroup {
            properties["stagingResourceGroup"] = .string("/subscriptions/\(seed.subscriptionId)/resourceGroups/\(staging)")
        }
        let identity = "/subscriptions/\(seed.subscriptionId)/resourceGroups/\(seed.resourceGroup)/providers/Microsoft.ManagedIdentity/userAssignedIdentities/image-builder"
        let tags = (seed.tags ?? ["purpose": "golden-image"]).mapValues(JSON.string)
        let data: JSON = ["location": .string(seed.location), "properties": properties, "tags": .object(tags),
                          "identity": ["type": "UserAssigned", "userAssignedIdentities": .object([identity: [:]])]]
        state.withLock {
            $0.templates[Self.key(seed.subscriptionId, seed.resourceGroup, seed.name)] =
                Template(subscription: seed.subscriptionId, resourceGroup: seed.resourceGroup, name: seed.name,
                         definition: data, behavior: seed.behavior, build: nil, previousBuild: nil, provisionedAt: .distantPast,
                         provisioningError: seed.provisioningError)
        }
    }

    func setBehavior(subscription: String, resourceGroup: String, name: String, _ behavior: TemplateBehavior) {
        state.withLock { $0.templates[Self.key(subscription, resourceGroup, name)]?.behavior = behavior }
    }

    func setTags(subscription: String, resourceGroup: String, name: String, _ tags: [String: String]) {
        state.withLock { $0.templates[Self.key(subscription, resourceGroup, name)]?.definition["tags"] = .object(tags.mapValues(JSON.string)) }
    }

    func remove(subscription: String, resourceGroup: String, name: String) {
        state.withLock { $0.templates[Self.key(subscription, resourceGroup, name)] = nil }
    }

    func inject(_ rule: FaultRule) { state.withLock { $0.faults.append(rule) } }
    func clearFaults() { state.withLock { $0.faults = [] } }
    func expireTokens() { state.withLock { $0.tokens = $0.tokens.mapValues { _ in .distantPast } } }
    var requests: [LoggedRequest] { state.withLock { $0.log } }
    var tokensIssued: Int { state.withLock { $0.tokensIssued } }
    var principal: SimulatedPrincipal { state.withLock { $0.scenario.principal } }

    // MARK: Dispatch

    /// - Parameter faultsApply: false for a held request coming back: its fault was spent when it arrived.
    func handle(_ request: SimRequest, base: String, now: Date, faultsApply: Bool = true) -> SimResponse {
        state.withLock { state in
            let (operation, template) = Self.classify(request)
            var response: SimResponse
            var process = true
            var dropAfter = false
            var latency = 0.0
            if faultsApply, let operation, let index = state.faults.firstIndex(where: { rule in
                rule.count > 0 && (rule.operation == operation || (rule.operation == nil && operation.isARM))
                    && (rule.template == nil || rule.template?.lowercased() == template?.lowercased())
            }) {
                state.faults[index].count -= 1
                switch state.faults[index].fault {
                case .status(let status, let retryAfter):
                    process = false
                    response = Self.faultResponse(status, retryAfter: retryAfter)
                    log(&state, request, operation, template, response.status, now)
                    return response
                case .latency(let milliseconds): latency = Double(milliseconds) / 1000
                case .dropConnection: process = false
                case .dropAfterProcessing: dropAfter = true
                case .hold(let milliseconds):
                    var held = SimResponse(status: 0)
                    held.hold = Double(milliseconds) / 1000
                    return held
                }
            }
            if !process {
                log(&state, request, operation, template, nil, now)
                return SimResponse(status: 0, drop: true)
            }
            if let operation, operation.isARM, operation != .operationStatus, state.scenario.armRateLimits {
                let isWrite = request.method != "GET"
                let (remaining, retryAfter) = takeToken(&state, request, isWrite: isWrite)
                if let retryAfter {
                    response = .armError(429, "SubscriptionRequestsThrottled",
                                         "Number of \(isWrite ? "write" : "read") requests for subscription exceeded the limit.",
                                         headers: [("Retry-After", String(retryAfter))])
                    log(&state, request, operation, template, 429, now)
                    return response
                }
                response = route(&state, request, operation, base: base, now: now)
                response.headers.append((isWrite ? "x-ms-ratelimit-remaining-subscription-writes" : "x-ms-ratelimit-remaining-subscription-reads", String(remaining)))
            } else {
                response = route(&state, request, operation, base: base, now: now)
            }
            response.latency = latency
            if dropAfter { response.drop = true }
            log(&state, request, operation, template, dropAfter ? nil : response.status, now)
            return response
        }
    }

    /// Takes a token from the subscription's bucket (real time, like ARM): the tokens left, or the
    /// whole seconds to wait when none is left.
    private func takeToken(_ state: inout State, _ request: SimRequest, isWrite: Bool) -> (remaining: Int, retryAfter: Int?) {
        let subscription = request.path.split(separator: "/").dropFirst().first.map { $0.lowercased() } ?? ""
        let key = (isWrite ? "w/" : "r/") + subscription
        let limit = isWrite ? Self.writeLimit : Self.readLimit
        let now = ContinuousClock.now
        var bucket = state.buckets[key] ?? (tokens: limit.burst, updated: now)
        let elapsed = bucket.updated.duration(to: now)
        bucket.tokens = min(limit.burst, bucket.tokens + limit.perSecond * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
        bucket.updated = now
        defer { state.buckets[key] = bucket }
        guard bucket.tokens >= 1 else {
            return (0, Int(((1 - bucket.tokens) / limit.perSecond).rounded(.up)))
        }
        bucket.tokens -= 1
        return (Int(bucket.tokens), nil)
    }

    private func log(_ state: inout State, _ request: SimRequest, _ operation: SimulatedOperation?, _ template: String?, _ status: Int?, _ now: Date) {
        state.log.append(LoggedRequest(at: now, method: request.method, path: request.path, operation: operation, status: status,
                                       template: template, apiVersion: request.query["api-version"],
                                       hadClientRequestID: request.header("x-ms-client-request-id") != nil))
    }

    private static func faultResponse(_ status: Int, retryAfter: Int?) -> SimResponse {
        let code = switch status {
        case 429: "SubscriptionRequestsThrottled"
        case 503: "ServiceUnavailable"
        case 500: "InternalServerError"
        case 502: "BadGateway"
        case 504: "GatewayTimeout"
        default: "InjectedFault"
        }
        let headers = retryAfter.map { [("Retry-After", String($0))] } ?? []
        return .armError(status, code, "Injected fault: HTTP \(status).", headers: headers)
    }

    /// Which operation a request is, and the template it names.
    static func classify(_ request: SimRequest) -> (SimulatedOperation?, String?) {
        let s = request.path.split(separator: "/").map(String.init)
        let l = s.map { $0.lowercased() }
        let m = request.method
        if l.count == 4, l[1] == "oauth2", l[2] == "v2.0", l[3] == "token", m == "POST" { return (.token, nil) }
        if l.count == 4, l[1] == "v2.0", l[2] == ".well-known", l[3] == "openid-configuration" { return (.openIDConfiguration, nil) }
        if l == ["metadata", "identity", "oauth2", "token"] || l == ["msi", "token"] { return (.managedIdentityToken, nil) }
        if l == ["simulator", "requests"], m == "GET" { return (.simulatorStatistics, nil) }
        if l == ["simulator", "faults"], m == "POST" { return (.simulatorFaults, nil) }
        guard l.first == "subscriptions", l.count >= 5 else { return (nil, nil) }
        if l.count == 5, l[2] == "providers", l[4] == "imagetemplates", m == "GET" { return (.list, nil) }
        if l.count == 8, l[2] == "providers", l[4] == "locations", l[6] == "operations" { return (.operationStatus, nil) }
        guard l.count >= 7, l[2] == "resourcegroups", l[4] == "providers", l[5] == "microsoft.virtualmachineimages",
              l[6] == "imagetemplates" else { return (nil, nil) }
        if l.count == 7 { return (m == "GET" ? .listByResourceGroup : nil, nil) }
        let name = s[7]
        switch (l.count, m, l.count > 8 ? l[8] : "") {
        case (8, "GET", _): return (.get, name)
        case (8, "PUT", _): return (.createOrUpdate, name)
        case (8, "PATCH", _): return (.update, name)
        case (8, "DELETE", _): return (.delete, name)
        case (9, "POST", "run"): return (.run, name)
        case (9, "POST", "cancel"): return (.cancel, name)
        case (9, "GET", "runoutputs"): return (.listRunOutputs, name)
        case (10, "GET", "runoutputs"): return (.getRunOutput, name)
        default: return (nil, name)
        }
    }

    private static func key(_ subscription: String, _ group: String, _ name: String) -> String {
        "\(subscription)/\(group)/\(name)".lowercased()
    }

    // MARK: Routes

    private func route(_ state: inout State, _ request: SimRequest, _ operation: SimulatedOperation?, base: String, now: Date) -> SimResponse {
        switch operation {
        case .token: return token(&state, request, now: now)
        case .openIDConfiguration: return openIDConfiguration(request, base: base)
        case .managedIdentityToken: return managedIdentityToken(&state, request, now: now)
        case .simulatorStatistics: return statistics(state)
        case .simulatorFaults:
            guard let rule = try? JSONDecoder().decode(FaultRule.self, from: Data(request.body)) else {
                return .armError(400, "InvalidFault", "Expected one fault rule, such as {\"operation\": \"run\", \"holdMs\": 6000}.")
            }
            // Ahead of the scenario's rules: the first rule that matches a request applies.
            state.faults.insert(rule, at: 0)
            return .json(201, .object(["faults": .int(state.faults.filter { $0.count > 0 }.count)]))
        case nil:
            return .armError(404, "NotFound", "No route for \(request.method) \(request.path).")
        default: break
        }
        if let denied = authenticate(state, request, now: now) { return denied }
        guard let apiVersion = request.query["api-version"], !apiVersion.isEmpty else {
            return .armError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
        }
        guard apiVersion.prefix(10) >= "2018-02-01", apiVersion.prefix(10) <= "2025-10-01" else {
            return .armError(400, "InvalidApiVersionParameter", "The api-version '\(apiVersion)' is invalid. The supported versions are '2018-02-01-preview' through '2025-10-01'.")
        }
        let lowerStates = apiVersion.hasPrefix("2018-") || apiVersion.hasPrefix("2019-")
        let s = request.path.split(separator: "/").map(String.init)
        switch operation! {
        case .list:
            let items = state.templates.values.filter { $0.subscription.lowercased() == s[1].lowercased() }
            return page(items, request, base: base, now: now, lowerStates: lowerStates, state: state)
        case .listByResourceGroup:
            let items = state.templates.values.filter {
                $0.subscription.lowercased() == s[1].lowercased() && $0.resourceGroup.lowercased() == s[3].lowercased()
            }
            return page(items, request, base: base, now: now, lowerStates: lowerStates, state: state)
        case .operationStatus:
            return operationStatus(state, id: s[7], now: now)
        default:
            break
        }
        let key = Self.key(s[1], s[3], s[7])
        switch operation! {
        case .createOrUpdate:
            return createOrUpdate(&state, request, key: key, segments: s, base: base, now: now, lowerStates: lowerStates)
        default: break
        }
        guard var template = state.templates[key] else {
            return .armError(404, "ResourceNotFound",
                             "The Resource '\(provider)/imageTemplates/\(s[7])' under resource group '\(s[3])' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix")
        }
        switch operation! {
        case .get:
            return .json(200, render(template, now: now, lowerStates: lowerStates))
        case .update:
            guard let patch = JSON.parse(request.body)?.object else {
                return .armError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
            }
            var resource = template.definition
            for (k, v) in patch where k != "properties" { resource[k] = v }
            if let props = patch["properties"]?.object {
                var current = resource["properties"] ?? [:]
                for (k, v) in props { current[k] = v }
                resource["properties"] = current
            }
            template.definition = resource
            state.templates[key] = template
            return .json(200, render(template, now: now, lowerStates: lowerStates))
        case .delete:
            if let build = template.build, build.status(at: now).isRunning {
                return .armError(409, "OperationNotAllowed", "Cannot delete an image template while a build is running.")
            }
            state.templates[key] = nil
            let id = UUID().uuidString.lowercased()
            state.operations[id] = .delete(readyAt: now.addingTimeInterval(0.2))
            return .empty(202, headers: [("Location", operationURL(base, s[1], id, apiVersion)), ("Retry-After", "1")])
        case .run:
            if let build = template.build, build.status(at: now).isRunning {
                return .armError(409, "OperationNotAllowed",
                                 "Cannot run image template '\(template.name)': a build is already running. Cancel it or wait for it to finish.")
            }
            let id = UUID().uuidString.lowercased()
            template.previousBuild = template.build
            template.build = Build(startedAt: now, behavior: template.behavior, timeScale: state.scenario.timeScale, operationID: id)
            state.templates[key] = template
            state.operations[id] = .run(template: key, build: id)
            return .empty(202, headers: [("Azure-AsyncOperation", operationURL(base, s[1], id, apiVersion)), ("Retry-After", "1")])
        case .cancel:
            guard apiVersion.prefix(10) >= "2020-02-14" else {
                return .armError(400, "InvalidResourceType", "Cancel is not supported in api-version '\(apiVersion)'.")
            }
            guard var build = template.build, build.status(at: now).runState == "Running" else {
                return .armError(409, "OperationNotAllowed", "Cannot cancel image template '\(template.name)': no build is running.")
            }
            let id = UUID().uuidString.lowercased()
            build.cancelRequestedAt = now
            build.cancelOperationID = id
            template.build = build
            state.templates[key] = template
            state.operations[id] = .cancel(template: key, build: build.operationID)
            return .empty(202, headers: [("Azure-AsyncOperation", operationURL(base, s[1], id, apiVersion)), ("Retry-After", "1")])
        case .listRunOutputs:
            let outputs = runOutputs(template, now: now)
            return .json(200, ["value": .array(outputs)])
        case .getRunOutput:
            guard let output = runOutputs(template, now: now).first(where: { $0["name"]?.string?.lowercased() == s[9].lowercased() }) else {
                return .armError(404, "ResourceNotFound", "Run output '\(s[9])' of image template '\(template.name)' was not found.")
            }
            return .json(200, output)
        default:
            return .armError(404, "NotFound", "No route for \(request.method) \(request.path).")
        }
    }

    private func createOrUpdate(_ state: inout State, _ request: SimRequest, key: String, segments s: [String], base: String,
                                now: Date, lowerStates: Bool) -> SimResponse {
        guard let body = JSON.parse(request.body), body.object != nil,
              body["location"]?.string != nil, let properties = body["properties"], properties.object != nil else {
            return .armError(400, "InvalidRequestContent", "The request content must be an image template with 'location' and 'properties'.")
        }
        guard (1...64).contains(s[7].utf8.count), s[7].unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }) else {
            return .armError(400, "InvalidTemplateName", "The image template name '\(s[7])' is invalid.")
        }
        if let existing = state.templates[key], let build = existing.build, build.status(at: now).isRunning {
            return .armError(409, "OperationNotAllowed", "Cannot update image template '\(existing.name)' while a build is running.")
        }
        guard properties["source"]?.object != nil, properties["distribute"]?.array != nil else {
            return .armError(400, "InvalidParameter", "Image template properties must include 'source' and 'distribute'.")
        }
        let created = state.templates[key] == nil
        var resource = body
        resource["id"] = nil
        resource["name"] = nil
        resource["type"] = nil
        var stored = resource["properties"] ?? [:]
        for computed in ["provisioningState", "provisioningError", "lastRunStatus", "exactStagingResourceGroup"] { stored[computed] = nil }
        resource["properties"] = stored
        let template = Template(subscription: s[1], resourceGroup: s[3], name: s[7],
                                definition: resource,
                                behavior: state.templates[key]?.behavior ?? TemplateBehavior(), build: state.templates[key]?.build,
                                previousBuild: state.templates[key]?.previousBuild,
                                provisionedAt: now.addingTimeInterval(0.3))
        state.templates[key] = template
        let id = UUID().uuidString.lowercased()
        state.operations[id] = .provision(readyAt: template.provisionedAt)
        return .json(created ? 201 : 200, render(template, now: now, lowerStates: lowerStates),
                     headers: [("Azure-AsyncOperation", operationURL(base, s[1], id, request.query["api-version"] ?? "")), ("Retry-After", "1")])
    }

    private func page(_ items: [Template], _ request: SimRequest, base: String, now: Date, lowerStates: Bool, state: State) -> SimResponse {
        let sorted = items.sorted { Self.key($0.subscription, $0.resourceGroup, $0.name) < Self.key($1.subscription, $1.resourceGroup, $1.name) }
        let offset = Int(request.query["$skipToken"] ?? "0") ?? 0
        let size = max(1, state.scenario.pageSize)
        let slice = sorted.dropFirst(offset).prefix(size)
        var body: JSON = ["value": .array(slice.map { render($0, now: now, lowerStates: lowerStates) })]
        if offset + size < sorted.count {
            var components = URLComponents(string: base + request.path)!
            components.queryItems = [URLQueryItem(name: "api-version", value: request.query["api-version"]),
                                     URLQueryItem(name: "$skipToken", value: String(offset + size))]
            body["nextLink"] = .string(components.url!.absoluteString)
        }
        return .json(200, body)
    }

    private func operationStatus(_ state: State, id: String, now: Date) -> SimResponse {
        guard let operation = state.operations[id] else {
            return .armError(404, "OperationNotFound", "Operation '\(id)' was not found.")
        }
        var status = "InProgress"
        var error: JSON?
        switch operation {
        case .provision(let readyAt): if now >= readyAt { status = "Succeeded" }
        case .delete(let readyAt): return .empty(now >= readyAt ? 204 : 202, headers: now >= readyAt ? [] : [("Retry-After", "1")])
        case .run(let key, let buildID):
            guard let build = state.templates[key]?.build, build.operationID == buildID else { status = "Failed"; break }
            switch build.status(at: now).runState {
            case "Succeeded", "PartiallySucceeded": status = "Succeeded"
            case "Failed":
                status = "Failed"
                error = ["code": "BuildFailed", "message": .string(build.status(at: now).message)]
            case "Canceled": status = "Canceled"
            default: break
            }
        case .cancel(let key, let buildID):
            guard let build = state.templates[key]?.build, build.operationID == buildID else { status = "Succeeded"; break }
            if !build.status(at: now).isRunning { status = "Succeeded" }
        }
        var body: JSON = ["name": .string(id), "status": .string(status)]
        if let error { body["error"] = error }
        return .json(200, body, headers: status == "InProgress" ? [("Retry-After", "1")] : [])
    }

    private func operationURL(_ base: String, _ subscription: String, _ id: String, _ apiVersion: String) -> String {
        "\(base)/subscriptions/\(subscription)/providers/\(provider)/locations/westeurope/operations/\(id)?api-version=\(apiVersion)"
    }

    /// The resource as ARM shows it: stored definition plus id, name, type and computed status.
    private func render(_ template: Template, now: Date, lowerStates: Bool) -> JSON {
        var resource = template.definition
        resource["id"] = .string("/subscriptions/\(template.subscription)/resourceGroups/\(template.resourceGroup)/providers/\(provider)/imageTemplates/\(template.name)")
        resource["name"] = .string(template.name)
        resource["type"] = .string("\(provider)/imageTemplates")
        var properties = resource["properties"] ?? [:]
        properties["provisioningState"] = now >= template.provisionedAt ? "Succeeded" : "Creating"
        if let failure = template.provisioningError {
            properties["provisioningState"] = "Failed"
            properties["provisioningError"] = ["provisioningErrorCode": .string(failure.code), "message": .string(failure.message)]
        }
        // ARM names the staging group it made, or echoes the one given.
        properties["exactStagingResourceGroup"] = properties["stagingResourceGroup"]
            ?? .string("/subscriptions/\(template.subscription)/resourceGroups/IT_\(template.resourceGroup)_\(template.name)_\(Self.stableSuffix(template.name))")
        if let build = template.visibleBuild(at: now) {
            let status = build.status(at: now)
            let cased: (String) -> String = { lowerStates ? $0.prefix(1).lowercased() + $0.dropFirst() : $0 }
            var last: JSON = ["startTime": .string(Self.timestamp(build.startedAt)), "runState": .string(cased(status.runState)),
                              "message": .string(status.message)]
            if let sub = status.runSubState { last["runSubState"] = .string(cased(sub)) }
            if let end = status.endTime { last["endTime"] = .string(Self.timestamp(end)) }
            properties["lastRunStatus"] = last
        }
        resource["properties"] = properties
        return resource
    }

    private func runOutputs(_ template: Template, now: Date) -> [JSON] {
        guard let build = template.visibleBuild(at: now), ["Succeeded", "PartiallySucceeded"].contains(build.status(at: now).runState) else { return [] }
        let distribute = template.definition["properties"]?["distribute"]?.array ?? []
        let base = "/subscriptions/\(template.subscription)/resourceGroups/\(template.resourceGroup)/providers/\(provider)/imageTemplates/\(template.name)"
        return distribute.compactMap { distributor in
            guard let name = distributor["runOutputName"]?.string else { return nil }
            var properties: JSON = ["provisioningState": "Succeeded"]
            switch (distributor["type"]?.string ?? "").lowercased() {
            case "vhd":
                properties["artifactUri"] = .string("https://imagebuilderstore.blob.core.windows.net/vhds/\(template.name)-\(build.operationID.prefix(8)).vhd")
            case "sharedimage":
                properties["artifactId"] = .string("\(distributor["galleryImageId"]?.string ?? "")/versions/1.0.\(Int(build.startedAt.timeIntervalSince1970) % 100000)")
            default:
                properties["artifactId"] = .string(distributor["imageId"]?.string ?? "")
            }
            return ["id": .string("\(base)/runOutputs/\(name)"), "name": .string(name), "type": .string("\(provider)/imageTemplates/runOutputs"),
                    "properties": properties]
        }
    }

    /// Eight hex digits that depend only on `name` (Swift's `hashValue` changes per process).
    static func stableSuffix(_ name: String) -> String {
        let hash = name.utf8.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 }
        return String(hash, radix: 16)
    }

    static func timestamp(_ date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }

    /// Counts of the requests served so far, for tools outside the process (soak, benchmarks).
    private func statistics(_ state: State) -> SimResponse {
        var byOperation: [String: [String: Int]] = [:]
        for entry in state.log {
            guard let operation = entry.operation, operation != .simulatorStatistics, operation != .simulatorFaults else { continue }
            byOperation[operation.rawValue, default: [:]][entry.status.map(String.init) ?? "dropped", default: 0] += 1
        }
        let arm = state.log.filter { $0.operation?.isARM == true }
        // Every Run and Cancel in order, so a test outside the process can check that no slot was run twice.
        let writes = state.log.filter { $0.operation == .run || $0.operation == .cancel }.map { entry -> JSON in
            .object(["operation": .string(entry.operation?.rawValue ?? ""), "template": .string(entry.template ?? ""),
                     "at": .string(Self.timestamp(entry.at)), "status": entry.status.map(JSON.int) ?? .null])
        }
        return .json(200, ["arm_requests": .int(arm.count), "throttled": .int(arm.filter { $0.status == 429 }.count),
                           "by_operation": .object(byOperation.mapValues { .object($0.mapValues(JSON.int)) }), "writes": .array(writes)])
    }

    // MARK: Identity

    private func authenticate(_ state: State, _ request: SimRequest, now: Date) -> SimResponse? {
        let challenge = [("WWW-Authenticate", "Bearer authorization_uri=\"https://login.windows.net/\", error=\"invalid_token\"")]
        guard let header = request.header("Authorization") else {
            return .armError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.", headers: challenge)
        }
        guard header.lowercased().hasPrefix("bearer "), let expiry = state.tokens[String(header.dropFirst(7))] else {
            return .armError(401, "InvalidAuthenticationToken", "The access token is invalid.", headers: challenge)
        }
        if expiry <= now {
            return .armError(401, "ExpiredAuthenticationToken",
                             "The access token expiry UTC time '\(Self.timestamp(expiry))' is earlier than current UTC time '\(Self.timestamp(now))'.",
                             headers: challenge)
        }
        return nil
    }

    private func issue(_ state: inout State, now: Date) -> (String, Double) {
        let token = "sim." + String(UUID().uuidString.lowercased().filter { $0 != "-" })
        let lifetime = state.scenario.tokenLifetimeSeconds
        state.tokens[token] = now.addingTimeInterval(lifetime)
        state.tokensIssued += 1
        return (token, lifetime)
    }

    private func token(_ state: inout State, _ request: SimRequest, now: Date) -> SimResponse {
        let principal = state.scenario.principal
        let form = request.form
        let tenant = request.path.split(separator: "/").first.map(String.init) ?? ""
        func oauthError(_ status: Int, _ error: String, _ description: String) -> SimResponse {
            .json(status, ["error": .string(error), "error_description": .string(description),
                           "error_codes": [.int(Int(description.dropFirst(5).prefix(while: \.isNumber)) ?? 0)]])
        }
        guard tenant.lowercased() == principal.tenantId.lowercased() else {
            return oauthError(400, "invalid_request", "AADSTS90002: Tenant '\(tenant)' not found.")
        }
        guard form["grant_type"] == "client_credentials" else {
            return oauthError(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
        }
        guard form["client_id"]?.lowercased() == principal.clientId.lowercased() else {
            return oauthError(400, "unauthorized_client", "AADSTS700016: Application with identifier '\(form["client_id"] ?? "")' was not found in the directory.")
        }
        guard let scope = form["scope"], scope.hasSuffix("/.default") else {
            return oauthError(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.")
        }
        if let secret = form["client_secret"] {
            guard secret == principal.clientSecret else {
                return oauthError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
            }
        } else if let assertion = form["client_assertion"],
                  form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
            guard assertion == principal.federatedToken else {
                return oauthError(400, "invalid_client", "AADSTS700211: No matching federated identity record found for presented assertion.")
            }
        } else {
            return oauthError(401, "invalid_client", "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
        }
        let (token, lifetime) = issue(&state, now: now)
        return .json(200, ["token_type": "Bearer", "expires_in": .int(Int(lifetime)), "ext_expires_in": .int(Int(lifetime)), "access_token": .string(token)])
    }

    private func managedIdentityToken(_ state: inout State, _ request: SimRequest, now: Date) -> SimResponse {
        if request.path.lowercased().hasPrefix("/msi/") {
            guard request.header("X-IDENTITY-HEADER") != nil else {
                return .json(401, ["error": "invalid_request", "error_description": "X-IDENTITY-HEADER is missing."])
            }
        } else if request.header("Metadata")?.lowercased() != "true" {
            return .json(400, ["error": "invalid_request", "error_description": "Required metadata header not specified"])
        }
        guard let resource = request.query["resource"], !resource.isEmpty else {
            return .json(400, ["error": "invalid_request", "error_description": "Required query variable 'resource' is missing"])
        }
        let (token, lifetime) = issue(&state, now: now)
        let expiresOn = Int(now.timeIntervalSince1970 + lifetime)
        return .json(200, ["access_token": .string(token), "client_id": .string(state.scenario.principal.clientId), "expires_in": "\(Int(lifetime))",
                           "expires_on": "\(expiresOn)", "ext_expires_in": "\(Int(lifetime))",
                           "not_before": "\(Int(now.timeIntervalSince1970))", "resource": .string(resource), "token_type": "Bearer"])
    }

    private func openIDConfiguration(_ request: SimRequest, base: String) -> SimResponse {
        let tenant = request.path.split(separator: "/").first.map(String.init) ?? "common"
        return .json(200, [
            "token_endpoint": "\(base)/\(tenant)/oauth2/v2.0/token",
            "authorization_endpoint": "\(base)/\(tenant)/oauth2/v2.0/authorize",
            "device_authorization_endpoint": "\(base)/\(tenant)/oauth2/v2.0/devicecode",
            "issuer": "\(base)/\(tenant)/v2.0",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "tenant_region_scope": "EU",
        ])
    }
}
