#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Shards: a store is split into up to 64 tables, each under a lock of its own, so that
/// tasks on different cores rarely wait for one another (one lock measured 3× slower per
/// hit with two tasks than with one, in Docs/BenchmarkHistory.md).
///
/// Bounds stay exact in total: each shard holds its share of `maxEntries` and `maxBytes`
/// (the shares add up to the bound), and its eviction policy is correct within it. A
/// shard needs room to choose well, so a bounded store has fewer shards: at least 1,024
/// entries and 4 MiB per shard, else one shard (a small store keeps one exact policy).
extension MemoryStore {
    /// The shards for `configuration`: `configuration.shardCount`, else 16 per core up to 64,
    /// halved until each holds its minimum share of the bounds. Always a power of two.
    static func makeShards(_ configuration: Configuration) -> LockArray<State> {
        var count = configuration.shardCount.map { max(1, $0) } ?? min(64, 16 * Self.processorCount)
        count = 1 << (Int.bitWidth - 1 - count.leadingZeroBitCount)  // a power of two, at most the count asked
        // A count asked for is kept unless a shard would get no entry at all.
        let (entriesPerShard, bytesPerShard) = configuration.shardCount == nil ? (1_024, 4 << 20) : (1, 1)
        if let maxEntries = configuration.maxEntries { while count > 1, maxEntries / count < entriesPerShard { count /= 2 } }
        if let maxBytes = configuration.maxBytes { while count > 1, maxBytes / count < bytesPerShard { count /= 2 } }
        // Without a bound nothing is evicted, and a policy would be bookkeeping for nothing.
        let bounded = configuration.maxEntries != nil || configuration.maxBytes != nil
        let policy: LRUTable.Policy = !bounded ? .unordered : configuration.evictionPolicy == .windowTinyLFU ? .windowTinyLFU : .lru
        return LockArray(
            (0..<count).map { index in
                let maxEntries = configuration.maxEntries.map { share(of: $0, shard: index, count: count) }
                var state = State(table: LRUTable(policy: policy, entryBound: maxEntries))
                state.maxEntries = maxEntries ?? .max
                state.maxBytes = configuration.maxBytes.map { share(of: $0, shard: index, count: count) } ?? .max
                return state
            })
    }

    /// How many shards the store was split into (see ``Configuration/shardCount``).
    ///
    /// ```swift
    /// print(MemoryStore().shardCount)    // 32 on a 2-core machine
    /// ```
    public var shardCount: Int { shards.count }

    /// The requests W-TinyLFU's window sizers have counted, over every shard (0 under LRU).
    package var requestsCountedForWindow: Int {
        (0..<shards.count).reduce(0) { total, shard in total + shards.withLock(shard) { $0.table.windowSizer.requestsCounted } }
    }

    /// Shard `index`'s share of `bound`: the shares of all `count` shards add up to `bound`.
    static func share(of bound: Int, shard index: Int, count: Int) -> Int {
        bound / count + (index < bound % count ? 1 : 0)
    }

    static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Runs `body` on the open shard of a key whose `hashValue` is `hash`. The shard is
    /// chosen by bits 40 and up, which the table (using the low 32 bits) does not see, so
    /// keys spread evenly in every shard's table too.
    @inline(__always)
    func withOpenTable<Result>(hash: Int, _ body: (inout State) throws -> Result) throws -> Result {
        try shards.withLock((hash >> 40) & shardMask) { state in
            guard !state.isClosed else { throw closedError }
            return try body(&state)
        }
    }

    /// Runs `body` on `key`'s open shard.
    func withOpenTable<Result>(_ key: ByteKey, _ body: (inout State) throws -> Result) throws -> Result {
        try withOpenTable(hash: key.hashValue, body)
    }

    /// Runs `body` on every open shard in turn (one lock at a time, never two).
    func withEveryOpenTable(_ body: (inout State) throws -> Void) throws {
        for shard in 0..<shards.count {
            try shards.withLock(shard) { state in
                guard !state.isClosed else { throw closedError }
                try body(&state)
            }
        }
    }

    var closedError: StrataError {
        StrataError(code: .closed, message: "the store is closed", backend: backendName)
    }
}
