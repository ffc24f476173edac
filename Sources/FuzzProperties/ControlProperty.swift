import ControlProtocol
import Dispatch
import Foundation
import Synchronization

/// Bytes on the control socket → Varlink frames → replies. Never a trap; every reply is a JSON
/// object with `parameters` or an `error` name; a peer outside the operators group never reaches
/// a mutating method.
public enum ControlProperty {
    static let maxLength = 1 << 14

    public static func check(_ data: [UInt8]) -> PropertyFailure? {
        guard data.count <= maxLength else { return nil }
        var frames = VarlinkFrameReader(limit: 4096)
        let messages: [[UInt8]]
        do { messages = try frames.append(data) } catch { return nil }
        for message in messages {
            for mayChange in [true, false] {
                let service = RecordingService()
                let peer = Peer(uid: mayChange ? 0 : 1000, gid: 1000, pid: 1, user: nil, mayChange: mayChange)
                let reply = blocking { await ControlDispatcher.reply(to: message, peer: peer, service: service) }
                if let reply {
                    guard let object = try? JSONSerialization.jsonObject(with: Data(reply)) as? [String: Any],
                          object["parameters"] is [String: Any] || object["error"] is String else {
                        return PropertyFailure("reply is not a Varlink reply: \(String(decoding: reply, as: UTF8.self))")
                    }
                }
                if !mayChange, let call = service.mutatingCalls.first {
                    return PropertyFailure("\(call) reached the service for a peer outside the operators group")
                }
            }
        }
        return nil
    }

    /// Runs async work to completion from the fuzzer's synchronous callback.
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let box = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await work()
            box.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return box.withLock { $0! }
    }
}

/// A service that answers everything and remembers mutating calls.
final class RecordingService: ControlService {
    private let calls = Mutex<[String]>([])
    var mutatingCalls: [String] { calls.withLock { $0 } }

    func status() async -> StatusReply {
        StatusReply(daemon: DaemonView(ready: true, pid: 1, startedAt: "", uptimeSeconds: 0, role: "single", statusLine: "", now: ""), schedules: [])
    }

    func trigger(_ parameters: TriggerParameters, by peer: Peer) async throws(ControlError) -> TriggerReply {
        calls.withLock { $0.append("Trigger") }
        guard parameters.schedule == "nightly" else { throw .unknownSchedule(parameters.schedule, known: ["nightly"]) }
        return TriggerReply(schedule: parameters.schedule, slot: "2027-01-01T00:00:00Z", decision: "started", outcome: "started")
    }

    func pause(_ parameters: PauseParameters, by peer: Peer) async throws(ControlError) -> PauseReply {
        calls.withLock { $0.append("Pause") }
        return PauseReply(schedule: parameters.schedule, pause: PauseView(since: "", until: parameters.until, reason: parameters.reason, by: "\(peer)"))
    }

    func resume(_ parameters: ResumeParameters, by peer: Peer) async throws(ControlError) -> ResumeReply {
        calls.withLock { $0.append("Resume") }
        return ResumeReply(schedule: parameters.schedule, wasPaused: false)
    }

    func cancel(_ parameters: CancelParameters, by peer: Peer) async throws(ControlError) -> CancelReply {
        calls.withLock { $0.append("Cancel") }
        throw ControlError("\(ControlInterface.name).NothingToCancel", .init(schedule: parameters.schedule))
    }

    func discover(by peer: Peer) async throws(ControlError) -> DiscoverReply {
        calls.withLock { $0.append("Discover") }
        throw ControlError("\(ControlInterface.name).DiscoveryOff", .init(message: "no discover: in the config"))
    }
}
