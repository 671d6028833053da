import Strata

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opens connections without waiting: a non-blocking socket whose `connect` the event loop
/// sees complete (the socket turns writable), so no thread waits for a server to answer.
///
/// Only a host *name* needs a thread: `getaddrinfo` has no non-blocking form, so a name is
/// resolved on a thread started for it (never on Swift's cooperative pool, nor Dispatch's
/// shared one: see `OwnThread`) at each connection
/// (a failover that moves the name is followed). Addresses (`127.0.0.1`, `::1`) and unix
/// sockets are dialled at once. A name with several addresses is dialled in order (IPv4
/// first) until one answers, each within the connect timeout.
enum RedisDialer {
    /// One way to reach a server: the parts of a `sockaddr`.
    struct Address: Sendable {
        let family: Int32
        let bytes: [UInt8]
    }

    /// The addresses of `endpoint`, resolved now: call it off the cooperative pool when
    /// ``needsResolving(_:)``.
    static func addresses(of endpoint: RedisEndpoint) throws -> [Address] {
        switch endpoint.address {
        case .unix(let path):
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let capacity = MemoryLayout.size(ofValue: address.sun_path)
            guard path.utf8.count < capacity else {
                throw RedisConnectionError(description: "the socket path is longer than \(capacity - 1) bytes")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                buffer.copyBytes(from: path.utf8)
                buffer[path.utf8.count] = 0
            }
            return [Address(family: AF_UNIX, bytes: withUnsafeBytes(of: &address) { Array($0) })]
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            #if canImport(Darwin)
            hints.ai_socktype = SOCK_STREAM
            #else
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            #endif
            if !needsResolving(endpoint) { hints.ai_flags = AI_NUMERICHOST }
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &list)
            guard status == 0, let list else {
                throw RedisConnectionError(description: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
            }
            defer { freeaddrinfo(list) }
            var addresses: [Address] = []
            var entry: UnsafeMutablePointer<addrinfo>? = list
            while let current = entry {
                if let raw = current.pointee.ai_addr {
                    addresses.append(
                        Address(
                            family: current.pointee.ai_family,
                            bytes: Array(UnsafeRawBufferPointer(start: raw, count: Int(current.pointee.ai_addrlen)))))
                }
                entry = current.pointee.ai_next
            }
            // IPv4 first, as hiredis did: a name whose IPv6 address is not served (a server
            // bound to 0.0.0.0) connects at once rather than after a refusal or a timeout.
            return addresses.filter { $0.family == AF_INET } + addresses.filter { $0.family != AF_INET }
        }
    }

    /// Whether `endpoint` names a host that must be looked up (not an address, not a
    /// unix socket).
    static func needsResolving(_ endpoint: RedisEndpoint) -> Bool {
        guard case .tcp(let host, _) = endpoint.address else { return false }
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) != 1 && inet_pton(AF_INET6, host, &v6) != 1
    }

    /// Resolves `endpoint` where it may wait (a thread of its own, for a host name: a slow
    /// DNS server must not hold Dispatch's shared pool, see `OwnThread`; at once
    /// otherwise) and hands the outcome to `body`.
    static func resolve(_ endpoint: RedisEndpoint, then body: @escaping @Sendable (Result<[Address], any Error>) -> Void) {
        guard needsResolving(endpoint) else { return body(Result { try addresses(of: endpoint) }) }
        do {
            try OwnThread.start(named: "strata-dns") { body(Result { try addresses(of: endpoint) }) }
        } catch {
            body(.failure(error))
        }
    }

    /// A non-blocking socket whose connection to `address` is under way (or made): the
    /// socket turns writable when it is, and ``connectionError(_:)`` then says how it went.
    static func dial(_ address: Address) throws -> Int32 {
        #if canImport(Darwin)
        let descriptor = socket(address.family, SOCK_STREAM, 0)
        #else
        let descriptor = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #endif
        guard descriptor >= 0 else {
            throw RedisConnectionError(description: "cannot open a socket: \(RedisSocket.describe(errno: errno))")
        }
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else {
            let error = RedisConnectionError(description: "cannot make the socket non-blocking: \(RedisSocket.describe(errno: errno))")
            closeDescriptor(descriptor)
            throw error
        }
        var on: Int32 = 1
        if address.family != AF_UNIX {
            // Commands are small and each waits for its reply: no Nagle delay.
            _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        #if canImport(Darwin)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &on, socklen_t(MemoryLayout<Int32>.size))
        #endif
        let result = address.bytes.withUnsafeBytes { buffer in
            connect(descriptor, buffer.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(buffer.count))
        }
        // EAGAIN is no connection under way: a unix socket's server has a full backlog.
        if result != 0 && errno != EINPROGRESS && errno != EINTR {
            let error = RedisConnectionError(description: RedisSocket.describe(errno: errno))
            closeDescriptor(descriptor)
            throw error
        }
        return descriptor
    }

    /// How a connection begun by ``dial(_:)`` ended, once its socket is writable: `nil`
    /// when it is made.
    static func connectionError(_ descriptor: Int32) -> RedisConnectionError? {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else {
            return RedisConnectionError(description: RedisSocket.describe(errno: errno))
        }
        return code == 0 ? nil : RedisConnectionError(description: RedisSocket.describe(errno: code))
    }

    /// The commands that log a new connection in: `AUTH` and `SELECT` as the endpoint asks.
    static func login(_ endpoint: RedisEndpoint) -> [[[UInt8]]] {
        var login: [[[UInt8]]] = []
        if let password = endpoint.password {
            login.append([Array("AUTH".utf8)] + (endpoint.user.map { [Array($0.utf8)] } ?? []) + [Array(password.utf8)])
        } else if let user = endpoint.user {
            login.append([Array("AUTH".utf8), Array(user.utf8), []])
        }
        if endpoint.database != 0 { login.append([Array("SELECT".utf8), Array(String(endpoint.database).utf8)]) }
        return login
    }
}
