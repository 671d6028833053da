import Strata

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a connection failed: a message for the error, and the server's refusal when the
/// server itself said no (a wrong password, an unknown database).
struct RedisConnectionError: Error, CustomStringConvertible {
    let description: String
    var refusal: RedisServerError? = nil
    /// The code of the error it becomes, when not `backendUnavailable` (the server refused
    /// this client's certificate: `accessDenied`).
    var code: StrataError.Code? = nil
}

/// Writing to a connection whose server has gone raises SIGPIPE, which ends the process
/// by default. Plain connections write with `MSG_NOSIGNAL`, but OpenSSL writes a TLS
/// connection with `write()`, which cannot ask the kernel not to. The first store ignores
/// SIGPIPE, unless the application installed a handler of its own: the write then fails
/// with EPIPE, which becomes a `backendUnavailable` error.
let ignoreBrokenPipes: Void = {
    var current = sigaction()
    guard sigaction(SIGPIPE, nil, &current) == 0 else { return }
    #if canImport(Darwin)
    let handler = current.__sigaction_u.__sa_handler
    #else
    let handler = current.__sigaction_handler.sa_handler
    #endif
    if handler == nil { signal(SIGPIPE, SIG_IGN) }
}()
