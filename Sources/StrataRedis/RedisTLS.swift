/// How a ``RedisStore`` speaks TLS to its server (managed Redis and Valkey services,
/// `tls-port` on a server of your own): whom it trusts, which certificate it shows for
/// mutual TLS, and the name it expects on the server's certificate.
///
/// Verification is on by default: the server's certificate must chain to a trusted
/// authority, be within its validity dates, and name the server (``serverName``, or else
/// the endpoint's host; an IP address is matched against the certificate's IP entries).
/// The only way to turn it off is ``Verification/insecureNoVerification``, which a code
/// review cannot miss.
///
/// Everything the store opens speaks TLS: its pooled connections, the invalidation bus's
/// subscription, the compute lock's calls, and every node of a cluster (`tls-cluster yes`).
///
/// ```swift
/// var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: "rediss://cache.internal:6380"))
/// configuration.tls = RedisTLS(
///     trust: .certificates(path: "/etc/ssl/redis-ca.pem"),
///     clientCertificate: "/etc/ssl/app.pem", privateKey: "/etc/ssl/app.key")
/// let redis = try RedisStore(configuration: configuration)
/// ```
///
/// A `rediss://` URL takes the same settings as query items: `ca`, `cert`, `key`,
/// `server_name`, and `verify=insecure-none`
/// (`rediss://cache.internal:6380/0?ca=/etc/ssl/redis-ca.pem`).
public struct RedisTLS: Sendable, Hashable {
    /// The authorities a server's certificate may chain to.
    public enum Trust: Sendable, Hashable {
        /// The operating system's store (OpenSSL's default paths: `/etc/ssl/certs` on Debian).
        case system
        /// The PEM certificates in the file at `path` (a private CA's bundle).
        case certificates(path: String)
    }

    /// Whether the server's certificate is checked.
    public enum Verification: Sendable, Hashable {
        /// Chain, dates and name are checked (the default).
        case full
        /// Nothing about the server's certificate is checked: the connection is encrypted but
        /// anyone on the path can pose as the server. For a test bench, never production.
        case insecureNoVerification
    }

    /// The authorities trusted.
    public var trust: Trust
    /// A PEM file with the certificate (and chain) this client shows, for a server that
    /// asks for one (`tls-auth-clients yes`).
    public var clientCertificate: String?
    /// The PEM file with ``clientCertificate``'s private key.
    public var privateKey: String?
    /// The name sent in SNI and expected on the server's certificate; `nil`: the
    /// endpoint's host.
    public var serverName: String?
    /// Whether the server's certificate is checked (``Verification/full`` by default).
    public var verification: Verification

    /// TLS settings; the defaults trust the system's authorities and check everything.
    ///
    /// ```swift
    /// let tls = RedisTLS(trust: .certificates(path: "/etc/ssl/redis-ca.pem"))
    /// ```
    public init(
        trust: Trust = .system, clientCertificate: String? = nil, privateKey: String? = nil, serverName: String? = nil,
        verification: Verification = .full
    ) {
        self.trust = trust
        self.clientCertificate = clientCertificate
        self.privateKey = privateKey
        self.serverName = serverName
        self.verification = verification
    }
}
