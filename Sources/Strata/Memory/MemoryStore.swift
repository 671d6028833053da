import Synchronization

/// An in-process store with optional bounds on entries and bytes.
///
/// Beyond a bound, the entry evicted is chosen by W-TinyLFU (the default: it keeps the
/// entries asked for again and again through one-off scans and loops a little larger
/// than the store) or by exact LRU (``EvictionPolicy/lru``); see ``EvictionPolicy``.
/// An unbounded store evicts nothing and keeps no eviction bookkeeping.
///
/// Every operation is O(1) but `keys(prefix:)` and `clear(prefix:)`, and is safe from
/// many tasks at once. The store is split into shards by key hash, each under a lock of
/// its own (see ``Configuration/shardCount``), so hits from several cores rarely wait for
/// each other; a hit is a hash, a lock, a lookup and, in a bounded store, a list splice.
/// Values written through the typed API are kept as the Swift values they are, beside
/// their encoded bytes, so a typed hit returns them without decoding JSON again.
///
/// Expired entries are invisible at once; their memory is returned by a sweep that
/// advances a little on every write, by ``sweepExpired()``, and by ``run()`` if you
/// run it in the background.
///
/// ```swift
/// let memory = MemoryStore(maxEntries: 10_000, maxBytes: 64 << 20)
/// try await memory.set("user:1", user, expires: "10min")
/// let cached = try await memory.get("user:1", as: User.self)
/// ```
public final class MemoryStore: KeyValueStore, BackgroundWork {
    /// Its hybrid clock and envelope mark, kept here rather than in a registry that would
    /// hold the store weakly (see `StoreProcessState`).
    package let processState = StoreProcessState()
    /// One shard: its table, its share of the bounds, and its counters.
    struct State {
        var table = LRUTable()
        var maxEntries = Int.max
        var maxBytes = Int.max
        var isClosed = false
        var evictions = 0
        var expirations = 0
        /// The leases on this shard's keys: a token and the instant it ends (ms since 1970).
        var leases: [ByteKey: (token: UInt64, until: Int64)] = [:]

        /// Breaks the lease on `key`: it changed.
        @inline(__always)
        mutating func breakLease(_ key: ByteKey) {
            if !leases.isEmpty { leases[key] = nil }
        }
    }

    /// The bounds, default lifetime and clock this store was made with.
    public let configuration: Configuration
    /// Strata's records (tag invalidation instants…), apart from the keys.
    let recordValues = Lock([ByteKey: Int64]())  // by the names' bytes, as keys: "é" two ways is two tags
    /// The shards, each under a lock of its own, chosen by bits of the key's hash that the
    /// table does not use for buckets (see `MemoryStore+Shards.swift`).
    let shards: LockArray<State>
    let shardMask: Int

    /// Writes advance the incremental sweep by this many slots.
    static let sweepStepsPerWrite = 2

    /// A store with the given bounds; either may be `nil` for no bound.
    ///
    /// ```swift
    /// let memory = MemoryStore(maxEntries: 10_000)
    /// ```
    public convenience init(maxEntries: Int? = nil, maxBytes: Int? = nil, defaultExpiry: Expiry? = nil) {
        self.init(configuration: Configuration(maxEntries: maxEntries, maxBytes: maxBytes, defaultExpiry: defaultExpiry))
    }

    /// A store made from a full ``Configuration``.
    ///
    /// ```swift
    /// let memory = MemoryStore(configuration: .init(maxBytes: 64 << 20, clock: SystemClock()))
    /// ```
    public init(configuration: Configuration) {
        self.configuration = configuration
        self.shards = Self.makeShards(configuration)
        self.shardMask = shards.count - 1
    }

    /// `MemoryStore`.
    public var backendName: String { "MemoryStore" }

    /// The configured default lifetime.
    public var defaultExpiry: Expiry? { configuration.defaultExpiry }

    /// The configured clock.
    public var clock: any StrataClock { configuration.clock }

    /// Entries, bytes, evictions and expirations now.
    public var statistics: Statistics {
        var total = Statistics(entries: 0, bytes: 0, evictions: 0, expirations: 0)
        for shard in 0..<shards.count {
            shards.withLock(shard) {
                total.entries += $0.table.count
                total.bytes += $0.table.byteCount
                total.evictions += $0.evictions
                total.expirations += $0.expirations
            }
        }
        return total
    }

    // MARK: Reads

    /// The unexpired entry for `key`, marking it most recently used.
    public func entry(forKey key: String) async throws -> StoredEntry? {
        try lookUp(ByteKey(key)).map { StoredEntry(bytes: $0.bytes, expiresAt: $0.expiresAtTimestamp) }
    }

    /// The value at `key`: the Swift value it was written as when `type` matches, else decoded.
    @inlinable  // specialized in the caller's module: a typed hit is the hot path
    public func value<Value: Codable & Sendable>(forKey key: String, as type: Value.Type) async throws -> Value? {
        let byteKey = ByteKey(key)
        var now: Int64 = 0
        guard let entry = try lookUp(byteKey, now: &now, bytesBesideValue: false) else { return nil }
        if let value = Kept<Value>.read(entry.value) { return value }
        return try await decodedValue(byteKey, entry, as: type)
    }

    /// A typed read of an entry that holds no Swift value of `type`: its bytes decoded
    /// (read again when the lookup left them out), an envelope's lifetime and tags checked.
    @usableFromInline
    func decodedValue<Value: Codable & Sendable>(_ key: ByteKey, _ entry: MemoryEntry, as type: Value.Type) async throws -> Value? {
        guard let bytes = entry.value == nil ? entry.bytes : try peek(key) else { return nil }
        let stored = StoredEntry(bytes: bytes, expiresAt: entry.expiresAtTimestamp)
        // Bytes and text, the commonest reads of a plain key-value store (stored raw, so no
        // Swift value is kept for them), through copies of the pipeline specialized for
        // them: this function is called unspecialized from the caller's module, and the
        // generic pipeline looked its types up at run time on every hit. The types are the
        // same, so each cast is none.
        if Value.self == [UInt8].self {
            return unsafeBitCast(try await pipeline.plainValue(of: stored, key: key.string, as: [UInt8].self), to: Value?.self)
        }
        if Value.self == String.self {
            return unsafeBitCast(try await pipeline.plainValue(of: stored, key: key.string, as: String.self), to: Value?.self)
        }
        return try await pipeline.plainValue(of: stored, key: key.string, as: type)
    }

    /// Whether `key` has an entry a plain read returns (one written with options: within
    /// its lifetime, tags valid); does not change its recency.
    public func containsEntry(forKey key: String) async throws -> Bool {
        guard let bytes = try peek(ByteKey(key)) else { return false }
        var tagInstants: [ByteKey: Int64] = [:]
        return try await pipeline.readableOffset(bytes, tagInstants: &tagInstants) != nil
    }

    /// This store alone, its Swift values read as they are.
    public var pipeline: Pipeline { Pipeline(tiered: nil, source: self, memory: self, keyPrefix: "") }

    @usableFromInline
    func lookUp(_ key: ByteKey) throws -> MemoryEntry? {
        var now: Int64 = 0
        return try lookUp(key, now: &now)
    }

    /// `lookUp`, also giving the time it read to check the expiry (0 when the entry never
    /// expires and it read none), so a caller with another deadline to check reads no clock.
    /// A `now` that is not 0 is used as it is: a batch shares its first reading.
    @usableFromInline
    func lookUp(_ key: ByteKey, now: inout Int64) throws -> MemoryEntry? {
        try lookUp(key, now: &now, bytesBesideValue: true)
    }

    /// `lookUp`; with `bytesBesideValue` false, an entry that holds a Swift value comes
    /// without its bytes (empty), for a typed hit: each object retained is one more cache
    /// miss, and the hit needs only the value. A caller that finds a value of another type
    /// reads the bytes with `peek`.
    @usableFromInline
    func lookUp(_ key: ByteKey, now: inout Int64, bytesBesideValue: Bool) throws -> MemoryEntry? {
        let hash = key.hashValue
        return try withOpenTable(hash: hash) { state in
            guard let slot = state.table.slotCountingRequest(of: key, hash: UInt32(truncatingIfNeeded: hash)) else { return nil }
            if expireIfNeeded(slot, in: &state, now: &now) { return nil }
            state.table.touch(slot)
            return bytesBesideValue ? state.table.entry(at: slot) : state.table.entryPreferringValue(at: slot)
        }
    }

    /// ``lookUp(_:now:bytesBesideValue:)`` (bytes left out beside a Swift value) for a look
    /// that is not a new request: the same call looking again (a tiered read after its hit
    /// found a copy it could not serve at once, a computation's leader after its flight
    /// began). W-TinyLFU counted the request at the first look, so this one counts nothing
    /// (sketch, window sample) and leaves recency as the first look left it.
    func lookUpAgain(_ key: ByteKey, now: inout Int64) throws -> MemoryEntry? {
        let hash = key.hashValue
        return try withOpenTable(hash: hash) { state in
            guard let slot = state.table.slot(of: key, hash: UInt32(truncatingIfNeeded: hash)) else { return nil }
            if expireIfNeeded(slot, in: &state, now: &now) { return nil }
            return state.table.entryPreferringValue(at: slot)
        }
    }

    /// Counts a request for `key` as ``lookUp(_:now:bytesBesideValue:)`` does (the sketch's
    /// hit, the window's sample, recency), for a look made with ``lookUpAgain(_:now:)`` that
    /// served a copy no earlier look of the call had counted.
    func countRequest(_ key: ByteKey) throws {
        let hash = key.hashValue
        try withOpenTable(hash: hash) { state in
            guard let slot = state.table.slotCountingRequest(of: key, hash: UInt32(truncatingIfNeeded: hash)) else { return }
            state.table.touch(slot)
        }
    }

    /// Removes the entry at `slot` if it has expired; `true` when it did.
    func expireIfNeeded(_ slot: Int32, in state: inout State) -> Bool {
        var now: Int64 = 0
        return expireIfNeeded(slot, in: &state, now: &now)
    }

    /// Removes the entry at `slot` if it has expired at `now`, reading the clock into `now`
    /// when it is 0 (a batch shares its first reading); `true` when it did.
    func expireIfNeeded(_ slot: Int32, in state: inout State, now: inout Int64) -> Bool {
        let expiresAt = state.table.entry(at: slot).expiresAt
        guard expiresAt != MemoryEntry.never else { return false }
        if now == 0 { now = clock.now().millisecondsSince1970 }
        guard expiresAt <= now else { return false }
        state.table.remove(at: slot)
        state.expirations += 1
        return true
    }

    // MARK: Writes

    /// Replaces the entry for `key`.
    public func setEntry(_ entry: StoredEntry, forKey key: String) async throws {
        try insert(ByteKey(key), MemoryEntry(bytes: entry.bytes, value: nil, expiresAt: entry.expiresAt))
    }

    /// Stores `value` with its encoding, keeping the Swift value for typed hits.
    public func setValue<Value: Codable & Sendable>(_ value: Value, forKey key: String, expiresAt: Timestamp?) async throws {
        try await pipeline.write(key, value, expiresAt: expiresAt)
    }

    func insert(_ key: ByteKey, _ entry: MemoryEntry) throws {
        try insert(key, entry, hash: key.hashValue)
    }

    /// ``insert(_:_:)`` of a key whose `hashValue` the caller has already computed.
    func insert(_ key: ByteKey, _ entry: MemoryEntry, hash: Int) throws {
        assert(hash == key.hashValue, "a key placed with another key's hash")
        try withOpenTable(hash: hash) { state in
            try checkSize(key, entry, in: state)
            state.breakLease(key)
            state.table.set(key, entry, hash: UInt32(truncatingIfNeeded: hash))
            afterWrite(&state)
        }
    }

    /// Writes `entry` only if there is no unexpired entry for `key`.
    public func setEntryIfAbsent(_ entry: StoredEntry, forKey key: String) async throws -> Bool {
        let byteKey = ByteKey(key)
        let memoryEntry = MemoryEntry(bytes: entry.bytes, value: nil, expiresAt: entry.expiresAt)
        return try withOpenTable(byteKey) { state in
            try checkSize(byteKey, memoryEntry, in: state)
            if let slot = state.table.slot(of: byteKey), !expireIfNeeded(slot, in: &state) { return false }
            state.breakLease(byteKey)
            state.table.set(byteKey, memoryEntry)
            afterWrite(&state)
            return true
        }
    }

    /// Removes `key`; `true` when it held an unexpired entry.
    @discardableResult
    public func removeEntry(forKey key: String) async throws -> Bool {
        let byteKey = ByteKey(key)
        return try withOpenTable(byteKey) { state in
            state.breakLease(byteKey)
            guard let slot = state.table.slot(of: byteKey) else { return false }
            if expireIfNeeded(slot, in: &state) { return false }
            state.table.remove(at: slot)
            return true
        }
    }

    /// Changes the expiry of an unexpired entry.
    public func setExpiration(_ expiresAt: Timestamp?, forKey key: String) async throws -> Bool {
        let byteKey = ByteKey(key)
        return try withOpenTable(byteKey) { state in
            guard let slot = state.table.slot(of: byteKey), !expireIfNeeded(slot, in: &state) else { return false }
            state.breakLease(byteKey)
            var entry = state.table.entry(at: slot)
            entry.expiresAt = expiresAt?.millisecondsSince1970 ?? MemoryEntry.never
            entry.reportedExpiresAt = entry.expiresAt
            state.table.replace(at: slot, with: entry)
            return true
        }
    }

    /// Adds `delta` to the integer at `key` under the store's lock.
    public func incrementEntry(forKey key: String, by delta: Int, expiresAt: Timestamp?) async throws -> Int {
        let byteKey = ByteKey(key)
        return try withOpenTable(byteKey) { state in
            state.breakLease(byteKey)
            if let slot = state.table.slot(of: byteKey), !expireIfNeeded(slot, in: &state) {
                var entry = state.table.entry(at: slot)
                let sum = try StoredEntry(bytes: entry.bytes).integer(adding: delta, key: key, backend: backendName)
                entry.bytes = Array(String(sum).utf8)
                entry.value = nil
                state.table.replace(at: slot, with: entry)
                state.table.touch(slot)
                return sum
            }
            state.table.set(byteKey, MemoryEntry(bytes: Array(String(delta).utf8), value: nil, expiresAt: expiresAt))
            afterWrite(&state)
            return delta
        }
    }

    /// Evicts entries beyond the bounds, as the policy chooses, and advances the sweep.
    func afterWrite(_ state: inout State) {
        while state.table.count > state.maxEntries || state.table.byteCount > state.maxBytes, state.table.count > 0 {
            state.table.remove(at: state.table.victim())
            state.evictions += 1
        }
        state.expirations += state.table.sweepStep(
            nowMilliseconds: clock.now().millisecondsSince1970, budget: Self.sweepStepsPerWrite)
    }

    /// An entry larger than its shard's share of `maxBytes` is refused (the share is the
    /// whole bound unless the bound is at least 4 MiB per shard; see `makeShards`).
    func checkSize(_ key: ByteKey, _ entry: MemoryEntry, in state: State) throws {
        try checkSize(key, entry, maxBytes: state.maxBytes)
    }

    /// `checkSize` against a shard's share of `maxBytes`, `shardMaxBytes`.
    func checkSize(_ key: ByteKey, _ entry: MemoryEntry, maxBytes shardMaxBytes: Int) throws {
        guard let maxBytes = configuration.maxBytes else { return }
        let cost = LRUTable.cost(key, entry)
        if cost > shardMaxBytes {
            let share = shardMaxBytes == maxBytes ? "" : " (\(shardMaxBytes) bytes in each of its \(shards.count) shards)"
            throw StrataError(
                code: .valueTooLarge,
                message: "the entry takes \(cost) bytes, more than the store's maxBytes of \(maxBytes)\(share)",
                key: key.string, backend: backendName)
        }
    }
}

extension MemoryStore: KeepsProcessState {}
