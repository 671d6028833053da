import Strata

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback TCP proxy for tests of what a network does to a client: it listens on a
/// free port of 127.0.0.1 and forwards every connection it accepts to an upstream server
/// (a TCP host and port, or a unix socket), both ways, until told otherwise.
///
/// - ``freeze()`` stops forwarding in both directions and keeps every socket open: no
///   FIN, no RST, exactly a network path that silently died. Bytes either peer sends
///   wait in the kernel's buffers. Connections accepted while frozen are frozen too.
/// - ``thaw()`` resumes forwarding, what waited included.
/// - ``cut()`` closes every connection at once, with a reset, so both peers see an error
///   (a unix-socket upstream sees the end of the stream).
/// - ``close()`` closes every connection and the listening socket, and joins the
///   proxy's thread.
///
/// The proxy runs on a thread of its own (non-blocking sockets and `poll`), never on
/// Swift's cooperative threads. `freeze()`, `thaw()` and `cut()` return once the proxy's
/// thread has applied them: after `await proxy.freeze()`, nothing more is forwarded.
///
/// ```swift
/// let proxy = try TCPProxy(upstream: .tcp(host: "127.0.0.1", port: 6379))
/// defer { proxy.close() }
/// let redis = try RedisStore(url: "redis://127.0.0.1:\(proxy.port)")
/// try await redis.set("k", "v")         // through the proxy
/// await proxy.freeze()                   // the path goes silent: calls wait, then time out
/// await proxy.thaw()                     // what waited is delivered
/// await proxy.cut()                      // every connection is reset at once
/// ```
public final class TCPProxy: Sendable {
    /// Where the proxy forwards connections.
    ///
    /// ```swift
    /// TCPProxy.Upstream.unix(path: "/tmp/redis.sock")
    /// ```
    public enum Upstream: Sendable, Hashable {
        /// A TCP server (`host` is a name or a numeric address).
        case tcp(host: String, port: Int)
        /// A unix-domain stream socket.
        case unix(path: String)
    }

    /// The port the proxy listens on, on 127.0.0.1.
    public let port: Int
    /// Where every accepted connection is forwarded.
    public let upstream: Upstream
    private let forwarder: TCPForwarder
    private let thread: Lock<ProxyThread?>

    /// Starts a proxy to `upstream` on a free port of 127.0.0.1. Throws
    /// `backendUnavailable` when the listening socket or the thread cannot be made; an
    /// upstream that refuses is found per connection (the accepted one is then reset).
    ///
    /// ```swift
    /// let proxy = try TCPProxy(upstream: .unix(path: server.socket))
    /// ```
    public init(upstream: Upstream) throws(StrataError) {
        self.upstream = upstream
        let (listener, port) = try Self.openListener()
        let forwarder: TCPForwarder
        do {
            forwarder = try TCPForwarder(listener: listener, upstream: upstream)
        } catch {
            closeSocket(listener)
            throw error
        }
        self.port = port
        self.forwarder = forwarder
        do {
            thread = Lock(try ProxyThread { forwarder.run() })
        } catch {
            forwarder.closeUnstarted()
            throw error
        }
    }

    deinit { close() }

    /// Stops forwarding in both directions and keeps every connection open, as a network
    /// path that silently died; returns once the proxy's thread has stopped.
    ///
    /// ```swift
    /// await proxy.freeze()
    /// ```
    public func freeze() async { await forwarder.perform(.freeze) }

    /// Resumes forwarding on every connection, delivering what waited.
    ///
    /// ```swift
    /// await proxy.thaw()
    /// ```
    public func thaw() async { await forwarder.perform(.thaw) }

    /// Closes every open connection at once with a reset (`SO_LINGER` 0), so each peer
    /// sees an error rather than an orderly end; later connections are accepted as usual
    /// (and frozen if the proxy is frozen).
    ///
    /// ```swift
    /// await proxy.cut()
    /// ```
    public func cut() async { await forwarder.perform(.cut) }

    /// Whether the proxy is frozen (``freeze()`` was applied, ``thaw()`` not since).
    public var isFrozen: Bool { forwarder.status.frozen }

    /// Connections open now (each one accepted and joined to its upstream).
    public var openConnections: Int { forwarder.status.open }

    /// Connections accepted since the proxy started.
    ///
    /// ```swift
    /// let before = proxy.acceptedConnections
    /// // ... the client reconnects ...
    /// #expect(proxy.acceptedConnections > before)
    /// ```
    public var acceptedConnections: Int { forwarder.status.accepted }

    /// Stops the proxy: closes every connection (with a reset, as ``cut()``) and the
    /// listening socket, and waits for its thread to end. Later calls do nothing.
    ///
    /// ```swift
    /// proxy.close()
    /// ```
    public func close() {
        guard
            let running = thread.withLock({ thread -> ProxyThread? in
                defer { thread = nil }
                return thread
            })
        else { return }
        forwarder.requestStop()
        running.join()
        forwarder.closeWakePipe()
    }

    /// A listening socket on a free port of 127.0.0.1.
    private static func openListener() throws(StrataError) -> (Int32, Int) {
        let descriptor = socket(AF_INET, streamSocket, 0)
        guard descriptor >= 0 else { throw failure("socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard bound == 0, listen(descriptor, 128) == 0, named == 0, prepare(descriptor) else {
            let error = failure("bind/listen")
            closeSocket(descriptor)
            throw error
        }
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }

    static func failure(_ call: String) -> StrataError {
        StrataError(code: .backendUnavailable, message: "\(call) failed: \(String(cString: strerror(errno)))", backend: "TCPProxy")
    }
}

/// `SOCK_STREAM` as `socket()` takes it on this platform.
#if canImport(Glibc)
let streamSocket = Int32(SOCK_STREAM.rawValue)
#else
let streamSocket = SOCK_STREAM
#endif

/// Makes `descriptor` non-blocking and close-on-exec (a child process must not keep a
/// proxied connection open); false when the kernel refused.
func prepare(_ descriptor: Int32) -> Bool {
    #if canImport(Darwin)
    // No MSG_NOSIGNAL on Darwin: the socket itself is told not to raise SIGPIPE.
    var on: Int32 = 1
    _ = setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &on, socklen_t(MemoryLayout<Int32>.size))
    #endif
    let flags = fcntl(descriptor, F_GETFL)
    return flags >= 0 && fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 && fcntl(descriptor, F_SETFD, FD_CLOEXEC) == 0
}

/// `close(2)`, by a name no method hides.
func closeSocket(_ descriptor: Int32) {
    _ = close(descriptor)
}

/// A joinable POSIX thread running one closure (not a dispatch thread: `close()` joins it).
private final class ProxyThread: Sendable {
    private let handle: pthread_t

    init(_ body: @escaping @Sendable () -> Void) throws(StrataError) {
        final class Box {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        #if canImport(Glibc)
        var handle = pthread_t()
        let result = pthread_create(
            &handle, nil,
            { context in
                Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
                return nil
            }, context)
        #else
        var created: pthread_t?
        let result = pthread_create(
            &created, nil,
            { context in
                Unmanaged<Box>.fromOpaque(context).takeRetainedValue().body()
                return nil
            }, context)
        #endif
        guard result == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            errno = result
            throw TCPProxy.failure("pthread_create")
        }
        #if canImport(Glibc)
        self.handle = handle
        #else
        self.handle = created!
        #endif
    }

    func join() {
        _ = pthread_join(handle, nil)
    }
}
