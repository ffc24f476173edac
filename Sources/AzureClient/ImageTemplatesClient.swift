import FoundationEssentials
import Logging
import Synchronization
import Transport

/// How ARM acknowledged a Run or Cancel: the build itself is then followed through `lastRunStatus`.
public struct OperationAcceptance: Sendable {
    /// 200, 202 or 204.
    public var status: Int
    /// The `Azure-AsyncOperation` (or `Location`) URL ARM gave, if any.
    public var operationURL: URL?
    /// When the answer arrived.
    public var acceptedAt: Date
    public var ids: RequestIDs

    public init(status: Int, operationURL: URL? = nil, acceptedAt: Date, ids: RequestIDs) {
        self.status = status
        self.operationURL = operationURL
        self.acceptedAt = acceptedAt
        self.ids = ids
    }
}

/// The ten `Microsoft.VirtualMachineImages/imageTemplates` operations over ARM REST.
public final class ImageTemplatesClient: Sendable {
    public let configuration: AzureClientConfiguration
    /// The shared token cache (exposed so callers and tests can see refreshes).
    public let tokens: TokenCache
    private let transport: any HTTPTransport
    private let logger: Logger
    private let pause: @Sendable (Duration) async throws -> Void
    /// Paces requests per subscription inside ARM's limits; shared by every call of this client.
    public let pacer: RequestPacer
    private let traffic = Mutex<[String: [String: Int]]>([:])

    /// ARM's answers so far, per operation and per HTTP status (`transport` when none came): what the
    /// metrics export.
    public var answers: [String: [String: Int]] {
        traffic.withLock { $0 }
    }

    /// `sleep` is how the client waits between retries and operation polls (a daemon on a
    /// compressed clock passes its own).
    public init(configuration: AzureClientConfiguration, credential: any TokenCredential, transport: any HTTPTransport,
                logger: Logger = Logger(label: "imagebuildd.azure"),
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
                pacer: RequestPacer = RequestPacer()) throws(AzureError) {
        try configuration.validate()
        self.configuration = configuration
        pause = sleep
        self.pacer = pacer
        tokens = TokenCache(credential)
        self.transport = transport
        self.logger = logger
    }

    // MARK: Operations

    /// All templates in a subscription, following `nextLink`.
    public func list(subscriptionID: String) async throws(AzureError) -> [ImageTemplate] {
        try check(ImageTemplateID(subscriptionID: subscriptionID, resourceGroup: "rg", name: "x"))
        let path = "/subscriptions/\(escape(subscriptionID))/providers/Microsoft.VirtualMachineImages/imageTemplates"
        return try await pages("List", first: url(path))
    }

    /// All templates in a resource group, following `nextLink`.
    public func listByResourceGroup(subscriptionID: String, resourceGroup: String) async throws(AzureError) -> [ImageTemplate] {
        try check(ImageTemplateID(subscriptionID: subscriptionID, resourceGroup: resourceGroup, name: "x"))
        let path = "/subscriptions/\(escape(subscriptionID))/resourceGroups/\(escape(resourceGroup))/providers/Microsoft.VirtualMachineImages/imageTemplates"
        return try await pages("ListByResourceGroup", first: url(path))
    }

    /// One template, with its `lastRunStatus`.
    public func get(_ id: ImageTemplateID) async throws(AzureError) -> ImageTemplate {
        try check(id)
        let (response, ids) = try await call("Get", method: "GET", url: url(templatePath(id)), idempotent: true)
        return try decode(ImageTemplate.self, response, "Get", ids)
    }

    /// Creates or replaces a template (PUT), waiting for the long-running provisioning to end.
    public func createOrUpdate(_ id: ImageTemplateID, _ template: ImageTemplate) async throws(AzureError) -> ImageTemplate {
        try check(id)
        let body = try encode(template)
        let (response, ids) = try await call("CreateOrUpdate", method: "PUT", url: url(templatePath(id)), body: body, idempotent: true)
        if let operation = operationURL(response) {
            try await waitForOperation("CreateOrUpdate", operation, firstHint: response.retryAfter())
            return try await get(id)
        }
        return try decode(ImageTemplate.self, response, "CreateOrUpdate", ids)
    }

    /// Changes tags, identity or vmProfile in place (PATCH).
    public func update(_ id: ImageTemplateID, _ update: ImageTemplateUpdate) async throws(AzureError) -> ImageTemplate {
        try check(id)
        let body = try encode(update)
        let (response, ids) = try await call("Update", method: "PATCH", url: url(templatePath(id)), body: body, idempotent: true)
        if response.status == 202 || response.body.isEmpty {
            if let operation = operationURL(response) {
                try await waitForOperation("Update", operation, firstHint: response.retryAfter())
            }
            return try await get(id)
        }
        return try decode(ImageTemplate.self, response, "Update", ids)
    }

    /// Deletes a template: 204 at once, or 202 with a `Location` polled until the delete ends.
    public func delete(_ id: ImageTemplateID) async throws(AzureError) {
        try check(id)
        let (response, _) = try await call("Delete", method: "DELETE", url: url(templatePath(id)), idempotent: true)
        if response.status == 202, let operation = operationURL(response) {
            try await waitForOperation("Delete", operation, firstHint: response.retryAfter())
        }
    }

    /// Starts a build. Returns as soon as ARM accepts it: Run's operation stays InProgress for the
    /// whole build, so follow the build through `get(_:)`'s `lastRunStatus`. Never retried after a
    /// failure that may have reached ARM; that surfaces as `AzureError.ambiguous`.
    public func run(_ id: ImageTemplateID) async throws(AzureError) -> OperationAcceptance {
        try check(id)
        return try await post("Run", url(templatePath(id) + "/run"))
    }

    /// Asks ARM to cancel the running build (api-version 2020-02-14 and later). Never retried
    /// blindly either.
    public func cancel(_ id: ImageTemplateID) async throws(AzureError) -> OperationAcceptance {
        try check(id)
        guard configuration.apiVersion.prefix(10) >= "2020-02-14" else {
            throw .invalidArgument("Cancel needs api-version 2020-02-14 or later (configured: \(configuration.apiVersion))")
        }
        return try await post("Cancel", url(templatePath(id) + "/cancel"))
    }

    /// Every run output of the template's last run, following `nextLink`.
    public func listRunOutputs(_ id: ImageTemplateID) async throws(AzureError) -> [RunOutput] {
        try check(id)
        return try await pages("ListRunOutputs", first: url(templatePath(id) + "/runOutputs"))
    }

    /// One run output by its `runOutputName`.
    public func getRunOutput(_ id: ImageTemplateID, name: String) async throws(AzureError) -> RunOutput {
        try check(id)
        if let problem = Self.nameProblem(name, what: "run output name") { throw .invalidArgument(problem) }
        let (response, ids) = try await call("GetRunOutput", method: "GET", url: url(templatePath(id) + "/runOutputs/" + escape(name)), idempotent: true)
        return try decode(RunOutput.self, response, "GetRunOutput", ids)
    }

    // MARK: Long-running operations

    /// Polls an `Azure-AsyncOperation` or `Location` URL until the operation ends, honouring
    /// `Retry-After`. Throws `operationFailed` when it ends Failed or Canceled.
    public func waitForOperation(_ operation: String, _ operationURL: URL, firstHint: Duration? = nil) async throws(AzureError) {
        var hint = firstHint
        while true {
            try await sleep(hint ?? configuration.operationPollInterval)
            let (response, _) = try await call(operation + " (poll)", method: "GET", url: operationURL, idempotent: true)
            hint = response.retryAfter()
            if response.status == 202 { continue }
            struct Status: Decodable { var status: String?; var error: ARMErrorDetail? }
            let status = try? JSONDecoder().decode(Status.self, from: Data(response.body))
            switch status?.status?.lowercased() {
            case nil, "succeeded": return
            case "failed", "canceled", "cancelled":
                throw .operationFailed(operation: operation, status: status?.status ?? "", error: status?.error)
            default: continue
            }
        }
    }

    // MARK: Plumbing

    private func post(_ operation: String, _ url: URL) async throws(AzureError) -> OperationAcceptance {
        let (response, ids) = try await call(operation, method: "POST", url: url, idempotent: false)
        return OperationAcceptance(status: response.status, operationURL: operationURL(response), acceptedAt: Date(), ids: ids)
    }

    private func pages<T: Codable & Sendable>(_ operation: String, first: URL) async throws(AzureError) -> [T] {
        var items: [T] = []
        var next: URL? = first
        var seen: Set<String> = []
        while let current = next {
            guard seen.insert(current.absoluteString).inserted else {
                throw .decoding(operation: operation, reason: "nextLink repeats \(current)", ids: RequestIDs(clientRequestID: "-"))
            }
            let (response, ids) = try await call(operation, method: "GET", url: current, idempotent: true)
            let page = try decode(Page<T>.self, response, operation, ids)
            items += page.value
            next = try page.nextLink.flatMap { link throws(AzureError) in try sameOrigin(link, operation: operation) }
        }
        return items
    }

    /// Sends one logical request with retries, token refresh and request ids. Returns only 2xx.
    private func call(_ operation: String, method: String, url: URL, body: [UInt8]? = nil,
                      idempotent: Bool) async throws(AzureError) -> (HTTPResponseData, RequestIDs) {
        let policy = configuration.retry
        var attempt = 0
        var waited: Duration = .zero
        var rejected: String?
        var refreshedAfter401 = false
        while true {
            attempt += 1
            let token: AccessToken
            do {
                token = try await tokens.token(scope: configuration.scope, replacing: rejected)
            } catch let error as AzureError {
                throw error
            } catch {
                throw .authentication(credential: "token cache", reason: "\(error)")
            }
            rejected = nil
            let clientRequestID = UUID().uuidString.lowercased()
            var headers: [(String, String)] = [
                ("Authorization", "Bearer " + token.token), ("x-ms-client-request-id", clientRequestID),
                ("x-ms-return-client-request-id", "true"), ("Accept", "application/json"), ("User-Agent", configuration.userAgent),
            ]
            if body != nil { headers.append(("Content-Type", "application/json")) }
            let request = HTTPRequestData(method: method, url: url, headers: headers, body: body)
            var ids = RequestIDs(clientRequestID: clientRequestID)
            let subscription = Self.subscription(of: url)
            let isWrite = method != "GET"
            do {
                try await pacer.acquire(subscription: subscription, isWrite: isWrite)
            } catch {
                throw .transport(operation: operation, reason: "cancelled")
            }
            let outcome: Result<HTTPResponseData, TransportFailure>
            do {
                outcome = .success(try await transport.send(request, timeout: configuration.requestTimeout))
            } catch {
                outcome = .failure(error)
            }
            let failure: AzureError
            var hint: Duration?
            let code = switch outcome {
            case .success(let response): "\(response.status)"
            case .failure: "transport"
            }
            traffic.withLock { $0[operation, default: [:]][code, default: 0] += 1 }
            switch outcome {
            case .failure(let transportFailure):
                if case .maybeSent(let reason) = transportFailure, !idempotent {
                    throw .ambiguous(operation: operation, underlying: reason, ids: ids)
                }
                failure = .transport(operation: operation, reason: transportFailure.description)
            case .success(let response):
                let header = isWrite ? "x-ms-ratelimit-remaining-subscription-writes" : "x-ms-ratelimit-remaining-subscription-reads"
                if let remaining = response.header(header).flatMap({ Int($0) }) {
                    await pacer.observe(subscription: subscription, isWrite: isWrite, remaining: remaining)
                }
                ids.requestID = response.header("x-ms-request-id")
                ids.correlationRequestID = response.header("x-ms-correlation-request-id")
                if (200..<300).contains(response.status) {
                    logger.debug("ARM answered", metadata: metadata(operation, response.status, ids))
                    return (response, ids)
                }
                let envelope = ARMErrorDetail.parse(response.body)
                if response.status == 401, !refreshedAfter401,
                   ["expiredauthenticationtoken", "invalidauthenticationtoken"].contains(envelope?.code?.lowercased() ?? "") {
                    refreshedAfter401 = true
                    rejected = token.token
                    logger.info("ARM rejected the token; refreshing once", metadata: metadata(operation, 401, ids))
                    attempt -= 1
                    continue
                }
                failure = .http(status: response.status, operation: operation, error: envelope, ids: ids)
                guard RetryPolicy.retryableStatuses.contains(response.status) else { throw failure }
                // ARM throttles (429) before the provider sees the request; a 5xx or 408 may come after it acted.
                if !idempotent, response.status != 429 {
                    throw .ambiguous(operation: operation, underlying: "HTTP \(response.status)" + (envelope.map { " \($0)" } ?? ""), ids: ids)
                }
                hint = response.retryAfter()
            }
            let delay = policy.delay(afterAttempt: attempt, serverHint: hint)
            guard attempt < policy.maxAttempts, waited + delay <= policy.maxTotalDelay else {
                throw .retriesExhausted(operation: operation, attempts: attempt, last: failure.description)
            }
            var meta = metadata(operation, failure.status, ids)
            meta["retry_in_ms"] = "\(delay.nanoseconds / 1_000_000)"
            meta["attempt"] = "\(attempt)"
            logger.warning("ARM request failed; retrying: \(failure)", metadata: meta)
            try await sleep(delay)
            waited += delay
        }
    }

    /// The subscription a URL addresses (ARM's limits are per subscription).
    static func subscription(of url: URL) -> String {
        let parts = url.path.split(separator: "/")
        guard let index = parts.firstIndex(where: { $0.lowercased() == "subscriptions" }), index + 1 < parts.count else { return "" }
        return String(parts[index + 1])
    }

    private func metadata(_ operation: String, _ status: Int?, _ ids: RequestIDs) -> Logger.Metadata {
        var meta: Logger.Metadata = ["operation": "\(operation)", "x_ms_client_request_id": "\(ids.clientRequestID)"]
        if let status { meta["http_status"] = "\(status)" }
        if let id = ids.requestID { meta["x_ms_request_id"] = "\(id)" }
        if let id = ids.correlationRequestID { meta["x_ms_correlation_request_id"] = "\(id)" }
        return meta
    }

    private func sleep(_ duration: Duration) async throws(AzureError) {
        do { try await pause(duration) } catch { throw .transport(operation: "wait", reason: "cancelled") }
    }

    private func check(_ id: ImageTemplateID) throws(AzureError) {
        if let problem = id.validationProblem { throw .invalidArgument(problem) }
        if let problem = Self.nameProblem(id.name, what: "template name") { throw .invalidArgument(problem) }
    }

    /// Beyond ARM's character rules: nothing that a URL parser could read as a path step.
    static func nameProblem(_ name: String, what: String) -> String? {
        if name.isEmpty { return "\(what) is empty" }
        if name.contains("/") || name.contains("..") { return "\(what) \"\(name)\" must not contain '/' or '..'" }
        if name.count > 64 || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) {
            return "\(what) \"\(name)\" must match ^[A-Za-z0-9-_.]{1,64}$"
        }
        return nil
    }

    private func templatePath(_ id: ImageTemplateID) -> String {
        "/subscriptions/\(escape(id.subscriptionID))/resourceGroups/\(escape(id.resourceGroup))/providers/Microsoft.VirtualMachineImages/imageTemplates/\(escape(id.name))"
    }

    private func escape(_ segment: String) -> String {
        segment.percentEncoded(keeping: "-._~()")
    }

    private func url(_ path: String) -> URL {
        var base = configuration.resourceManagerEndpoint.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        return URL(string: base + path + "?api-version=" + configuration.apiVersion)!
    }

    /// A server-provided link, resolved against the endpoint; the bearer token only goes to ARM's origin.
    private func sameOrigin(_ link: String, operation: String) throws(AzureError) -> URL {
        let endpoint = configuration.resourceManagerEndpoint
        guard let resolved = URL(string: link, relativeTo: endpoint)?.absoluteURL,
              resolved.scheme?.lowercased() == endpoint.scheme?.lowercased(),
              resolved.host?.lowercased() == endpoint.host?.lowercased(), resolved.port == endpoint.port else {
            throw .decoding(operation: operation, reason: "link \(link) leaves \(endpoint)", ids: RequestIDs(clientRequestID: "-"))
        }
        return resolved
    }

    private func operationURL(_ response: HTTPResponseData) -> URL? {
        guard let link = response.header("Azure-AsyncOperation") ?? response.header("Location") else { return nil }
        return try? sameOrigin(link, operation: "operation")
    }

    private func decode<T: Decodable>(_ type: T.Type, _ response: HTTPResponseData, _ operation: String, _ ids: RequestIDs) throws(AzureError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(response.body))
        } catch {
            throw .decoding(operation: operation, reason: "\(error)", ids: ids)
        }
    }

    private func encode<T: Encodable>(_ value: T) throws(AzureError) -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(value))
        } catch {
            throw .invalidArgument("cannot encode request body: \(error)")
        }
    }
}
