public import Strata

#if Logging
public import Logging
#endif

extension HTTPCache {
    /// How an ``HTTPCache`` stores and ages responses.
    ///
    /// ```swift
    /// var configuration = HTTPCache.Configuration()
    /// configuration.maximumBodySize = 1 << 20        // don't cache bodies over 1 MiB
    /// configuration.keyPrefix = "api-cache:"
    /// let cache = try HTTPCache(store: store, configuration: configuration)
    /// ```
    public struct Configuration: Sendable {
        /// The prefix of every key the cache writes, so one store can hold other data too
        /// and `clear(prefix:)` on it drops every cached response. At most 256 bytes.
        public var keyPrefix: String = "http:"

        /// Responses whose body is larger than this many bytes are returned but not stored.
        public var maximumBodySize: Int = 8 << 20

        /// The share of the time since `Last-Modified` for which a response with no explicit
        /// lifetime counts as fresh (RFC 9111 §4.2.2). Zero turns heuristic freshness off.
        public var heuristicFraction: Double = 0.1

        /// The longest heuristic lifetime.
        public var maximumHeuristicLifetime: Expiry = "1d"

        /// How long a stale response that has a validator (`ETag`, `Last-Modified`) stays in
        /// the store after it went stale, so it can still be revalidated with a `304`
        /// instead of downloaded again.
        public var staleRetention: Expiry = "1d"

        /// A configuration with the defaults.
        ///
        /// ```swift
        /// let configuration = HTTPCache.Configuration()
        /// ```
        #if Logging
        /// Where the cache logs (with the `Logging` trait): an unreachable origin, a store
        /// that fails, a corrupt stored entry, as warnings. `nil` logs nothing.
        public var logger: Logger? = nil
        #endif

        #if Metrics
        /// How the cache reports swift-metrics (with the `Metrics` trait): each statistic
        /// as `strata_http_events_total{cache, event}`, `event` being the statistic's name
        /// (`hits`, `staleHits`, `revalidations`, `originRequests`, `stores`,
        /// `storeFailures`, `corruptEntries`). `nil` reports nothing.
        public var metrics: MetricsReporting? = nil
        #endif

        /// The defaults: keys under `http:`, bodies up to 8 MiB, heuristic freshness of 10%
        /// (at most a day), stale responses kept a day for revalidation.
        ///
        /// ```swift
        /// var configuration = HTTPCache.Configuration()
        /// configuration.keyPrefix = "api:"
        /// ```
        public init() {}
    }
}
