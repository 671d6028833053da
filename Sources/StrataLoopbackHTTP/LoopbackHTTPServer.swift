import Strata
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small HTTP/1.1 origin on 127.0.0.1, for testing HTTP caching against a real server.
///
/// It listens on a free loopback port, answers every request with the handler you give it
/// (on its own threads, never on Swift's cooperative pool), closes each connection after
/// one response, and records every request it received, so a test can count what reached
/// the origin.
///
/// ```swift
/// let origin = try LoopbackHTTPServer { request in
///     .init(status: 200, headers: [("Cache-Control", "max-age=60")], body: Array("hello".utf8))
/// }
/// defer { origin.stop() }
/// let url = URL(string: origin.baseURL + "/greeting")!
/// // ... fetch url twice through an HTTPCache ...
/// origin.requests(path: "/greeting").count   // 1
/// ```
public final class LoopbackHTTPServer: Sendable {
    /// One request as the server received it.
    public struct Request: Sendable {
        /// The method, such as `GET`.
        public var method: String
        /// The request target: the path and query, such as `/items?page=2`.
        public var target: String
        /// The header fields in the order they arrived.
        public var headers: [(name: String, value: String)]
        /// The body (empty without one).
        public var body: [UInt8]

        /// The path without the query.
        public var path: String { String(target.prefix { $0 != "?" }) }

        /// The value of a header field, compared case-insensitively; repeated fields joined by `, `.
        ///
        /// ```swift
        /// request.header("if-none-match")   // "\"v1\""
        /// ```
        public func header(_ name: String) -> String? {
            let values = headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
            return values.isEmpty ? nil : values.joined(separator: ", ")
        }
    }

    /// What the server answers.
    public struct Response: Sendable {
        /// The status code.
        public var status: Int
        /// Header fields. `Content-Length`, `Connection: close` and (unless given) `Date`
        /// are added by the server.
        public var headers: [(name: String, value: String)]
        /// The body.
        public var body: [UInt8]
        /// How long to wait before answering (the handler's thread sleeps).
        public var delay: Duration
        /// Close the connection without answering, the way a crashing origin does.
        public var dropsConnection: Bool

        /// A response.
        ///
        /// ```swift
        /// LoopbackHTTPServer.Response(status: 404)
        /// ```
        public init(
            status: Int = 200,
            headers: [(name: String, value: String)] = [],
            body: [UInt8] = [],
            delay: Duration = .zero,
            dropsConnection: Bool = false
        ) {
            self.status = status
            self.headers = headers
            self.body = body
            self.delay = delay
            self.dropsConnection = dropsConnection
        }

        /// A response that closes the connection without a status line.
        public static let dropped = Response(status: 0, dropsConnection: true)
    }

    /// The handler that answers every request.
    public typealias Handler = @Sendable (Request) -> Response

    /// The port the server listens on.
    public let port: Int

    /// The socket and what serves it. The accept thread holds this, not the server, so a
    /// server nobody references any more stops listening (in `deinit`).
    private let core: LoopbackHTTPCore

    /// Starts a server on a free port of 127.0.0.1.
    ///
    /// The `Date` field it adds reads `clock`: give it the ``ManualClock`` the cache under
    /// test uses, and the origin's dates move with the test's time.
    ///
    /// ```swift
    /// let origin = try LoopbackHTTPServer { _ in .init(body: Array("ok".utf8)) }
    /// ```
    public convenience init(clock: any StrataClock = SystemClock(), handler: @escaping Handler) throws {
        try self.init(clock: clock, handler: handler, beforeAccept: nil)
    }

    /// A server whose accept thread runs `beforeAccept` before each `accept()`: a test's
    /// gate, to hold the thread where a race with ``stop()`` would bite.
    package init(clock: any StrataClock, handler: @escaping Handler, beforeAccept: (@Sendable () -> Void)?) throws {
        let socketKind: Int32
        #if canImport(Glibc)
        socketKind = Int32(SOCK_STREAM.rawValue)
        #else
        socketKind = SOCK_STREAM
        #endif
        let descriptor = socket(AF_INET, socketKind, 0)
        guard descriptor >= 0 else { throw Self.failure("socket") }
        var reuse: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 128) == 0 else {
            close(descriptor)
            throw Self.failure("bind/listen")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        core = LoopbackHTTPCore(listener: descriptor, handler: handler, clock: clock, beforeAccept: beforeAccept)
        let core = core
        do {
            try OwnThread.start(named: "strata-http-accept") { core.acceptLoop() }
        } catch {
            core.closeWithoutAccepting()
            throw error
        }
    }

    deinit { core.stop() }

    /// The listening socket's descriptor (for a test of its lifetime).
    package var listeningDescriptor: Int32 { core.listener }

    /// `http://127.0.0.1:<port>`, to which a test appends a path.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Every request received so far, oldest first.
    public var requests: [Request] { core.requests }

    /// The requests received for one path (query ignored).
    ///
    /// ```swift
    /// origin.requests(path: "/greeting").count
    /// ```
    public func requests(path: String) -> [Request] {
        requests.filter { $0.path == path }
    }

    /// Stops listening: later connections are refused, as from an origin that is down.
    public func stop() { core.stop() }

    /// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for a time in seconds since 1970.
    ///
    /// ```swift
    /// LoopbackHTTPServer.httpDate(784_111_777)   // "Sun, 06 Nov 1994 08:49:37 GMT"
    /// ```
    public static func httpDate(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 304: "Not Modified"
        case 404: "Not Found"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }

    private static func failure(_ call: String) -> StrataError {
        StrataError(
            code: .backendUnavailable,
            message: "\(call) failed with errno \(errno)",
            backend: "LoopbackHTTPServer"
        )
    }
}
