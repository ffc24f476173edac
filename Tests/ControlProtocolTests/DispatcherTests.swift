import ControlProtocol
@testable import FuzzProperties
import Foundation
import Testing

/// Varlink requests to replies, without a socket: introspection, authorisation, bad input.
@Suite struct DispatcherTests {
    static let root = Peer(uid: 0, gid: 0, pid: 1, user: "root", mayChange: true)
    static let stranger = Peer(uid: 1000, gid: 1000, pid: 2, user: "alice", mayChange: false)

    func call(_ json: String, as peer: Peer, _ service: RecordingService = RecordingService()) async -> [String: Any] {
        let reply = await ControlDispatcher.reply(to: Array(json.utf8), peer: peer, service: service)
        return (reply.flatMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }) ?? [:]
    }

    @Test func readOnlyForAnyoneMutatingForOperatorsOnly() async {
        let service = RecordingService()
        let status = await call(#"{"method":"io.imagebuildd.Control.Status"}"#, as: Self.stranger, service)
        #expect((status["parameters"] as? [String: Any])?["daemon"] != nil)
        for method in ["Trigger", "Pause", "Resume", "Cancel", "Discover"] {
            let denied = await call(#"{"method":"io.imagebuildd.Control.\#(method)","parameters":{"schedule":"nightly"}}"#, as: Self.stranger, service)
            #expect(denied["error"] as? String == "io.imagebuildd.Control.PermissionDenied", "\(method)")
            #expect((denied["parameters"] as? [String: Any])?["uid"] as? Int == 1000)
        }
        #expect(service.mutatingCalls.isEmpty)
        let allowed = await call(#"{"method":"io.imagebuildd.Control.Trigger","parameters":{"schedule":"nightly"}}"#, as: Self.root, service)
        #expect((allowed["parameters"] as? [String: Any])?["slot"] as? String == "2027-01-01T00:00:00Z")
    }

    @Test func introspectionForStandardVarlinkTools() async {
        let info = await call(#"{"method":"org.varlink.service.GetInfo"}"#, as: Self.stranger)
        #expect((info["parameters"] as? [String: Any])?["interfaces"] as? [String] == ["org.varlink.service", "io.imagebuildd.Control"])
        let description = await call(#"{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"io.imagebuildd.Control"}}"#,
                                     as: Self.stranger)
        #expect(((description["parameters"] as? [String: Any])?["description"] as? String)?.contains("method Trigger(") == true)
        let missing = await call(#"{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"com.example.Nope"}}"#,
                                 as: Self.stranger)
        #expect(missing["error"] as? String == "org.varlink.service.InterfaceNotFound")
    }

    @Test func badInputGetsAVarlinkError() async {
        #expect(await call("not json", as: Self.root)["error"] as? String == "org.varlink.service.InvalidParameter")
        #expect(await call(#"{"method":"io.imagebuildd.Control.Nope"}"#, as: Self.root)["error"] as? String == "org.varlink.service.MethodNotFound")
        #expect(await call(#"{"method":"io.imagebuildd.Control.Trigger","parameters":{}}"#, as: Self.root)["error"] as? String
            == "org.varlink.service.InvalidParameter")
        let unknown = await call(#"{"method":"io.imagebuildd.Control.Trigger","parameters":{"schedule":"nope"}}"#, as: Self.root)
        #expect(unknown["error"] as? String == "io.imagebuildd.Control.UnknownSchedule")
        #expect((unknown["parameters"] as? [String: Any])?["known"] as? [String] == ["nightly"])
        // oneway: no reply at all.
        #expect(await ControlDispatcher.reply(to: Array(#"{"method":"io.imagebuildd.Control.Status","oneway":true}"#.utf8), peer: Self.root,
                                              service: RecordingService()) == nil)
    }

    @Test func framingSplitsOnNULAndBoundsTheSize() throws {
        var reader = VarlinkFrameReader(limit: 8)
        #expect(try reader.append(Array("ab".utf8)) == [])
        #expect(try reader.append(Array("c\0de\0f".utf8)) == [Array("abc".utf8), Array("de".utf8)])
        #expect(reader.partialCount == 1)
        #expect(throws: VarlinkFrameReader.Failure.tooLarge(limit: 8)) { try reader.append([UInt8](repeating: 0x41, count: 9)) }
    }
}
