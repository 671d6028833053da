import Foundation
import StrataRedis
import StrataTestSupport
import StrataTesting

/// Certificates for the TLS tests, made by the `openssl` command in a temporary folder:
/// a test CA, a server certificate it signed for `localhost` and `127.0.0.1`, the same
/// server's certificate expired (valid in January 2020 only), a client certificate for
/// mutual TLS, and a second CA that signed nothing the servers show.
struct RedisTestCertificates: Sendable {
    let directory: String

    var ca: String { directory + "/ca.pem" }
    var otherCA: String { directory + "/other-ca.pem" }
    var serverCertificate: String { directory + "/server.pem" }
    var serverKey: String { directory + "/server.key" }
    var expiredServerCertificate: String { directory + "/expired.pem" }
    var clientCertificate: String { directory + "/client.pem" }
    var clientKey: String { directory + "/client.key" }

    /// Made once per test process.
    static var shared: RedisTestCertificates {
        get async throws { try await made.value }
    }
    private static let made = Task { try await RedisTestCertificates() }

    private init() async throws {
        directory = try createdTemporaryDirectory("tls")
        let script = """
            set -e
            cd '\(directory)'
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 -subj '/CN=Strata Test CA'
            openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 30 -subj '/CN=Another CA'
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=localhost' \\
                -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1'
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 30 -extfile server.ext
            openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj '/CN=strata-client'
            openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 30
            # An expired certificate needs set dates, which only `openssl ca` takes.
            touch index.txt
            echo 1000 > serial
            printf '[ca]\\ndefault_ca=test\\n[test]\\ndatabase=index.txt\\nnew_certs_dir=.\\nserial=serial\\ndefault_md=sha256\\npolicy=any\\ncopy_extensions=copy\\n[any]\\ncommonName=supplied\\n' > ca.cnf
            openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in server.csr -out expired.pem \\
                -startdate 20200101000000Z -enddate 20200102000000Z -notext
            """
        do {
            try await ChildProcess.run("/bin/sh", ["-c", script], errors: .discarded)
        } catch {
            throw TestServerError(message: "openssl could not make the test certificates in \(directory): \(error)")
        }
    }

    /// The arguments that make a `redis-server` listen for TLS on `port` with `certificate`,
    /// asking clients for a certificate when `requireClientCertificates`.
    func serverArguments(port: Int, certificate: String? = nil, requireClientCertificates: Bool = false) -> [String] {
        [
            "--tls-port", String(port), "--tls-cert-file", certificate ?? serverCertificate, "--tls-key-file", serverKey,
            "--tls-ca-cert-file", ca, "--tls-auth-clients", requireClientCertificates ? "yes" : "no",
        ]
    }

    /// What trusts the test CA (and shows the client certificate when `mutual`).
    func clientTLS(mutual: Bool = false) -> RedisTLS {
        RedisTLS(
            trust: .certificates(path: ca), clientCertificate: mutual ? clientCertificate : nil, privateKey: mutual ? clientKey : nil)
    }
}

/// `RedisStore(configuration:)` on a thread of its own: the initializer waits for its first
/// connection (a TLS handshake; a refused TLS hello waits out the connect timeout), and a
/// test must not hold one of the two cooperative threads of a CI machine that long while
/// the others run.
func makeStoreOffPool(_ configuration: RedisStore.Configuration) async throws -> RedisStore {
    try await offPool { try RedisStore(configuration: configuration) }
}

/// A `redis-server` that also listens for TLS (and on its plain port and unix socket).
struct RedisTestTLSServer: Sendable {
    let server: RedisTestServer
    let tlsPort: Int
    let certificates: RedisTestCertificates

    init(certificate: String? = nil, requireClientCertificates: Bool = false) async throws {
        certificates = try await RedisTestCertificates.shared
        tlsPort = try RedisTestServer.freePort()
        server = try await RedisTestServer(
            extraArguments: certificates.serverArguments(
                port: tlsPort, certificate: certificate, requireClientCertificates: requireClientCertificates))
    }

    /// `rediss://127.0.0.1:<tls port>` trusting the test CA.
    var url: String { "rediss://127.0.0.1:\(tlsPort)?ca=\(certificates.ca)" }

    /// A configuration for the TLS port with `tls`.
    func configuration(_ tls: RedisTLS? = nil, host: String = "127.0.0.1") -> RedisStore.Configuration {
        var configuration = RedisStore.Configuration(
            endpoint: RedisEndpoint(address: .tcp(host: host, port: tlsPort), tls: tls ?? certificates.clientTLS()))
        configuration.keyNamespace = "tls:\(UUID().uuidString):"
        return configuration
    }

    /// The servers every TLS test shares: one that asks for no client certificate, one
    /// that requires one.
    static var shared: RedisTestTLSServer {
        get async throws { try await sharedServer.value }
    }
    static var mutual: RedisTestTLSServer {
        get async throws { try await mutualServer.value }
    }
    /// A server whose certificate expired in 2020.
    static var expired: RedisTestTLSServer {
        get async throws { try await expiredServer.value }
    }
    private static let sharedServer = Task { try await RedisTestTLSServer() }
    private static let expiredServer = Task {
        try await RedisTestTLSServer(certificate: try await RedisTestCertificates.shared.expiredServerCertificate)
    }
    private static let mutualServer = Task { try await RedisTestTLSServer(requireClientCertificates: true) }
}
