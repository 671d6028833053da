extension HTTPCache {
    /// What an ``HTTPCache`` has done since it was made.
    ///
    /// ```swift
    /// let statistics = cache.statistics
    /// print(statistics.hits, statistics.originRequests)
    /// ```
    public struct Statistics: Sendable, Equatable {
        /// Responses served fresh from the store.
        public var hits = 0
        /// Responses served stale (`stale-while-revalidate`, `stale-if-error`, `max-stale`).
        public var staleHits = 0
        /// Stored responses revalidated by a `304 Not Modified`.
        public var revalidations = 0
        /// Requests sent to the origin, including revalidations and background refreshes.
        public var originRequests = 0
        /// Responses written to the store.
        public var stores = 0
        /// Store operations that failed; the cache carried on without the store.
        public var storeFailures = 0
        /// Stored entries that could not be decoded; each was treated as a miss and removed.
        public var corruptEntries = 0
        /// Origin answers not stored because the URL's entry changed while they were fetched
        /// (an `invalidate(_:)` during the fetch, say): the newer state wins.
        public var staleStoresRefused = 0

        /// All counters at zero.
        ///
        /// ```swift
        /// #expect(cache.statistics == HTTPCache.Statistics())
        /// ```
        public init() {}
    }
}
