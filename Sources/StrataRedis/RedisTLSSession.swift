import COpenSSL
import Strata
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One connection's TLS, driven without waiting: the handshake, reads and writes each do
/// what the socket allows now and say what they wait for (`WANT_READ`, `WANT_WRITE`).
///
/// An OpenSSL session is not safe to use from two threads at once, and a lane reads on
/// the event loop while a caller writes: every call holds the session's lock. The calls
/// never wait (the socket is non-blocking), so the lock is held for the time it takes to
/// encrypt or decrypt what is at hand, never across a wait for the network.
final class RedisTLSSession: @unchecked Sendable {
    /// Where a handshake step left the connection.
    enum HandshakeStep {
        case done
        /// Waits for the server's bytes (the socket readable).
        case wantsRead
        /// Waits for room to write (the socket writable).
        case wantsWrite
        case failed(RedisConnectionError)
    }

    /// What a read found.
    enum ReadStep {
        /// This many bytes; `more` when OpenSSL holds more already (read ahead from the socket).
        case bytes(Int, more: Bool)
        /// Nothing more now.
        case drained
        case failed(RedisConnectionError)
    }

    /// The SSL object, reached only through its lock. (A `Lock<Void>` beside it was not
    /// enough for ThreadSanitizer: the access to an empty value was not ordered after the
    /// lock's acquisition, and each read beside a write was reported as a race.)
    private let ssl: Lock<OpaquePointer>
    /// The server asked for a client certificate this client has none of, and has sent no
    /// data since (a server that merely offers to take one, `tls-auth-clients optional`,
    /// answers the first command: then it no longer counts).
    let askedForCertificate = Atomic<Bool>(false)

    init(_ ssl: OpaquePointer) {
        self.ssl = Lock(ssl)
    }

    deinit { ssl.withLock { SSL_free($0) } }

    /// One step of the handshake, as far as the socket allows now.
    func handshake() -> HandshakeStep {
        ssl.withLock { ssl in
            ERR_clear_error()
            let result = SSL_do_handshake(ssl)
            if result == 1 { return .done }
            let code = SSL_get_error(ssl, result)
            switch code {
            case SSL_ERROR_WANT_READ: return .wantsRead
            case SSL_ERROR_WANT_WRITE: return .wantsWrite
            default: return .failed(failure(ssl, code, result: result, during: "the TLS handshake"))
            }
        }
    }

    /// Decrypts what arrived into `buffer`.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> ReadStep {
        ssl.withLock { ssl in
            ERR_clear_error()
            let result = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
            if result > 0 {
                // The server took this client as it is: a later failure is not about a certificate.
                askedForCertificate.store(false, ordering: .relaxed)
                return .bytes(Int(result), more: SSL_has_pending(ssl) == 1)
            }
            let code = SSL_get_error(ssl, result)
            switch code {
            // WANT_WRITE while reading: TLS 1.2 renegotiation, which Redis never starts.
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .drained
            case SSL_ERROR_ZERO_RETURN:
                return .failed(
                    refusedForNoCertificate ?? RedisConnectionError(description: "the server closed the connection (TLS close_notify)"))
            default: return .failed(failure(ssl, code, result: result, during: "reading from the server"))
            }
        }
    }

    /// Encrypts and writes as much of `bytes` as the socket takes now; the count taken
    /// (0: none now, try again with the same bytes when the socket is writable).
    func write(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        try ssl.withLock { ssl throws -> Int in
            ERR_clear_error()
            let result = SSL_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count))
            if result > 0 { return Int(result) }
            let code = SSL_get_error(ssl, result)
            switch code {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return 0
            default: throw failure(ssl, code, result: result, during: "writing to the server")
            }
        }
    }

    /// The failure of a connection whose server asked for a client certificate this client
    /// does not have: whatever ended it (an alert, a reset), that is the reason.
    private var refusedForNoCertificate: RedisConnectionError? {
        guard askedForCertificate.load(ordering: .relaxed) else { return nil }
        ERR_clear_error()
        return RedisConnectionError(
            description: "TLS: the server requires a client certificate and none is configured (RedisTLS.clientCertificate)",
            code: .accessDenied)
    }

    /// OpenSSL's words for a server's alert that refuses the client's certificate (none
    /// shown, or one it does not trust).
    private static let clientRefusals = [
        "alert certificate required", "alert bad certificate", "alert unknown ca", "alert certificate unknown",
        "alert certificate expired", "alert certificate revoked",
    ]

    /// What went wrong, in words a user can act on: the certificate check's verdict when
    /// it failed, else OpenSSL's reason (an alert from the server, a protocol mismatch),
    /// else the system's.
    private func failure(_ ssl: OpaquePointer, _ code: Int32, result: Int32, during step: String) -> RedisConnectionError {
        if let refusal = refusedForNoCertificate { return refusal }
        let verdict = SSL_get_verify_result(ssl)
        if SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER != 0, verdict != X509_V_OK {
            let reason = String(cString: X509_verify_cert_error_string(verdict))
            return RedisConnectionError(description: "TLS: the server's certificate was refused: \(reason)")
        }
        if code == SSL_ERROR_SSL {
            var reason = RedisTLSContext.lastError()
            if reason.contains("wrong version number") || reason.contains("packet length too long") {
                reason += " (the server answered in plain text: is this its TLS port?)"
            }
            if Self.clientRefusals.contains(where: reason.contains) {
                return RedisConnectionError(
                    description: "TLS: the server refused this client's certificate: \(reason) (does it require one, from another CA?)",
                    code: .accessDenied)
            }
            return RedisConnectionError(description: "TLS: \(step) failed: \(reason)")
        }
        let systemError = errno
        ERR_clear_error()
        if code == SSL_ERROR_SYSCALL, result == 0 || systemError == 0 {
            return RedisConnectionError(description: "the server closed the connection during \(step)")
        }
        return RedisConnectionError(description: "TLS: \(step) failed: \(RedisSocket.describe(errno: systemError))")
    }
}
