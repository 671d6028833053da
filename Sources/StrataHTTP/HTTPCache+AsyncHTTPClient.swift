#if AsyncHTTPClient
public import AsyncHTTPClient
public import NIOCore
public import Strata

extension HTTPCache {
    /// A cache over `store` that sends requests with AsyncHTTPClient (the
    /// `AsyncHTTPClient` trait), with the same RFC 9111 behaviour as over `URLSession`:
    /// requests are still given as `URLRequest`s and answered as ``Response``s.
    ///
    /// ```swift
    /// let cache = try HTTPCache(store: store, httpClient: .shared)
    /// let response = try await cache.response(for: URLRequest(url: url))
    /// ```
    ///
    /// AsyncHTTPClient retries connecting to an origin that is down until the request's
    /// deadline, unless the client's `connectionPool.retryConnectionEstablishment` is
    /// off; turn it off for `stale-if-error` to answer at once when the origin is down.
    ///
    /// - Parameters:
    ///   - store: where the responses are kept; any store, tiered or not.
    ///   - httpClient: the client that sends the requests the cache cannot answer.
    ///   - timeout: how long one request to the origin may take, body included.
    ///   - configuration: freshness, staleness and size limits.
    /// - Throws: `StrataError.Code.invalidConfiguration` as the `URLSession` form does.
    public convenience init(
        store: any KeyValueStore, httpClient: HTTPClient, timeout: TimeAmount = .seconds(60),
        configuration: Configuration = .init()
    ) throws {
        try self.init(
            store: store, origin: HTTPClientTransport(client: httpClient, timeout: timeout), session: nil,
            configuration: configuration)
    }
}
#endif
