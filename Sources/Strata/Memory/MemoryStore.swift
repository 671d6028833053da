import Synchronization

/// An in-process store with optional bounds on entries and bytes.
///
/// Beyond a bound, the entry evicted is chosen by W-TinyLFU (the default: it keeps the
/// entries asked for again and again through one-off scans and loops a little larger
/// than the store) or by exact LRU (``EvictionPolicy/lru``); see ``EvictionPolicy``.
/// An unbounded store evicts nothing and keeps no eviction bookkeeping.
///
/// Every operation is O(1) but `keys(prefix:)` and `clear(prefix:)`, and is safe from
/// many tasks at once (one lock; a hit is a lock, a hash lookup and a list splice).
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
    struct State {
        var table = LRUTable()
        var isClosed = false
        var evictions = 0
        var expirations = 0
    }

    /// The bounds, default lifetime and clock this store was made with.
    public let configuration: Configuration
    let state: Lock<State>

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
        // Without a bound nothing is evicted, and the policy would be bookkeeping for nothing.
        let bounded = configuration.maxEntries != nil || configuration.maxBytes != nil
        let policy: LRUTable.Policy = bounded && configuration.evictionPolicy == .windowTinyLFU ? .windowTinyLFU : .lru
        self.state = Lock(State(table: LRUTable(policy: policy, entryBound: configuration.maxEntries)))
    }

    /// `MemoryStore`.
    public var backendName: String { "MemoryStore" }

    /// The configured default lifetime.
    public var defaultExpiry: Expiry? { configuration.defaultExpiry }

    /// The configured clock.
    public var clock: any StrataClock { configuration.clock }

    /// Entries, bytes, evictions and expirations now.
    public var statistics: Statistics {
        state.withLock {
            Statistics(
                entries: $0.table.count, bytes: $0.table.byteCount,
                evictions: $0.evictions, expirations: $0.expirations)
        }
    }

    // MARK: Reads

    /// The unexpired entry for `key`, marking it most recently used.
    public func entry(forKey key: String) async throws -> StoredEntry? {
        try lookUp(ByteKey(key)).map { StoredEntry(bytes: $0.bytes, expiresAt: $0.expiresAtTimestamp) }
    }

    /// The value at `key`: the Swift value it was written as when `type` matches, else decoded.
    @inlinable  // specialized in the caller's module: a typed hit is the hot path
    public func value<Value: Codable & Sendable>(forKey key: String, as type: Value.Type) async throws -> Value? {
        guard let entry = try lookUp(ByteKey(key)) else { return nil }
        if let value = Kept<Value>.read(entry.value) { return value }
        return try await readableValue(entry.bytes, as: type, key: key)
    }

    /// Whether `key` has an unexpired entry (one written with options: within its
    /// lifetime); does not change its recency.
    public func containsEntry(forKey key: String) async throws -> Bool {
        guard let bytes = try peek(ByteKey(key)) else { return false }
        return try await isReadable(bytes)
    }

    @usableFromInline
    func lookUp(_ key: ByteKey) throws -> MemoryEntry? {
        var now: Int64 = 0
        return try lookUp(key, now: &now)
    }

    /// `lookUp`, also giving the time it read to check the expiry (0 when the entry never
    /// expires and it read none), so a caller with another deadline to check reads no clock.
    @usableFromInline
    func lookUp(_ key: ByteKey, now: inout Int64) throws -> MemoryEntry? {
        try withOpenTable { state in
            guard let slot = state.table.slotCountingRequest(of: key) else { return nil }
            if expireIfNeeded(slot, in: &state, now: &now) { return nil }
            state.table.touch(slot)
            return state.table.entry(at: slot)
        }
    }

    /// Removes the entry at `slot` if it has expired; `true` when it did.
    func expireIfNeeded(_ slot: Int32, in state: inout State) -> Bool {
        var now: Int64 = 0
        return expireIfNeeded(slot, in: &state, now: &now)
    }

    func expireIfNeeded(_ slot: Int32, in state: inout State, now: inout Int64) -> Bool {
        let expiresAt = state.table.entry(at: slot).expiresAt
        guard expiresAt != MemoryEntry.never else { return false }
        now = clock.now().millisecondsSince1970
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
        let bytes = try ValueCoding.encode(value, key: key, backend: backendName)
        try insert(ByteKey(key), MemoryEntry(bytes: bytes, value: Kept.wrap(value), expiresAt: expiresAt))
    }

    func insert(_ key: ByteKey, _ entry: MemoryEntry) throws {
        try checkSize(key, entry)
        try withOpenTable { state in
            state.table.set(key, entry)
            afterWrite(&state)
        }
    }

    /// Writes `entry` only if there is no unexpired entry for `key`.
    public func setEntryIfAbsent(_ entry: StoredEntry, forKey key: String) async throws -> Bool {
        let byteKey = ByteKey(key)
        let memoryEntry = MemoryEntry(bytes: entry.bytes, value: nil, expiresAt: entry.expiresAt)
        try checkSize(byteKey, memoryEntry)
        return try withOpenTable { state in
            if let slot = state.table.slot(of: byteKey), !expireIfNeeded(slot, in: &state) { return false }
            state.table.set(byteKey, memoryEntry)
            afterWrite(&state)
            return true
        }
    }

    /// Removes `key`; `true` when it held an unexpired entry.
    @discardableResult
    public func removeEntry(forKey key: String) async throws -> Bool {
        let byteKey = ByteKey(key)
        return try withOpenTable { state in
            guard let slot = state.table.slot(of: byteKey) else { return false }
            if expireIfNeeded(slot, in: &state) { return false }
            state.table.remove(at: slot)
            return true
        }
    }

    /// Changes the expiry of an unexpired entry.
    public func setExpiration(_ expiresAt: Timestamp?, forKey key: String) async throws -> Bool {
        let byteKey = ByteKey(key)
        return try withOpenTable { state in
            guard let slot = state.table.slot(of: byteKey), !expireIfNeeded(slot, in: &state) else { return false }
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
        return try withOpenTable { state in
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
        let maxEntries = configuration.maxEntries ?? .max
        let maxBytes = configuration.maxBytes ?? .max
        while state.table.count > maxEntries || state.table.byteCount > maxBytes, state.table.count > 0 {
            state.table.remove(at: state.table.victim())
            state.evictions += 1
        }
        state.expirations += state.table.sweepStep(
            nowMilliseconds: clock.now().millisecondsSince1970, budget: Self.sweepStepsPerWrite)
    }

    func checkSize(_ key: ByteKey, _ entry: MemoryEntry) throws {
        guard let maxBytes = configuration.maxBytes else { return }
        let cost = LRUTable.cost(key, entry)
        if cost > maxBytes {
            throw StrataError(
                code: .valueTooLarge,
                message: "the entry takes \(cost) bytes, more than the store's maxBytes of \(maxBytes)",
                key: key.string, backend: backendName)
        }
    }

    // MARK: Prefixes, sweeping, closing

    /// The unexpired keys that start with `prefix`, sorted by UTF-8 bytes.
    /// O(log entries + matches), from the sorted key index.
    public func keys(prefix: String) async throws -> [String] {
        let now = clock.now().millisecondsSince1970
        return try withOpenTable { state in
            state.table.keys(withPrefix: prefix).compactMap { key -> String? in
                guard let slot = state.table.slot(of: key),
                      !state.table.entry(at: slot).isExpired(nowMilliseconds: now)
                else { return nil }
                return key.string
            }
        }
    }

    /// The unexpired entries whose keys start with `prefix`, in one pass under the lock,
    /// sorted by key. A listing does not count as use: it changes no entry's recency or
    /// frequency, so a scan does not push out the entries that are read.
    public func storedEntries(prefix: String) async throws -> [(key: String, entry: StoredEntry)] {
        try memoryEntries(prefix: prefix).map { ($0.key, StoredEntry(bytes: $0.entry.bytes, expiresAt: $0.entry.expiresAtTimestamp)) }
    }

    /// The typed `entries(prefix:as:)`: the Swift values the entries were written as where
    /// the type matches, decoded bytes elsewhere.
    func valueEntries<Value: Codable & Sendable>(prefix: String, as type: Value.Type) async throws -> [(key: String, value: Value)] {
        var result: [(key: String, value: Value)] = []
        var tagInstants: [String: Int64] = [:]
        for (key, entry) in try memoryEntries(prefix: prefix) where !EnvelopeMarker.isReserved(key) {
            if let value = Kept<Value>.read(entry.value) {
                result.append((key, value))
            } else if let value = try await readableValue(entry.bytes, as: type, key: key, tagInstants: &tagInstants) {
                result.append((key, value))
            }
        }
        return result
    }

    private func memoryEntries(prefix: String) throws -> [(key: String, entry: MemoryEntry)] {
        let now = clock.now().millisecondsSince1970
        return try withOpenTable { state in
            state.table.keys(withPrefix: prefix).compactMap { key -> (key: String, entry: MemoryEntry)? in
                guard let slot = state.table.slot(of: key) else { return nil }
                let entry = state.table.entry(at: slot)
                return entry.isExpired(nowMilliseconds: now) ? nil : (key.string, entry)
            }
        }
    }

    /// Removes the keys that start with `prefix`. O(log entries + matches).
    @discardableResult
    public func clear(prefix: String) async throws -> Int {
        let now = clock.now().millisecondsSince1970
        return try withOpenTable { state in
            if prefix.isEmpty {
                let removed = state.table.occupiedSlots().count { !state.table.entry(at: $0).isExpired(nowMilliseconds: now) }
                state.table.removeAll()
                return removed
            }
            var removed = 0
            for key in state.table.keys(withPrefix: prefix) {
                guard let slot = state.table.slot(of: key) else { continue }
                if !state.table.remove(at: slot).isExpired(nowMilliseconds: now) { removed += 1 }
            }
            return removed
        }
    }

    /// Removes every expired entry now; returns how many.
    @discardableResult
    public func sweepExpired() async throws -> Int {
        let now = clock.now().millisecondsSince1970
        return try withOpenTable { state in
            var removed = 0
            for slot in state.table.occupiedSlots() where state.table.entry(at: slot).isExpired(nowMilliseconds: now) {
                state.table.remove(at: slot)
                removed += 1
            }
            state.expirations += removed
            return removed
        }
    }

    /// Sweeps expired entries every ``Configuration/sweepInterval`` until cancelled, then
    /// returns normally (service-lifecycle style: run it in a task group or a service group;
    /// with the `ServiceLifecycle` trait it is a `Service` and stops on graceful shutdown).
    ///
    /// ```swift
    /// try await withThrowingDiscardingTaskGroup { group in
    ///     group.addTask { try await memory.run() }
    ///     ...
    /// }
    /// ```
    public func run() async throws {
        try await Background.repeating(every: configuration.sweepInterval, until: { [self] in state.withLock { $0.isClosed } }) {
            [self] in try await sweepExpired()
        }
    }

    /// Drops every entry; later calls throw ``StrataError/Code/closed``.
    public func close() async {
        state.withLock { state in
            state.table.removeAll()
            state.isClosed = true
        }
    }

    func withOpenTable<Result>(_ body: (inout State) throws -> Result) throws -> Result {
        try state.withLock { state in
            guard !state.isClosed else {
                throw StrataError(code: .closed, message: "the store is closed", backend: backendName)
            }
            return try body(&state)
        }
    }
}
