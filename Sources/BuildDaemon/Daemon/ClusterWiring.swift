import AzureClient
import Config
import EtcdStore
import FoundationEssentials
import Orchestration
import Transport

/// The etcd client a `cluster:` section describes.
enum ClusterWiring {
    /// etcd's own HTTPS connections: its CA, and the client certificate when one is configured.
    static func transport(_ settings: ClusterSettings) throws(TransportSetupError) -> AsyncHTTPTransport {
        try AsyncHTTPTransport(caFile: settings.caFile, trustHint: "set cluster.etcd.ca_file to the PEM file of etcd's CA",
                               clientCertificate: settings.certFile.flatMap { cert in settings.keyFile.map { (cert, $0) } })
    }

    /// Reads the password now, so a missing one stops the start with its source named (never its value).
    static func client(_ settings: ClusterSettings, transport: any HTTPTransport, environment: [String: String]) throws(SetupError) -> EtcdClient {
        var password: String?
        if let source = settings.password {
            do { password = try source.read(environment: environment) } catch { throw SetupError("password: \(error)") }
        }
        // Each call must end well inside the lease: a keepalive that hangs longer than ttl/3 is a missed one.
        let timeout = min(Duration.seconds(5), settings.leaseTTL / 3)
        return EtcdClient(endpoints: settings.endpoints, transport: transport, timeout: timeout, username: settings.username, password: password)
    }
}

/// A setting the daemon cannot start with (a secret that cannot be read), named with its source.
struct SetupError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}
