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
        /// How many shards (tables under locks of their own) the store is split into, so
        /// tasks on different cores rarely wait for each other. `nil` (the default): 16 per
        /// core, at most 64, and fewer for a bounded store so that each shard holds at least
        /// 1,024 entries and 4 MiB of `maxBytes` (a store bounded below that has one shard
        /// and one exact policy). Rounded down to a power of two. The bounds hold in total;
        /// each shard evicts within its share of them, and one entry can take at most its
        /// shard's share of `maxBytes`. Set 1 for one policy over the whole store.
        ///
        /// ```swift
        /// var configuration = MemoryStore.Configuration(maxEntries: 100_000)
        /// configuration.shardCount = 1    // exact LRU or W-TinyLFU over all 100,000
        /// ```
        public var shardCount: Int?
        /// The coder of the values this store writes: ``JSONValueCoder`` by default (as every
        /// release before coders could be chosen), or ``BinaryValueCoder`` (`.binary`), or
        /// yours. Entries stay readable whichever coder wrote them (see ``ValueFormat``);
        /// `String`, `Data` and `[UInt8]` are stored as raw bytes whatever the coder.
        ///
        /// ```swift
        /// configuration.valueCoder = .binary
        /// ```
        public var valueCoder: any ValueCoder = JSONValueCoder()
        /// Whether the coded values this store writes are compressed: ``ValueCompression/none``
        /// by default.
        ///
        /// ```swift
        /// configuration.compression = .zlib(above: 1024)
        /// ```
        public var compression: ValueCompression = .none
        /// Coders of your own whose entries this store still reads, though it no longer
        /// writes with them (JSON and ``BinaryValueCoder`` are always read).
        ///
        /// ```swift
        /// configuration.previousValueCoders = [OldMessageCoder()]
        /// ```
        public var previousValueCoders: [any ValueCoder] = []

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

extension MemoryStore {
    /// The configuration's coder, compression and previous coders. A memory store keeps the
    /// Swift values written, so its format shapes only the bytes beside them (what
    /// `maxBytes` counts, and what a read as another type decodes).
    public var valueFormat: ValueFormat {
        ValueFormat(
            coder: configuration.valueCoder, compression: configuration.compression, previousCoders: configuration.previousValueCoders)
    }
}
