import FoundationEssentials

/// One simulated build: a state machine whose state is a pure function of elapsed time.
struct Build: Sendable {
    var startedAt: Date
    var behavior: TemplateBehavior
    var timeScale: Double
    var operationID: String
    var cancelRequestedAt: Date?
    var cancelOperationID: String?

    /// What `lastRunStatus` says at `now`.
    struct Status {
        var runState: String
        var runSubState: String?
        var endTime: Date?
        var message: String
        var isRunning: Bool { runState == "Running" || runState == "Canceling" }
    }

    private static let subStates = ["Queued", "Building", "Customizing", "Distributing"]

    /// Real seconds after `startedAt` at which the build ends by itself, or nil if it hangs.
    var naturalEnd: Double? {
        behavior.outcome == .hang ? nil : behavior.phaseSeconds.reduce(0, +) / timeScale
    }

    func status(at now: Date) -> Status {
        let elapsed = now.timeIntervalSince(startedAt)
        if let cancelAt = cancelRequestedAt, naturalEnd.map({ cancelAt.timeIntervalSince(startedAt) < $0 }) ?? true {
            if let seconds = behavior.cancelSeconds, now.timeIntervalSince(cancelAt) >= seconds / timeScale {
                return Status(runState: "Canceled", runSubState: nil, endTime: cancelAt.addingTimeInterval(seconds / timeScale),
                              message: "The build was canceled.")
            }
            return Status(runState: "Canceling", runSubState: subState(at: cancelAt.timeIntervalSince(startedAt)), endTime: nil, message: "")
        }
        if let end = naturalEnd, elapsed >= end {
            let endTime = startedAt.addingTimeInterval(end)
            switch behavior.outcome {
            case .succeed, .hang: return Status(runState: "Succeeded", runSubState: nil, endTime: endTime, message: "")
            case .partiallySucceed:
                return Status(runState: "PartiallySucceeded", runSubState: nil, endTime: endTime, message: "Some distributions failed.")
            case .fail: return Status(runState: "Failed", runSubState: nil, endTime: endTime, message: behavior.failureMessage)
            }
        }
        return Status(runState: "Running", runSubState: subState(at: elapsed), endTime: nil, message: "")
    }

    private func subState(at elapsed: Double) -> String {
        var boundary = 0.0
        for (index, seconds) in behavior.phaseSeconds.prefix(Self.subStates.count).enumerated() {
            boundary += seconds / timeScale
            if elapsed < boundary { return Self.subStates[index] }
        }
        // A hanging build stays in its last phase.
        return Self.subStates[max(0, min(behavior.phaseSeconds.count, Self.subStates.count) - 1)]
    }
}
