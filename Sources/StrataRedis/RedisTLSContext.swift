import COpenSSL
import Strata

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A store's TLS settings loaded into OpenSSL once (trusted authorities, the client's
/// certificate and key), from which each connection takes a ``RedisTLSSession``.
///
/// Made in the store's initializer, so a certificate file that is missing, unreadable or
/// not PEM is an `invalidConfiguration` error naming the file at start-up, not a failure of
/// every later call. OpenSSL allows sessions to be made from one context on any thread
/// once it is set up, and nothing changes it after.
final class RedisTLSContext: @unchecked Sendable {
    let settings: RedisTLS
    private let context: OpaquePointer

    init(_ settings: RedisTLS) throws(StrataError) {
        self.settings = settings
        func invalid(_ message: String) -> StrataError {
            StrataError(code: .invalidConfiguration, message: "TLS: \(message)", backend: "RedisStore")
        }
        for (role, path) in [
            ("CA bundle", settings.trustedPath), ("client certificate", settings.clientCertificate),
            ("private key", settings.privateKey),
        ] {
            guard let path else { continue }
            guard access(path, R_OK) == 0 else {
                throw invalid("the \(role) \(path) cannot be read: \(RedisSocket.describe(errno: errno))")
            }
        }
        if settings.privateKey != nil && settings.clientCertificate == nil {
            throw invalid("a private key (\(settings.privateKey!)) needs a client certificate")
        }
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw invalid("OpenSSL cannot make a context: \(Self.lastError())") }
        self.context = context
        // TLS 1.2 at least: what every managed Redis offers, and Redis's own default.
        _ = strata_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION)
        // Reads take what the socket holds, not one record's header and then its body: one
        // system call per wake-up where a reply fits.
        strata_SSL_CTX_set_read_ahead(context, 1)
        SSL_CTX_set_verify(context, settings.verification == .full ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
        switch settings.trust {
        case .system:
            guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                throw invalid("the system's trusted certificates cannot be loaded: \(Self.lastError())")
            }
        case .certificates(let path):
            guard SSL_CTX_load_verify_locations(context, path, nil) == 1 else {
                throw invalid("the CA bundle \(path) holds no PEM certificate: \(Self.lastError())")
            }
        }
        if settings.clientCertificate == nil {
            // Called when a server asks for a certificate this client has none of: under
            // TLS 1.3 the server's refusal comes after the handshake, often as a reset that
            // carries no reason, so the session remembers it was asked.
            SSL_CTX_set_client_cert_cb(context) { ssl, _, _ in
                if let ssl, let session = SSL_get_ex_data(ssl, 0) {
                    Unmanaged<RedisTLSSession>.fromOpaque(session).takeUnretainedValue().askedForCertificate.store(true, ordering: .relaxed)
                }
                return 0
            }
        }
        if let certificate = settings.clientCertificate {
            // A PEM file may hold the certificate and its key together.
            let key = settings.privateKey ?? certificate
            guard SSL_CTX_use_certificate_chain_file(context, certificate) == 1 else {
                throw invalid("the client certificate \(certificate) is not a PEM certificate: \(Self.lastError())")
            }
            guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else {
                throw invalid("the private key \(key) cannot be used (not a PEM key, or not the certificate's): \(Self.lastError())")
            }
            guard SSL_CTX_check_private_key(context) == 1 else {
                throw invalid("the private key \(key) does not match the certificate \(certificate): \(Self.lastError())")
            }
        }
    }

    deinit { SSL_CTX_free(context) }

    /// A client session on the connected (or connecting) socket `descriptor` to `host`.
    func session(descriptor: Int32, host: String) throws -> RedisTLSSession {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else {
            throw RedisConnectionError(description: "OpenSSL cannot make a session: \(Self.lastError())")
        }
        let session = RedisTLSSession(ssl)
        SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(session).toOpaque())
        guard SSL_set_fd(ssl, descriptor) == 1 else {
            throw RedisConnectionError(description: "OpenSSL cannot use the socket: \(Self.lastError())")
        }
        _ = strata_SSL_set_mode(ssl, strata_partial_write_modes())
        let name = settings.serverName ?? host
        let isAddress = Self.isAddress(name)
        // SNI carries a name, never an address (RFC 6066).
        if !isAddress { _ = strata_SSL_set_tlsext_host_name(ssl, name) }
        if settings.verification == .full {
            let named =
                isAddress
                ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1
                : SSL_set1_host(ssl, name) == 1
            guard named else {
                throw RedisConnectionError(description: "OpenSSL cannot check the server's name \(name): \(Self.lastError())")
            }
        }
        SSL_set_connect_state(ssl)
        return session
    }

    /// The oldest error OpenSSL queued on this thread, as text (and the queue emptied).
    static func lastError() -> String {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return "no detail from OpenSSL" }
        var text = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &text, text.count)
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func isAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

extension RedisTLS {
    /// The CA bundle's path, when the trust is one.
    var trustedPath: String? {
        if case .certificates(let path) = trust { return path }
        return nil
    }
}
