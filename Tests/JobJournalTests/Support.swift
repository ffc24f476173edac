import Foundation
@testable import JobJournal

/// A fresh directory under the system temp dir, removed when the test ends.
final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array((NSTemporaryDirectory() + "/imagebuildd-test-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    var journal: String { path + "/journal" }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// The build products directory, where SwiftPM puts the test bundle and the executables next to it.
let productsDirectory: String = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return (exe as NSString).deletingLastPathComponent
}()

let target = BuildTarget(subscriptionID: "00000000-0000-0000-0000-000000000000", resourceGroup: "images", template: "ubuntu-2204-golden")

func slot(_ schedule: String, _ n: Int64) -> SlotKey {
    SlotKey(schedule: schedule, slotMillis: 1_800_000_000_000 + n * 86_400_000)
}

/// One record of every type, with strings that need escaping.
func everyEvent() -> [JournalEvent] {
    let key = slot("ubuntu-nightly", 1)
    let started = Date(journalMillis: 1_800_000_060_000)
    var snapshot = JournalState()
    var run = RunRecord(key: slot("win", 2))
    run.target = target
    run.dueAt = started
    run.requestedAt = started
    run.clientRequestID = "6f1c"
    run.acceptedAt = started
    run.buildTimeoutSeconds = 14_400
    run.lastStatus = RunStatus(runState: "Running", runSubState: "Customizing", message: nil, startedAt: started)
    snapshot.openRuns[run.key] = run
    var done = run
    done.key = slot("win", 1)
    done.outputs = [RunOutputRecord(name: "sig", artifactID: "/subscriptions/x/images/y", artifactURI: nil)]
    done.finishedAt = started
    done.outcome = .partiallySucceeded
    done.message = "one of two \"distributors\" failed\n"
    done.cancelRequestedAt = started
    done.cancelReason = .replace
    var cancelled = done
    cancelled.key = slot("win", 3)
    cancelled.cancelReason = .operator
    cancelled.cancelRequest = CancelRequest(requestedBy: "uid 1000 (alice)", note: "wrong base image")
    cancelled.outcome = .canceled
    snapshot.history["win"] = [done, cancelled]
    snapshot.lastSlot = ["win": slot("win", 2).slot, "ubuntu-nightly": key.slot]
    snapshot.counters.slotsDue = 7
    snapshot.counters.slotsSkipped = 2
    snapshot.counters.finished = [.partiallySucceeded: 1, .timedOut: 3]
    var facts = ScheduleFacts()
    facts.firstSeen = started.addingTimeInterval(-86_400)
    facts.lastRun = started
    facts.staleSince = started.addingTimeInterval(60)
    facts.runs = [.partiallySucceeded: 1, .timedOut: 3, .skipped: 2]
    snapshot.schedules["win"] = facts
    snapshot.schedules["new"] = ScheduleFacts()
    let pending = PendingNotification(key: "win@1/timedOut", event: "timedOut", schedule: "win",
                                      body: #"{"event": "timedOut", "text": "line\nwith \"quotes\" ü"}"#, sinks: ["sink-b", "sink-a"], queuedAt: started)
    snapshot.outbox[pending.key] = pending
    snapshot.discovered["images/ubuntu"] = DiscoveredSchedule(name: "images/ubuntu", template: "/subscriptions/s/resourceGroups/images/providers/Microsoft.VirtualMachineImages/imageTemplates/ubuntu",
                                                              tags: ["cron": "0 2 * * *", "schedule": "images/ubuntu"])
    return [
        .slotDue(key, target: target),
        .slotQueued(key),
        .slotSkipped(key, reason: "overlap: previous build still running"),
        .runRequested(key, clientRequestID: "0b5e1a2c-1111-4222-8333-944455556666"),
        .runRequested(key, clientRequestID: nil),
        .runAccepted(key, buildTimeoutSeconds: 3600),
        .runAccepted(key, buildTimeoutSeconds: nil),
        .statusObserved(key, RunStatus(runState: "Running", runSubState: "Building")),
        .statusObserved(key, RunStatus(runState: "failed", runSubState: nil, message: "tab\there, quote \" backslash \\ ünïcødé 🚀 \u{01}",
                                       startedAt: started, endedAt: started.addingTimeInterval(61))),
        .cancelRequested(key, reason: .timeout),
        .cancelRequested(key, reason: .operator, request: CancelRequest(requestedBy: "uid 0 (root)", note: "wrong \"base\"\nimage")),
        .cancelRequested(key, reason: .operator, request: CancelRequest(requestedBy: "uid 0 (root)")),
        .cancelObserved(key, RunStatus(runState: "Canceling")),
        .outputsRecorded(key, [RunOutputRecord(name: "managedImage", artifactID: "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/images/i"),
                               RunOutputRecord(name: "vhd", artifactURI: "https://example.blob.core.windows.net/vhds/x.vhd")]),
        .outputsRecorded(key, []),
        .finished(key, outcome: .succeeded, message: nil),
        .finished(key, outcome: .timedOut, message: "cancel did not complete within 30m; last state Canceling"),
        .scheduleSeen(schedule: "win"),
        .stale(schedule: "win"),
        .scheduleDiscovered(DiscoveredSchedule(name: "images/ubuntu", template: "/subscriptions/s/resourceGroups/images/providers/Microsoft.VirtualMachineImages/imageTemplates/ubuntu",
                                               tags: ["cron": "0 2 * * *", "timezone": "Europe/Berlin", "overlap": "queue \"quoted\""])),
        .scheduleRetired(schedule: "images/ubuntu", reason: "the imagebuildd.cron tag is gone"),
        .notifyQueued(pending),
        .notifyDone(key: pending.key, sink: "sink-a", delivered: true, attempts: 3),
        .notifyDone(key: pending.key, sink: "sink-b", delivered: false, attempts: 0),
        .snapshot(snapshot),
    ]
}
