extension MemoryStore {
    /// How a ``MemoryStore`` is bounded and timed.
    ///
    /// ```swift
    /// var configuration = MemoryStore.Configuration()
    /// configuration.maxEntries = 10_000
    /// configuration.defaultExpiry = "5min"
    /// let memory = MemoryStore(configuration: configuration)
    /// ```
    public struct Configuration: Sendable {
        /// The most entries kept; beyond it one is evicted, as ``evictionPolicy`` chooses. `nil`: no bound.
        public var maxEntries: Int?
        /// The most bytes of keys and encoded values kept; `nil`: no bound.
        public var maxBytes: Int?
        /// The lifetime of entries written with `expires: nil`; `nil`: they never expire.
        public var defaultExpiry: Expiry?
        /// The clock lifetimes are measured with.
        public var clock: any StrataClock
        /// How often ``MemoryStore/run()`` sweeps expired entries.
        public var sweepInterval: Duration
        /// Which entry goes when a bound is passed: ``EvictionPolicy/windowTinyLFU`` (the
        /// default) or ``EvictionPolicy/lru``.
        public var evictionPolicy: EvictionPolicy = .windowTinyLFU

        /// A configuration with the given bounds (none by default).
        public init(
            maxEntries: Int? = nil,
            maxBytes: Int? = nil,
            defaultExpiry: Expiry? = nil,
            clock: any StrataClock = SystemClock(),
            sweepInterval: Duration = .seconds(60)
        ) {
            self.maxEntries = maxEntries
            self.maxBytes = maxBytes
            self.defaultExpiry = defaultExpiry
            self.clock = clock
            self.sweepInterval = sweepInterval
        }
    }

    /// Counters that describe the store at one instant.
    ///
    /// ```swift
    /// let stats = memory.statistics
    /// print(stats.entries, stats.bytes, stats.evictions)
    /// ```
    public struct Statistics: Sendable, Hashable {
        /// Entries held now, expired ones not yet swept included.
        public var entries: Int
        /// Bytes of keys and encoded values held now.
        public var bytes: Int
        /// Entries evicted to stay within the bounds since the store was made.
        public var evictions: Int
        /// Expired entries removed since the store was made.
        public var expirations: Int
    }
}
