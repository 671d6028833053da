import Foundation
import Strata
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An HTTP client that caches responses in any Strata store, as a private cache that
/// follows RFC 9111.
///
/// On Linux `URLSession` caches nothing, so server code fetching the same resources again
/// and again pays a round trip each time. `HTTPCache` sits in front of a `URLSession`:
/// fresh responses come from the store, stale ones are revalidated with `If-None-Match` /
/// `If-Modified-Since`, `stale-while-revalidate` and `stale-if-error` are honoured,
/// concurrent requests for one URL make one request to the origin, and unsafe requests
/// (POST, PUT, DELETE, ...) invalidate what is stored for their URL. Put it over a
/// `TieredStore` with SQLite or Redis behind it and the cache survives restarts and is
/// shared between servers.
///
/// ```swift
/// let cache = try HTTPCache(store: TieredStore(l1: MemoryStore(), l2: SQLiteStore(path: "http.sqlite")))
/// let (data, response) = try await cache.data(for: URLRequest(url: url))
/// HTTPCache.Source(response)                                       // .network, then .cache
/// let (pinned, _) = try await cache.data(for: request, expires: "10min")   // whatever the headers say
/// ```
public final class HTTPCache: Sendable {
    /// The store responses are kept in.
    public let store: any KeyValueStore
    /// The session requests go through; `nil` when they go through an AsyncHTTPClient
    /// `HTTPClient` (the `AsyncHTTPClient` trait's initializer).
    public let session: URLSession?
    /// The configuration.
    public let configuration: Configuration

    /// The fixed lifetime `expires: .never` stands for: stored without an expiry.
    static let forever = Int64.max / 4

    /// The cache's name in `Cache-Status` fields.
    static let cacheName = "Strata"

    /// How requests reach origins.
    let origin: any OriginTransport
    /// The fields the origin's client adds to every request, read once.
    let additionalFields: HeaderFields
    /// Logs and metrics, when the traits and the configuration ask for them.
    let reporter: HTTPCacheReporter
    let counters = Lock(Statistics())
    let background = Lock(BackgroundWork())
    /// ``Configuration/maximumHeuristicLifetime`` in milliseconds.
    let heuristicLimit: Int64
    /// ``Configuration/staleRetention`` in milliseconds.
    let staleRetention: Int64
    /// The entries read from the store lately, decoded, by key and bytes.
    let decoded = DecodedEntries()
    /// Where the origin fetches under way run, one per URL, cache and request fields: the
    /// store's single flight (its scope, keys under its key prefix), so that the store's own
    /// `clear(prefix:)` and `clear()` are noted to them as ``invalidate(_:)`` is.
    let fetchScope: ObjectIdentifier
    /// The store's key prefix in its single flight (a prefixed view's).
    let fetchKeyPrefix: String

    struct BackgroundWork {
        var tasks: [UInt64: Task<Void, Never>] = [:]
        var refreshing: Set<String> = []
        var nextID: UInt64 = 0
    }

    /// A cache over `store`, sending requests through `session`.
    ///
    /// The default session is an ephemeral one without Foundation's own cache. Requests
    /// always go out with `.reloadIgnoringLocalCacheData`, so a session's `URLCache` never
    /// answers in the cache's place.
    ///
    /// ```swift
    /// let cache = try HTTPCache(store: MemoryStore())
    /// ```
    ///
    /// - Throws: `StrataError.Code.invalidConfiguration` for a key prefix over 256 bytes
    ///   or a negative body size limit.
    public convenience init(store: any KeyValueStore, session: URLSession? = nil, configuration: Configuration = .init()) throws {
        let session =
            session
            ?? {
                let sessionConfiguration = URLSessionConfiguration.ephemeral
                sessionConfiguration.urlCache = nil
                sessionConfiguration.requestCachePolicy = .reloadIgnoringLocalCacheData
                return URLSession(configuration: sessionConfiguration)
            }()
        try self.init(store: store, origin: URLSessionTransport(session: session), session: session, configuration: configuration)
    }

    /// A cache over `store` sending requests through `origin`.
    init(store: any KeyValueStore, origin: any OriginTransport, session: URLSession?, configuration: Configuration) throws {
        guard configuration.keyPrefix.utf8.count <= 256 else {
            throw StrataError(
                code: .invalidConfiguration,
                message: "the key prefix is \(configuration.keyPrefix.utf8.count) bytes; at most 256 are allowed",
                key: configuration.keyPrefix, backend: "HTTPCache"
            )
        }
        guard configuration.maximumBodySize >= 0 else {
            throw StrataError(
                code: .invalidConfiguration,
                message: "maximumBodySize is \(configuration.maximumBodySize); it can't be negative",
                backend: "HTTPCache"
            )
        }
        self.store = store
        let pipeline = store.pipeline
        fetchScope = pipeline.flightScope
        fetchKeyPrefix = pipeline.keyPrefix
        self.configuration = configuration
        self.origin = origin
        additionalFields = HeaderFields(origin.additionalHeaders)
        self.session = session
        self.reporter = HTTPCacheReporter(configuration)
        heuristicLimit = configuration.maximumHeuristicLifetime.milliseconds ?? Int64.max / 4
        staleRetention = configuration.staleRetention.milliseconds ?? Int64.max / 4
    }

    /// What the cache has done so far.
    public var statistics: Statistics { counters.withLock { $0 } }

    // MARK: - Requests

    /// Loads a request through the cache, the way `URLSession.data(for:)` does.
    ///
    /// The response's `Cache-Status` field tells where it came from; read it with
    /// ``Source/init(_:)``. With `expires`, a response is stored for that lifetime whatever
    /// its caching headers say (a `5xx` is never stored), and served from the store until
    /// then; `.never` keeps it until it is invalidated or evicted.
    ///
    /// ```swift
    /// let (data, response) = try await cache.data(for: URLRequest(url: url))
    /// let (rates, _) = try await cache.data(for: URLRequest(url: ratesURL), expires: "10min")
    /// ```
    ///
    /// - Throws: `StrataError.Code.originUnavailable` when the origin can't be reached
    ///   and no stale response may stand in; `StrataError.Code.invalidKey` for a URL that
    ///   isn't `http` or `https`.
    public func data(for request: URLRequest, expires: Expiry? = nil) async throws -> (Data, HTTPURLResponse) {
        let response = try await response(for: request, expires: expires)
        return (response.data, response.httpResponse)
    }

    /// Loads a URL with `GET` through the cache.
    ///
    /// ```swift
    /// let (data, response) = try await cache.data(from: url)
    /// ```
    ///
    /// - Throws: as ``data(for:expires:)``.
    public func data(from url: URL, expires: Expiry? = nil) async throws -> (Data, HTTPURLResponse) {
        try await data(for: URLRequest(url: url), expires: expires)
    }

    /// Loads a request through the cache and says where the response came from.
    ///
    /// ```swift
    /// let response = try await cache.response(for: URLRequest(url: url))
    /// switch response.source {
    /// case .cache, .stale: print("no round trip")
    /// case .revalidated: print("304: body from the store")
    /// case .network: print("downloaded")
    /// }
    /// ```
    ///
    /// - Throws: as ``data(for:expires:)``.
    public func response(for request: URLRequest, expires: Expiry? = nil) async throws -> Response {
        // The scheme read from the URL's text, which the key is made of anyway: `URL.scheme`
        // parses it into a new string (a twentieth of a fresh hit).
        guard let url = request.url, case let text = url.absoluteString, Self.hasHTTPScheme(text) else {
            throw StrataError(
                code: .invalidKey,
                message: "only http and https URLs can be cached",
                key: request.url?.absoluteString ?? "", backend: "HTTPCache"
            )
        }
        let exchange = Exchange(
            request: request,
            url: url,
            urlKey: Self.key(for: url, text: text, prefix: configuration.keyPrefix),
            headers: requestHeaders(request),
            fixedLifetime: expires.map { $0.milliseconds ?? Self.forever }
        )
        let method = request.httpMethod ?? "GET"
        switch method == "GET" ? method : method.uppercased() {
        case "GET": return try await get(exchange)
        case "HEAD": return try await head(exchange)
        case "OPTIONS", "TRACE": return try await passThrough(exchange, reason: "method")
        default: return try await unsafe(exchange)
        }
    }

    /// Removes what is stored for a URL (every variant of it); throws the store's
    /// `StrataError` when it cannot.
    ///
    /// ```swift
    /// try await cache.invalidate(URL(string: "https://api.example.com/items/42")!)
    /// ```
    public func invalidate(_ url: URL) async throws {
        let key = Self.key(for: url, prefix: configuration.keyPrefix)
        decoded.forget(key)  // memory only: a kept entry is served only for the bytes it came from
        // A fetch's lease on a store without leases of its own is kept in this process
        // (`takeLease`, the default `leaseEntry`): broken here as the typed API breaks it,
        // under the store that holds the lease (a tiered store's L2, a prefixed view's base),
        // so that the fetch under way does not store its answer over this removal (C2).
        LocalLeases.shared.breakLease(of: key, in: store)
        // Once removed, the URL's fetches under way are told: a request that joins one from
        // then on began after this call, and looks again rather than take its answer (R1).
        defer { SingleFlight.shared.noteChange(scope: fetchScope, prefix: fetchKeyPrefix + key + "\n") }
        try await store.removeEntry(forKey: key)
    }

    /// How many requests wait for a fetch of `url` under way (any request fields, any cache
    /// over this store with this key prefix), for tests that must know a request joined one.
    package func fetchWaiters(for url: URL) -> Int {
        SingleFlight.shared.waiters(scope: fetchScope, prefix: fetchKeyPrefix + Self.key(for: url, prefix: configuration.keyPrefix) + "\n")
    }

    /// Waits until every background refresh started by `stale-while-revalidate` has
    /// finished: call it before shutting down, or in tests.
    ///
    /// ```swift
    /// await cache.waitForBackgroundRefreshes()
    /// ```
    public func waitForBackgroundRefreshes() async {
        while let task = background.withLock({ $0.tasks.first?.value }) {
            await task.value
        }
    }
}
