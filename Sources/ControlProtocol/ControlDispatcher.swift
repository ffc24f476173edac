import FoundationEssentials

/// Turns one Varlink request into its reply: decodes it, checks the peer may call the method, calls
/// the service and encodes the answer. Anything malformed gets a Varlink error, never a trap.
public enum ControlDispatcher {
    struct Envelope: Decodable {
        var method: String
        var oneway: Bool?
    }

    struct Call<Parameters: Decodable>: Decodable {
        var parameters: Parameters?
    }

    struct Reply<Parameters: Encodable>: Encodable {
        var parameters: Parameters
    }

    struct ErrorReply: Encodable {
        var error: String
        var parameters: ControlError.Parameters
    }

    struct InfoReply: Codable {
        var vendor: String
        var product: String
        var version: String
        var url: String
        var interfaces: [String]
    }

    struct DescriptionParameters: Codable {
        var interface: String
    }

    struct DescriptionReply: Codable {
        var description: String
    }

    struct Empty: Codable {}

    public static let version = "0.1"

    /// The reply to `message`, or nil for a `oneway` call. `denied` is told about refused calls (the
    /// daemon logs them with the peer's uid).
    public static func reply(to message: [UInt8], peer: Peer, service: any ControlService,
                             denied: @Sendable (String, Peer) -> Void = { _, _ in }) async -> [UInt8]? {
        let data = Data(message)
        guard let envelope = try? ControlInterface.decoder.decode(Envelope.self, from: data) else {
            return encode(ControlError("org.varlink.service.InvalidParameter", .init(parameter: "method", message: "not a Varlink call")))
        }
        let answer = await answer(envelope.method, data, peer: peer, service: service, denied: denied)
        return envelope.oneway == true ? nil : answer
    }

    private static func answer(_ qualified: String, _ data: Data, peer: Peer, service: any ControlService,
                               denied: @Sendable (String, Peer) -> Void) async -> [UInt8] {
        let (interface, method) = split(qualified)
        switch interface {
        case "org.varlink.service":
            switch method {
            case "GetInfo":
                return encode(InfoReply(vendor: "imagebuildd", product: "imagebuildd", version: version,
                                        url: "",
                                        interfaces: ["org.varlink.service", ControlInterface.name]))
            case "GetInterfaceDescription":
                guard let p = parameters(DescriptionParameters.self, data) else { return invalid("interface") }
                switch p.interface {
                case ControlInterface.name: return encode(DescriptionReply(description: ControlInterface.description))
                case "org.varlink.service": return encode(DescriptionReply(description: ControlInterface.serviceDescription))
                default: return encode(ControlError("org.varlink.service.InterfaceNotFound", .init(interface: p.interface)))
                }
            default:
                return encode(ControlError("org.varlink.service.MethodNotFound", .init(method: qualified)))
            }
        case ControlInterface.name:
            if ControlInterface.mutating.contains(method), !peer.mayChange {
                denied(method, peer)
                return encode(ControlError("\(ControlInterface.name).PermissionDenied", .init(method: method, uid: Int(peer.uid))))
            }
            do {
                switch method {
                case "Status":
                    return encode(await service.status())
                case "Trigger":
                    guard let p = parameters(TriggerParameters.self, data) else { return invalid("schedule") }
                    return encode(try await service.trigger(p, by: peer))
                case "Pause":
                    guard let p = parameters(PauseParameters.self, data) else { return invalid("schedule") }
                    return encode(try await service.pause(p, by: peer))
                case "Resume":
                    guard let p = parameters(ResumeParameters.self, data) else { return invalid("schedule") }
                    return encode(try await service.resume(p, by: peer))
                case "Cancel":
                    guard let p = parameters(CancelParameters.self, data) else { return invalid("schedule") }
                    return encode(try await service.cancel(p, by: peer))
                case "Discover":
                    return encode(try await service.discover(by: peer))
                default:
                    return encode(ControlError("org.varlink.service.MethodNotFound", .init(method: qualified)))
                }
            } catch {
                return encode(error)
            }
        default:
            return encode(ControlError("org.varlink.service.InterfaceNotFound", .init(interface: interface)))
        }
    }

    /// `io.imagebuildd.Control.Status` → (`io.imagebuildd.Control`, `Status`).
    static func split(_ qualified: String) -> (String, String) {
        guard let dot = qualified.lastIndex(of: ".") else { return ("", qualified) }
        return (String(qualified[..<dot]), String(qualified[qualified.index(after: dot)...]))
    }

    static func parameters<P: Decodable>(_ type: P.Type, _ data: Data) -> P? {
        (try? ControlInterface.decoder.decode(Call<P>.self, from: data))?.parameters
    }

    static func invalid(_ parameter: String) -> [UInt8] {
        encode(ControlError("org.varlink.service.InvalidParameter", .init(parameter: parameter)))
    }

    static func encode<P: Encodable>(_ parameters: P) -> [UInt8] {
        bytes(Reply(parameters: parameters))
    }

    static func encode(_ error: ControlError) -> [UInt8] {
        bytes(ErrorReply(error: error.error, parameters: error.parameters))
    }

    private static func bytes<T: Encodable>(_ value: T) -> [UInt8] {
        // Encoding these plain structs cannot fail; should it, the peer still gets a Varlink error.
        (try? [UInt8](ControlInterface.encoder.encode(value)))
            ?? Array(#"{"error":"org.varlink.service.InvalidParameter","parameters":{}}"#.utf8)
    }
}
