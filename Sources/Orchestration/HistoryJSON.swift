import AzureClient
import FoundationEssentials
import JobJournal
import Transport

/// The `history --json` contract of ARCHITECTURE.md: add keys, never change them.
public enum HistoryJSON {
    /// A JSON string literal, or `null`.
    public static func quoted(_ s: String?) -> String {
        guard let s else { return "null" }
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += "\\u" + String(scalar.value, radix: 16).zeroPadded(to: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Runs as the JSON array `history --json` prints.
    public static func array(_ runs: [RunRecord]) -> String {
        array(runs.map(object))
    }

    /// Rendered JSON values as an array, one per line.
    public static func array(_ items: [String]) -> String {
        "[" + items.joined(separator: ",\n ") + "]"
    }

    /// Members (name, rendered JSON value) as an object, in the order given.
    public static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }

    /// One run as `history --json` shows it; also the `run` of a notification.
    public static func object(_ run: RunRecord) -> String {
        let str = quoted
        func time(_ d: Date?) -> String { str(d.map(RFC3339.string)) }
        let outputs = run.outputs.map { "{\"name\": \(str($0.name)), \"artifact_id\": \(str($0.artifactID)), \"artifact_uri\": \(str($0.artifactURI))}" }
        let fields: [(String, String)] = [
            ("schedule", str(run.key.schedule)), ("template", str(run.target?.template)),
            ("subscription_id", str(run.target?.subscriptionID)), ("resource_group", str(run.target?.resourceGroup)),
            ("slot", time(run.key.slot)), ("requested_at", time(run.requestedAt)), ("started_at", time(run.lastStatus?.startedAt)),
            ("ended_at", time(run.lastStatus?.endedAt ?? (run.outcome == nil ? nil : run.finishedAt))),
            ("outcome", str(run.outcome?.rawValue)), ("last_run_state", str(run.lastStatus?.runState)),
            ("last_run_substate", str(run.lastStatus?.runSubState)), ("message", str(run.message ?? (run.outcome == nil ? run.lastStatus?.message : nil))),
            ("outputs", "[" + outputs.joined(separator: ", ") + "]"), ("cancel_requested_at", time(run.cancelRequestedAt)),
            ("cancel_reason", str(run.cancelReason?.rawValue)), ("accepted_at", time(run.acceptedAt)), ("finished_at", time(run.finishedAt)),
            ("trigger", str(run.key.manual ? "manual" : "schedule")), ("requested_by", str(run.trigger?.requestedBy)),
            ("trigger_reason", str(run.trigger?.reason)), ("cancel_requested_by", str(run.cancelRequest?.requestedBy)),
            ("cancel_note", str(run.cancelRequest?.note)),
        ]
        return object(fields)
    }
}
