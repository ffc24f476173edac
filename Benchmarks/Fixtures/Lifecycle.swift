import JobJournal

/// Record `i` of schedule `w`'s history: runs of ten records each (due, requested, accepted, five
/// status changes, outputs, finished); the last run stays open, so 1,000 schedules leave 1,000 open runs.
public func lifecycleEvent(schedule w: Int, index i: Int, of count: Int, target: BuildTarget) -> JournalEvent {
    let key = SlotKey(schedule: "template-\(w)", slotMillis: 1_800_000_000_000 + Int64(i / 10) * 86_400_000)
    let lastRun = i / 10 == (count - 1) / 10
    switch i % 10 {
    case 0: return .slotDue(key, target: target)
    case 1: return .runRequested(key, clientRequestID: "0b5e1a2c-1111-4222-8333-\(w)-\(i)")
    case 2: return .runAccepted(key, buildTimeoutSeconds: 14_400)
    case 8 where !lastRun:
        return .outputsRecorded(key, [RunOutputRecord(name: "managedImage", artifactID: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/images/providers/Microsoft.Compute/images/golden-\(i)")])
    case 9 where !lastRun: return .finished(key, outcome: .succeeded, message: nil)
    default:
        let sub = ["Queued", "Building", "Customizing", "Validating", "Distributing"][i % 5]
        return .statusObserved(key, RunStatus(runState: "Running", runSubState: sub))
    }
}

/// Fills `journal` with `records` lifecycle records over `schedules` schedules, `target(w)` for schedule w.
public func fillJournal(_ journal: Journal, records: Int, schedules: Int, target: @escaping @Sendable (Int) -> BuildTarget) async {
    let perSchedule = records / schedules
    // One task per schedule keeps each run's records in lifecycle order; together they batch.
    await withTaskGroup(of: Void.self) { group in
        for w in 0..<schedules {
            group.addTask {
                for i in 0..<perSchedule {
                    _ = try! await journal.append(lifecycleEvent(schedule: w, index: i, of: perSchedule, target: target(w)))
                }
            }
        }
    }
}
