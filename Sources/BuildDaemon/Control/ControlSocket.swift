import Config
import ControlProtocol
import Logging
import Orchestration

/// The control socket as a task of the daemon: refusals logged with the caller's uid, and a socket
/// that cannot be served logged once (the daemon goes on scheduling without it).
enum ControlSocket {
    static func serve(_ control: ControlSettings, service: ControlAdapter, logger: Logger) async {
        let server = ControlServer(path: control.socket, operatorsGroup: control.operatorsGroup, service: service) { method, peer in
            logger.warning("control: \(method) refused to \(peer): not root and not in \(control.operatorsGroup)",
                           metadata: ["EVENT": "control-denied", "PEER_UID": "\(peer.uid)"])
        }
        do { try await server.run() } catch where !Task.isCancelled {
            logger.error("control socket \(control.socket): \(error); status, trigger, pause and cancel are unavailable",
                         metadata: ["EVENT": "control-failed"])
        } catch {}
    }
}
