import Foundation
import Testing
@testable import AzureClient

/// The official examples (copied verbatim from Azure/azure-rest-api-specs) and api-version quirks.
@Suite struct ModelTests {
    static let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    static let examples = (try? FileManager.default.contentsOfDirectory(atPath: fixtures.appendingPathComponent("2025-10-01").path))?
        .filter { $0.hasSuffix(".json") }.sorted() ?? []

    static func load(_ name: String) throws -> JSONValue {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("2025-10-01").appendingPathComponent(name))
        return try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// Decodes `json` as `T`, re-encodes it, and checks nothing was lost or changed.
    static func roundTrip<T: Codable>(_ type: T.Type, _ json: JSONValue) throws -> T {
        let bytes = try JSONEncoder().encode(json)
        let value = try JSONDecoder().decode(T.self, from: bytes)
        let again = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
        #expect(again == json, "round trip of \(T.self) changed the JSON")
        return value
    }

    @Test func thereAreThirteenExamples() {
        #expect(Self.examples.count == 13)
    }

    @Test(arguments: examples)
    func everyExampleDecodesAndRoundTrips(file: String) throws {
        let example = try Self.load(file)
        guard case .object(let responses)? = example["responses"] else { Issue.record("no responses"); return }
        var decoded = 0
        for (status, response) in responses {
            guard let body = response["body"] else { continue }
            switch file {
            case "ListImageTemplates.json", "ListImageTemplatesByRg.json":
                let page = try Self.roundTrip(Page<ImageTemplate>.self, body)
                #expect(!page.value.isEmpty, "\(file) \(status)")
            case "ListRunOutputs.json":
                let page = try Self.roundTrip(Page<RunOutput>.self, body)
                #expect(page.value.allSatisfy { $0.properties?.artifactId != nil || $0.properties?.artifactUri != nil })
            case "GetRunOutput.json":
                let output = try Self.roundTrip(RunOutput.self, body)
                #expect(output.properties?.artifactId != nil)
            default:
                let template = try Self.roundTrip(ImageTemplate.self, body)
                #expect(template.name == "myImageTemplate")
                #expect(template.properties?.source != nil, "\(file) \(status)")
            }
            decoded += 1
        }
        if let parameters = example["parameters"]?["parameters"] {
            if file.hasPrefix("Update") { _ = try Self.roundTrip(ImageTemplateUpdate.self, parameters) }
            else { _ = try Self.roundTrip(ImageTemplate.self, parameters) }
            decoded += 1
        }
        let hasBodies = !["CancelImageBuild.json", "DeleteImageTemplate.json", "RunImageTemplate.json"].contains(file)
        #expect(hasBodies == (decoded > 0), "\(file): decoded \(decoded) bodies")
    }

    @Test func unionsAndFieldsAreTyped() throws {
        let linux = try JSONDecoder().decode(ImageTemplate.self, from: JSONEncoder().encode(Self.load("CreateImageTemplateLinux.json")["parameters"]!["parameters"]!))
        let windows = try JSONDecoder().decode(ImageTemplate.self, from: JSONEncoder().encode(Self.load("CreateImageTemplateWindows.json")["parameters"]!["parameters"]!))
        guard case .managedImage(let source)? = windows.properties?.source else { Issue.record("source"); return }
        #expect(source.imageId?.hasSuffix("source_image") == true)
        let kinds = windows.properties?.customize?.map { customizer -> String in
            switch customizer {
            case .shell: "shell"
            case .powerShell: "powerShell"
            case .windowsRestart: "restart"
            case .windowsUpdate: "update"
            case .file: "file"
            case .unknown(let type, _): "unknown:\(type)"
            }
        } ?? []
        #expect(kinds.contains("powerShell") && kinds.contains("restart") && kinds.contains("update"))
        #expect(!kinds.contains { $0.hasPrefix("unknown") })
        // A member this client does not model survives as an additional member.
        if case .powerShell(let step)? = windows.properties?.customize?.first(where: { if case .powerShell(let s) = $0 { s.additionalMembers["runElevated"] != nil } else { false } }) {
            #expect(step.additionalMembers["runElevated"] == .bool(true))
        } else {
            Issue.record("runElevated was not kept")
        }
        #expect(linux.properties?.distribute?.compactMap(\.runOutputName).isEmpty == false)
        #expect(linux.properties?.effectiveBuildTimeoutMinutes ?? 0 > 0)
    }

    @Test func unknownDiscriminatorsAndEnumsAreKeptVerbatim() throws {
        let json = #"""
        {"location":"westus","properties":{
          "source":{"type":"ISO","sourceURI":"https://example.com/x.iso","sha256Checksum":"abc"},
          "customize":[{"type":"Ansible","playbook":"site.yml"}],
          "distribute":[{"type":"Ami","runOutputName":"aws","region":"eu-west-1"}],
          "validate":{"inVMValidations":[{"type":"Pester","name":"p"}]},
          "provisioningState":"Migrating",
          "lastRunStatus":{"runState":"Hibernating","runSubState":"Thinking","startTime":"2026-03-29T00:59:00.1234567Z"}}}
        """#
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
        let template = try Self.roundTrip(ImageTemplate.self, value)
        guard case .unknown(let type, let raw)? = template.properties?.source else { Issue.record("source"); return }
        #expect(type == "ISO" && raw["sourceURI"] == .string("https://example.com/x.iso"))
        guard case .unknown("Ansible", _)? = template.properties?.customize?.first else { Issue.record("customizer"); return }
        #expect(template.properties?.distribute?.first?.runOutputName == "aws")
        guard case .unknown("Pester", _)? = template.properties?.validate?.inVMValidations?.first else { Issue.record("validator"); return }
        #expect(template.properties?.provisioningState == .unknown("Migrating"))
        let status = try #require(template.properties?.lastRunStatus)
        #expect(status.runState == .unknown("Hibernating") && status.runSubState == .unknown("Thinking"))
        #expect(status.runState?.isTerminal == false)
        let start = try #require(status.startTime?.date)
        #expect(abs(start.timeIntervalSince1970 - 1_774_745_940.1234567) < 0.001)
    }

    @Test func runStatesCompareCaseInsensitivelyAcrossAPIVersions() throws {
        // 2018-02-01-preview spells states in lower camel case; later versions in Pascal case.
        let spec = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("2018-02-01-preview/imagebuilder.json")))
        guard case .array(let states)? = spec["definitions"]?["ImageTemplateLastRunStatus"]?["properties"]?["runState"]?["enum"] else {
            Issue.record("2018 spec has no runState enum"); return
        }
        let decoded = try states.map { try JSONDecoder().decode(RunState.self, from: JSONEncoder().encode($0)) }
        #expect(decoded == [.ready, .running, .succeeded, .partiallySucceeded, .failed])
        #expect(RunState(rawValue: "CANCELED") == .canceled && RunState(rawValue: "canceling") == .canceling)
        #expect(RunSubState(rawValue: "distributing") == .distributing)
        #expect(RunState.canceled.isTerminal && !RunState.canceling.isTerminal && !RunState.running.isTerminal)
    }

    @Test func errorEnvelopeParsesNestedDetails() {
        let body = #"{"error":{"code":"InvalidTemplate","message":"bad","target":"properties.source","details":[{"code":"Inner","message":"deeper"}]}}"#
        let detail = ARMErrorDetail.parse(Array(body.utf8))
        #expect(detail?.code == "InvalidTemplate" && detail?.target == "properties.source" && detail?.details?.first?.code == "Inner")
        #expect(detail?.description.contains("Inner: deeper") == true)
    }
}
